"""Who works for whom: only 督查室 manages user roles (``tracker.accounts.permissions``: a model
outside the policy table is 督查室-only for every action)."""

from django.contrib import admin

from tracker.accounts.models import UserProfile
from tracker.admin.base import ScopedAdmin


@admin.register(UserProfile)
class UserProfileAdmin(ScopedAdmin):
    list_display = ("user", "role", "agency", "district", "leader_name", "phone")
    list_filter = ("role", "district")
    list_select_related = ("user", "agency", "district")
    search_fields = ("user__username", "agency__name", "leader_name")
    autocomplete_fields = ()
