"""The scoped ModelAdmin every tracker admin builds on.

Everything goes through the one scoping rule (``tracker.scoping``): the changelist,
object pages and history pages show ``Model.objects.for_user(user)``; foreign-key
choices are narrowed the same way; an object outside the user's scope is as good
as missing (a crafted URL or POST gets 403/404).

Plan data (``PlanAdmin``) is read-only for everyone but the supervision office.
"""

from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from tracker.models.scoping import ScopedQuerySet
from tracker.scoping import scope_for


class ScopedAdmin(SimpleHistoryAdmin):
    list_select_related: tuple | bool = ()

    def get_queryset(self, request):
        queryset = self.model._default_manager.get_queryset()
        if isinstance(queryset, ScopedQuerySet):
            queryset = queryset.for_user(request.user)
        elif scope_for(request.user).role is None:
            queryset = queryset.none()
        ordering = self.get_ordering(request)
        return queryset.order_by(*ordering) if ordering else queryset

    def _in_scope(self, request, obj) -> bool:
        if obj is None:
            return True
        return self.get_queryset(request).filter(pk=obj.pk).exists()

    def has_module_permission(self, request):
        return scope_for(request.user).role is not None

    def has_view_permission(self, request, obj=None):
        return scope_for(request.user).role is not None and self._in_scope(request, obj)

    def has_view_history_permission(self, request, obj=None):
        return self.has_view_permission(request, obj)

    def has_change_history_permission(self, request, obj=None):
        return self.has_change_permission(request, obj)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        related = db_field.remote_field.model._default_manager.get_queryset()
        if isinstance(related, ScopedQuerySet):
            kwargs["queryset"] = related.for_user(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        related = db_field.remote_field.model._default_manager.get_queryset()
        if isinstance(related, ScopedQuerySet):
            kwargs["queryset"] = related.for_user(request.user)
        return super().formfield_for_manytomany(db_field, request, **kwargs)


class PlanAdmin(ScopedAdmin):
    """Plan and reference data: everyone in a role reads, only 督查室 edits."""

    def has_add_permission(self, request):
        return scope_for(request.user).can_edit_plan

    def has_change_permission(self, request, obj=None):
        return scope_for(request.user).can_edit_plan and self._in_scope(request, obj)

    def has_delete_permission(self, request, obj=None):
        return scope_for(request.user).can_edit_plan and self._in_scope(request, obj)


class ScopedInline(admin.TabularInline):
    """An inline showing only rows in the user's scope, editable like its parent."""

    extra = 0

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if isinstance(queryset, ScopedQuerySet):
            queryset = queryset.for_user(request.user)
        return queryset

    def has_add_permission(self, request, obj=None):
        return scope_for(request.user).can_edit_plan

    def has_change_permission(self, request, obj=None):
        return scope_for(request.user).can_edit_plan

    def has_delete_permission(self, request, obj=None):
        return scope_for(request.user).can_edit_plan

    def has_view_permission(self, request, obj=None):
        return scope_for(request.user).role is not None
