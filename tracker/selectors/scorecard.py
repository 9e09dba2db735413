"""区县: one district's scorecard for a month, with its place in the ranking."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from tracker.choices import PROBLEM_STATUSES, status_counts
from tracker.models import District, LagEvaluation

from .alerts import attach_open_alerts
from .common import EvaluationLine, _lines, _scoped
from .ranking import RankingRow, ranking

PROBLEMS = PROBLEM_STATUSES


@dataclass
class Scorecard:
    """One district in one month: its lines (iterating a Scorecard yields them), counts
    and its place in the ranking."""

    district: District
    month: date
    lines: list[EvaluationLine]
    place: RankingRow | None = None

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


def district_scorecard(who, district: District, month: date, *, with_rank: bool = True):
    """The district's indicators in ``month`` with status, numbers, forecast and open
    alerts, as a ``Scorecard`` (a sequence of ``EvaluationLine``). Scoped: a district
    user asking for another district gets no lines. 2 queries, +2 for the rank."""
    lines = _lines(_scoped(LagEvaluation.objects, who).filter(month=month, district=district))
    attach_open_alerts(who, month, lines)
    place = None
    if with_rank and lines:
        place = next((r for r in ranking(month, who) if r.district.pk == district.pk), None)
    return Scorecard(district=district, month=month, lines=lines, place=place)
