"""审核与上报: the read side of ``tracker.review.workflow`` for the dashboard page.

- ``month_states``: every district × month of a plan (January up to the month being
  reported) with its state 未上报 / 已上报 / 部分退回 / 已审核 (a month with no
  ``MonthSubmission`` is 未上报), and the count of each state per month. 3 queries.
- ``review_queue``: the submitted cells ``who`` may review (待审核), plan order. 1 query.
- ``returned_cells``: cells returned to ``who``'s district(s), with the reason. 1 query.
- ``month_history``: every step of one district-month — 上报, 审核通过, 退回 (reason),
  锁定, 解锁 (reason), 重新锁定, and the progress changes of its cells — with who and
  when, from the history tables. 4 queries.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date

from tracker.accounts.permissions import Action, restrict, scope_for
from tracker.formats import show_amount
from tracker.plans.models import Indicator
from tracker.plans.reference import District
from tracker.plans.units import city_unit_id
from tracker.progress.models import (
    CellReview,
    CellState,
    MonthState,
    MonthSubmission,
    ProgressReport,
)

STATE_ORDER = [s.value for s in MonthState]
STATE_LABEL = dict(MonthState.choices)
STATE_CLASS = {
    MonthState.NOT_SUBMITTED: "grey",
    MonthState.SUBMITTED: "yellow",
    MonthState.PARTLY_RETURNED: "red",
    MonthState.APPROVED: "green",
}


@dataclass
class StateCell:
    district: District
    month: date
    state: str
    submission: MonthSubmission | None = None

    @property
    def label(self) -> str:
        return STATE_LABEL[self.state]

    @property
    def css(self) -> str:
        return STATE_CLASS[self.state]


@dataclass
class StateGrid:
    months: list[date]
    rows: list[tuple[District, list[StateCell]]]
    counts: dict[date, Counter] = field(default_factory=dict)

    def count(self, month: date, state: str) -> int:
        return self.counts.get(month, Counter()).get(state, 0)

    def totals(self, month: date) -> list[tuple[str, str, int]]:
        """(state, label, count) for ``month`` in state order."""
        return [(s, STATE_LABEL[s], self.count(month, s)) for s in STATE_ORDER]


def plan_districts(plan, who) -> list[District]:
    """The units reporting in ``plan`` (its columns, in print order — or the districts
    with quotas when it has none — and its 市本级 unit when the plan has city-level
    indicators) that ``who`` sees. 2-4 queries."""
    districts = [c.district for c in plan.columns.select_related("district").order_by("order")]
    if not districts:  # a plan without printed columns: the districts with quotas
        districts = list(
            District.objects.filter(quotas__indicator__project__plan_year=plan)
            .distinct()
            .order_by("order")
        )
    if Indicator.objects.filter(
        project__plan_year=plan, scope=Indicator.Scope.CITY
    ).exists() and not any(d.kind == District.Kind.CITY for d in districts):
        # No 市本级 among the plan's units: the one that reports its city-wide targets
        # (plans.units.may_report), if any — none for a plan whose columns lack one.
        city = city_unit_id(plan)
        if city is not None:
            districts.append(District.objects.get(pk=city))
    scope = scope_for(who)
    if scope.is_district:
        districts = [d for d in districts if d.pk == scope.district_id]
    return districts


def month_states(plan, months: list[date], who) -> StateGrid:
    """The state of every district-month of ``plan`` in ``months`` that ``who`` sees."""
    districts = plan_districts(plan, who)
    found = {
        (s.district_id, s.month): s
        for s in restrict(who, Action.VIEW, MonthSubmission.objects.all()).filter(
            month__in=months, district__in=districts
        )
    }
    rows, counts = [], {m: Counter() for m in months}
    for d in districts:
        cells = []
        for m in months:
            s = found.get((d.pk, m))
            state = s.state if s else MonthState.NOT_SUBMITTED
            counts[m][state] += 1
            cells.append(StateCell(d, m, state, s))
        rows.append((d, cells))
    return StateGrid(months=months, rows=rows, counts=counts)


def review_queue(who, months: list[date] | None = None) -> list[CellReview]:
    """Cells waiting for ``who``'s review (待审核) — a lead agency's indicators in every
    district; 督查室 sees all. 1 query."""
    qs = restrict(who, Action.REVIEW, CellReview.objects.all()).filter(
        state=CellState.PENDING,
        submission__state__in=(MonthState.SUBMITTED, MonthState.PARTLY_RETURNED),
    )
    if months is not None:
        qs = qs.filter(month__in=months)
    return list(
        qs.select_related("indicator__project__lead_agency", "district").order_by(
            "month", "indicator__project__seq", "indicator__order", "district__order"
        )
    )


def returned_cells(who) -> list[CellReview]:
    """Cells returned (退回) in ``who``'s scope, waiting for the district to correct and
    report again. 1 query."""
    return list(
        restrict(who, Action.VIEW, CellReview.objects.all())
        .filter(state=CellState.RETURNED)
        .select_related("indicator__project__lead_agency", "district", "reviewed_by")
        .order_by("month", "indicator__project__seq", "indicator__order", "district__order")
    )


def returned_count(who) -> int:
    """How many cells in ``who``'s scope are returned and not yet reported again. 1 query."""
    return (
        restrict(who, Action.VIEW, CellReview.objects.all())
        .filter(state=CellState.RETURNED)
        .count()
    )


