"""The cross-check (issue 28): one current truth on every page, API answer and workbook.

For every cell and month of the simulated 2024 year, of a second plan in the same year
(西湖区's own plan over its 街道), with ``COUNT_ONLY_REVIEWED`` off and on, after saves,
corrections and a deletion made through the one write path (no check run after them):

- the stored evaluation is what the one rule (``evaluate_month``) says now;
- the matrix shows the stored cells; the overview's counts are the stored cells' and
  each indicator's status is the check's own city roll-up (checkpoint months included);
- the ranking, the notice, the cell page (tile and chart), the district, overview and
  trajectory APIs and the district workbook say the same.

Each case is computed once and compared in bulk: readers are called once per month (the
APIs once per month and district or indicator), not once per cell. The two readers asked
once per cell are sampled where they would dominate the run: the districts' trajectory
API for 淳安县, 临安区 and 西湖区 (the city's trajectory of every indicator is checked), and,
with ``COUNT_ONLY_REVIEWED`` on, the cell pages of those three districts.
"""

from collections import Counter
from datetime import date
from decimal import Decimal
from io import BytesIO

import pytest
from django.db.models import Exists, OuterRef
from openpyxl import load_workbook
from rest_framework.test import APIClient

from tests.dashboard_helpers import simulated_year
from tests.plan_helpers import district_plan
from tracker.choices import LABEL, RED_STATUSES
from tracker.choices import LagStatus as S
from tracker.demo.simulation import simulate_year
from tracker.monitoring.checks import run_lag_check
from tracker.monitoring.evaluation import evaluate_month
from tracker.monitoring.models import LagEvaluation
from tracker.months import format_month
from tracker.plans.loader import load_plan
from tracker.plans.models import Indicator
from tracker.plans.reference import District, PlanYear
from tracker.progress.models import (
    CellReview,
    CellState,
    MonthState,
    MonthSubmission,
    ProgressReport,
)
from tracker.progress.writes import Entry, delete_report, submit
from tracker.reporting.cell import cell_detail
from tracker.reporting.matrix import matrix as read_matrix
from tracker.reporting.notice import notice as read_notice
from tracker.reporting.overview import overview as read_overview
from tracker.reporting.ranking import ranking as read_ranking

DEC = date(2024, 12, 1)
MONTHS = [date(2024, m, 1) for m in range(1, 13)]
FIELDS = ("status", "quota", "expected", "actual", "completion_pct", "streak", "at_risk")


@pytest.fixture(scope="module")
def year(django_db_setup, django_db_blocker, plan_2024_data):
    """The city's 2024 plan simulated through December, and 西湖区's own 2024 plan
    simulated beside it (the checks of a month cover both)."""
    gen = simulated_year(django_db_blocker, plan_2024_data, through=DEC)
    data = next(gen)
    with django_db_blocker.unblock():
        data.second = load_plan(district_plan()).plan_year
        simulate_year(2024, issuer="西湖区人民政府", seed=3, through=DEC, force=True)
    yield data
    next(gen, None)  # rolls the module's data back


def not_approved(model):
    """Rows whose figure is not approved: an approved figure is frozen (issue 30), so
    people change the others."""
    approved = CellReview.objects.filter(
        indicator_id=OuterRef("indicator_id"),
        district_id=OuterRef("district_id"),
        month=OuterRef("month"),
        state=CellState.APPROVED,
    )
    return model.objects.exclude(Exists(approved))


def writes_without_a_check(year):
    """What people do after the checks: 淳安县 saves a red December cell up to its
    quota, 督查室 corrects a June figure upwards and deletes another district's August."""

    def red(month, district):
        return (
            not_approved(LagEvaluation)
            .filter(
                month=month,
                district=district,
                status=S.SERIOUSLY_BEHIND,
                indicator__kind=Indicator.Kind.CUMULATIVE,
                indicator__project__plan_year=year.plan_year,
            )
            .order_by("indicator_id")
            .first()
        )

    dec = red(DEC, year.chunan)
    if dec is not None:
        submit(year.chunan_user, [Entry(dec.indicator_id, dec.district_id, "2024-12", dec.quota)])
    june = red(date(2024, 6, 1), District.objects.get(name="临安区"))
    if june is not None:
        submit(year.supervisor, [Entry(june.indicator_id, june.district_id, "2024-06",
                                       june.quota, is_correction=True,
                                       correction_reason="补录")])  # fmt: skip
    august = not_approved(ProgressReport).filter(
        month=date(2024, 8, 1), indicator__project__plan_year=year.plan_year
    )
    gone = (  # 西湖区's, unless all of its August is approved (then the next district's)
        august.filter(district=year.xihu).order_by("indicator_id").first()
        or august.order_by("district__order", "indicator_id").first()
    )
    delete_report(year.supervisor, gone, reason="重复填报")


def stored_cells(plan, month) -> dict:
    return {
        (r["indicator_id"], r["district_id"]): r
        for r in LagEvaluation.objects.filter(
            month=month, indicator__project__plan_year=plan
        ).values("indicator_id", "district_id", *FIELDS)
    }


