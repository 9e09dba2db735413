"""The read models (``tracker.selectors``).

First on small hand-made statuses, where every number can be worked out by hand (capped
totals, worst-of statuses, open alerts as of a month, ranking ties, scoping); then on the
published 2024 plan with a simulated year, for real numbers and fixed query counts.
"""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from tests.dashboard_helpers import simulated_year
from tests.factories import DistrictFactory, IndicatorFactory, QuotaFactory, make_user
from tracker.accounts.models import Role
from tracker.accounts.permissions import scope_for
from tracker.choices import LagStatus
from tracker.monitoring.models import LagAlert, LagEvaluation
from tracker.monitoring.stored import evaluated_months, latest_month
from tracker.plans.reference import District
from tracker.reporting.cell import cell_detail
from tracker.reporting.matrix import matrix as read_matrix
from tracker.reporting.my_work import my_work as read_my_work
from tracker.reporting.notice import notice as read_notice
from tracker.reporting.overview import overview as read_overview
from tracker.reporting.ranking import ranking as read_ranking
from tracker.reporting.scorecard import district_scorecard
from tracker.supervision.models import SupervisionItem

S = LagStatus
JUL, AUG = date(2024, 7, 1), date(2024, 8, 1)


def ev(indicator, district, month, status, *, quota=50, expected=None, actual=None, **extra):
    return LagEvaluation.objects.create(
        indicator=indicator,
        district=district,
        month=month,
        status=status,
        quota=Decimal(quota),
        expected=None if expected is None else Decimal(expected),
        actual=None if actual is None else Decimal(actual),
        **extra,
    )


def alert(indicator, district, month, **extra):
    defaults = {"kind": LagAlert.Kind.LAG, "severity": LagAlert.Severity.RED, "message": "落后"}
    return LagAlert.objects.create(
        indicator=indicator, district=district, month=month, **{**defaults, **extra}
    )


@pytest.fixture
def august(personas):
    """上城区 over-achieves on indicator a, 萧山区 is far behind; nobody reported b."""
    p = personas
    ev(p.indicator_a, p.district_a, AUG, S.ON_TRACK, expected=25, actual=60)
    ev(p.indicator_a, p.district_b, AUG, S.SERIOUSLY_BEHIND, expected=25, actual=5,
       gap_points=Decimal(40), forecast=Decimal(20), needed_pace=Decimal(15))  # fmt: skip
    ev(p.indicator_b, p.district_a, AUG, S.NOT_REPORTED, expected=25)
    ev(p.indicator_b, p.district_b, AUG, S.NOT_REPORTED, expected=25)
    return p


# --- overview: totals and statuses ------------------------------------------------------


def test_indicator_totals_are_capped_per_district(august):
    ov = read_overview(august.supervisor, AUG)
    a = next(i for p in ov.projects for i in p.indicators if i.id == august.indicator_a.pk)
    assert (a.quota, a.expected, a.actual, a.actual_capped) == (100, 50, 65, 55)
    # 上城区's surplus (60 of 50) does not hide 萧山区's gap: capped 55%, uncapped 65%
    assert (a.completion_pct, a.completion_uncapped_pct, a.pace_pct) == (55, 65, 50)
    assert a.status == S.ON_TRACK and a.colour == "green"
    assert a.counts == {"not_due": 0, "on_track": 1, "behind": 0, "not_reported": 0,
                        "seriously_behind": 1, "overdue": 0}  # fmt: skip


def test_project_and_category_take_the_worst_status(august):
    ov = read_overview(august.supervisor, AUG)
    by_seq = {p.seq: p for p in ov.projects}
    assert by_seq[1].status == S.ON_TRACK
    assert by_seq[2].status == S.NOT_REPORTED  # more than half of its districts did not report
    assert by_seq[2].completion_pct is None and by_seq[1].completion_pct == 55
    [category] = ov.categories
    assert category.status == S.NOT_REPORTED and category.colour == "grey"
    assert ov.project_counts["on_track"] == 1 and ov.project_counts["not_reported"] == 1
    assert ov.cell_counts["seriously_behind"] == 1 and ov.cell_counts["not_reported"] == 2