def returned_in(who, month: date, rows) -> dict[tuple[int, int], CellReview]:
    """``{(indicator_id, district_id): CellReview}`` of the returned cells of ``month``
    among ``rows`` (anything with ``indicator`` and ``district``). 1 query."""
    keys = {(r.indicator.pk, r.district.pk) for r in rows}
    if not keys:
        return {}
    found = (
        restrict(who, Action.VIEW, CellReview.objects.all())
        .filter(
            state=CellState.RETURNED,
            month=month,
            indicator_id__in={i for i, _ in keys},
            district_id__in={d for _, d in keys},
        )
        .select_related("reviewed_by")
    )
    return {
        (c.indicator_id, c.district_id): c for c in found if (c.indicator_id, c.district_id) in keys
    }


@dataclass
class Step:
    when: object
    who: str
    what: str
    detail: str = ""


def _who(user) -> str:
    if user is None:
        return "系统"
    return user.get_full_name() or user.username


def month_history(submission: MonthSubmission, who) -> list[Step]:
    """Every step of a district-month with who and when (oldest first), of the cells and
    figures ``who`` may see (a lead agency: its own indicators). 3 queries."""
    steps = []
    for h in submission.history.select_related("history_user").order_by("history_date"):
        what = f"月度状态：{STATE_LABEL[h.state]}"
        why = h.history_change_reason or ""
        steps.append(Step(h.history_date, _who(h.history_user), what, why))
    cell_history = (
        restrict(who, Action.VIEW, CellReview.history.all())
        .filter(submission_id=submission.pk)
        .select_related("history_user", "indicator__project")
        .order_by("history_date", "history_id")
    )
    previous: dict[int, object] = {}
    for h in cell_history:
        before = previous.get(h.id)
        previous[h.id] = h
        label = f"序号{h.indicator.project.seq}「{h.indicator.label}」"
        if before is None:
            what = f"{label} 上报，待审核"
        elif before.locked != h.locked:
            what = f"{label} {'锁定' if h.locked else '解锁'}"
        elif before.state != h.state:
            what = f"{label} {dict(CellState.choices)[h.state]}"
        else:
            what = f"{label} 更新"
        detail = h.history_change_reason or ""
        if h.state == CellState.RETURNED and h.reason and h.reason not in detail:
            detail = f"{detail}（{h.reason}）" if detail else h.reason
        steps.append(Step(h.history_date, _who(h.history_user), what, detail))
    reports = (
        restrict(who, Action.VIEW, ProgressReport.history.all())
        .filter(district_id=submission.district_id, month=submission.month)
        .select_related("history_user", "indicator__project")
        .order_by("history_date", "history_id")
    )
    kinds = {"+": "填报", "~": "修改", "-": "删除"}
    for h in reports:
        value = "" if h.history_type == "-" else f"：{show_amount(h.indicator, h.value)}"
        label = f"序号{h.indicator.project.seq}「{h.indicator.label}」"
        what = f"{label}进度{kinds.get(h.history_type, '变更')}{value}"
        why = (h.is_correction and h.correction_reason) or h.history_change_reason or ""
        steps.append(Step(h.history_date, _who(h.history_user), what, why))
    steps.sort(key=lambda s: s.when)  # stable: same-moment steps keep their order
    return steps
