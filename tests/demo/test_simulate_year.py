"""``simulate_year``: a deterministic, plausible demo year on the published 2024 plan."""

from datetime import date, datetime
from io import StringIO

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.utils import timezone

from tests.factories import make_user
from tracker.accounts.models import Role
from tracker.choices import PROBLEM_STATUSES, LagStatus
from tracker.demo.simulation import (
    LATE_REPORTER,
    SERIOUS_LAGGARD,
    SIM_USERNAME,
    SimulationError,
    default_through,
    simulate_year,
)
from tracker.monitoring.models import LagAlert, LagEvaluation, LagRun
from tracker.progress.models import MilestoneCompletion, ProgressReport

S = LagStatus
JUNE = date(2024, 6, 1)


def statuses(month):
    return sorted(
        LagEvaluation.objects.filter(month=month).values_list(
            "indicator_id", "district_id", "status"
        )
    )


def reports():
    return sorted(
        ProgressReport.objects.values_list(
            "indicator_id", "district_id", "month", "value", "created_at"
        )
    )


def test_same_seed_same_year_and_a_rerun_replaces_it(plan_2024):
    result = simulate_year(2024, seed=5, through=JUNE)
    assert result.months_checked == 6 and result.corrections == 2
    assert result.reports == ProgressReport.objects.count() > 1000
    assert result.alerts == LagAlert.objects.count() > 0
    first, first_reports = statuses(JUNE), reports()
    alerts = LagAlert.objects.count()

    again = simulate_year(2024, seed=5, through=JUNE)
    assert statuses(JUNE) == first and reports() == first_reports
    assert again.reports == result.reports and LagAlert.objects.count() == alerts
    assert LagRun.objects.filter(month__year=2024).count() == 6

    simulate_year(2024, seed=6, through=JUNE)
    assert reports() != first_reports


def test_the_designed_laggards_and_late_reports(plan_2024):
    simulate_year(2024, seed=11, through=date(2024, 9, 1))
    sept = LagEvaluation.objects.filter(month="2024-09-01").exclude(status=S.NOT_DUE)
    chunan = sept.filter(district__name=SERIOUS_LAGGARD)
    assert chunan.filter(status=S.SERIOUSLY_BEHIND).count() > chunan.count() * 0.8
    linan = sept.filter(district__name="临安区")
    assert linan.exclude(status=S.ON_TRACK).count() > linan.count() * 0.5
    others = sept.exclude(district__name__in=[SERIOUS_LAGGARD, "临安区"])
    assert others.filter(status=S.ON_TRACK).count() > others.count() * 0.75  # most on track

    # 建德市 files April and July on the 9th: after the 5th, so 未按时填报 those months
    july = ProgressReport.objects.filter(district__name=LATE_REPORTER, month="2024-07-01")
    assert july and all(timezone.localtime(r.created_at).day == 9 for r in july)
    late = LagEvaluation.objects.filter(district__name=LATE_REPORTER, month="2024-07-01")
    # (projects past their completion deadline by then are 逾期未完成 or done instead)
    due = late.exclude(status=S.NOT_DUE).filter(indicator__project__deadline__gte=date(2024, 7, 1))
    assert due and all(e.status == S.NOT_REPORTED for e in due)
    assert LagEvaluation.objects.filter(
        district__name=LATE_REPORTER, month="2024-08-01", status=S.ON_TRACK
    ).exists()

    # on-time reports are filed between the 2nd and the 4th of the next month
    june = ProgressReport.objects.filter(month=JUNE).exclude(district__name=LATE_REPORTER)
    assert {timezone.localtime(r.created_at).date().day for r in june} <= {2, 3, 4}
    assert all(timezone.localtime(r.created_at).month == 7 for r in june)

    # alerts exist, some escalated to 挂牌督办 for 淳安县
    assert LagAlert.objects.filter(district__name=SERIOUS_LAGGARD, supervised=True).exists()
    assert LagAlert.objects.filter(kind=LagAlert.Kind.MILESTONE).exists()


def test_history_rows_and_corrections(plan_2024):
    simulate_year(2024, seed=3, through=JUNE)
    report = ProgressReport.objects.filter(month=JUNE).first()
    [created] = report.history.all()
    assert created.history_type == "+" and created.history_user.username == SIM_USERNAME
    assert created.history_change_reason == "模拟数据"
    assert created.history_date == report.created_at  # the filing date, not today
    assert created.created_at == report.created_at

    corrected = ProgressReport.objects.filter(is_correction=True)
    assert corrected.count() == 2
    for r in corrected:
        assert r.version == 2 and r.correction_reason and r.month == date(2024, 5, 1)
        reasons = [h.history_change_reason for h in r.history.order_by("history_date")]
        assert reasons == ["模拟数据", "更正"]
        previous = ProgressReport.objects.filter(
            indicator=r.indicator, district=r.district, month__lt=r.month
        )
        assert all(p.value <= r.value for p in previous)  # never below an earlier figure

    done = MilestoneCompletion.objects.filter(done=True)
    assert done.exists() and done.first().history.first().history_user.username == SIM_USERNAME


