"""The one ModelAdmin every tracker admin builds on: ``ScopedAdmin``.

Every permission question goes to ``tracker.accounts.permissions`` (``restrict(user, action)``):
the changelist and object pages show ``restrict(user, "view")``; add, change and delete
ask for their own action on the object; foreign-key choices are narrowed to what the
user may view. An object outside the user's scope is as good as missing (404).

simple-history's pages are third-party views, so they are scoped here too:

- ``history/`` (the list of versions) — 404 unless a version of the object is in the
  user's view scope;
- ``history/<version>/`` (one version's form) — 404 unless *that version* is in the
  user's view scope (a row that changed owner does not leak its earlier owner's data);
- POSTing that form (simple-history's revert) — only where ``revert_allowed`` (plan
  data, whose edits have no other write path) and only with the ``change`` action on
  both the live row and the version. Progress and alert rows are written by their
  services, so a revert would bypass validation: refused (403) for everyone.

``change_action`` names the action the change form stands for: an alert's change form
records an acknowledgement, so ``LagAlertAdmin`` sets it to ``"acknowledge"``.
"""

from decimal import Decimal

from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core.exceptions import FieldDoesNotExist, PermissionDenied
from django.db import models
from django.http import Http404
from simple_history.admin import SimpleHistoryAdmin
from simple_history.exceptions import NotHistoricalModelError
from simple_history.template_utils import HistoricalRecordContextHelper
from simple_history.utils import get_history_model_for_model

from tracker import formats as fmt
from tracker.accounts.permissions import Action, allowed, may, restrict
from tracker.demo.simulation import SIM_USERNAME


class PlainNumberInput(forms.TextInput):
    """A decimal as people write it: 「5」, 「12.5」, never 「5.0000」."""

    def format_value(self, value):
        if value in (None, ""):
            return None
        try:
            return fmt.number(value, 4, grouping=False)
        except (ArithmeticError, ValueError, TypeError):
            return super().format_value(value)


class PlainHistoryHelper(HistoricalRecordContextHelper):
    """The history page's 「changes」 column: decimals as people write them (「5」)."""

    def prepare_delta_change_value(self, change, value):
        if isinstance(value, Decimal):
            return fmt.number(value, 4)
        return super().prepare_delta_change_value(change, value)


def _plain_readonly(display):
    """Read-only fields of admin pages (an alert's 任务数, 序时应达 …) show decimals through
    the one formatter too. Django renders them with ``helpers.display_for_field``, which
    prints every decimal place of the column (「5.0000」); wrapped once, here."""

    def display_for_field(value, field, empty_value_display, *args, **kwargs):
        if isinstance(field, models.DecimalField) and value is not None:
            return fmt.number(value, 4)
        return display(value, field, empty_value_display, *args, **kwargs)

    display_for_field.wrapped_plain = True
    return display_for_field


if not getattr(admin.helpers.display_for_field, "wrapped_plain", False):
    admin.helpers.display_for_field = _plain_readonly(admin.helpers.display_for_field)


def plain_decimal_column(model, name):
    """``name`` for a list, or, for a decimal field, a column showing it through the one
    formatter (「5」, 「1,234.5」 — not 「5.0000」), sortable by the field."""
    if not isinstance(name, str):
        return name
    try:
        field = model._meta.get_field(name)
    except FieldDoesNotExist:
        return name
    if not isinstance(field, models.DecimalField):
        return name

    def column(obj):
        return fmt.number(getattr(obj, name), 4)

    column.short_description = field.verbose_name
    column.admin_order_field = name
    column.__name__ = name
    return column


