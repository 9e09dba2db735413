"""``evaluate_month`` reads its cells set-based (issue 17): the cells joined in SQL with
their newest reports (one windowed query) and last month's streaks, one statement per
``READ_CELLS`` cells, pipelined on PostgreSQL. It must give every cell exactly what the
reading it replaced gave (five correlated subqueries per cell), which this file keeps as
the reference: on the simulated 2024 year, for January (no base month) and later months,
as of before and after the reporting deadline, counting every figure or only approved
ones, with late reports and reports filed after ``as_of``, read in one statement or in
many (then pipelined on PostgreSQL, one after another with ``READ_PIPELINE`` off)."""

import random
from datetime import date, timedelta

import pytest
import time_machine
from django.db.models import DecimalField, Exists, OuterRef, Subquery, Value

from tests.lag_helpers import local
from tracker.calendar import reporting_deadline
from tracker.demo.simulation import LATE_REPORTER, simulate_year
from tracker.monitoring import evaluation as lag
from tracker.monitoring.evaluation import evaluate_month
from tracker.monitoring.models import LagEvaluation
from tracker.months import add_months
from tracker.plans.models import Indicator, Quota
from tracker.plans.reference import District
from tracker.progress.models import CellReview, CellState, MonthSubmission, ProgressReport
from tracker.progress.state import counted_reports
from tracker.progress.values import latest_reports

# --- the reading by correlated subqueries, as it was before issue 17 ---------------------


class _QueryContext:
    """Correlated subqueries giving, per (indicator, district), what the month needs."""

    names = ("latest_value", "latest_month", "on_time", "base_value", "prev_streak")

    def __init__(self, month, as_of, deadline, base_month):
        self.month, self.as_of, self.deadline, self.base_month = month, as_of, deadline, base_month

    def annotations(self, indicator_ref, district_ref):
        reports = (
            counted_reports()
            .filter(
                indicator_id=indicator_ref, district_id=district_ref, created_at__lte=self.as_of
            )
            .order_by()
        )
        latest = latest_reports(indicator_ref, district_ref, self.month, self.as_of)
        if self.base_month is None:
            base = Value(None, output_field=DecimalField())
        else:
            base = Subquery(
                reports.filter(month__lte=self.base_month).order_by("-month").values("value")[:1]
            )
        return {
            "latest_value": Subquery(latest.values("value")[:1]),
            "latest_month": Subquery(latest.values("month")[:1]),
            "on_time": Exists(reports.filter(month=self.month, created_at__lte=self.deadline)),
            "base_value": base,
            "prev_streak": Subquery(
                LagEvaluation.objects.filter(
                    indicator_id=indicator_ref,
                    district_id=district_ref,
                    month=add_months(self.month, -1),
                )
                .order_by()
                .values("streak")[:1]
            ),
        }


def subquery_figures(plans, month, as_of, deadline, base_month, district_ids=None):
    """The old per-cell reading, yielding what ``lag._cell_figures`` yields."""
    from tracker.plans.units import city_unit_ids

    context = _QueryContext(month, as_of, deadline, base_month)
    split = [pk for pk, p in plans.items() if not p.is_city_only]
    if split:
        rows = (
            Quota.objects.filter(indicator_id__in=split, value__gt=0)
            .order_by("indicator_id", "district_id")
            .annotate(**context.annotations(OuterRef("indicator_id"), OuterRef("district_id")))
            .values_list("indicator_id", "district_id", "value", *context.names)
        )
        for indicator_id, district_id, quota, *rest in rows:
            yield (plans[indicator_id], district_id, quota, *rest)
    city_only = [pk for pk, p in plans.items() if p.is_city_only]
    if city_only:
        city_units = city_unit_ids({plans[pk].plan_year_id for pk in city_only})
        for city_district in sorted(set(city_units.values())):
            ids = [
                pk for pk in city_only if city_units.get(plans[pk].plan_year_id) == city_district
            ]
            rows = (
                Indicator.objects.filter(pk__in=ids)
                .order_by("pk")
                .annotate(**context.annotations(OuterRef("pk"), city_district))
                .values_list("pk", *context.names)
            )
            for indicator_id, *rest in rows:
                plan = plans[indicator_id]
                yield (plan, city_district, plan.target, *rest)


