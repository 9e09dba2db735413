"""晾晒排名: districts, and lead agencies (部门晾晒), by the share of their due cells on track.

- Districts (not 市本级) by the share of their due cells (status other than 未到节点) on
  track (正常). Ties: fewer 红 (严重滞后 and 逾期未完成) first, then fewer 未按时填报.
  Rows level on all three share their place, as notices write it: 「并列第8」, and the
  next row's place skips (standard competition ranking: 1, 2, 2, 4; ``formats.place``
  writes it, every renderer reads ``row.place``). Level rows are listed in the plan's
  column order (``plan_units``; ``District.order`` without a plan), so the order never
  depends on the database. A district with nothing due yet ranks last.
- 部门晾晒 (``agency_ranking``): the lead agencies (``Project.lead_agency``) by the same
  rule over the cells of their projects (every district's and the 市本级 column's), level
  rows listed by name. Beside it, each agency's projects by status: the overview's
  project roll-up (``reporting.overview``), not a second one. Why cells and not projects:
  a project's status is its worst district's, so by the year's end nearly every project
  is 红 or 逾期未完成 and a ranking on project statuses would make every agency level.
- Rank change = last month's place − this month's (positive: moved up); none in January
  (a new plan year) or when the row was not ranked last month.
- City-wide for everyone with a role: the 晾晒 is published to every district and agency.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from django.db.models import Count

from tracker.accounts.permissions import viewer_has_role
from tracker.choices import LABEL, RED_STATUSES, LagStatus, status_counts
from tracker.formats import place
from tracker.monitoring.models import LagEvaluation
from tracker.monitoring.stored import of_plan
from tracker.months import add_months
from tracker.plans.reference import Agency, District
from tracker.plans.units import OUTSIDE, unit_order
from tracker.ratios import pct
from tracker.reporting.overview import ProjectSummary, overview

S = LagStatus
_pct = pct
_COLUMNS = (S.ON_TRACK, S.BEHIND, S.SERIOUSLY_BEHIND, S.NOT_REPORTED, S.NOT_DUE)


class _Placed:
    """What a ranked row says about its place (districts and agencies alike)."""

    share_pct: Decimal | None
    seriously_behind: int
    not_reported: int
    rank: int
    previous_rank: int | None
    tied: bool

    @property
    def tie_key(self) -> tuple:
        return (self.share_pct, self.seriously_behind, self.not_reported)

    @property
    def place(self) -> str:
        """「3」 or 「并列第8」 (``formats.place``, the one way to write it)."""
        return place(self.rank, self.tied)

    @property
    def place_cell(self) -> int | str:
        """The place in a spreadsheet: a number, or 「并列第8」 (text) when tied."""
        return self.place if self.tied else self.rank

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


@dataclass
class RankingRow(_Placed):
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


@dataclass
class AgencyRankingRow(_Placed):
    """部门晾晒: one lead agency, ranked on the cells of its projects."""

    agency: Agency
    due: int
    on_track: int
    behind: int
    seriously_behind: int
    not_reported: int
    share_pct: Decimal | None
    rank: int
    previous_rank: int | None = None
    tied: bool = False
    #: its projects by status, every status present (the overview's project roll-up)
    projects: dict[str, int] = field(default_factory=dict)

    @property
    def project_total(self) -> int:
        return sum(self.projects.values())

    @property
    def projects_text(self) -> str:
        """「正常 2、红 1、未到节点 1」: its projects by status in the table's column order,
        红 counting 逾期未完成 as everywhere (``RED_STATUSES``)."""
        counts = Counter()
        for status, n in self.projects.items():
            counts[S.SERIOUSLY_BEHIND if status in RED_STATUSES else status] += n
        words = {S.SERIOUSLY_BEHIND: "红", S.BEHIND: "黄"}
        return "、".join(f"{words.get(s, LABEL[s])} {counts[s]}" for s in _COLUMNS if counts.get(s))


def _figures(c: Counter) -> dict:
    """A row's cell counts from its statuses."""
    due = sum(n for s, n in c.items() if s != S.NOT_DUE)
    return {
        "due": due,
        "on_track": c[S.ON_TRACK],
        "behind": c[S.BEHIND],
        "seriously_behind": sum(c[s] for s in RED_STATUSES),
        "not_reported": c[S.NOT_REPORTED],
        "share_pct": _pct(Decimal(c[S.ON_TRACK]), Decimal(due)) if due else None,
        "rank": 0,
    }