def test_rates_are_mean_levels(personas):
    rate = IndicatorFactory(project=personas.project_a, order=2, kind="level", unit="%",
                            target_value=Decimal(90))  # fmt: skip
    ev(rate, personas.district_a, AUG, S.ON_TRACK, quota=90, expected=85, actual=86)
    ev(rate, personas.district_b, AUG, S.SERIOUSLY_BEHIND, quota=90, expected=85, actual=78)
    line = next(
        i
        for p in read_overview(personas.supervisor, AUG).projects
        for i in p.indicators
        if i.id == rate.pk
    )
    assert (line.quota, line.expected, line.actual) == (90, 85, 82)
    assert line.completion_pct == Decimal("91.11") and line.pace_pct == Decimal("94.44")
    assert line.status == S.BEHIND  # 3 points below the expected level: 黄 (红 beyond 3)
    assert line.unit == "%"


def test_open_alerts_are_counted_as_of_the_month(august):
    p = august
    alert(p.indicator_a, p.district_b, JUL)  # still open
    alert(p.indicator_a, p.district_b, JUL, kind=LagAlert.Kind.MILESTONE,
          status=LagAlert.Status.RESOLVED, closed_in_month=AUG)  # fmt: skip
    alert(p.indicator_b, p.district_b, JUL, kind=LagAlert.Kind.AT_RISK)  # 提示: not counted
    alert(p.indicator_a, p.district_a, JUL, status=LagAlert.Status.SUPERSEDED,
          closed_in_month=JUL)  # fmt: skip
    alert(p.indicator_a, p.district_a, AUG, kind=LagAlert.Kind.NOT_REPORTED)
    alert(p.indicator_a, p.district_a, date(2023, 12, 1))  # last year's plan
    july = read_overview(p.supervisor, JUL)
    assert july.open_alerts == 2  # resolved only in August: still open at the end of July
    august_view = read_overview(p.supervisor, AUG)
    assert august_view.open_alerts == 2  # the July one left open, and August's
    assert august_view.projects[0].open_alerts == 2


# --- scoping ------------------------------------------------------------------------------


def test_every_summary_is_scoped(august):
    p = august
    mine = read_overview(p.district_a_user, AUG)
    a = mine.projects[0].indicators[0]
    assert (a.quota, a.actual, a.status) == (50, 60, S.ON_TRACK)
    assert [d.name for d in read_matrix(p.district_a_user, AUG).districts] == ["上城区"]

    agency = read_overview(p.agency_a_user, AUG)
    assert [pr.seq for pr in agency.projects] == [1]
    assert {r.indicator.pk for r in read_matrix(p.agency_a_user, AUG).rows} == {p.indicator_a.pk}
    work = read_my_work(p.agency_a_user, AUG)
    assert [e.district.name for e in work] == ["萧山区"]

    assert read_overview(p.outsider, AUG).categories == []
    assert read_matrix(p.outsider, AUG).rows == []
    assert read_my_work(p.outsider, AUG) == []
    assert read_ranking(AUG, p.outsider) == []
    assert latest_month(p.outsider) is None
    assert cell_detail(p.outsider, p.indicator_a.pk, p.district_a.pk) is None

    # a Scope works like its user; None is the public, city-wide view
    scope = scope_for(p.district_a_user)
    assert read_overview(scope, AUG) == mine
    assert len(read_matrix(None, AUG).districts) == 2
    assert latest_month(None) == AUG


def test_cell_detail_is_scoped(august):
    p = august
    assert cell_detail(p.district_a_user, p.indicator_a.pk, p.district_b.pk) is None
    assert cell_detail(p.agency_b_user, p.indicator_a.pk, p.district_a.pk) is None
    detail = cell_detail(p.district_a_user, p.indicator_a.pk, p.district_a.pk)
    assert detail.statuses[7] == S.ON_TRACK and detail.quota == 50
    assert detail.chart()["colours"][7] == "green" and len(detail.chart()["months"]) == 12


