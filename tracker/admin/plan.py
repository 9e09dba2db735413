"""Browsing (and, for 督查室, maintaining) the plan as published.

An edit here is a plan change like a load: every save and delete asks for a reason, which
goes into history with the user (simple-history's ``history_change_reason``), and then
announces ``plan_changed`` so the affected cells are re-evaluated. Deleting a quota (or a
milestone) shows how many monthly reports (completions) it touches; a quota with reports
cannot be deleted inline, only from its own page with a reason. The bulk 「删除所选」 action
is off for plan data (it would bypass the reason).
"""

from django import forms
from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db.models import Count, OuterRef
from django.forms.models import BaseInlineFormSet
from django.http import QueryDict
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe

from tracker.admin.base import PlanAdmin, ScopedInline
from tracker.formats import plain
from tracker.plans.integrity import check_plan
from tracker.plans.models import Indicator, Milestone, Project, Quota
from tracker.plans.reference import Agency, Category, District, PlanColumn, PlanYear
from tracker.plans.signals import plan_changed
from tracker.plans.units import column_position, plan_columns
from tracker.progress.models import MilestoneCompletion, ProgressReport

REASON_MAX = 100  # simple-history's history_change_reason column


class ReasonForm(forms.ModelForm):
    """A plan row's form with the reason for the edit (required when changing a row)."""

    change_reason = forms.CharField(
        label="修改原因",
        required=False,
        max_length=REASON_MAX,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        help_text="记入历史（谁、何时、为什么改）；修改已有记录时必填。",
    )

    def clean(self):
        cleaned = super().clean()
        if self.instance.pk and not (cleaned.get("change_reason") or "").strip():
            self.add_error("change_reason", "请填写修改原因（记入历史）。")
        return cleaned


def reports_of(obj) -> tuple[int, int]:
    """(monthly reports, milestone completions) a plan row's deletion would touch."""
    if isinstance(obj, Quota):
        districts = [obj.district_id, *obj.shared_with.values_list("pk", flat=True)]
        reports = ProgressReport.objects.filter(
            indicator_id=obj.indicator_id, district_id__in=districts
        )
        return reports.count(), 0
    if isinstance(obj, Indicator):
        return ProgressReport.objects.filter(indicator=obj).count(), 0
    if isinstance(obj, Project):
        return ProgressReport.objects.filter(indicator__project=obj).count(), (
            MilestoneCompletion.objects.filter(milestone__project=obj).count()
        )
    if isinstance(obj, Milestone):
        return 0, MilestoneCompletion.objects.filter(milestone=obj).count()
    return 0, 0


def changed_scope(obj) -> tuple[PlanYear | None, list[int] | None, list[int]]:
    """(plan, indicator ids, project ids) whose cells an edit of ``obj`` may change, for
    ``plan_changed``; None indicator ids: the whole plan."""
    if isinstance(obj, Quota):
        return obj.indicator.project.plan_year, [obj.indicator_id], []
    if isinstance(obj, Indicator):
        return obj.project.plan_year, [obj.pk], [obj.project_id]
    if isinstance(obj, Milestone):
        ids = list(obj.project.indicators.values_list("pk", flat=True))
        return (
            obj.project.plan_year,
            ([obj.indicator_id] if obj.indicator_id else ids),
            [obj.project_id],
        )
    if isinstance(obj, Project):
        return obj.plan_year, list(obj.indicators.values_list("pk", flat=True)), [obj.pk]
    if isinstance(obj, PlanColumn):
        return obj.plan, None, []
    if isinstance(obj, PlanYear):
        return obj, None, []
    return None, None, []


def announce(model, scope) -> None:
    plan, indicator_ids, project_ids = scope
    if plan is not None:
        plan_changed.send(
            sender=model, plan=plan, indicator_ids=indicator_ids, project_ids=project_ids
        )


class PlanEditAdmin(PlanAdmin):
    """Plan rows edited with a reason, announced to the evaluation (see the module)."""

    form = ReasonForm
    delete_confirmation_template = "admin/tracker/plan_delete_confirmation.html"

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def get_changeform_initial_data(self, request):
        """Initial values from the query string, kept only where they name something
        (``?district=xiaoshan`` is read as the unit's code; ``?indicator=abc`` dropped),
        never a 500."""
        out = {}
        for name, value in super().get_changeform_initial_data(request).items():
            try:
                field = self.model._meta.get_field(name)
            except FieldDoesNotExist:
                continue
            if field.is_relation:
                found = _related_pks(field.related_model, value)
                if found:
                    out[name] = found if field.many_to_many else found[0]
                continue
            try:
                out[name] = field.to_python(value)
            except ValidationError:
                continue
        return out

    def save_model(self, request, obj, form, change):
        obj._change_reason = _reason(form, change)
        super().save_model(request, obj, form, change)

    def save_formset(self, request, form, formset, change):
        reason = _reason(form, change)
        for inline_form in formset.forms:
            inline_form.instance._change_reason = reason
        super().save_formset(request, form, formset, change)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        announce(self.model, changed_scope(form.instance))

    def delete_view(self, request, object_id, extra_context=None):
        extra = dict(extra_context or {})
        obj = self.get_object(request, unquote(object_id)) if str(object_id).isdigit() else None
        if obj is not None:
            extra["report_count"], extra["completion_count"] = reports_of(obj)
        if request.method == "POST" and not request.POST.get("change_reason", "").strip():
            extra["reason_error"] = "请填写删除原因（记入历史）。"
            request.POST = QueryDict()  # show the confirmation again instead of deleting
        return super().delete_view(request, object_id, extra)

    def delete_model(self, request, obj):
        obj._change_reason = request.POST.get("change_reason", "").strip()[:REASON_MAX]
        scope = changed_scope(obj)
        super().delete_model(request, obj)
        announce(self.model, scope)


