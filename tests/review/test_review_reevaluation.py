"""Review decisions and locks re-evaluate their cells (issue 28), with no check run.

With ``TRACKER_COUNT_ONLY_REVIEWED`` on, an approval makes a figure count: the stored
June evaluation shows it at once. An unlock, the correction made while unlocked and the
relock each re-evaluate the cell too.
"""

from datetime import date, datetime
from zoneinfo import ZoneInfo

from tracker.monitoring.checks import run_lag_check
from tracker.monitoring.models import LagEvaluation, LagRun
from tracker.progress.models import CellReview, ProgressReport
from tracker.progress.writes import Entry, submit
from tracker.review import workflow as review

TZ = ZoneInfo("Asia/Shanghai")
JUNE = date(2024, 6, 1)
TODAY = date(2024, 7, 20)


def report(user, p, indicator, value):
    """Each correction with its own reason (a reused reason is refused, issue 30)."""
    entry = Entry(indicator.pk, p.district_a.pk, "2024-06", value, is_correction=True,
                  correction_reason=f"核对台账，更正为 {value}")  # fmt: skip
    return submit(user, [entry], today=TODAY)


def stored(p, indicator) -> LagEvaluation:
    return LagEvaluation.objects.get(indicator=indicator, district=p.district_a, month=JUNE)


def cell(p, indicator) -> CellReview:
    return CellReview.objects.get(indicator=indicator, district=p.district_a, month=JUNE)


def test_approvals_unlock_and_relock_reevaluate_with_only_reviewed_figures_counting(
    personas, settings
):
    p = personas
    settings.TRACKER = {**settings.TRACKER, "COUNT_ONLY_REVIEWED": True}
    report(p.district_a_user, p, p.indicator_a, 10)
    report(p.district_a_user, p, p.indicator_b, 10)
    ProgressReport.objects.update(created_at=datetime(2024, 7, 3, 9, tzinfo=TZ))  # on time
    run_lag_check(JUNE, notify=False)
    runs = LagRun.objects.get(month=JUNE).run_count
    assert stored(p, p.indicator_a).actual is None  # filed, not reviewed: does not count

    review.submit_month(p.district_a_user, p.district_a, JUNE)
    review.review_cell(p.agency_a_user, cell(p, p.indicator_a), approve=True)
    assert stored(p, p.indicator_a).actual == 10  # counted at once
    assert stored(p, p.indicator_b).actual is None  # 卫健委 has not reviewed yet
    review.review_cell(p.agency_b_user, cell(p, p.indicator_b), approve=True)
    assert stored(p, p.indicator_b).actual == 10
    assert cell(p, p.indicator_a).locked  # the month is approved and locked

    # A re-evaluation writes only rows whose evaluation changed, so an unlock, which
    # changes nothing counted, is seen by repairing a row spoiled behind its back: the
    # unlocked cell is re-evaluated, the other cell is not touched.
    spoil = LagEvaluation.objects.filter(district=p.district_a, month=JUNE)
    spoil.update(actual=999)
    review.unlock(p.supervisor, reason="台账核对有误", cell=cell(p, p.indicator_a))
    assert stored(p, p.indicator_a).actual == 10
    assert stored(p, p.indicator_b).actual == 999  # only the cell touched
    report(p.district_a_user, p, p.indicator_a, 12)  # the correction while unlocked
    assert stored(p, p.indicator_a).actual == 12
    spoil.filter(indicator=p.indicator_a).update(actual=999)
    review.relock(p.supervisor, cell=cell(p, p.indicator_a))
    assert stored(p, p.indicator_a).actual == 12
    assert stored(p, p.indicator_b).actual == 999
    assert LagRun.objects.get(month=JUNE).run_count == runs  # and no check ran