# --- the year --------------------------------------------------------------------------

MONTHS = [1, 2, 4, 7, 10]  # January and February: no base month; 4 and 7: 建德市 files late


def as_of_times(month: date):
    """Before the deadline (some of the month's reports not filed yet), the morning after
    it (建德市's late reports of April and July, filed on the 9th, not yet), and later."""
    nxt = add_months(month, 1)
    return [
        local(nxt.year, nxt.month, 3, 12),
        local(nxt.year, nxt.month, 6, 9),
        local(nxt.year, nxt.month, 12, 9),
    ]


@pytest.fixture
def year(plan_2024):
    with time_machine.travel(local(2024, 11, 20, 10), tick=False):
        simulate_year(2024, seed=11, through=date(2024, 10, 1))  # checks Jan–Sep stored
    rng = random.Random(17)
    reports = list(ProgressReport.objects.order_by("pk"))
    # a few reports back-filled long after their month: filed after most as_of times
    back_filled = rng.sample(reports, 40)
    for r in back_filled:
        r.created_at += timedelta(days=45)
    ProgressReport.objects.bulk_update(back_filled, ["created_at"])
    # reviews: about half the figures approved, some returned, the rest pending
    submissions = {}
    for district_id, month in {(r.district_id, r.month) for r in reports}:
        submissions[(district_id, month)] = MonthSubmission(district_id=district_id, month=month)
    MonthSubmission.objects.bulk_create(submissions.values())
    states = [CellState.APPROVED] * 5 + [CellState.RETURNED, CellState.PENDING] * 2
    CellReview.objects.bulk_create(
        CellReview(
            submission=submissions[(r.district_id, r.month)],
            indicator_id=r.indicator_id,
            district_id=r.district_id,
            month=r.month,
            state=rng.choice(states),
        )
        for r in reports
    )
    return plan_2024


@pytest.mark.parametrize(
    "only_reviewed, read_cells, pipeline",
    [(False, 100_000, True), (True, 100_000, True), (False, 7, True), (True, 7, False)],
)
def test_set_based_reading_gives_the_cells_of_the_subquery_reading(
    year, settings, monkeypatch, only_reviewed, read_cells, pipeline
):
    settings.TRACKER = {
        **settings.TRACKER, "COUNT_ONLY_REVIEWED": only_reviewed, "READ_PIPELINE": pipeline
    }  # fmt: skip
    monkeypatch.setattr(lag, "READ_CELLS", read_cells)  # 7: a statement per indicator or two
    city = District.objects.get(kind=District.Kind.CITY)
    late = District.objects.get(name=LATE_REPORTER)
    seen = {"late": 0, "filed_after": 0, "city": 0, "no_base": 0, "base": 0, "streak": 0}
    for m in MONTHS:
        month = date(2024, m, 1)
        for as_of in as_of_times(month):
            new = evaluate_month(month, as_of=as_of)
            with monkeypatch.context() as patch:
                patch.setattr(lag, "_cell_figures", subquery_figures)
                old = evaluate_month(month, as_of=as_of)
            assert len(new.cells) == len(old.cells) > 100
            for a, b in zip(new.cells, old.cells, strict=True):
                assert a == b, (month, as_of)
            assert new.city == old.city
            # what the cases exercise
            deadline = reporting_deadline(month)
            seen["late"] += sum(
                1
                for c in new.cells
                if c.district_id == late.pk and c.reported_month == month and not c.on_time
            )
            seen["filed_after"] += (
                counted_reports().filter(month__lte=month, created_at__gt=as_of).exists()
            )
            seen["city"] += sum(1 for c in new.cells if c.district_id == city.pk)
            seen["no_base" if m < 4 else "base"] += 1
            seen["streak"] += sum(1 for c in new.cells if c.streak > 1)
            assert (as_of > deadline) == new.deadline_passed
    assert all(seen.values()), seen