# --- ranking ------------------------------------------------------------------------------


@pytest.fixture
def ranked(personas):
    """Three districts and 市本级 over July and August (see the test for the numbers)."""
    p = personas
    city = DistrictFactory(code="city", name="市本级", kind=District.Kind.CITY, order=0)
    late = DistrictFactory(code="late", name="迟到区", order=9)
    for indicator in (p.indicator_a, p.indicator_b):
        QuotaFactory(indicator=indicator, district=late)
        ev(indicator, city, AUG, S.SERIOUSLY_BEHIND, expected=10, actual=0)
        ev(indicator, late, AUG, S.NOT_DUE)
        ev(indicator, p.district_a, JUL, S.ON_TRACK)
        ev(indicator, p.district_b, JUL, S.SERIOUSLY_BEHIND)
    # August: both at 50% on track; 上城区 has a 红, 萧山区 only a 黄.
    ev(p.indicator_a, p.district_a, AUG, S.ON_TRACK)
    ev(p.indicator_b, p.district_a, AUG, S.SERIOUSLY_BEHIND)
    ev(p.indicator_a, p.district_b, AUG, S.ON_TRACK)
    ev(p.indicator_b, p.district_b, AUG, S.BEHIND)
    return p


def test_ranking_share_ties_and_rank_change(ranked, django_assert_num_queries):
    with django_assert_num_queries(2):
        rows = read_ranking(AUG)
    assert [r.district.name for r in rows] == ["萧山区", "上城区", "迟到区"]  # 市本级 not ranked
    xiaoshan, shangcheng, late = rows
    assert xiaoshan.share_pct == shangcheng.share_pct == 50  # tie: fewer 红 first
    assert (xiaoshan.rank, xiaoshan.previous_rank, xiaoshan.change) == (1, 2, 1)
    assert (shangcheng.rank, shangcheng.previous_rank, shangcheng.change) == (2, 1, -1)
    assert late.share_pct is None and late.due == 0 and late.change is None  # nothing due: last
    assert (xiaoshan.due, xiaoshan.on_track, xiaoshan.behind) == (2, 1, 1)


def test_ranking_full_tie_falls_back_to_table_order_and_january_has_no_change(personas):
    p = personas
    jan = date(2024, 1, 1)
    for district in (p.district_b, p.district_a):
        ev(p.indicator_a, district, jan, S.ON_TRACK)
        ev(p.indicator_b, district, jan, S.NOT_REPORTED)
    ev(p.indicator_a, p.district_a, date(2023, 12, 1), S.ON_TRACK)  # last year's plan
    rows = read_ranking(jan)
    assert [r.district.name for r in rows] == ["上城区", "萧山区"]  # District.order 1 < 5
    assert [r.change for r in rows] == [None, None]


# --- scorecard, my work, notice ---------------------------------------------------------


def test_my_work_is_worst_first_with_alerts(august):
    p = august
    ev(p.indicator_a, p.district_a, JUL, S.ON_TRACK)  # another month: not listed
    alert(p.indicator_a, p.district_b, AUG, supervised=True)  # the engine's proposal only
    # one open episode per cell and kind (issue 12): the cell's second one is a milestone's
    alert(p.indicator_a, p.district_b, JUL, kind=LagAlert.Kind.MILESTONE)
    assert read_my_work(p.supervisor, AUG)[0].supervised is False
    SupervisionItem.objects.create(  # 挂牌督办 交办'd in August (issue 32)
        indicator=p.indicator_a, district=p.district_b, month=JUL, deadline=date(2024, 9, 30),
        assigned_at=datetime(2024, 8, 20, tzinfo=UTC),
    )  # fmt: skip
    rows = read_my_work(p.supervisor, AUG)
    assert [(e.label, e.district.name, e.status) for e in rows] == [
        (p.indicator_a.label, "萧山区", S.SERIOUSLY_BEHIND),
        (p.indicator_b.label, "上城区", S.NOT_REPORTED),
        (p.indicator_b.label, "萧山区", S.NOT_REPORTED),
    ]
    first = rows[0]
    assert (first.open_alerts, first.supervised, first.needed_pace) == (2, True, 15)
    assert (
        first.forecast_short and first.project_seq == 1 and first.status_label == "严重滞后（红）"
    )
    assert [e.district.name for e in read_my_work(p.district_a_user, AUG)] == ["上城区"]


