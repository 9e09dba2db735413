"""Progress entry in the admin, scoped to what the user may report.

Every write goes through ``tracker.progress.writes`` (the same rules as the API and
the Excel import). Screens:

- 月度填报 (``grid/``): pick an indicator and a month, fill a grid of the districts in
  the user's scope (quota, previous cumulative value, this month's value, note,
  correction and reason, confirmation of an over-quota value). All rows or none.
- 节点填报 (``milestonecompletion/grid/``): a qualitative milestone's completion per
  district (done / date / note).
- Excel: download the 任务分解表 with progress, a template per indicator and month, and
  import a filled template (all-or-nothing, every bad row named).
- The plain change form for one cell carries the row's version, so of two people
  editing the same cell the second is told instead of silently overwriting.

Lead agencies enter every district of the projects they lead; districts their own
district only; only 督查室 deletes (and the deletion stays in history).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from urllib.parse import quote

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import OuterRef
from django.http import HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.http import urlencode

from tracker import formats as fmt
from tracker.accounts.permissions import scope_for
from tracker.admin.base import ScopedAdmin
from tracker.calendar import enterable_months, reporting_month
from tracker.formats import plain
from tracker.months import add_months, first_of_month, format_month, month_label, parse_month
from tracker.plans.models import Indicator, Milestone, Quota
from tracker.plans.reference import District
from tracker.plans.selection import current_plan, plan_of
from tracker.plans.units import city_unit_id, column_position
from tracker.progress import lifecycle
from tracker.progress import workbooks as excel
from tracker.progress import writes as progress_service
from tracker.progress.models import MilestoneCompletion, ProgressReport
from tracker.progress.values import value_as_of
from tracker.progress.writes import Entry, ProgressRejected

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _xlsx_response(data: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(data, content_type=XLSX)
    response["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(filename)}"
    return response


def reportable_indicators(user):
    """Numeric indicators of the projects the user may report on."""
    return (
        Indicator.objects.for_user(user)
        .exclude(kind=Indicator.Kind.QUALITATIVE)
        .select_related("project")
        .order_by("-project__plan_year__year", "project__seq", "order")
    )


def grid_months(plan, chosen: date | None) -> list[tuple[str, str]]:
    """The grid's month select: the plan months one may still enter (the reporting
    calendar's ``enterable_months``), newest first, plus the chosen month if it is not
    among them (so the page still says which month it shows)."""
    if plan is None:
        return []
    months = enterable_months(plan)
    if chosen is not None and chosen not in months:
        months = sorted([*months, chosen])
    return [(format_month(m), month_label(m)) for m in reversed(months)]


class IndicatorMonthForm(forms.Form):
    indicator = forms.ModelChoiceField(queryset=Indicator.objects.none(), label="量化目标")
    month = forms.CharField(label="月份", help_text="YYYY-MM")

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["indicator"].queryset = reportable_indicators(user)
        self.fields["indicator"].label_from_instance = lambda i: (
            f"{i.project.seq}. {i.project.name} — {i.label}（{fmt.base_unit(i)}）"
        )

    def clean_month(self):
        try:
            return parse_month(self.cleaned_data["month"])
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from exc


# --- the single-cell form ------------------------------------------------------------


def refuse_move(form, names) -> bool:
    """A saved row keeps its cell: changing which indicator, district or month (or
    milestone) it is would copy it elsewhere. Adds an error per moved field."""
    instance = form.instance
    if instance.pk is None:
        return False
    moved = False
    for name in names:
        new = form.cleaned_data.get(name)
        old = getattr(instance, name)
        if getattr(new, "pk", new) != getattr(old, "pk", old):
            form.add_error(name, "不能修改已填报数据所属的目标、区县或月份；请新增一条")
            moved = True
    return moved


class ProgressReportForm(forms.ModelForm):
    """One cell; validation and the write are the progress service's."""

    month = forms.CharField(label="月份", help_text="YYYY-MM，数值为截至该月底的累计值")
    value = forms.CharField(label="累计完成", help_text="只填数字；比率填百分数，如 83")
    confirmed = forms.BooleanField(
        label="确认超额", required=False, help_text="数值超过任务数 3 倍时须确认"
    )
    expected_version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    class Meta:
        model = ProgressReport
        fields = ("indicator", "district", "month", "value", "note", "is_correction",
                  "correction_reason")  # fmt: skip

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            # a correction is never carried over: each one carries its own reason
            self.initial["is_correction"], self.initial["correction_reason"] = False, ""
            self.initial["month"] = format_month(self.instance.month)
            self.initial["value"] = plain(self.instance.value)
            self.initial["expected_version"] = self.instance.version
        else:
            self.initial.setdefault("expected_version", 0)

    def clean_month(self):
        text = self.cleaned_data["month"].strip()
        try:
            if len(text) == 10:  # a date in the month, e.g. 2024-06-30
                return first_of_month(date.fromisoformat(text))
            return parse_month(text)
        except ValueError as exc:
            message = f"月份格式应为 YYYY-MM，例如 2024-06，收到「{text}」"
            raise forms.ValidationError(message) from exc

    def entry(self) -> Entry:
        data = self.cleaned_data
        return Entry(
            indicator_id=data["indicator"].pk if data.get("indicator") else None,
            district_id=data["district"].pk if data.get("district") else None,
            month=data.get("month"),
            value=data.get("value"),
            note=data.get("note", ""),
            is_correction=data.get("is_correction", False),
            correction_reason=data.get("correction_reason", ""),
            expected_version=data.get("expected_version"),
            confirmed=data.get("confirmed", False),
        )

    def clean(self):
        cleaned = super().clean()
        if self.errors or refuse_move(self, ("indicator", "district", "month")):
            return cleaned
        for error in progress_service.validate(self.request_user, [self.entry()]):
            name = error.field if error.field in self.fields else None
            self.add_error(name, error.message)
        return cleaned

    def _post_clean(self):
        # The model instance is built by the service, not by ModelForm.
        pass


