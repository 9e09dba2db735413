"""总览: categories and projects of a month with completion vs 序时进度 and a status.

Rules (the same ``tracker.monitoring.rules.indicator_roll_up`` as the lag check's city
totals, so a checkpoint month judges the total as it judges a cell):

- An indicator's figure over the districts ``who`` sees: completion (完成率) = Σ min(actual,
  quota) ÷ Σ quota (capped: one district's surplus never hides another's gap; missing
  reports count 0), the uncapped Σ actual ÷ Σ quota beside it; 序时进度 = Σ expected ÷
  Σ quota. Rates (保障率 …): mean levels.
- Its status: ``roll_up``'s — 未按时填报 when more than half of its districts did not
  report, 逾期未完成 after the deadline while any district falls short, else the cell
  rule on the capped totals. Its per-status district counts travel with it.
- A project's status is its worst indicator's; a category's its worst project's (order of
  badness: ``tracker.choices.BADNESS``). Qualitative targets have no status (their
  milestones raise alerts instead), so a project with only those is 未到节点 — until a
  milestone is missed: an open 节点未完成 episode makes its project 红 (issue 30,
  ``alerts.missed_milestones``). A project's
  completion bar is the mean of its indicators' completion shares.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from tracker.accounts.permissions import restrict_viewer
from tracker.choices import BADNESS, COLOUR, LABEL, LagStatus, status_counts, worst
from tracker.formats import base_unit, indicator_unit
from tracker.monitoring.models import LagEvaluation
from tracker.monitoring.rules import RollUp, Thresholds, indicator_roll_up
from tracker.monitoring.stored import of_plan
from tracker.plans.models import Indicator
from tracker.reporting.alerts import missed_milestones, open_alert_counts_by_indicator

S = LagStatus
TWO = Decimal("0.01")


@dataclass
class IndicatorSummary:
    """One indicator over the districts the viewer sees (see the module docstring)."""

    id: int
    label: str
    unit: str
    is_level: bool
    target: Decimal | None
    roll: RollUp
    printed_unit: str = ""
    open_alerts: int = 0

    # Every figure is the roll-up's (one definition, ``monitoring.rules.RollUp``).
    @property
    def quota(self) -> Decimal:
        return self.roll.quota

    @property
    def expected(self) -> Decimal | None:
        return self.roll.expected

    @property
    def actual(self) -> Decimal | None:
        return self.roll.actual

    @property
    def actual_capped(self) -> Decimal | None:
        return self.roll.actual_capped

    @property
    def status(self) -> str:
        return self.roll.status

    @property
    def counts(self) -> dict:
        return self.roll.counts

    @property
    def completion_pct(self) -> Decimal | None:
        return self.roll.completion_pct

    @property
    def completion_uncapped_pct(self) -> Decimal | None:
        return self.roll.completion_uncapped_pct

    @property
    def pace_pct(self) -> Decimal | None:
        return self.roll.pace_pct

    @property
    def pace_completion_pct(self) -> Decimal | None:
        return self.roll.pace_completion_pct

    @property
    def colour(self) -> str:
        return COLOUR[self.roll.status]

    @property
    def status_label(self) -> str:
        return LABEL[self.roll.status]


def _mean(values: list[Decimal]) -> Decimal | None:
    return sum(values, Decimal(0)) / len(values) if values else None


class _Row:
    __slots__ = ("actual", "expected", "is_checkpoint", "quota", "status")

    def __init__(self, r):
        self.quota, self.expected, self.actual, self.status, self.is_checkpoint = (
            r["quota"], r["expected"], r["actual"], r["status"], r["is_checkpoint"]
        )  # fmt: skip


def _summarise(indicator: Indicator, rows: list[dict], thresholds: Thresholds, month: date):
    level = indicator.is_level
    roll = indicator_roll_up(
        [_Row(r) for r in rows],
        level=level,
        month=month,
        deadline_month=indicator.due.replace(day=1),  # the target's own deadline
        thresholds=thresholds,
        ceiling=indicator.is_ceiling,
    )
    return IndicatorSummary(
        id=indicator.pk,
        label=indicator.label,
        unit=base_unit(indicator),
        printed_unit=indicator_unit(indicator),
        is_level=level,
        target=indicator.target_value,
        roll=roll,
    )


def _rows_by_indicator(who, month: date, plan=None) -> dict[int, list[dict]]:
    rows = defaultdict(list)
    for r in (
        of_plan(restrict_viewer(LagEvaluation.objects, who), plan)
        .filter(month=month)
        .values(
            "indicator_id",
            "district_id",
            "status",
            "quota",
            "expected",
            "actual",
            "is_checkpoint",
            "evaluated_at",
        )
    ):
        rows[r["indicator_id"]].append(r)
    return rows


@dataclass
class ProjectSummary:
    """A project: its (non-qualitative) indicators and the worst of their statuses."""

    id: int
    seq: int
    name: str
    lead_agency: str
    deadline: date
    indicators: list[IndicatorSummary]
    status: str
    open_alerts: int
    has_numbers: bool = False  # a quantitative target (量化) beside any qualitative ones
    missed_milestones: int = 0  # districts with a missed qualitative milestone (red)
    lead_agency_id: int | None = None  # 部门晾晒 counts projects per lead agency

    @property
    def kind_label(self) -> str:
        """What the project is: 量化 (has numeric targets) or 定性 (milestones only)."""
        return "量化" if self.has_numbers else "定性"

    @property
    def colour(self) -> str:
        return COLOUR[self.status]

    @property
    def status_label(self) -> str:
        return LABEL[self.status]

    @property
    def completion_pct(self) -> Decimal | None:
        """Mean completion share of its indicators (for a bar; statuses carry the verdict)."""
        values = [i.completion_pct for i in self.indicators if i.completion_pct is not None]
        return _mean(values).quantize(TWO) if values else None

    @property
    def pace_pct(self) -> Decimal | None:
        """Mean 序时进度 share of its indicators."""
        values = [i.pace_pct for i in self.indicators if i.pace_pct is not None]
        return _mean(values).quantize(TWO) if values else None

    @property
    def counts(self) -> dict[str, int]:
        """District × indicator cells by status over its indicators."""
        total = Counter()
        for i in self.indicators:
            total.update(i.counts)
        return {k: total.get(k, 0) for k in map(str, BADNESS)}


@dataclass
class CategorySummary:
    id: int
    order: int
    name: str
    projects: list[ProjectSummary]

    @property
    def status(self) -> str:
        return worst(p.status for p in self.projects)

    @property
    def colour(self) -> str:
        return COLOUR[self.status]

    @property
    def status_label(self) -> str:
        return LABEL[self.status]

    @property
    def open_alerts(self) -> int:
        return sum(p.open_alerts for p in self.projects)

    @property
    def project_counts(self) -> dict[str, int]:
        return status_counts(p.status for p in self.projects)


@dataclass
class Overview:
    month: date
    categories: list[CategorySummary]
    evaluated_at: datetime | None = None  # when its stored cells were last evaluated

    @property
    def projects(self) -> list[ProjectSummary]:
        return [p for c in self.categories for p in c.projects]

    @property
    def project_counts(self) -> dict[str, int]:
        """Projects by status."""
        return status_counts(p.status for p in self.projects)

    @property
    def cell_counts(self) -> dict[str, int]:
        """District × indicator cells by status."""
        total = Counter()
        for p in self.projects:
            total.update(p.counts)
        return {k: total.get(k, 0) for k in map(str, BADNESS)}

    @property
    def open_alerts(self) -> int:
        return sum(c.open_alerts for c in self.categories)


def overview(who, month: date, *, year: int | None = None, plan=None) -> Overview:
    """Categories and projects of ``plan`` (default: every plan of ``month``'s year) in
    scope, with status. 3 queries (plus 1 to resolve a user's scope)."""
    thresholds = Thresholds.from_settings()
    year = year or month.year
    indicators = restrict_viewer(Indicator.objects, who)
    if plan is not None:
        indicators = indicators.filter(project__plan_year=plan)
    else:
        indicators = indicators.filter(project__plan_year__year=year)
    indicators = list(
        indicators.select_related("project__category", "project__lead_agency").order_by(
            "project__category__order", "project__seq", "order"
        )
    )
    rows = _rows_by_indicator(who, month, plan) if indicators else {}
    alerts = open_alert_counts_by_indicator(who, month) if indicators else Counter()
    categories: dict[int, CategorySummary] = {}
    projects: dict[int, ProjectSummary] = {}
    for indicator in indicators:
        project = indicator.project
        if project.pk not in projects:
            category = project.category
            if category.pk not in categories:
                categories[category.pk] = CategorySummary(
                    id=category.pk, order=category.order, name=category.name, projects=[]
                )
            projects[project.pk] = ProjectSummary(
                id=project.pk,
                seq=project.seq,
                name=project.name,
                lead_agency=project.lead_agency.name,
                lead_agency_id=project.lead_agency_id,
                deadline=project.deadline,
                indicators=[],
                status=S.NOT_DUE,
                open_alerts=0,
            )
            categories[category.pk].projects.append(projects[project.pk])
        p = projects[project.pk]
        p.open_alerts += alerts.get(indicator.pk, 0)
        if indicator.kind == Indicator.Kind.QUALITATIVE:
            continue
        p.has_numbers = True
        line = _summarise(indicator, rows.get(indicator.pk, []), thresholds, month)
        line.open_alerts = alerts.get(indicator.pk, 0)
        p.indicators.append(line)
        p.status = worst([p.status, line.status])
    if indicators:  # a missed qualitative milestone is red, like a missed target
        for alert in missed_milestones(who, month, plan):
            p = projects.get(alert.indicator.project_id)
            if p is not None:
                p.missed_milestones += 1
                p.status = worst([p.status, S.SERIOUSLY_BEHIND])
    return Overview(
        month=month,
        categories=sorted(categories.values(), key=lambda c: c.order),
        evaluated_at=max(
            (r["evaluated_at"] for lines in rows.values() for r in lines), default=None
        ),
    )