def _reason(form, change) -> str:
    reason = (form.cleaned_data.get("change_reason") or "").strip()
    return reason or ("后台修改" if change else "后台新增")


def _related_pks(model, value) -> list[int]:
    values = value if isinstance(value, list) else [value]
    pks, codes = [], []
    for v in (str(v).strip() for v in values):
        (pks if v.isdigit() else codes).append(v)
    rows = model._default_manager.filter(pk__in=[int(p) for p in pks])
    found = list(rows.values_list("pk", flat=True))
    if codes and model is District:
        found += list(District.objects.filter(code__in=codes).values_list("pk", flat=True))
    return found


class GuardedFormSet(BaseInlineFormSet):
    """An inline refuses to delete a row with reports or completions: that deletion goes
    through the row's own delete page, which shows the count and asks for a reason."""

    def clean(self):
        super().clean()
        for form in self.deleted_forms:
            if form.instance.pk is None:
                continue
            reports, completions = reports_of(form.instance)
            if reports or completions:
                what = f"{reports} 条月度填报" if reports else f"{completions} 条节点完成记录"
                raise ValidationError(
                    f"「{form.instance}」已有 {what}，不能在此删除；"
                    "请到它自己的删除页面确认影响并填写原因。"
                )


class PlanColumnInline(ScopedInline):
    """The plan's own reporting columns (任务分解表's header), in its order; a merged
    column (「海曙、江东、江北」 sharing one number) lists its other units."""

    model = PlanColumn
    fields = ("order", "label", "district", "merged_units")
    ordering = ("order",)
    autocomplete_fields = ("district", "merged_units")


@admin.register(PlanYear)
class PlanYearAdmin(PlanEditAdmin):
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
class CategoryAdmin(PlanEditAdmin):
    list_display = ("order", "name", "plan_year")
    list_filter = ("plan_year",)
    list_select_related = ("plan_year",)
    ordering = ("plan_year", "order")


@admin.register(Agency)
class AgencyAdmin(PlanEditAdmin):
    list_display = ("name", "full_name", "aliases")
    search_fields = ("name", "full_name")


@admin.register(District)
class DistrictAdmin(PlanEditAdmin):
    list_display = ("order", "name", "code", "kind")
    list_filter = ("kind",)
    search_fields = ("name", "code")
    ordering = ("order",)


class IndicatorInline(ScopedInline):
    model = Indicator
    fields = (
        "order", "key", "label", "target_text", "target_value", "unit", "kind", "direction",
        "scope",
    )  # fmt: skip
    show_change_link = True


class MilestoneInline(ScopedInline):
    model = Milestone
    formset = GuardedFormSet
    fields = ("key", "due_date", "indicator", "kind", "value_text", "value", "text")
    ordering = ("due_date", "order")

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "indicator":
            project_id = request.resolver_match.kwargs.get("object_id")
            kwargs["queryset"] = Indicator.objects.for_user(request.user).filter(
                project_id=project_id
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(Project)
class ProjectAdmin(PlanEditAdmin):
    list_display = ("seq", "name", "category", "lead_agency", "city_leader", "deadline")
    list_display_links = ("seq", "name")
    list_filter = ("plan_year", "category", "lead_agency")
    list_select_related = ("category", "lead_agency")
    search_fields = ("name", "name_in_breakdown", "work_plan")
    ordering = ("plan_year", "seq")
    filter_horizontal = ("co_lead_agencies", "cooperating_agencies")
    inlines = (IndicatorInline, MilestoneInline)
    fieldsets = (
        (None, {"fields": ("plan_year", "category", "seq", "key", "name", "name_in_breakdown")}),
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
        ("修改原因", {"fields": ("change_reason",)}),
    )


class QuotaInline(ScopedInline):
    """One quota per column; a merged column's one number lists the units sharing it."""

    model = Quota
    formset = GuardedFormSet
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
class IndicatorAdmin(PlanEditAdmin):
    list_display = (
        "project_seq", "order", "key", "label", "target_text", "unit", "kind", "direction",
        "scope",
    )  # fmt: skip
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
        "direction",
        "scope",
        "key",
        "deadline",
        "breakdown_note",
        "change_reason",
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
class QuotaAdmin(PlanEditAdmin):
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
class MilestoneAdmin(PlanEditAdmin):
    list_display = ("project_seq", "key", "due_date", "indicator", "kind", "value_text", "text")
    list_filter = ("project__plan_year", "kind", "project__category")
    list_select_related = ("project", "indicator__project")
    search_fields = ("text", "project__name")
    ordering = ("project__seq", "due_date", "order")

    @admin.display(description="序号", ordering="project__seq")
    def project_seq(self, obj):
        return obj.project.seq