class ScopedAdmin(SimpleHistoryAdmin):
    list_select_related: tuple | bool = ()

    class Media:
        css = {"all": ("tracker/admin.css",)}  # readable change-list columns

    formfield_overrides = {models.DecimalField: {"widget": PlainNumberInput}}
    change_action: str = Action.CHANGE
    revert_allowed = False

    # -- rows -------------------------------------------------------------------------

    def get_queryset(self, request):
        queryset = restrict(request.user, Action.VIEW, self.model._default_manager.all())
        if self.list_select_related and self.list_select_related is not True:
            queryset = queryset.select_related(*self.list_select_related)
        ordering = self.get_ordering(request)
        return queryset.order_by(*ordering) if ordering else queryset

    def _may(self, request, action, obj) -> bool:
        if obj is None:
            return allowed(request.user, action, self.model)
        return may(request.user, action, obj)

    def _get_obj_does_not_exist_redirect(self, request, opts, object_id):
        """Missing and out-of-scope objects are a plain 404 (Django redirects to the index
        with a message, which a crawler cannot tell from a success)."""
        raise Http404

    # -- Django's permission hooks -------------------------------------------------------

    def has_module_permission(self, request):
        return allowed(request.user, Action.VIEW, self.model)

    def has_view_permission(self, request, obj=None):
        return self._may(request, Action.VIEW, obj)

    def has_add_permission(self, request):
        return allowed(request.user, Action.ADD, self.model)

    def has_change_permission(self, request, obj=None):
        return self._may(request, self.change_action, obj)

    def has_delete_permission(self, request, obj=None):
        return self._may(request, Action.DELETE, obj)

    def has_view_history_permission(self, request, obj=None):
        return self.has_view_permission(request, obj)

    def has_change_history_permission(self, request, obj=None):
        return self.revert_allowed and self.has_change_permission(request, obj)

    # -- simple-history's views ---------------------------------------------------------

    def _versions(self, request, action, object_id, version_id=None):
        try:
            history = get_history_model_for_model(self.model)
        except NotHistoricalModelError:  # e.g. login locks: Django's own log page
            if version_id is not None:
                return self.model._default_manager.none()
            return restrict(request.user, action, self.model._default_manager.all()).filter(
                pk=object_id
            )
        versions = history.objects.filter(**{self.model._meta.pk.attname: object_id})
        if version_id is not None:
            versions = versions.filter(history_id=version_id)
        return restrict(request.user, action, versions)

    @staticmethod
    def _id(value) -> str:
        if not str(value).isdigit():
            raise Http404
        return str(value)

    def history_view(self, request, object_id, extra_context=None):
        object_id = self._id(object_id)
        if not self._versions(request, Action.VIEW, object_id).exists():
            raise Http404
        if not hasattr(self.model, "history"):
            return admin.ModelAdmin.history_view(self, request, object_id, extra_context)
        return super().history_view(request, object_id, extra_context)

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        object_id, version_id = self._id(object_id), self._id(version_id)
        if not self._versions(request, Action.VIEW, object_id, version_id).exists():
            raise Http404
        if request.method not in ("GET", "HEAD"):
            live = self.get_queryset(request).filter(pk=object_id).first()
            if (
                not self.revert_allowed
                or live is None
                or not may(request.user, self.change_action, live)
                or not self._versions(request, self.change_action, object_id, version_id).exists()
            ):
                raise PermissionDenied
        return super().history_form_view(request, object_id, version_id, extra_context)

    def revert_disabled(self, request, obj=None):
        return not self.has_change_history_permission(request, obj)

    def get_historical_record_context_helper(self, request, historical_record):
        return PlainHistoryHelper(self.model, historical_record)

    def get_list_display(self, request):
        return [plain_decimal_column(self.model, n) for n in super().get_list_display(request)]

    # -- choices ------------------------------------------------------------------------

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if "queryset" not in kwargs:
            related = db_field.remote_field.model._default_manager.all()
            kwargs["queryset"] = hide_simulation_user(restrict(request.user, Action.VIEW, related))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if "queryset" not in kwargs:
            related = db_field.remote_field.model._default_manager.all()
            kwargs["queryset"] = hide_simulation_user(restrict(request.user, Action.VIEW, related))
        return super().formfield_for_manytomany(db_field, request, **kwargs)


def hide_simulation_user(queryset):
    """User pickers never offer ``simulate_year``'s author of the demo data (an inactive
    account nobody logs in as); other querysets pass unchanged."""
    if queryset.model is get_user_model():
        return queryset.exclude(username=SIM_USERNAME)
    return queryset


class PlanAdmin(ScopedAdmin):
    """Plan and reference data (the policy lets only 督查室 edit): reverting a version
    from history is an ordinary edit here, so it is allowed to those who may change."""

    revert_allowed = True


class ScopedInline(admin.TabularInline):
    """An inline showing only rows the user may view, editable as the policy says."""

    extra = 0

    def get_queryset(self, request):
        return restrict(request.user, Action.VIEW, super().get_queryset(request))

    def has_add_permission(self, request, obj=None):
        return allowed(request.user, Action.ADD, self.model)

    def has_change_permission(self, request, obj=None):
        return allowed(request.user, Action.CHANGE, self.model)

    def has_delete_permission(self, request, obj=None):
        return allowed(request.user, Action.DELETE, self.model)

    def has_view_permission(self, request, obj=None):
        return allowed(request.user, Action.VIEW, self.model)
