"""晾晒排名: districts by the share of their due cells on track.

- Districts (not 市本级) by the share of their due cells (status other than 未到节点) on
  track (正常). Ties: fewer 红 (严重滞后 and 逾期未完成) first, then fewer 未按时填报,
  then the plan's column order (``plan_units``; ``District.order`` without a plan), so
  every district gets a distinct
  place and the order never depends on the database. ``tied`` marks rows whose share,
  红 and 未按时填报 equal another's: they are level, whatever their place number.
  A district with nothing due yet ranks last.
- Rank change = last month's place − this month's (positive: moved up); none in January
  (a new plan year) or when the district was not ranked last month.
- City-wide for everyone with a role: the 晾晒 is published to every district and agency.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db.models import Count

from tracker.accounts.permissions import viewer_has_role
from tracker.choices import RED_STATUSES, LagStatus
from tracker.monitoring.models import LagEvaluation
from tracker.monitoring.stored import of_plan
from tracker.months import add_months
from tracker.plans.reference import District
from tracker.plans.units import OUTSIDE, unit_order
from tracker.ratios import pct

S = LagStatus
_pct = pct


@dataclass
class RankingRow:
    district: District
    due: int  # cells with something expected (status other than 未到节点)
    on_track: int
    behind: int
    seriously_behind: int
    not_reported: int
    share_pct: Decimal | None  # on_track ÷ due, None when nothing is due
    rank: int
    previous_rank: int | None = None
    tied: bool = False

    @property
    def tie_key(self) -> tuple:
        return (self.share_pct, self.seriously_behind, self.not_reported)

    @property
    def change(self) -> int | None:
        """Places gained since last month (negative: lost); None when not comparable."""
        return None if self.previous_rank is None else self.previous_rank - self.rank

    @property
    def colour(self) -> str:
        if self.share_pct is None:
            return "none"
        if self.share_pct >= 90:
            return "green"
        return "yellow" if self.share_pct >= 70 else "red"


def _rank(tallies: dict[int, Counter], districts: dict[int, District]) -> list[RankingRow]:
    rows = []
    for district_id, c in tallies.items():
        if district_id not in districts:
            continue  # 市本级
        due = sum(n for s, n in c.items() if s != S.NOT_DUE)
        rows.append(
            RankingRow(
                district=districts[district_id],
                due=due,
                on_track=c[S.ON_TRACK],
                behind=c[S.BEHIND],
                seriously_behind=sum(c[s] for s in RED_STATUSES),
                not_reported=c[S.NOT_REPORTED],
                share_pct=_pct(Decimal(c[S.ON_TRACK]), Decimal(due)) if due else None,
                rank=0,
            )
        )
    rows.sort(
        key=lambda r: (
            r.share_pct is None,
            -(r.share_pct or 0),
            r.seriously_behind,
            r.not_reported,
            getattr(r.district, "column", 0),
            r.district.order,
        )
    )
    for position, row in enumerate(rows, start=1):
        row.rank = position
    keys = Counter(r.tie_key for r in rows)
    for row in rows:
        row.tied = keys[row.tie_key] > 1
    return rows


def ranking(month: date, user=None, *, plan=None, only_plan_of_year=False) -> list[RankingRow]:
    """晾晒: districts ranked by share of due cells on track, with change since last month.

    City-wide for everyone with a role (see the module docstring); ``user`` only has to
    have one (a user without a role gets ``[]``; None is the public view). ``plan``
    (default: every plan of the month) ranks one plan's units, ties in its column order.
    ``only_plan_of_year``: the caller knows ``plan`` is its year's only plan, so every
    status stored for the month is the plan's (the lag check evaluates a month for the
    plans of its year only) and the statuses are read without narrowing them to it.
    2 queries (3 with a plan: its column order).
    """
    if not viewer_has_role(user):
        return []
    previous_month = add_months(month, -1)
    months = [month] if month.month == 1 else [month, previous_month]
    tallies: dict[date, dict[int, Counter]] = {m: defaultdict(Counter) for m in months}
    statuses = LagEvaluation.objects.filter(month__in=months)
    if not only_plan_of_year:
        statuses = of_plan(statuses, plan)
    for m, district_id, status, n in (
        statuses.order_by().values_list("month", "district_id", "status").annotate(n=Count("pk"))
    ):
        tallies[m][district_id][status] += n
    if not tallies[month]:
        return []
    districts = District.objects.exclude(kind=District.Kind.CITY).in_bulk()
    if plan is not None:
        positions = unit_order(plan)
        for district in districts.values():
            district.column = positions.get(district.pk, OUTSIDE)
    rows = _rank(tallies[month], districts)
    if len(months) == 2:
        before = {r.district.pk: r.rank for r in _rank(tallies[previous_month], districts)}
        for row in rows:
            row.previous_rank = before.get(row.district.pk)
    return rows