def test_at_risk_cells_are_work_too(personas):
    p = personas
    ev(p.indicator_a, p.district_a, AUG, S.ON_TRACK, at_risk=True)
    ev(p.indicator_b, p.district_a, AUG, S.ON_TRACK)
    [line] = read_my_work(p.supervisor, AUG)
    assert line.at_risk and line.indicator_id == p.indicator_a.pk


def test_district_scorecard_is_a_sequence_of_lines(august, django_assert_num_queries):
    p = august
    scope = scope_for(p.supervisor)
    with django_assert_num_queries(5):  # + 挂牌督办 as of the month (issue 32)
        card = district_scorecard(scope, p.district_b, AUG)
    assert len(card) == 2 and [line.status for line in card] == [S.SERIOUSLY_BEHIND,
                                                                  S.NOT_REPORTED]  # fmt: skip
    assert card.rank == 2 and card.counts["not_reported"] == 1
    assert card[0].indicator.project.seq == 1 and card[0].indicator_id == p.indicator_a.pk
    # a district user asking for another district gets nothing
    assert len(district_scorecard(p.district_a_user, p.district_b, AUG)) == 0


def test_notice_numbers(august):
    p = august
    alert(p.indicator_a, p.district_b, AUG, supervised=True, streak=3)
    # red for the third month running: a 挂牌督办 candidate
    LagEvaluation.objects.filter(indicator=p.indicator_a, district=p.district_b).update(streak=3)
    alert(p.indicator_b, p.district_b, AUG, kind=LagAlert.Kind.NOT_REPORTED,
          supervised=True, status=LagAlert.Status.SUPERSEDED, closed_in_month=AUG)  # fmt: skip
    n = read_notice(AUG)
    assert (n.indicators, n.cells_due, n.on_track, n.seriously_behind, n.not_reported) == (
        2, 4, 1, 1, 2
    )  # fmt: skip
    assert n.on_track_pct == 25 and n.open_alerts == 1
    assert [(e.district.name, e.gap_points) for e in n.red_items] == [("萧山区", 40)]
    assert [(s.district.name, s.streak) for s in n.supervised] == [("萧山区", 3)]
    assert n.title == "2024年8月民生实事项目推进情况通报" and n.number == "2024年第8期"
    assert n.red_districts == [("萧山区", 1)]
    assert n.projects["not_reported"] == 1


def test_nothing_checked_yet(personas):
    assert latest_month(personas.supervisor) is None
    assert evaluated_months(personas.supervisor) == []
    assert read_ranking(AUG) == []
    assert read_notice(AUG) is None  # no notice for a month not checked (a 404)


def test_pages_render_before_any_check(personas, client):
    """A fresh install: every page says there is nothing yet instead of failing."""
    client.force_login(personas.supervisor)
    for url in ("/", "/matrix/", "/ranking/", "/my/", "/districts/shangcheng/", "/notice/"):
        response = client.get(url)
        assert response.status_code == 200, url
    assert "还没有进度检查结果" in client.get("/").content.decode()
    assert client.get("/projects/1/").status_code == 200
    assert client.get("/notice/2024-08/").status_code == 404


# --- the simulated 2024 year: real numbers, fixed query counts --------------------------
# (kept last: the module-scoped year stays loaded from its first test to the end)


@pytest.fixture(scope="module")
def year(django_db_setup, django_db_blocker, plan_2024_data):
    yield from simulated_year(django_db_blocker, plan_2024_data)


