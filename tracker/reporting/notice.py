"""月度通报: the monthly 晾晒 notice, city-wide, built from the stored cell statuses.

Sections: summary numbers, ranking, 挂牌督办 candidates (one by one, capped), the
挂牌督办 items in force at the month's end (交办'd by then and not 销号 by then:
``tracker.supervision``; a candidate is a proposal, the item is 督查室's decision), the
remaining 红 items summarised per district, requirements. Figures and words are the
domain's (``tracker.domain``): 完成率 = 累计完成 ÷ 任务数, 序时完成率 = 累计完成 ÷ 序时应达,
amounts in the plan's printed units.

挂牌督办 candidates (the documented rule):

1. cells of the month whose status is red (严重滞后（红） or 逾期未完成) and that have been
   a problem for at least ``ESCALATE_TO_SUPERVISION_AFTER`` (3) consecutive months
   (``LagEvaluation.streak``, the same count the alert engine escalates on), or are
   逾期未完成 (the completion deadline has passed with the target unmet);
2. ordered furthest behind first: 逾期未完成 before 红, then the larger gap in points,
   then the longer streak, then 序号 and the plan's column order;
3. the first ``NoticeIssue.supervision_cap`` (default ``conf.NOTICE_SUPERVISION_CAP``,
   10) are listed one by one; every other red cell is summarised per district
   (how many, of which overdue, which 序号).

Ranking words: 「靠前」 are the first three; 「靠后」 the last three among those whose
share is below the best share (districts level with the top are never called 靠后, so
with everyone at 100% there is no 靠后).

A month is a notice only if its plan year exists and the lag check has stored it;
otherwise ``notice`` returns None (the views answer 404).
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from django.db.models import Count, Max

from tracker import conf
from tracker.choices import RED_STATUSES, LagStatus
from tracker.monitoring.models import LagEvaluation
from tracker.monitoring.stored import EvaluationLine, evaluation_lines, of_plan
from tracker.months import month_label
from tracker.plans.reference import District, PlanYear
from tracker.ratios import pct
from tracker.reporting.alerts import alerts_version, missed_milestones, open_alert_total
from tracker.reporting.completeness import Tally, month_tally
from tracker.reporting.document import NoticeDocument, document_of, settings_key
from tracker.reporting.models import NoticeIssue
from tracker.reporting.overview import overview
from tracker.reporting.ranking import AgencyRankingRow, RankingRow, agency_ranking, ranking
from tracker.review.explanations import attach_explanations
from tracker.review.models import Explanation
from tracker.supervision import asof as supervision
from tracker.supervision.models import SupervisionItem

S = LagStatus
NOTICE_LAYOUT = "7"  # bump when the notice template changes: cached PDFs re-render
#: what a notice not yet issued says about itself (an issued one: ``reporting.issued``)
LIVE_STAMP = "实时数据，尚未印发：数字随填报和更正即时变化，以印发版本为准。"


def supervision_after() -> int:
    return conf.ESCALATE_TO_SUPERVISION_AFTER


def is_candidate(line: EvaluationLine, streak_needed: int | None = None) -> bool:
    """Rule 1 of the module docstring."""
    needed = supervision_after() if streak_needed is None else streak_needed
    return line.status == S.OVERDUE or (line.status == S.SERIOUSLY_BEHIND and line.streak >= needed)


def candidate_order(line: EvaluationLine) -> tuple:
    """Rule 2: furthest behind first."""
    return (
        line.status != S.OVERDUE,
        -(line.gap_points if line.gap_points is not None else Decimal(0)),
        -line.streak,
        line.project_seq,
        line.column,
        line.district.order,
    )


@dataclass
class DistrictRed:
    """The red cells of one district not listed one by one."""

    district: District
    count: int
    overdue: int
    seqs: list[int]
    column: int = 0  # its column position in the plan


@dataclass
class Notice:
    """The monthly 晾晒通报, city-wide (cells are district × indicator statuses)."""

    month: date
    issue: NoticeIssue | None
    indicators: int  # indicators checked
    cells_due: int
    on_track: int
    behind: int
    seriously_behind: int  # 红, 逾期未完成 included
    overdue: int
    not_reported: int
    not_due: int
    open_alerts: int
    ranking: list[RankingRow]
    red_items: list[EvaluationLine]  # every red cell (严重滞后 and 逾期未完成)
    candidates: list[EvaluationLine]  # 挂牌督办 candidates listed one by one (capped)
    candidates_total: int  # before the cap
    cap: int
    others_by_district: list[DistrictRed]
    projects: dict[str, int] = field(default_factory=dict)  # projects by status
    #: qualitative milestones missed and still open (red, like a missed target; issue 30)
    missed_milestones: list = field(default_factory=list)
    #: 部门晾晒: lead agencies ranked like the districts (``ranking.agency_ranking``)
    agency_ranking: list[AgencyRankingRow] = field(default_factory=list)
    #: 应报/已报/未报 of the month: the completeness page's numbers (one 未报)
    filing: Tally = field(default_factory=Tally)
    #: 挂牌督办 items in force at the end of the month (交办'd by then, not 销号 by then),
    #: each with its state then (``supervision.asof.items_as_of``)
    supervision_items: list = field(default_factory=list)
    #: today's open item of each cell that has one (督查室 交办s from the page, never printed)
    open_items: dict = field(default_factory=dict)

    @property
    def ceilings(self) -> bool:
        """A red cell of a ceiling target (「低于4.3%」) is listed: the notes say how to read it."""
        return any(line.indicator.is_ceiling for line in self.red_items)

    @property
    def on_track_pct(self) -> Decimal | None:
        return pct(Decimal(self.on_track), Decimal(self.cells_due)) if self.cells_due else None

    @property
    def number(self) -> str:
        """The issue number, 「2024年第9期」."""
        return f"{self.month.year}年第{self.month.month}期"

    @property
    def doc_number(self) -> str:
        """文号 set by 督查室 (empty until set)."""
        return self.issue.doc_number if self.issue else ""

    @property
    def issued_on(self) -> date | None:
        return self.issue.issued_on if self.issue else None

    @property
    def document(self) -> NoticeDocument:
        """The 公文 parts around the body (``reporting.document``), defaults where blank."""
        return document_of(self.month, self.issue)

    @property
    def title(self) -> str:
        return f"{month_label(self.month)}民生实事项目推进情况通报"

    @property
    def supervised(self) -> list[EvaluationLine]:
        return self.candidates

    @property
    def top(self) -> list[RankingRow]:
        return [r for r in self.ranking if r.share_pct is not None][:3]

    @property
    def bottom(self) -> list[RankingRow]:
        """The last three below the best share; none when all are level with the top."""
        ranked = [r for r in self.ranking if r.share_pct is not None]
        if len(ranked) <= 3:
            return []
        best = ranked[0].share_pct
        below = [r for r in ranked[3:] if r.share_pct < best]
        return below[-3:]

    @property
    def explained_others(self) -> list[EvaluationLine]:
        """Red items not listed one by one that have an explanation (section 四)."""
        listed = {(x.indicator_id, x.district_id) for x in self.candidates}
        return [
            x
            for x in self.red_items
            if x.explanation is not None and (x.indicator_id, x.district_id) not in listed
        ]

    @property
    def unexplained(self) -> int:
        """Red items with no explanation yet."""
        return sum(1 for x in self.red_items if x.explanation is None)

    @property
    def red_districts(self) -> list[tuple[str, int]]:
        """Districts with 红 items, most first: ``[(name, n)]``."""
        counts = Counter(e.district.name for e in self.red_items)
        order = {e.district.name: (e.column, e.district.order) for e in self.red_items}
        return sorted(counts.items(), key=lambda kv: (-kv[1], order[kv[0]]))


def notice(month: date, plan=None) -> Notice | None:
    """The monthly 晾晒通报, or None for a month outside the plan's checked months.

    City-wide (published to everyone with a role). ``plan`` (default: every plan of the
    month's year) narrows it to one plan. 13 queries (12 with a plan; explanations and the
    挂牌督办 items, in force then and open now, included).
    """
    if plan is not None:
        if plan.year != month.year:
            return None
    elif not PlanYear.objects.filter(year=month.year).exists():
        return None
    evaluations = of_plan(LagEvaluation.objects, plan)
    counts = Counter()
    indicators = set()
    for indicator_id, status, n in (
        evaluations.filter(month=month)
        .order_by()
        .values_list("indicator_id", "status")
        .annotate(n=Count("pk"))
    ):
        counts[status] += n
        indicators.add(indicator_id)
    if not indicators:
        return None
    issue = NoticeIssue.objects.filter(month=month).first()
    cap = issue.supervision_cap if issue else conf.NOTICE_SUPERVISION_CAP
    red = evaluation_lines(evaluations.filter(month=month, status__in=RED_STATUSES))
    items, open_now = supervision.then_and_open(month, _of_plan_items(plan))
    flagged = {(x.indicator_id, x.district_id) for x in items}
    for line in red:
        line.supervised = (line.indicator_id, line.district_id) in flagged
    attach_explanations(None, month, red)  # 原因说明 next to each red item
    red.sort(key=candidate_order)
    needed = supervision_after()
    all_candidates = [line for line in red if is_candidate(line, needed)]
    listed = all_candidates[:cap]
    listed_keys = {(x.indicator_id, x.district_id) for x in listed}
    rest = defaultdict(list)
    for line in red:
        if (line.indicator_id, line.district_id) not in listed_keys:
            rest[line.district.pk].append(line)
    others = sorted(
        (
            DistrictRed(
                district=lines[0].district,
                count=len(lines),
                overdue=sum(1 for x in lines if x.status == S.OVERDUE),
                seqs=sorted({x.project_seq for x in lines}),
                column=lines[0].column,
            )
            for lines in rest.values()
        ),
        key=lambda d: (-d.count, d.column, d.district.order),
    )
    ov = overview(None, month, plan=plan)
    return Notice(
        month=month,
        issue=issue,
        indicators=len(indicators),
        cells_due=sum(n for s, n in counts.items() if s != S.NOT_DUE),
        on_track=counts.get(S.ON_TRACK, 0),
        behind=counts.get(S.BEHIND, 0),
        seriously_behind=sum(counts.get(s, 0) for s in RED_STATUSES),
        overdue=counts.get(S.OVERDUE, 0),
        not_reported=counts.get(S.NOT_REPORTED, 0),
        not_due=counts.get(S.NOT_DUE, 0),
        open_alerts=open_alert_total(month),
        ranking=ranking(month, plan=plan),
        red_items=red,
        candidates=listed,
        candidates_total=len(all_candidates),
        cap=cap,
        others_by_district=others,
        projects=ov.project_counts,
        missed_milestones=missed_milestones(None, month, plan, supervised=flagged),
        agency_ranking=agency_ranking(month, plan=plan, projects=ov.projects),
        filing=month_tally(month, plan=plan),
        supervision_items=items,
        open_items=open_now,
    )


def _of_plan_items(plan):
    """The 挂牌督办 items of ``plan``'s indicators (None: every plan)."""
    qs = SupervisionItem.objects.all()
    return qs if plan is None else qs.filter(indicator__project__plan_year=plan)


def fingerprint(month: date) -> str:
    """What the month's notice depends on, as a short string: its stored statuses (last
    evaluation time and count), the open alerts' last change, the notice settings and the
    挂牌督办 steps up to the month's end. The cached PDF is re-rendered when it changes
    (and when an explanation is written). 5 queries."""
    ev = LagEvaluation.objects.filter(month=month).aggregate(t=Max("evaluated_at"), n=Count("pk"))
    issue = NoticeIssue.objects.filter(month=month).values_list("updated_at", flat=True).first()
    why = Explanation.objects.filter(month__lte=month, month__year=month.year).aggregate(
        t=Max("written_at"), n=Count("pk")
    )
    raw = (
        f"{month}|{ev['t']}|{ev['n']}|{alerts_version(month)}|{issue}|{NOTICE_LAYOUT}"
        f"|{why['t']}|{why['n']}|{settings_key()}|{supervision.version(month)}"
    )
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def notice_context_defaults() -> dict:
    """Template values the notice needs besides the ``Notice`` (page, xlsx and PDF)."""
    return {
        "deadline_day": conf.REPORTING_DEADLINE_DAY,
        "supervision_after": supervision_after(),
        "notice_stamp": LIVE_STAMP,
    }
