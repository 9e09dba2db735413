"""Browsing (and, for 督查室, maintaining) the plan as published."""

from django.contrib import admin
from django.db.models import Count, OuterRef
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe

from tracker.admin.base import PlanAdmin, ScopedInline
from tracker.formats import plain
from tracker.plans.integrity import check_plan
from tracker.plans.models import Indicator, Milestone, Project, Quota
from tracker.plans.reference import Agency, Category, District, PlanColumn, PlanYear
from tracker.plans.units import column_position, plan_columns


class PlanColumnInline(ScopedInline):
    """The plan's own reporting columns (任务分解表's header), in its order; a merged
    column (「海曙、江东、江北」 sharing one number) lists its other units."""

    model = PlanColumn
    fields = ("order", "label", "district", "merged_units")
    ordering = ("order",)
    autocomplete_fields = ("district", "merged_units")


@admin.register(PlanYear)
class PlanYearAdmin(PlanAdmin):
    list_display = (
        "year", "issuer", "title", "document_number", "published_on", "column_count",
        "project_count",
    )  # fmt: skip
    list_filter = ("issuer", "year")
    readonly_fields = ("acknowledged_findings", "format_version", "integrity")
    inlines = (PlanColumnInline,)

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                n_projects=Count("projects", distinct=True),
                n_columns=Count("columns", distinct=True),
            )
        )

    @admin.display(description="项目数", ordering="n_projects")
    def project_count(self, obj):
        return obj.n_projects

    @admin.display(description="列数", ordering="n_columns")
    def column_count(self, obj):
        return obj.n_columns

    @admin.display(description="完整性检查")
    def integrity(self, obj):
        """The plan-integrity findings (check_plan), with 推定的完成时间 among them."""
        if obj is None or obj.pk is None:
            return "—"
        findings = check_plan(obj)
        if not findings:
            return "未发现问题"
        return format_html_join(mark_safe("<br>"), "{}", ((str(f),) for f in findings))


@admin.register(Category)
class CategoryAdmin(PlanAdmin):
    list_display = ("order", "name", "plan_year")
    list_filter = ("plan_year",)
    list_select_related = ("plan_year",)
    ordering = ("plan_year", "order")


@admin.register(Agency)
class AgencyAdmin(PlanAdmin):
    list_display = ("name", "full_name", "aliases")
    search_fields = ("name", "full_name")


@admin.register(District)
class DistrictAdmin(PlanAdmin):
    list_display = ("order", "name", "code", "kind")
    list_filter = ("kind",)
    search_fields = ("name", "code")
    ordering = ("order",)


class IndicatorInline(ScopedInline):
    model = Indicator
    fields = ("order", "label", "target_text", "target_value", "unit", "kind", "scope")
    show_change_link = True


