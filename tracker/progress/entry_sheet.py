"""本月填报: the rows of a month's entry page for a district, an agency or both.

A numeric row is a cell due for the month (``progress.due.due_cells``: every indicator with a
quota for the district, the city-wide ones on 市本级); a milestone row is a qualitative
milestone of a project in scope whose date falls in the month, once per district that
reports it (``progress.writes.milestone_districts_of``). Each row carries what the person
filling it needs: 任务数, last month's value, 序时应达 (the trajectory the lag check uses,
``plans.trajectory.expected_at``), this month's stored value and note, and whether the
cell is locked (``progress.lifecycle.frozen_cells``: approved or locked, read-only).

Read in a fixed number of queries whatever the number of rows (about 12).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from tracker import formats as fmt
from tracker.accounts.models import Role
from tracker.accounts.permissions import Scope, scope_for
from tracker.formats import indicator_scale, indicator_unit, plain, show_amount
from tracker.months import add_months, first_of_month, month_end
from tracker.plans.models import Indicator, Milestone, Quota
from tracker.plans.reference import District
from tracker.plans.trajectory import expected_at, load_indicator_plans
from tracker.progress.due import due_cells
from tracker.progress.lifecycle import frozen_cells
from tracker.progress.models import MilestoneCompletion, ProgressReport
from tracker.progress.values import value_as_of
from tracker.progress.writes import milestone_districts_of


@dataclass
class EntryRow:
    """One numeric cell to fill for the month."""

    indicator: Indicator
    district: District
    quota: Decimal | None
    previous: Decimal | None
    previous_month: date | None
    expected: Decimal | None
    report: ProgressReport | None
    locked: bool
    number: int = 0  # 1-based row number on the page (the ``row`` of the service's errors)
    posted: dict = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    kind = "cell"

    @property
    def key(self) -> str:
        return f"{self.indicator.pk}-{self.district.pk}"

    @property
    def anchor(self) -> str:
        return f"c-{self.key}"

    @property
    def project(self):
        return self.indicator.project

    @property
    def unit(self) -> str:
        return indicator_unit(self.indicator)

    @property
    def input_unit(self) -> str:
        """The unit a typed value is read in (the stored base unit; 「%」 for rates)."""
        return fmt.unit_label(self.indicator.unit, level=self.indicator.is_level)

    def show(self, value) -> str:
        return show_amount(self.indicator, value)

    @property
    def wan_hint(self) -> str:
        """For a target printed in 万 (values are stored in the base unit): how to type it,
        e.g. 「按“人”填写，也可写「17万」」; "" otherwise."""
        if indicator_scale(self.indicator) != fmt.WAN or self.quota is None:
            return ""
        return f"按“{self.indicator.unit}”填写，也可写「{fmt.number(self.quota / fmt.WAN, 2)}万」"

    @property
    def value_text(self) -> str:
        if self.posted:
            return self.posted.get("value", "")
        return plain(self.report.value) if self.report else ""

    @property
    def note_text(self) -> str:
        if self.posted:
            return self.posted.get("note", "")
        return self.report.note if self.report else ""

    @property
    def version(self) -> int:
        return self.report.version if self.report else 0

    @property
    def filed(self) -> bool:
        return self.report is not None


@dataclass
class MilestoneRow:
    """One qualitative milestone due in the month, for one district."""

    milestone: Milestone
    district: District
    completion: MilestoneCompletion | None
    number: int = 0
    posted: dict = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    kind = "milestone"
    locked = False

    @property
    def key(self) -> str:
        return f"{self.milestone.pk}-{self.district.pk}"

    @property
    def anchor(self) -> str:
        return f"m-{self.key}"

    @property
    def project(self):
        return self.milestone.project

    @property
    def done(self) -> bool:
        if self.posted:
            return bool(self.posted.get("done"))
        return bool(self.completion and self.completion.done)

    @property
    def date_text(self) -> str:
        if self.posted:
            return self.posted.get("date", "")
        if self.completion and self.completion.done_on:
            return self.completion.done_on.isoformat()
        return ""

    @property
    def note_text(self) -> str:
        if self.posted:
            return self.posted.get("note", "")
        return self.completion.note if self.completion else ""

    @property
    def filed(self) -> bool:
        return self.completion is not None


@dataclass
class EntrySheet:
    month: date
    rows: list[EntryRow]
    milestones: list[MilestoneRow]

    @property
    def all_rows(self) -> list:
        return [*self.rows, *self.milestones]

    @property
    def locked_count(self) -> int:
        return sum(1 for r in self.rows if r.locked)

    @property
    def all_locked(self) -> bool:
        return bool(self.rows) and self.locked_count == len(self.rows) and not self.milestones

    @property
    def filed_count(self) -> int:
        return sum(1 for r in self.rows if r.filed)


def _scope(who) -> Scope:
    return who if isinstance(who, Scope) else scope_for(who)


def chosen_scope(who, *, district_id: int | None = None, agency_id: int | None = None) -> Scope:
    """Whose month to read: 督查室's choice of one district or one lead agency is read as
    that unit's own scope (the page's ``?district=`` / ``?agency=`` and the workbook's
    alike); everyone else keeps their own scope (a choice cannot widen it)."""
    scope = _scope(who)
    if scope.is_supervision and district_id:
        return Scope(role=Role.DISTRICT, district_id=district_id)
    if scope.is_supervision and agency_id:
        return Scope(role=Role.AGENCY, agency_id=agency_id)
    return scope


def entry_sheet(
    who,
    month: date,
    *,
    district_ids: list[int] | None = None,
    project_id: int | None = None,
    agency_id: int | None = None,
) -> EntrySheet:
    """The rows ``who`` (a user or a Scope) fills for ``month``, in plan order: numeric cells
    (narrowed to ``district_ids`` / ``project_id`` / the projects ``agency_id`` leads, if
    given), then qualitative milestones due in the month (``month_milestones``, narrowed
    alike). The one builder of a month's rows: the 本月填报 page and the month workbook
    (``tracker.progress.workbooks``) both read it."""
    month = first_of_month(month)
    scope = _scope(who)
    cells = due_cells(month, scope, district_ids=district_ids)
    indicator_ids = sorted({i for i, _ in cells})
    indicators = Indicator.objects.select_related("project__lead_agency").in_bulk(indicator_ids)
    if project_id is not None:
        cells = [(i, d) for i, d in cells if indicators[i].project_id == project_id]
    if agency_id is not None:
        cells = [(i, d) for i, d in cells if indicators[i].project.lead_agency_id == agency_id]
    district_pks = {d for _, d in cells}
    quotas = {
        (i, d): v
        for i, d, v in Quota.objects.filter(indicator_id__in=indicator_ids).values_list(
            "indicator_id", "district_id", "value"
        )
    }
    history: dict[tuple[int, int], list[ProgressReport]] = {}
    for report in ProgressReport.objects.filter(
        indicator_id__in=indicator_ids,
        district_id__in=district_pks,
        month__gte=date(month.year, 1, 1),
        month__lte=month,
    ).select_related("reported_by"):
        history.setdefault((report.indicator_id, report.district_id), []).append(report)
    plans = load_indicator_plans(year=month.year, indicator_ids=indicator_ids) if cells else {}
    locked = frozen_cells(indicator_ids, district_pks) if cells else set()
    districts = District.objects.in_bulk(district_pks) if cells else {}

    rows = []
    for i, d in cells:
        indicator = indicators[i]
        city_wide = indicator.scope == Indicator.Scope.CITY
        reports = history.get((i, d), [])
        current = next((r for r in reports if r.month == month), None)
        before = value_as_of(((r.month, r.value) for r in reports), add_months(month, -1))
        plan = plans.get(i)
        expected = None
        if plan is not None:
            expected = expected_at(plan, month, None if city_wide else d).value
        rows.append(
            EntryRow(
                indicator=indicator,
                district=districts[d],
                quota=indicator.target_value if city_wide else quotas.get((i, d)),
                previous=before[0] if before else None,
                previous_month=before[1] if before else None,
                expected=expected,
                report=current,
                locked=(i, d, month) in locked,
            )
        )
    milestone_rows = month_milestones(
        scope, month, district_ids=district_ids, project_id=project_id, agency_id=agency_id
    )
    for n, row in enumerate([*rows, *milestone_rows], start=1):
        row.number = n
    return EntrySheet(month=month, rows=rows, milestones=milestone_rows)


def month_milestones(
    who,
    month: date,
    *,
    district_ids: list[int] | None = None,
    project_id: int | None = None,
    agency_id: int | None = None,
) -> list[MilestoneRow]:
    """The qualitative milestones dated in ``month`` of projects in ``who``'s scope, one row
    per district that reports them (``progress.milestone_districts_of``) and ``who`` may
    report for, with the completion recorded so far; in plan order."""
    month = first_of_month(month)
    scope = _scope(who)
    milestones = list(
        scope.apply(Milestone.objects)
        .filter(
            kind=Milestone.Kind.QUALITATIVE,
            project__plan_year__year=month.year,
            due_date__gte=month,
            due_date__lte=month_end(month),
        )
        .select_related("project__lead_agency")
        .order_by("project__seq", "due_date", "order")
    )
    if project_id is not None:
        milestones = [m for m in milestones if m.project_id == project_id]
    if agency_id is not None:
        milestones = [m for m in milestones if m.project.lead_agency_id == agency_id]
    if not milestones:
        return []
    reporters = milestone_districts_of({m.project for m in milestones})
    pairs = [
        (m, d)
        for m in milestones
        for d in reporters.get(m.project_id, [])
        if (m.district_id is None or m.district_id == d.pk)
        and (district_ids is None or d.pk in district_ids)
        and scope.can_report_project(m.project, d)
    ]
    completions = {}
    if pairs:
        for c in MilestoneCompletion.objects.filter(
            milestone__in={m.pk for m, _ in pairs}, district__in={d.pk for _, d in pairs}
        ):
            completions[(c.milestone_id, c.district_id)] = c
    return [MilestoneRow(m, d, completions.get((m.pk, d.pk))) for m, d in pairs]
