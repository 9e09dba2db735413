"""挂牌督办 in the admin: read-mostly. Items, their steps and files are listed in scope;
every step is taken on the pages or through the API (``tracker.supervision.process``),
so no one adds, changes or deletes them here (the policy table grants view only)."""

from django.contrib import admin

from tracker.admin.base import ScopedAdmin
from tracker.supervision.models import SupervisionEvent, SupervisionItem


class EventInline(admin.TabularInline):
    """The item's steps, oldest first (read-only)."""

    model = SupervisionEvent
    extra = 0
    can_delete = False
    fields = ("at", "action", "old_state", "new_state", "round", "by", "why", "deadline")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(SupervisionItem)
class SupervisionItemAdmin(ScopedAdmin):
    inlines = [EventInline]
    list_display = (
        "month", "indicator", "district", "state", "responsible_agency", "deadline", "round",
        "assigned_at", "closed_at",
    )  # fmt: skip
    list_filter = ("state", "month", "district")
    list_select_related = ("indicator__project", "district", "responsible_agency")
    search_fields = ("indicator__label", "indicator__project__name", "district__name", "note")
    readonly_fields = [f.name for f in SupervisionItem._meta.fields]
