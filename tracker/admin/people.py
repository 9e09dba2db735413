"""Who works for whom: only 督查室 manages user roles."""

from django.contrib import admin

from tracker.models import UserProfile
from tracker.scoping import scope_for

from .base import ScopedAdmin


@admin.register(UserProfile)
class UserProfileAdmin(ScopedAdmin):
    list_display = ("user", "role", "agency", "district", "phone")
    list_filter = ("role", "district")
    list_select_related = ("user", "agency", "district")
    search_fields = ("user__username", "agency__name")
    autocomplete_fields = ()

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        return queryset if scope_for(request.user).is_supervision else queryset.none()

    def has_module_permission(self, request):
        return scope_for(request.user).is_supervision

    def has_view_permission(self, request, obj=None):
        return scope_for(request.user).is_supervision

    def has_add_permission(self, request):
        return scope_for(request.user).is_supervision

    def has_change_permission(self, request, obj=None):
        return scope_for(request.user).is_supervision

    def has_delete_permission(self, request, obj=None):
        return scope_for(request.user).is_supervision
