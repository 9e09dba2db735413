"""Filter sets whose numbers fit a database integer.

A number beyond a signed 64-bit integer (``?category=9.2e18``) is refused with 400 and a
Chinese message; SQLite would otherwise raise ``OverflowError`` deep in the query (a 500).
Every API filter set derives from ``FilterSet`` here, and the default filter backend
builds its automatic filter sets (``filterset_fields``) from it too.
"""

from django_filters import rest_framework as filters

INT64_MAX = 2**63 - 1


class NumberFilter(filters.NumberFilter):
    """A number filter bounded to the 64-bit integer range."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", -INT64_MAX)
        kwargs.setdefault("max_value", INT64_MAX)
        kwargs.setdefault(
            "error_messages",
            {
                "max_value": "数值过大，应不超过 %(limit_value)s",
                "min_value": "数值过小，应不小于 %(limit_value)s",
                "invalid": "请输入数字",
            },
        )
        super().__init__(*args, **kwargs)


class FilterSet(filters.FilterSet):
    """Automatic number filters (from model fields) are bounded as well."""

    @classmethod
    def filter_for_lookup(cls, field, lookup_type):
        filter_class, params = super().filter_for_lookup(field, lookup_type)
        if filter_class is filters.NumberFilter:
            filter_class = NumberFilter
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