class EntryAdmin(ScopedAdmin):
    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        form.request_user = request.user
        return form

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        scope = scope_for(request.user)
        if db_field.name == "district" and scope.is_district:
            kwargs["queryset"] = District.objects.filter(pk=scope.district_id)
        if db_field.name == "indicator":
            kwargs["queryset"] = reportable_indicators(request.user)
        if db_field.name == "milestone":
            kwargs["queryset"] = Milestone.objects.for_user(request.user).filter(
                kind=Milestone.Kind.QUALITATIVE
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(ProgressReport)
class ProgressReportAdmin(EntryAdmin):
    form = ProgressReportForm
    list_display = ("indicator", "district", "month_label", "value", "is_correction",
                    "reported_by", "reported_at", "version")  # fmt: skip
    list_filter = ("month", "district", "indicator__project__category", "is_correction")
    list_select_related = ("indicator__project", "district", "reported_by")
    search_fields = ("indicator__label", "indicator__project__name")
    date_hierarchy = "month"
    ordering = ("-month", "indicator__project__seq", "district__order")
    change_list_template = "admin/tracker/progressreport/change_list.html"

    @admin.display(description="月份", ordering="month")
    def month_label(self, obj):
        return format_month(obj.month)

    # -- single cell --

    def save_model(self, request, obj, form, change):
        try:
            result = progress_service.submit(request.user, [form.entry()])
        except ProgressRejected as exc:  # lost a race after the form was validated
            request._progress_rejected = exc
            return
        saved = result.reports[0]
        for f in ProgressReport._meta.concrete_fields:  # the admin goes on with ``obj``
            setattr(obj, f.attname, getattr(saved, f.attname))
        obj._state.adding, obj._state.db = False, saved._state.db

    def save_related(self, request, form, formsets, change):
        pass

    def _rejected(self, request):
        exc = getattr(request, "_progress_rejected", None)
        if exc is None:
            return None
        for error in exc.errors:
            self.message_user(request, f"未保存：{error}", messages.ERROR)
        return HttpResponseRedirect(request.get_full_path())

    def response_add(self, request, obj, post_url_continue=None):
        return self._rejected(request) or super().response_add(request, obj, post_url_continue)

    def response_change(self, request, obj):
        return self._rejected(request) or super().response_change(request, obj)

    def log_addition(self, request, obj, message):
        if not getattr(request, "_progress_rejected", None):
            return super().log_addition(request, obj, message)

    def log_change(self, request, obj, message):
        if not getattr(request, "_progress_rejected", None):
            return super().log_change(request, obj, message)

    # -- the state machine: approved and locked figures are read-only here --

    def _refusals(self, request, objs, action) -> list[str]:
        """The machine's refusals of ``action`` on these rows (2 queries, memoised per
        request so the change form's many permission checks cost nothing more)."""
        memo = request.__dict__.setdefault("_figure_cells", {})
        keys = [(o.indicator_id, o.district_id, o.month) for o in objs]
        missing = [k for k in keys if k not in memo]
        if missing:
            memo.update(lifecycle.cells(missing))
        refusals = []
        for obj, key in zip(objs, keys, strict=True):
            what = lifecycle.describe(obj.district.name, obj.indicator.label, obj.month)
            try:
                lifecycle.check(request.user, action, memo[key], what=what)
            except lifecycle.Refused as exc:
                refusals.append(str(exc))
        return refusals

    def has_change_permission(self, request, obj=None):
        allowed = super().has_change_permission(request, obj)
        if not allowed or obj is None or obj.pk is None:
            return allowed
        return not self._refusals(request, [obj], lifecycle.Do.WRITE)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        """A POST on a frozen figure: 403 with the machine's reason (a GET shows it
        read-only)."""
        if request.method == "POST":
            obj = self.get_object(request, unquote(object_id))
            refused = obj is not None and self._refusals(request, [obj], lifecycle.Do.WRITE)
            if refused and super().has_change_permission(request, obj):
                raise PermissionDenied(refused[0])
        return super().change_view(request, object_id, form_url, extra_context)

    def get_deleted_objects(self, objs, request):
        """Single or bulk delete: if any selected figure may not be deleted, refuse the
        whole request (403, every reason listed) before anything is deleted."""
        objs = list(objs)
        refused = self._refusals(request, objs, lifecycle.Do.DELETE)
        if refused and self.has_delete_permission(request):
            more = f"等 {len(refused)} 项" if len(refused) > 3 else ""
            raise PermissionDenied("；".join(refused[:3]) + more + "。未删除任何数据")
        return super().get_deleted_objects(objs, request)

    def delete_model(self, request, obj):
        self.delete_queryset(request, [obj])

    def delete_queryset(self, request, queryset):
        """All or nothing: one refused row rolls back every deletion of the request."""
        try:
            with transaction.atomic():
                for obj in queryset:
                    progress_service.delete_report(request.user, obj)
        except ProgressRejected as exc:
            raise PermissionDenied(str(exc) + "。未删除任何数据") from exc

    # -- extra screens --

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("grid/", view(self.grid_view), name="tracker_progressreport_grid"),
            path("export/", view(self.export_view), name="tracker_progressreport_export"),
            path("template/", view(self.template_view), name="tracker_progressreport_template"),
            path("import/", view(self.import_view), name="tracker_progressreport_import"),
            *super().get_urls(),
        ]

    def _context(self, request, title, **extra):
        return {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": title,
            **extra,
        }

    def grid_view(self, request):
        """月度填报: one indicator, one month, every district in the user's scope."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        picker = IndicatorMonthForm(request.GET or None, user=request.user)
        rows, errors, general = [], {}, []
        indicator = month = None
        if picker.is_bound and picker.is_valid():
            indicator, month = picker.cleaned_data["indicator"], picker.cleaned_data["month"]
            if request.method == "POST":
                entries = grid_entries(request.POST, indicator, month)
                if not entries:
                    general.append("没有填写任何数值")
                else:
                    try:
                        result = progress_service.submit(request.user, entries)
                    except ProgressRejected as exc:
                        for error in exc.errors:
                            if error.row is None:
                                general.append(error.message)
                            else:
                                errors.setdefault(error.row, []).append(error.message)
                    else:
                        self.message_user(
                            request,
                            f"已保存：新增 {len(result.created)} 条，"
                            f"修改 {len(result.updated)} 条，未变 {len(result.unchanged)} 条",
                            messages.SUCCESS,
                        )
                        return HttpResponseRedirect(request.get_full_path())
            rows = grid_rows(request.user, indicator, month, request.POST or None, errors)
            shown = {row.key for row in rows}
            general += [m for key, ms in errors.items() if key not in shown for m in ms]
        return TemplateResponse(
            request,
            "admin/tracker/progressreport/grid.html",
            self._context(
                request,
                "月度填报",
                picker=picker,
                indicator=indicator,
                month=month,
                month_text=format_month(month) if month else "",
                rows=rows,
                general_errors=general,
                has_errors=bool(errors or general),
                months=grid_months(
                    indicator.project.plan_year if indicator else current_plan(), month
                ),
                unit=fmt.base_unit(indicator) if indicator else "",
            ),
            status=400 if errors or general else 200,  # refused: a 4xx, nothing written
        )

    def export_view(self, request):
        """任务分解表 with each district's quota, cumulative value and rate for a month."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        plan_year, month = excel.breakdown_month()  # default: the month being reported
        if request.GET.get("month"):
            try:
                month = parse_month(request.GET["month"])
            except ValueError as exc:
                self.message_user(request, str(exc), messages.ERROR)
                return HttpResponseRedirect(reverse("admin:tracker_progressreport_changelist"))
        if request.GET.get("month") or request.GET.get("plan") or request.GET.get("issuer"):
            plan_year = plan_of(
                month.year if month else None, request.GET.get("plan"), request.GET.get("issuer")
            )
            if plan_year is not None and not request.GET.get("month"):
                month = reporting_month(plan_year)  # that plan's month being reported
        if plan_year is None:
            year = f"{month.year}年" if month else ""
            self.message_user(request, f"{year}没有计划数据", messages.ERROR)
            return HttpResponseRedirect(reverse("admin:tracker_progressreport_changelist"))
        data = excel.export_breakdown(request.user, plan_year, month)
        return _xlsx_response(data, f"任务分解表_{format_month(month)}.xlsx")

    def template_view(self, request):
        """The fill-in template of one indicator and month."""
        picker = IndicatorMonthForm(request.GET or None, user=request.user)
        if not picker.is_valid():
            self.message_user(request, "请先选择量化目标和月份", messages.ERROR)
            return HttpResponseRedirect(reverse("admin:tracker_progressreport_grid"))
        indicator, month = picker.cleaned_data["indicator"], picker.cleaned_data["month"]
        data = excel.export_template(request.user, indicator, month)
        name = f"填报模板_序号{indicator.project.seq}-{indicator.order}_{format_month(month)}.xlsx"
        return _xlsx_response(data, name)

    def import_view(self, request):
        """Upload a filled template: all rows land, or none and every problem is listed."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = ImportForm(request.POST or None, request.FILES or None)
        errors = []
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            data = upload.read(excel.max_upload_bytes() + 1)
            try:
                result = excel.import_workbook(request.user, data)
            except excel.ImportRejected as exc:
                errors = [str(e) for e in exc.errors]
            else:
                what = f"「{result.indicator.label}」" if result.indicator else ""
                self.message_user(request, f"导入成功：{what}{result.summary}", messages.SUCCESS)
                if result.indicator is None:
                    return HttpResponseRedirect(reverse("admin:tracker_progressreport_changelist"))
                query = urlencode(
                    {"indicator": result.indicator.pk, "month": format_month(result.month)}
                )
                return HttpResponseRedirect(
                    reverse("admin:tracker_progressreport_grid") + "?" + query
                )
        return TemplateResponse(
            request,
            "admin/tracker/progressreport/import.html",
            self._context(request, "导入填报模板", form=form, import_errors=errors),
            status=400 if errors else 200,  # refused: a 4xx, nothing written
        )


class ImportForm(forms.Form):
    file = forms.FileField(label="填好的模板（.xlsx）")


@dataclass
class GridRow:
    district: District
    quota: Decimal | None
    previous: Decimal | None
    previous_month: date | None
    report: ProgressReport | None
    posted: dict
    errors: list

    @property
    def key(self) -> int:
        return self.district.pk

    def posted_or(self, name, default=""):
        return self.posted.get(name, default) if self.posted else default


def grid_rows(user, indicator, month, post, errors) -> list[GridRow]:
    """The grid's rows: districts the user may report, in the plan's column order (4-5
    queries)."""
    scope = scope_for(user)
    plan_id = indicator.project.plan_year_id
    if indicator.scope == Indicator.Scope.CITY:  # the plan's own 市本级 column
        pairs = [
            (d, indicator.target_value) for d in District.objects.filter(pk=city_unit_id(plan_id))
        ]
    else:
        pairs = [
            (q.district, q.value)
            for q in Quota.objects.filter(indicator=indicator)
            .select_related("district")
            .annotate(column=column_position(plan_id, OuterRef("district_id")))
            .order_by("column", "district__order")
        ]
    pairs = [(d, q) for d, q in pairs if scope.can_report(indicator, d)]
    reports = {}
    for r in ProgressReport.objects.filter(
        indicator=indicator, district__in=[d for d, _ in pairs], month__lte=month
    ).order_by("month"):
        reports.setdefault(r.district_id, []).append(r)
    rows = []
    for district, quota in pairs:
        history = reports.get(district.pk, [])
        current = next((r for r in history if r.month == month), None)
        previous = value_as_of([(r.month, r.value) for r in history], add_months(month, -1))
        posted = {}
        if post is not None:
            k = district.pk
            posted = {
                "value": post.get(f"value-{k}", ""),
                "note": post.get(f"note-{k}", ""),
                "is_correction": bool(post.get(f"correction-{k}")),
                "reason": post.get(f"reason-{k}", ""),
                "confirmed": bool(post.get(f"confirm-{k}")),
            }
        rows.append(
            GridRow(
                district=district,
                quota=quota,
                previous=previous[0] if previous else None,
                previous_month=previous[1] if previous else None,
                report=current,
                posted=posted,
                errors=errors.get(district.pk, []),
            )
        )
    return rows


def grid_entries(post, indicator, month) -> list[Entry]:
    """Entries for the rows with a value typed in; the row key is the district id."""
    entries = []
    for key in post:
        if not key.startswith("value-"):
            continue
        raw = post.get(key, "").strip()
        try:
            district_id = int(key.removeprefix("value-"))
        except ValueError:
            continue
        if not raw:
            continue
        version = post.get(f"version-{district_id}", "")
        entries.append(
            Entry(
                indicator_id=indicator.pk,
                district_id=district_id,
                month=month,
                value=raw,
                note=post.get(f"note-{district_id}", ""),
                is_correction=bool(post.get(f"correction-{district_id}")),
                correction_reason=post.get(f"reason-{district_id}", ""),
                expected_version=int(version) if version.isdigit() else None,
                confirmed=bool(post.get(f"confirm-{district_id}")),
                row=district_id,
            )
        )
    return entries


# --- qualitative milestones ----------------------------------------------------------


class MilestoneCompletionForm(forms.ModelForm):
    """One completion; the checks and the write are ``progress.record_milestone``'s."""

    class Meta:
        model = MilestoneCompletion
        fields = ("milestone", "district", "done", "done_on", "note")

    def clean(self):
        cleaned = super().clean()
        milestone, district = cleaned.get("milestone"), cleaned.get("district")
        if self.errors or not (milestone and district):
            return cleaned
        if refuse_move(self, ("milestone", "district")):
            return cleaned
        for message in progress_service.check_milestone(
            self.request_user,
            milestone,
            district,
            done=cleaned.get("done", False),
            done_on=cleaned.get("done_on"),
            note=cleaned.get("note", ""),
        ):
            self.add_error(None, message)
        return cleaned

    def _post_clean(self):
        # The model instance is written by the service, not by ModelForm.
        pass


