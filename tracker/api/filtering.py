"""Filter sets whose numbers fit a database integer.

A number beyond a signed 64-bit integer (``?category=9.2e18``) is refused with 400 and a
Chinese message; SQLite would otherwise raise ``OverflowError`` deep in the query (a 500).
Every API filter set derives from ``FilterSet`` here, and the default filter backend
builds its automatic filter sets (``filterset_fields``) from it too.
"""

import django_filters
from django import forms
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema_field

INT64_MAX = 2**63 - 1


@extend_schema_field({"type": "integer", "minimum": -INT64_MAX, "maximum": INT64_MAX})
class NumberFilter(filters.NumberFilter):
    """A whole-number filter (ids, years, 序号) bounded to the 64-bit integer range; the
    schema says so (drf-spectacular would call it a ``number``)."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", -INT64_MAX)
        kwargs.setdefault("max_value", INT64_MAX)
        kwargs.setdefault(
            "error_messages",
            {
                "max_value": "数值过大，应不超过 %(limit_value)s",
                "min_value": "数值过小，应不小于 %(limit_value)s",
                "invalid": "请输入整数",
            },
        )
        super().__init__(*args, **kwargs)


class _BooleanField(forms.Field):
    """``true`` or ``false`` (the schema's boolean), anything else refused; django-filter's
    own would ignore 「null」 and filter nothing."""

    default_error_messages = {"invalid": "应为 true 或 false"}
    words = {"true": True, "false": False}

    def to_python(self, value):
        if value in (None, ""):
            return None
        if str(value).lower() not in self.words:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return self.words[str(value).lower()]


class BooleanFilter(django_filters.BooleanFilter):  # not DRF's: its widget reads 「null」 as none
    field_class = _BooleanField


class FilterSet(filters.FilterSet):
    """Automatic number filters (from model fields) are bounded as well, and a foreign key
    filters by its id: an id that does not exist matches nothing (an empty list), as the
    schema's integer promises, rather than a 400."""

    @classmethod
    def filter_for_lookup(cls, field, lookup_type):
        filter_class, params = super().filter_for_lookup(field, lookup_type)
        if filter_class is filters.NumberFilter:
            filter_class = NumberFilter
        elif filter_class is filters.BooleanFilter:
            filter_class = BooleanFilter
        elif filter_class is filters.ModelChoiceFilter and lookup_type == "exact":
            filter_class, params = NumberFilter, {}
        return filter_class, params


#: query parameters that are not filters (pagination)
NOT_FILTERS = frozenset({"page", "page_size"})


class FilterBackend(filters.DjangoFilterBackend):
    filterset_base = FilterSet

    def filter_queryset(self, request, queryset, view):
        """No filter parameter at all: the queryset as is (a filter set with no data
        filters nothing), without building and validating the filter form."""
        if NOT_FILTERS.issuperset(request.query_params):
            return queryset
        return super().filter_queryset(request, queryset, view)