def test_refuses_to_overwrite_progress_entered_by_people(plan_2024):
    simulate_year(2024, seed=3, through=date(2024, 3, 1))
    report = ProgressReport.objects.first()
    report.reported_by = make_user("real", Role.SUPERVISION)
    report.save()
    with pytest.raises(SimulationError, match="已有人工填报"):
        simulate_year(2024, seed=3, through=date(2024, 3, 1))
    simulate_year(2024, seed=3, through=date(2024, 3, 1), force=True)
    assert not ProgressReport.objects.exclude(reported_by__username=SIM_USERNAME).exists()


def test_through_defaults_to_the_latest_due_month_of_a_running_year(plan_2024):
    assert default_through(2024, timezone.make_aware(datetime(2026, 1, 1))) == date(2024, 12, 1)
    assert default_through(2024, timezone.make_aware(datetime(2024, 7, 5, 12))) == date(2024, 5, 1)
    assert default_through(2024, timezone.make_aware(datetime(2024, 7, 6, 0, 1))) == JUNE
    with time_machine.travel(timezone.make_aware(datetime(2024, 4, 10, 12)), tick=False):
        result = simulate_year(2024, seed=1)
    assert result.months_checked == 3
    assert ProgressReport.objects.order_by("-month").first().month == date(2024, 3, 1)


def test_command(plan_2024):
    out = StringIO()
    call_command("simulate_year", "2024", "--seed", "2", "--through", "2024-03", "--quiet",
                 stdout=out)  # fmt: skip
    assert "2024年模拟完成" in out.getvalue() and "检查 3 个月" in out.getvalue()
    with pytest.raises(CommandError, match="YYYY-MM"):
        call_command("simulate_year", "2024", "--through", "2024/03", "--quiet")
    with pytest.raises(CommandError, match="2023年计划尚未导入"):
        call_command("simulate_year", "2023", "--quiet")
    with pytest.raises(CommandError, match="应在2024年内"):
        call_command("simulate_year", "2024", "--through", "2025-01", "--quiet")


@pytest.mark.slow
def test_a_whole_year_shows_one_open_alert_per_problem_cell_and_delivers_nothing(plan_2024):
    """Scenarios 2 and the counts of issue 12: with contacts configured (mailboxes and
    webhooks for a district, an agency and 督查室), the demo year and then the delivery
    sweep and a catch-up send nothing; open alerts are episodes, one per problem cell."""
    from django.core import mail

    from tracker.monitoring.checks import run_catch_up
    from tracker.notifications.delivery import retry_deliveries
    from tracker.notifications.models import Contact, Delivery, Notification
    from tracker.plans.reference import Agency, District

    hook = "http://127.0.0.1:9/never-called"
    Contact.objects.create(name="督查室", role=Role.SUPERVISION, email="d@x.cn", webhook_url=hook)
    Contact.objects.create(
        name="淳安", role=Role.DISTRICT, district=District.objects.get(name=SERIOUS_LAGGARD),
        email="ca@x.cn", webhook_url=hook,
    )  # fmt: skip
    for agency in Agency.objects.all():
        Contact.objects.create(name=agency.name, role=Role.AGENCY, agency=agency, email="a@x.cn")

    result = simulate_year(2024)
    assert result.months_checked == 12
    dec = LagEvaluation.objects.filter(month="2024-12-01")
    assert dec.filter(district__name=SERIOUS_LAGGARD).exclude(status=S.ON_TRACK).exists()

    assert not Notification.objects.exists() and not Delivery.objects.exists()
    with time_machine.travel(timezone.make_aware(datetime(2025, 1, 6, 9, 35)), tick=False):
        assert retry_deliveries() == 0  # the 5-minute sweep
        run_catch_up(date(2024, 12, 1))  # and the daily catch-up
    assert mail.outbox == [] and not Delivery.objects.exists()

    problem_cells = set(
        dec.filter(status__in=PROBLEM_STATUSES).values_list("indicator_id", "district_id")
    )
    open_checks = list(
        LagAlert.objects.open_as_of(date(2024, 12, 1))
        .filter(kind__in=(LagAlert.Kind.LAG, LagAlert.Kind.NOT_REPORTED))
        .values_list("indicator_id", "district_id")
    )
    assert len(open_checks) == len(set(open_checks)) == len(problem_cells)
    assert set(open_checks) == problem_cells
    keys = list(LagAlert.objects.active().values_list("indicator_id", "district_id", "kind"))
    assert len(keys) == len(set(keys))  # at most one open episode per cell and kind