class MilestoneInline(ScopedInline):
    model = Milestone
    fields = ("due_date", "indicator", "kind", "value_text", "value", "text")
    ordering = ("due_date", "order")

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "indicator":
            project_id = request.resolver_match.kwargs.get("object_id")
            kwargs["queryset"] = Indicator.objects.for_user(request.user).filter(
                project_id=project_id
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(Project)
class ProjectAdmin(PlanAdmin):
    list_display = ("seq", "name", "category", "lead_agency", "city_leader", "deadline")
    list_display_links = ("seq", "name")
    list_filter = ("plan_year", "category", "lead_agency")
    list_select_related = ("category", "lead_agency")
    search_fields = ("name", "name_in_breakdown", "work_plan")
    ordering = ("plan_year", "seq")
    filter_horizontal = ("co_lead_agencies", "cooperating_agencies")
    inlines = (IndicatorInline, MilestoneInline)
    fieldsets = (
        (None, {"fields": ("plan_year", "category", "seq", "name", "name_in_breakdown")}),
        (
            "责任",
            {
                "fields": (
                    "city_leader",
                    "lead_agency",
                    "co_lead_agencies",
                    "lead_agency_leader",
                    "cooperating_text",
                    "cooperating_agencies",
                )
            },
        ),
        ("进度安排", {"fields": ("deadline", "deadline_assumed", "work_plan", "notes")}),
    )


class QuotaInline(ScopedInline):
    """One quota per column; a merged column's one number lists the units sharing it."""

    model = Quota
    fields = ("district", "published_text", "value", "new_value", "upgrade_value", "shared_with")
    autocomplete_fields = ("district", "shared_with")

    def get_queryset(self, request):
        plan = OuterRef("indicator__project__plan_year_id")
        return (
            super()
            .get_queryset(request)
            .annotate(column=column_position(plan, OuterRef("district_id")))
            .order_by("column", "district__order")
        )


@admin.register(Indicator)
class IndicatorAdmin(PlanAdmin):
    list_display = ("project_seq", "order", "label", "target_text", "unit", "kind", "scope")
    list_display_links = ("label",)
    list_filter = ("project__plan_year", "kind", "scope", "project__category")
    list_select_related = ("project",)
    search_fields = ("label", "project__name")
    ordering = ("project__plan_year", "project__seq", "order")
    inlines = (QuotaInline,)
    change_form_template = "admin/tracker/indicator/change_form.html"
    fields = (
        "project",
        "order",
        "label",
        "target_text",
        "target_value",
        "unit",
        "kind",
        "scope",
        "deadline",
        "breakdown_note",
    )

    @admin.display(description="序号", ordering="project__seq")
    def project_seq(self, obj):
        return obj.project.seq

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = dict(extra_context or {})
        indicator = self.get_object(request, object_id)
        if indicator is not None:
            extra_context["quota_table"] = quota_table(indicator, request.user)
        return super().change_view(request, object_id, form_url, extra_context)


def quota_table(indicator, user) -> list[dict]:
    """One row per column of the indicator's plan, in its order (``plan_units``), headed by
    the printed label (a merged column once): the printed cell or 「—」.

    Districts outside the user's scope show 「—」 like an empty cell. A plan without
    columns lists every registered unit.
    """
    quotas = {q.district_id: q for q in Quota.objects.for_user(user).filter(indicator=indicator)}
    columns = plan_columns(indicator.project.plan_year_id)
    heads = [(c.district, c.label) for c in columns] or [
        (d, d.name) for d in District.objects.order_by("order")
    ]
    rows = []
    for d, label in heads:
        q = quotas.get(d.pk)
        rows.append(
            {
                "district": label,
                "text": (q.published_text or plain(q.value)) if q else "—",
                "value": plain(q.value) if q else "",
            }
        )
    return rows


@admin.register(Quota)
class QuotaAdmin(PlanAdmin):
    list_display = ("project_seq", "indicator", "district", "published_text", "value", "shared")
    list_filter = ("indicator__project__plan_year", "district", "indicator__project__category")
    list_select_related = ("indicator__project", "district")
    search_fields = ("indicator__label", "indicator__project__name")
    ordering = ("indicator__project__seq", "indicator__order", "district__order")
    autocomplete_fields = ("district", "shared_with")

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("shared_with")

    @admin.display(description="序号", ordering="indicator__project__seq")
    def project_seq(self, obj):
        return obj.indicator.project.seq

    @admin.display(description="合并列共同承担")
    def shared(self, obj):
        return "、".join(d.name for d in obj.shared_with.all()) or "—"


@admin.register(Milestone)
class MilestoneAdmin(PlanAdmin):
    list_display = ("project_seq", "due_date", "indicator", "kind", "value_text", "text")
    list_filter = ("project__plan_year", "kind", "project__category")
    list_select_related = ("project", "indicator__project")
    search_fields = ("text", "project__name")
    ordering = ("project__seq", "due_date", "order")

    @admin.display(description="序号", ordering="project__seq")
    def project_seq(self, obj):
        return obj.project.seq
