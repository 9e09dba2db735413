"""本月填报: a district's (or a lead agency's) whole month on one page.

- ``report/`` sends the user to the month being reported (``calendar``), keeping
  the filters; ``report/<YYYY-MM>/`` is the page for a month.
- A district user sees every cell due for its district (``progress.due.due_cells``) and
  every qualitative milestone of the month; a lead agency the same across its projects and
  districts (``?project=<序号>`` narrows to one project); 督查室 picks a district
  (``?district=<code>``) or an agency (``?agency=<id>``) first.
- Only the plan months a user may still enter (``reporting.enterable_months``: up to the
  month being reported) are offered, as a list; another month (a future one) is refused
  with a 404 and nothing is written. Locked cells (``review.workflow`` locks) are shown
  read-only.
- Saving is all or nothing: every typed value goes through ``progress.validate`` and the
  milestone rows through ``progress.check_milestone``; one problem anywhere and nothing is
  written, each error on its row naming the indicator. Otherwise ``progress.submit`` and
  ``progress.record_milestone`` write everything in one transaction (history source
  「本月填报」).
- Every row has an anchor (``#c-<indicator>-<district>``, ``#m-<milestone>-<district>``)
  for the links from 我的待办 and the red cells of the matrix.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date

from django.contrib import messages
from django.db import transaction
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode

from tracker.accounts.permissions import LEADER_READ_ONLY, Action, Scope, restrict, scope_for
from tracker.calendar import days_left, deadline_label, enterable_months, reporting_month
from tracker.dashboard.views import page
from tracker.months import format_month, month_label, parse_month
from tracker.plans.models import Project
from tracker.plans.reference import Agency, District, PlanYear
from tracker.plans.selection import current_plan, plan_of_year
from tracker.progress import writes as progress
from tracker.progress.entry_sheet import EntrySheet, chosen_scope, entry_sheet
from tracker.progress.writes import Entry, ProgressRejected
from tracker.review import queries as review_selectors
from tracker.review.models import Attachment


@dataclass
class Target:
    """Whose month the page shows: the scope to read with and the narrowing filters."""

    scope: Scope | None  # None: 督查室 has not picked yet
    district: District | None = None
    agency: Agency | None = None
    project: Project | None = None

    @property
    def district_ids(self) -> list[int] | None:
        return [self.district.pk] if self.district else None


def _filters(request) -> dict:
    keep = ("district", "agency", "project")
    return {k: request.GET[k] for k in keep if request.GET.get(k)}


def _target(request, year: int) -> Target:
    scope = scope_for(request.user)
    if scope.is_district:
        return Target(scope, district=District.objects.filter(pk=scope.district_id).first())
    code, agency_id = request.GET.get("district", ""), request.GET.get("agency", "")
    if scope.is_agency:
        target = Target(scope, agency=Agency.objects.filter(pk=scope.agency_id).first())
    elif code:
        district = District.objects.filter(code=code).first()
        if district is None:
            raise Http404(f"没有代码为「{code}」的区、县(市)")
        return Target(chosen_scope(scope, district_id=district.pk), district=district)
    elif agency_id.isdigit():
        agency = Agency.objects.filter(pk=int(agency_id)).first()
        if agency is None:
            raise Http404("没有该牵头单位")
        target = Target(chosen_scope(scope, agency_id=agency.pk), agency=agency)
    else:
        return Target(None)
    seq = request.GET.get("project", "")
    if seq.isdigit():
        target.project = Project.objects.filter(
            plan_year__year=year, lead_agency=target.agency, seq=int(seq)
        ).first()
        if target.project is None:
            raise Http404(f"序号{seq}不是本单位牵头的{year}年项目")
    return target


@page()
def report_current(request):
    """``report/``: the month being reported of the current plan, filters kept."""
    plan = current_plan()
    if plan is None:
        raise Http404("尚未载入计划，没有可填报的月份")
    url = reverse("dashboard:report", args=[format_month(reporting_month(plan))])
    query = urlencode(_filters(request))
    return redirect(f"{url}?{query}" if query else url)


def _month_or_404(text: str) -> tuple[date, PlanYear]:
    try:
        month = parse_month(text)
    except ValueError as exc:
        raise Http404(str(exc)) from exc
    plan = plan_of_year(month.year)
    if plan is None:
        raise Http404(f"{month.year}年没有计划，不能填报")
    return month, plan


def _post_entries(post, sheet: EntrySheet) -> tuple[list[Entry], list]:
    """(numeric entries, milestone jobs) from the posted form; every row keeps what was
    typed so a refused page shows it again, and a row that cannot even be read (a bad
    date) gets its error here."""
    entries: list[Entry] = []
    for row in sheet.rows:
        k = row.key
        if row.locked and not post.get(f"value-{k}", "").strip():
            continue  # a frozen row has no input; a value posted for it is refused below
        row.posted = {
            "value": post.get(f"value-{k}", "").strip(),
            "note": post.get(f"note-{k}", ""),
            "is_correction": bool(post.get(f"correction-{k}")),
            "reason": post.get(f"reason-{k}", ""),
            "confirmed": bool(post.get(f"confirm-{k}")),
        }
        if not row.posted["value"]:
            if row.posted["note"].strip() and row.report is None:
                row.errors.append(f"「{row.indicator.label}」填写了备注，请同时填写本月累计值")
            continue
        version = post.get(f"version-{k}", "")
        entries.append(
            Entry(
                indicator_id=row.indicator.pk,
                district_id=row.district.pk,
                month=sheet.month,
                value=row.posted["value"],
                note=row.posted["note"],
                is_correction=row.posted["is_correction"],
                correction_reason=row.posted["reason"],
                expected_version=int(version) if version.isdigit() else None,
                confirmed=row.posted["confirmed"],
                row=row.number,
            )
        )
    jobs = []
    for row in sheet.milestones:
        k = row.key
        row.posted = {
            "done": bool(post.get(f"done-{k}")),
            "date": post.get(f"date-{k}", "").strip(),
            "note": post.get(f"mnote-{k}", ""),
            "sent": True,
        }
        done_on = None
        if row.posted["date"]:
            try:
                done_on = date.fromisoformat(row.posted["date"])
            except ValueError:
                row.errors.append(f"完成日期「{row.posted['date']}」格式应为 YYYY-MM-DD")
                continue
        note = row.posted["note"].strip()
        c = row.completion
        if c is None and not row.posted["done"] and not note and done_on is None:
            continue
        if c is not None and (c.done, c.done_on, c.note) == (row.posted["done"], done_on, note):
            continue
        jobs.append((row, row.posted["done"], done_on, note))
    return entries, jobs


def _label(row) -> str:
    if row.kind == "cell":
        return f"「{row.indicator.label}」（{row.district.name}）"
    return f"「{row.milestone.project.name}」节点（{row.district.name}）"


def _save(request, sheet: EntrySheet) -> list[str]:
    """Validate everything, then write everything or nothing. Returns general errors;
    row errors land on ``row.errors``."""
    entries, jobs = _post_entries(request.POST, sheet)
    general: list[str] = []
    by_number = {row.number: row for row in sheet.all_rows}
    if not entries and not jobs and not any(r.errors for r in sheet.all_rows):
        return ["没有填写任何数值"]

    def place(errors):
        for error in errors:
            row = by_number.get(error.row)
            if row is None:
                general.append(error.message)
            else:
                row.errors.append(error.message)

    if entries:
        place(progress.validate(request.user, entries))
    for row, done, done_on, note in jobs:
        row.errors += progress.check_milestone(
            request.user, row.milestone, row.district, done=done, done_on=done_on, note=note
        )
    if general or any(r.errors for r in sheet.all_rows):
        return general
    try:
        with transaction.atomic():
            if entries:
                progress.submit(request.user, entries, source=progress.Source.MONTHLY_PAGE)
            for row, done, done_on, note in jobs:
                try:
                    progress.record_milestone(
                        request.user,
                        row.milestone,
                        row.district,
                        done=done,
                        done_on=done_on,
                        note=note,
                        source=progress.Source.MONTHLY_PAGE,
                    )
                except ProgressRejected as exc:  # name the row, roll everything back
                    raise ProgressRejected(
                        [replace(e, row=row.number) for e in exc.errors]
                    ) from exc
    except ProgressRejected as exc:  # lost a race after validation: nothing written
        place(exc.errors)
    return general


def _annotate(user, sheet: EntrySheet) -> None:
    """Each row's 佐证材料 and, when the reviewer returned it, the return (issue 30). 2
    queries."""
    reports = [r.report.pk for r in sheet.rows if r.report]
    files: dict[int, list] = {}
    for a in restrict(user, Action.VIEW, Attachment.objects.all()).filter(report_id__in=reports):
        files.setdefault(a.report_id, []).append(a)
    returned = review_selectors.returned_in(user, sheet.month, sheet.rows)
    for row in sheet.rows:
        row.attachments = files.get(row.report.pk, []) if row.report else []
        row.returned = returned.get((row.indicator.pk, row.district.pk))


@page()
def report(request, month: str):
    month, plan = _month_or_404(month)
    allowed = enterable_months(plan)
    target = _target(request, month.year)
    filters = _filters(request)
    query = urlencode(filters)
    context = {
        "viewer": request.viewer,
        "scope": scope_for(request.viewer),
        "month": None,  # the header's month picker is the matrix's, not this page's
        "entry_month": month,
        "entry_month_text": format_month(month),
        "entry_month_label": month_label(month),
        "deadline": deadline_label(month),
        "days_left": days_left(month),
        "enterable": [(format_month(m), month_label(m), m == month) for m in reversed(allowed)],
        "being_reported": format_month(reporting_month(plan)),
        "query": query,
        "target": target,
        "filters": filters,
    }
    scope = context["scope"]
    if scope.is_leader:  # read-only (issue 30): the figures are on the matrix and cell pages
        context["refused"] = LEADER_READ_ONLY
        return render(request, "dashboard/entry.html", context)
    if month not in allowed:
        context["refused"] = (
            f"不能填报{month_label(month)}：可填报的月份为"
            f"{month_label(allowed[0])}至{month_label(allowed[-1])}（未来月份不能填报）"
        )
        return render(request, "dashboard/entry.html", context, status=404)
    if scope.is_supervision:
        context["districts"] = list(District.objects.order_by("order"))
        context["agencies"] = list(
            Agency.objects.filter(led_projects__plan_year=plan).distinct().order_by("name")
        )
    if target.agency is not None:
        context["projects"] = list(
            Project.objects.filter(plan_year__year=month.year, lead_agency=target.agency)
            .order_by("seq")
            .only("seq", "name")
        )
    if target.scope is None:
        return render(request, "dashboard/entry.html", context)
    sheet = entry_sheet(
        target.scope,
        month,
        district_ids=target.district_ids,
        project_id=target.project.pk if target.project else None,
    )
    general = []
    if request.method == "POST":
        general = _save(request, sheet)
        if not general and not any(r.errors for r in sheet.all_rows):
            messages.success(request, f"{month_label(month)}的填报已全部保存")
            return redirect(request.get_full_path())
    _annotate(request.viewer, sheet)
    bad = [(row, e) for row in sheet.all_rows for e in row.errors]
    context.update(
        sheet=sheet,
        general_errors=general,
        row_errors=[(row, f"{_label(row)}：{e}") for row, e in bad],
        show_district=target.district is None,
    )
    return render(request, "dashboard/entry.html", context, status=400 if bad or general else 200)