SEPT = date(2024, 9, 1)


def test_simulated_year_in_numbers(year, db):
    ov = read_overview(year.supervisor, SEPT)
    assert len(ov.categories) == 10 and len(ov.projects) == 48
    stored = LagEvaluation.objects.filter(month=SEPT)
    assert sum(ov.cell_counts.values()) == stored.exclude(indicator__kind="qualitative").count()
    ranking = read_ranking(SEPT)
    assert ranking[-1].district.name == "淳安县" and ranking[-1].rank == 14
    assert ranking[-1].share_pct < 20 < ranking[0].share_pct
    n = read_notice(SEPT)
    assert n.red_districts[0][0] == "淳安县"
    assert n.cells_due == stored.exclude(status=S.NOT_DUE).count()
    assert n.seriously_behind == stored.filter(status__in=(S.SERIOUSLY_BEHIND, S.OVERDUE)).count()
    chunan = district_scorecard(year.chunan_user, year.chunan, SEPT)
    assert chunan.rank == 14 and chunan.counts["seriously_behind"] > 30
    assert latest_month(year.chunan_user) == SEPT
    assert evaluated_months(None)[0] == date(2024, 1, 1)


def test_query_counts_do_not_grow_with_the_plan(year, db, django_assert_num_queries):
    """The same fixed counts as on the two-district data: one per table read."""
    for who in (scope_for(year.supervisor), scope_for(year.chunan_user), None):
        # issue 30: + the missed milestones; issue 32: + their 挂牌督办 as of the month
        with django_assert_num_queries(5):
            read_overview(who, SEPT)
        with django_assert_num_queries(3):
            read_matrix(who, SEPT)
        # + the lines' explanations (issue 15); + 挂牌督办 as of the month (issue 32)
        with django_assert_num_queries(4):
            read_my_work(who, SEPT)
    with django_assert_num_queries(2):
        read_ranking(SEPT)
    # + the red items' explanations (issue 15); + the missed milestones, listed and in the
    # overview's project counts (issue 30); 部门晾晒 (+2) and the month's 未报 (+7, issue 32);
    # the 挂牌督办 items, in force then and open now (+1, issue 32)
    with django_assert_num_queries(24):
        read_notice(SEPT)
    with django_assert_num_queries(5):  # + 挂牌督办 as of the month (issue 32)
        district_scorecard(None, year.chunan, SEPT)


def test_known_laggards_of_the_simulation(year, db):
    linan = District.objects.get(name="临安区")
    places = {r.district.name: r.rank for r in read_ranking(SEPT)}
    assert places["淳安县"] == 14 and places["临安区"] >= 12
    mine = read_my_work(make_user("la", Role.DISTRICT, district=linan), SEPT)
    assert mine and all(e.district.name == "临安区" for e in mine)
    assert any(e.status == S.BEHIND for e in mine)


def test_no_bottom_words_when_everyone_is_at_100_percent():
    """Districts level at 100% are tied (并列); the notice names nobody 「居后」."""
    from tracker.reporting.notice import Notice
    from tracker.reporting.ranking import RankingRow

    rows = [
        RankingRow(
            district=District(name=f"区{i}", order=i),
            due=10,
            on_track=10,
            behind=0,
            seriously_behind=0,
            not_reported=0,
            share_pct=Decimal(100),
            rank=i,
            tied=True,
        )
        for i in range(1, 8)
    ]
    n = Notice(month=AUG, issue=None, indicators=1, cells_due=70, on_track=70, behind=0,
               seriously_behind=0, overdue=0, not_reported=0, not_due=0, open_alerts=0,
               ranking=rows, red_items=[], candidates=[], candidates_total=0, cap=10,
               others_by_district=[])  # fmt: skip
    assert len(n.top) == 3 and n.bottom == []
    rows[-1].share_pct = Decimal(90)
    assert [r.district.name for r in n.bottom] == ["区7"]