def same_number(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return Decimal(str(a)) == Decimal(str(b))


def cross_check(year, plan, *, cell_districts=None, trajectory_districts=None):
    """Every reader agrees with the stored evaluation, and the stored evaluation with
    the one rule now. Returns the number of cell-months compared. ``cell_districts`` and
    ``trajectory_districts`` (None: all) narrow the cell pages and the districts'
    trajectory requests, the two readers asked once per cell."""
    api = APIClient()
    api.force_authenticate(year.supervisor)
    indicators = {i.pk: i for i in Indicator.objects.filter(project__plan_year=plan)}
    districts = {d.pk: d for d in District.objects.all()}
    compared = 0
    stored_by_month = {}
    for month in MONTHS:
        stored = stored_cells(plan, month)
        stored_by_month[month] = stored
        assert stored, f"{month} has stored cells"
        compared += len(stored)
        # the one rule, now
        fresh = evaluate_month(month, plan_year=plan)
        now = {
            (c.indicator_id, c.district_id): {
                "status": c.status, "quota": c.quota, "expected": c.expected,
                "actual": c.actual, "completion_pct": c.completion_pct, "streak": c.streak,
                "at_risk": c.at_risk,
            }
            for c in fresh.cells
        }  # fmt: skip
        assert set(now) == set(stored)
        for key, row in stored.items():
            for name in FIELDS:
                assert (
                    same_number(row[name], now[key][name])
                    if name not in ("status", "at_risk", "streak")
                    else row[name] == now[key][name]
                ), (month, key, name, row[name], now[key][name])
        # the matrix
        grid = read_matrix(year.supervisor, month, plan=plan)
        shown = {(c.indicator_id, c.district_id): c for r in grid.rows for c in r.cells if c}
        assert {k: (c.status, c.actual) for k, c in shown.items()} == {
            k: (r["status"], r["actual"]) for k, r in stored.items()
        }
        # the overview: counts are the stored cells', statuses the check's roll-up
        ov = read_overview(year.supervisor, month, plan=plan)
        numeric = [r for k, r in stored.items() if indicators[k[0]].kind != "qualitative"]
        counts = Counter(r["status"] for r in numeric)
        assert ov.cell_counts == {k: counts.get(k, 0) for k in ov.cell_counts}
        summaries = {i.id: i for p in ov.projects for i in p.indicators}
        for indicator_id, total in fresh.city.items():
            if indicator_id in summaries:
                assert summaries[indicator_id].status == total.status, (month, indicator_id)
        assert ov.evaluated_at is not None
        api_ov = api.get(
            "/api/v1/summary/overview/", {"month": format_month(month), "plan": plan.pk}
        ).json()
        assert api_ov["evaluated_at"]
        api_status = {
            i["id"]: i["status"]
            for c in api_ov["categories"] for p in c["projects"] for i in p["indicators"]
        }  # fmt: skip
        assert api_status == {i: s.status for i, s in summaries.items()}
        # the ranking and the notice
        tallies: dict[int, Counter] = {}
        for (_i, d), r in stored.items():
            tallies.setdefault(d, Counter())[r["status"]] += 1
        for row in read_ranking(month, plan=plan):
            c = tallies[row.district.pk]
            assert (row.due, row.on_track, row.behind, row.not_reported) == (
                sum(n for s, n in c.items() if s != S.NOT_DUE), c[S.ON_TRACK], c[S.BEHIND],
                c[S.NOT_REPORTED],
            ), (month, row.district.name)  # fmt: skip
            assert row.seriously_behind == sum(c[s] for s in RED_STATUSES)
        notice = read_notice(month, plan)
        every = Counter(r["status"] for r in stored.values())
        assert notice.cells_due == sum(n for s, n in every.items() if s != S.NOT_DUE)
        assert notice.on_track == every[S.ON_TRACK]
        assert notice.seriously_behind == sum(every[s] for s in RED_STATUSES)
        assert notice.not_reported == every[S.NOT_REPORTED]
        # the district API
        for district_id in {d for _i, d in stored}:
            code = districts[district_id].code
            body = api.get(
                f"/api/v1/summary/districts/{code}/",
                {"month": format_month(month), "plan": plan.pk},
            ).json()
            assert body["evaluated_at"]
            got = {x["indicator"]: (x["status"], x["actual"]) for x in body["indicators"]}
            want = {i: r for (i, d), r in stored.items() if d == district_id}
            assert set(got) == set(want), (month, code)
            for i, (status, actual) in got.items():
                assert status == want[i]["status"] and same_number(actual, want[i]["actual"])
    # the trajectory API (the city's, and each district's): the stored values by month
    for indicator_id, indicator in indicators.items():
        if indicator.kind == "qualitative":
            continue
        cells = {d for m in MONTHS for (i, d) in stored_by_month[m] if i == indicator_id}
        points = api.get(f"/api/v1/indicators/{indicator_id}/trajectory/").json()["points"]
        for month, point in zip(MONTHS, points, strict=True):
            rows = [r for (i, _d), r in stored_by_month[month].items() if i == indicator_id]
            values = [r["actual"] for r in rows if r["actual"] is not None]
            want = None
            if values:
                want = sum(values, Decimal(0))
                if indicator.is_level:
                    want = (want / len(values)).quantize(Decimal("0.0001"))
            assert same_number(point["actual"], want), (indicator_id, month)
        for district_id in cells if len(cells) > 1 else ():
            if trajectory_districts is not None and district_id not in trajectory_districts:
                continue
            points = api.get(
                f"/api/v1/indicators/{indicator_id}/trajectory/", {"district": district_id}
            ).json()["points"]
            for month, point in zip(MONTHS, points, strict=True):
                row = stored_by_month[month].get((indicator_id, district_id))
                assert same_number(point["actual"], row and row["actual"])
    # the cell page: tile (the month's stored line) and chart (its values by month)
    for indicator_id, district_id in stored_by_month[DEC]:
        if cell_districts is not None and district_id not in cell_districts:
            continue
        detail = cell_detail(year.supervisor, indicator_id, district_id)
        lines = {e.month: e for e in detail.evaluations}
        for n, month in enumerate(MONTHS):
            row = stored_by_month[month][(indicator_id, district_id)]
            assert lines[month].status == row["status"] == detail.statuses[n]
            assert same_number(lines[month].actual, row["actual"])
            chart = detail.actual[n]
            assert (chart is None and row["actual"] is None) or (
                row["actual"] is not None
                and abs(Decimal(str(chart)) - row["actual"]) < Decimal("0.001")
            ), (indicator_id, district_id, month, chart, row["actual"])
    # the district workbook (the 区县 page's download) of December
    client = api  # the dashboard takes the same session login
    client.force_login(year.supervisor)
    seq = {i: ind.project.seq for i, ind in indicators.items()}
    for district_id in {d for _i, d in stored_by_month[DEC]}:
        district = districts[district_id]
        if district.kind == District.Kind.CITY:
            continue
        response = client.get(
            f"/districts/{district.code}/",
            {"month": format_month(DEC), "plan": plan.pk, "format": "xlsx"},
        )
        sheet = load_workbook(BytesIO(response.content)).active
        rows = list(sheet.iter_rows(values_only=True))
        header = next(r for r in rows if r and "状态" in r)
        at = header.index("状态")
        got = Counter(
            (int(r[0]), r[at]) for r in rows[rows.index(header) + 1 :] if r and r[0] is not None
        )
        want = Counter(
            (seq[i], LABEL[r["status"]])
            for (i, d), r in stored_by_month[DEC].items()
            if d == district_id
        )
        assert got == want, district.name
    return compared


def approve_half(plan):
    """Approved reviews for every figure of the odd-ordered districts (as if their
    lead agencies had approved them)."""
    reports = ProgressReport.objects.filter(indicator__project__plan_year=plan).select_related(
        "district"
    )
    submissions = {}
    reviews = []
    for r in reports:
        if r.district.order % 2 == 0:
            continue
        key = (r.district_id, r.month)
        if key not in submissions:
            submissions[key] = MonthSubmission.objects.create(
                district_id=r.district_id, month=r.month, state=MonthState.APPROVED
            )
        reviews.append(CellReview(
            submission=submissions[key], indicator_id=r.indicator_id,
            district_id=r.district_id, month=r.month, state=CellState.APPROVED,
        ))  # fmt: skip
    CellReview.objects.bulk_create(reviews)


def recheck_year():
    for month in MONTHS:
        run_lag_check(month, notify=False)


def test_every_reader_agrees_with_the_stored_evaluation(year, db, client):
    recheck_year()  # as of now: the stored evaluation is the rule's answer today
    writes_without_a_check(year)
    linan = District.objects.get(name="临安区")
    sample = {year.chunan.pk, linan.pk, year.xihu.pk}
    cells = LagEvaluation.objects.filter(month=DEC, indicator__project__plan_year=year.plan_year)
    assert cross_check(year, year.plan_year, trajectory_districts=sample) == 12 * cells.count()
    assert PlanYear.objects.filter(year=2024).count() == 2
    assert cross_check(year, year.second) > 0


def test_with_only_reviewed_figures_counting(year, db, settings):
    settings.TRACKER = {**settings.TRACKER, "COUNT_ONLY_REVIEWED": True}
    approve_half(year.plan_year)
    recheck_year()
    # The even districts' figures are filed but do not count: nothing stands for them.
    filed = ProgressReport.objects.filter(month=DEC, district__order__in=[2, 4, 6])
    assert filed.exists()
    assert not LagEvaluation.objects.filter(
        month=DEC, district__order__in=[2, 4, 6], actual__isnull=False
    ).exists()
    writes_without_a_check(year)
    linan = District.objects.get(name="临安区")
    sample = {year.chunan.pk, linan.pk, year.xihu.pk}
    cross_check(year, year.plan_year, cell_districts=sample, trajectory_districts=sample)