def place_rows(rows: list, listed: Callable[[object], tuple]) -> list:
    """Sort ``rows`` best first and give them their places: the rule of the module
    docstring, shared by districts and agencies. ``listed``: the order of level rows."""
    rows.sort(
        key=lambda r: (
            r.share_pct is None,
            -(r.share_pct or 0),
            r.seriously_behind,
            r.not_reported,
            *listed(r),
        )
    )
    for position, row in enumerate(rows, start=1):
        before = rows[position - 2] if position > 1 else None
        row.rank = before.rank if before is not None and before.tie_key == row.tie_key else position
    keys = Counter(r.tie_key for r in rows)
    for row in rows:
        row.tied = keys[row.tie_key] > 1
    return rows


def _rank(tallies: dict[int, Counter], districts: dict[int, District]) -> list[RankingRow]:
    rows = [
        RankingRow(district=districts[district_id], **_figures(c))
        for district_id, c in tallies.items()
        if district_id in districts  # not 市本级
    ]
    return place_rows(rows, lambda r: (getattr(r.district, "column", 0), r.district.order))


def _tallies(months: list[date], by: str, plan, only_plan_of_year: bool):
    """{month: {key: Counter(status)}}: the stored statuses of ``months`` counted per
    ``by`` (a path to the district or the lead agency). 1 query."""
    tallies: dict[date, dict[int, Counter]] = {m: defaultdict(Counter) for m in months}
    statuses = LagEvaluation.objects.filter(month__in=months)
    if not only_plan_of_year:
        statuses = of_plan(statuses, plan)
    for m, key, status, n in (
        statuses.order_by().values_list("month", by, "status").annotate(n=Count("pk"))
    ):
        tallies[m][key][status] += n
    return tallies


def _months(month: date) -> list[date]:
    """The month and the one before it, for the rank change (none in January)."""
    return [month] if month.month == 1 else [month, add_months(month, -1)]


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
    months = _months(month)
    tallies = _tallies(months, "district_id", plan, only_plan_of_year)
    if not tallies[month]:
        return []
    districts = District.objects.exclude(kind=District.Kind.CITY).in_bulk()
    if plan is not None:
        positions = unit_order(plan)
        for district in districts.values():
            district.column = positions.get(district.pk, OUTSIDE)
    rows = _rank(tallies[month], districts)
    if len(months) == 2:
        before = {r.district.pk: r.rank for r in _rank(tallies[months[1]], districts)}
        for row in rows:
            row.previous_rank = before.get(row.district.pk)
    return rows


def _rank_agencies(tallies: dict[int, Counter], agencies: dict[int, Agency]):
    rows = [
        AgencyRankingRow(agency=agencies[agency_id], **_figures(c))
        for agency_id, c in tallies.items()
        if agency_id in agencies
    ]
    return place_rows(rows, lambda r: (r.agency.name, r.agency.pk))


def agency_ranking(
    month: date,
    user=None,
    *,
    plan=None,
    only_plan_of_year: bool = False,
    projects: list[ProjectSummary] | None = None,
) -> list[AgencyRankingRow]:
    """部门晾晒: lead agencies ranked by the share of their projects' due cells on track
    (the district rule, see the module docstring), with their projects by status and the
    change since last month. Who may see it and ``plan``/``only_plan_of_year`` as for
    ``ranking``. ``projects``: the month's city-wide overview projects when the caller
    has them (the notice), else read here. 2 queries, +4 for the projects."""
    if not viewer_has_role(user):
        return []
    months = _months(month)
    tallies = _tallies(months, "indicator__project__lead_agency_id", plan, only_plan_of_year)
    if not tallies[month]:
        return []
    agencies = Agency.objects.filter(pk__in=set(tallies[month]) | set(tallies[months[-1]]))
    agencies = {a.pk: a for a in agencies}
    rows = _rank_agencies(tallies[month], agencies)
    if len(months) == 2:
        before = {r.agency.pk: r.rank for r in _rank_agencies(tallies[months[1]], agencies)}
        for row in rows:
            row.previous_rank = before.get(row.agency.pk)
    if projects is None:
        projects = overview(None, month, plan=plan).projects
    by_agency = defaultdict(list)
    for p in projects:
        by_agency[p.lead_agency_id].append(p.status)
    for row in rows:
        row.projects = status_counts(by_agency.get(row.agency.pk, ()))
    return rows
