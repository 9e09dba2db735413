"""Progress entry in the admin, scoped to what the user may report.

Lead agencies enter every district of the projects they lead; districts their own
district only; only 督查室 deletes (and the deletion stays in history).
"""

from django import forms
from django.contrib import admin

from tracker.models import District, MilestoneCompletion, ProgressReport
from tracker.scoping import scope_for

from .base import ScopedAdmin


class ScopedEntryForm(forms.ModelForm):
    """Refuses a row the user may not report, whatever was POSTed."""

    def clean(self):
        cleaned = super().clean()
        district = cleaned.get("district")
        indicator, milestone = cleaned.get("indicator"), cleaned.get("milestone")
        project = indicator.project if indicator else milestone.project if milestone else None
        scope = scope_for(self.request_user)
        if district and project and not scope.can_report_project(project, district):
            raise forms.ValidationError("您无权填报该区、县(市)在此项目上的进度")
        return cleaned


class EntryAdmin(ScopedAdmin):
    form = ScopedEntryForm

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        form.request_user = request.user
        return form

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        scope = scope_for(request.user)
        if db_field.name == "district" and scope.is_district:
            kwargs["queryset"] = District.objects.filter(pk=scope.district_id)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_add_permission(self, request):
        return scope_for(request.user).role is not None

    def has_change_permission(self, request, obj=None):
        return scope_for(request.user).role is not None and self._in_scope(request, obj)

    def has_delete_permission(self, request, obj=None):
        return scope_for(request.user).is_supervision and self._in_scope(request, obj)

    def save_model(self, request, obj, form, change):
        obj.reported_by = request.user
        super().save_model(request, obj, form, change)


@admin.register(ProgressReport)
class ProgressReportAdmin(EntryAdmin):
    list_display = ("indicator", "district", "month", "value", "is_correction", "reported_by")
    list_filter = ("month", "district", "indicator__project__category")
    list_select_related = ("indicator__project", "district", "reported_by")
    search_fields = ("indicator__label", "indicator__project__name")
    date_hierarchy = "month"
    fields = ("indicator", "district", "month", "value", "note", "is_correction",
              "correction_reason")  # fmt: skip
    ordering = ("-month", "indicator__project__seq", "district__order")


@admin.register(MilestoneCompletion)
class MilestoneCompletionAdmin(EntryAdmin):
    list_display = ("milestone", "district", "done", "done_on", "reported_by")
    list_filter = ("done", "district")
    list_select_related = ("milestone__project", "district", "reported_by")
    fields = ("milestone", "district", "done", "done_on", "note")
