"""区县: one district's scorecard for a month, with its place in the ranking."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from tracker.accounts.permissions import restrict_viewer
from tracker.choices import PROBLEM_STATUSES, status_counts
from tracker.monitoring.models import LagEvaluation
from tracker.monitoring.stored import EvaluationLine, evaluation_lines, of_plan
from tracker.plans.reference import District
from tracker.plans.units import Column, plan_columns
from tracker.reporting.alerts import attach_open_alerts
from tracker.reporting.ranking import RankingRow, ranking

PROBLEMS = PROBLEM_STATUSES


@dataclass
class Scorecard:
    """One district in one month: its lines (iterating a Scorecard yields them), counts
    and its place in the ranking."""

    district: District
    month: date
    lines: list[EvaluationLine]
    place: RankingRow | None = None
    column: Column | None = None  # the district's column in the plan shown (merged or not)

    @property
    def shared_column(self) -> Column | None:
        """The merged column this district shares (「西溪、灵隐」), if it does."""
        return self.column if self.column is not None and self.column.is_merged else None

    def __iter__(self):
        return iter(self.lines)

    def __len__(self) -> int:
        return len(self.lines)

    def __getitem__(self, index):
        return self.lines[index]

    @property
    def counts(self) -> dict[str, int]:
        return status_counts(line.status for line in self.lines)

    @property
    def problems(self) -> list[EvaluationLine]:
        return [line for line in self.lines if line.status in PROBLEMS]

    @property
    def rank(self) -> int | None:
        return self.place.rank if self.place else None


def district_scorecard(who, district: District, month: date, *, with_rank: bool = True, plan=None):
    """The district's indicators in ``month`` with status, numbers, forecast and open
    alerts, as a ``Scorecard`` (a sequence of ``EvaluationLine``). Scoped: a district
    user asking for another district gets no lines. 2 queries, +2 for the rank; with a
    ``plan``, only its lines, +1 for the rank's column order and +2 for the district's
    column in it (a merged column)."""
    qs = of_plan(restrict_viewer(LagEvaluation.objects, who), plan)
    lines = evaluation_lines(qs.filter(month=month, district=district))
    attach_open_alerts(who, month, lines)
    place = None
    if with_rank and lines:
        rows = ranking(month, who, plan=plan)
        place = next((r for r in rows if r.district.pk == district.pk), None)
    column = None
    if plan is not None:
        column = next((c for c in plan_columns(plan) if district in c.units), None)
    return Scorecard(district=district, month=month, lines=lines, place=place, column=column)