@admin.register(MilestoneCompletion)
class MilestoneCompletionAdmin(EntryAdmin):
    form = MilestoneCompletionForm
    list_display = ("milestone", "district", "done", "done_on", "reported_by")
    list_filter = ("done", "district")
    list_select_related = ("milestone__project", "district", "reported_by")
    change_list_template = "admin/tracker/milestonecompletion/change_list.html"

    def save_model(self, request, obj, form, change):
        """Through the one write path (same checks as the grid, history with a reason)."""
        data = form.cleaned_data
        saved = progress_service.record_milestone(
            request.user,
            data["milestone"],
            data["district"],
            done=data.get("done", False),
            done_on=data.get("done_on"),
            note=data.get("note", ""),
        )
        for f in MilestoneCompletion._meta.concrete_fields:
            setattr(obj, f.attname, getattr(saved, f.attname))
        obj._state.adding, obj._state.db = False, saved._state.db

    def save_related(self, request, form, formsets, change):
        pass

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("grid/", view(self.grid_view), name="tracker_milestonecompletion_grid"),
            *super().get_urls(),
        ]

    def grid_view(self, request):
        """节点填报: a qualitative milestone's completion, district by district."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        choices = (
            Milestone.objects.for_user(request.user)
            .filter(kind=Milestone.Kind.QUALITATIVE)
            .select_related("project")
            .order_by("project__seq", "due_date", "order")
        )
        milestone = None
        if request.GET.get("milestone", "").isdigit():
            milestone = choices.filter(pk=int(request.GET["milestone"])).first()
        rows, errors = [], []
        if milestone is not None:
            scope = scope_for(request.user)
            districts = [
                d
                for d in progress_service.milestone_districts(milestone.project)
                if scope.can_report_project(milestone.project, d)
            ]
            done = {c.district_id: c for c in milestone.completions.all()}
            if request.method == "POST":
                errors = self._save_grid(request, milestone, districts)
                if not errors:
                    self.message_user(request, "节点完成情况已保存", messages.SUCCESS)
                    return HttpResponseRedirect(request.get_full_path())
            rows = [(d, done.get(d.pk)) for d in districts]
        return TemplateResponse(
            request,
            "admin/tracker/milestonecompletion/grid.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.model._meta,
                "title": "节点填报",
                "choices": choices,
                "milestone": milestone,
                "rows": rows,
                "grid_errors": errors,
            },
        )

    def _save_grid(self, request, milestone, districts) -> list[str]:
        errors = []
        parsed = []
        for d in districts:
            done = bool(request.POST.get(f"done-{d.pk}"))
            raw = request.POST.get(f"date-{d.pk}", "").strip()
            note = request.POST.get(f"note-{d.pk}", "")
            try:
                done_on = date.fromisoformat(raw) if raw else None
            except ValueError:
                errors.append(f"{d.name}：完成日期「{raw}」格式应为 YYYY-MM-DD")
                continue
            parsed.append((d, done, done_on, note))
        if errors:
            return errors
        with transaction.atomic():
            for d, done, done_on, note in parsed:
                existing = milestone.completions.filter(district=d).first()
                if existing is None and not done and not note:
                    continue
                try:
                    progress_service.record_milestone(
                        request.user, milestone, d, done=done, done_on=done_on, note=note
                    )
                except ProgressRejected as exc:
                    errors.extend(f"{d.name}：{e.message}" for e in exc.errors)
            if errors:
                transaction.set_rollback(True)
        return errors


__all__ = ["MilestoneCompletionAdmin", "ProgressReportAdmin"]
