"""Alerts: explanations, lifecycle over a simulated year, corrections, milestones, scope."""

from datetime import date
from decimal import Decimal

import pytest
import time_machine
from django.core.exceptions import ValidationError

from tests.lag_helpers import local, percent_plan, report
from tracker.models import Contact, LagAlert, LagStatus, MilestoneCompletion, Notification, Role
from tracker.services.alerts import (
    explain,
    run_due_checks,
    run_lag_check,
    run_milestone_check,
    stale_months,
)
from tracker.services.lag import Cell, Forecast
from tracker.services.trajectory import IndicatorPlan

D = Decimal
Status, Kind, Level = LagAlert.Status, LagAlert.Kind, LagAlert.Level


def check(month: int, **kw):
    """The monthly check as beat runs it: the 6th of the next month, 09:00 Shanghai."""
    with time_machine.travel(local(2024, month + 1, 6, 9), tick=False):
        return run_lag_check(date(2024, month, 1), **kw)


def alert(indicator, district, month, kind=Kind.LAG):
    return LagAlert.objects.get(
        indicator=indicator, district=district, month=date(2024, month, 1), kind=kind
    )


def test_explanation_gives_the_numbers_in_plain_chinese():
    plan = IndicatorPlan(
        indicator_id=1,
        year=2024,
        kind="cumulative",
        target=D(227),
        deadline=date(2024, 11, 30),
        label="新增老年助餐服务点",
        unit="个",
    )
    cell = Cell(
        indicator_id=1,
        district_id=5,
        quota=D(50),
        expected=D(40),
        actual=D(30),
        reported_month=date(2024, 9, 1),
        on_time=True,
        status=LagStatus.BEHIND,
        gap_points=D(20),
        is_checkpoint=False,
        checkpoint_text="",
        forecast=Forecast(
            pace=D(4), at_deadline=D(38), needed_pace=D(10), months_left=2, misses_target=True
        ),
        streak=1,
    )
    text = explain(Kind.LAG, cell, plan, "萧山区", date(2024, 9, 1))
    assert text == (
        "萧山区 新增老年助餐服务点：截至2024年9月底累计完成 30 个，序时应达 40 个，差 10 个"
        "（完成率 60%，序时完成率 75%）；按近三月进度预计11月底达 38 个；此后每月需完成 10 个"
    )
    late = explain(Kind.NOT_REPORTED, cell, plan, "萧山区", date(2024, 10, 1))
    assert late.startswith("萧山区 新增老年助餐服务点：2024年10月进度未按时填报；")
    assert "最近一次填报为截至2024年9月底累计完成 30 个" in late


@pytest.fixture
def world(personas):
    """personas' 助餐 indicator on a 30/60/100% plan, with a contact per office (the other
    indicator is left without quotas so only this one is checked)."""
    p = personas
    percent_plan(p.indicator_a)
    p.indicator_b.quotas.all().delete()
    Contact.objects.create(
        name="萧山区民政局", role=Role.DISTRICT, district=p.district_b, email="xs@example.cn"
    )
    Contact.objects.create(
        name="上城区民政局", role=Role.DISTRICT, district=p.district_a, email="sc@example.cn"
    )
    Contact.objects.create(
        name="市民政局", role=Role.AGENCY, agency=p.agency_a, email="mz@example.cn"
    )
    Contact.objects.create(name="市政府督查室", role=Role.SUPERVISION, email="dcs@example.cn")
    return p


def test_a_district_behind_for_months_escalates_then_resolves_when_it_catches_up(world):
    p = world
    ind = p.indicator_a
    # 上城区 keeps pace; 萧山区 (quota 50) is behind June to August and catches up in September.
    for month, a, b in [(6, 15, 9), (7, 20, 12), (8, 25, 15), (9, 30, 30)]:
        report(ind, p.district_a, f"2024-{month:02d}", a)
        report(ind, p.district_b, f"2024-{month:02d}", b)

    june = check(6)
    a6 = alert(ind, p.district_b, 6)
    assert (a6.severity, a6.status, a6.level) == ("red", Status.OPEN, Level.DISTRICT)  # checkpoint
    assert "未完成「6月底前完成30%」节点" in a6.message
    assert {n.contact.name for n in june.notifications} == {"萧山区民政局", "市民政局"}

    check(7)
    a7 = alert(ind, p.district_b, 7)
    assert (a7.streak, a7.level, a7.status, a7.supervised) == (
        2,
        Level.AGENCY,
        Status.ESCALATED,
        False,
    )
    assert "已连续 2 个月滞后" in a7.message

    august = check(8)
    a8 = alert(ind, p.district_b, 8)
    assert (a8.level, a8.supervised) == (Level.SUPERVISION, True)  # 挂牌督办
    assert "市政府督查室" in {n.contact.name for n in august.notifications}

    september = check(9)
    assert not LagAlert.objects.filter(month=date(2024, 9, 1), kind=Kind.LAG).exists()
    for month in (6, 7, 8):
        closed = alert(ind, p.district_b, month)
        assert closed.status == Status.RESOLVED
        assert closed.closed_in_month == date(2024, 9, 1)
    assert len(september.changes.resolved) == 3
    assert september.notifications == []  # nothing new to tell anyone
    # 上城区 keeps pace with the plan; its straight-line forecast (40 of 50 by November)
    # flags it at risk on the evaluation, but not far enough short for an alert.
    assert not LagAlert.objects.filter(district=p.district_a).exists()


def test_running_a_month_twice_changes_nothing_and_sends_nothing(world):
    p = world
    report(p.indicator_a, p.district_b, "2024-07", 5)
    report(p.indicator_a, p.district_a, "2024-07", 20)
    first = check(7)
    snapshot = list(LagAlert.objects.values().order_by("pk"))
    history = LagAlert.history.count()
    second = check(7)
    assert first.notifications and second.notifications == []
    assert second.changes.created == [] and second.changes.updated == []
    assert list(LagAlert.objects.values().order_by("pk")) == snapshot
    assert LagAlert.history.count() == history
    assert Notification.objects.count() == len(first.notifications)


def test_a_corrected_figure_supersedes_the_alert_it_invalidated(world):
    p = world
    ind = p.indicator_a
    report(ind, p.district_a, "2024-07", 20)
    wrong = report(ind, p.district_b, "2024-07", 2)
    check(7)
    assert alert(ind, p.district_b, 7).status == Status.OPEN
    with time_machine.travel(local(2024, 8, 12, 15), tick=False):
        wrong.value = D(21)
        wrong.is_correction = True
        wrong.correction_reason = "录入时少填一位"
        wrong.save()
    with time_machine.travel(local(2024, 8, 13, 9), tick=False):
        assert stale_months(date(2024, 7, 1)) == [date(2024, m, 1) for m in range(1, 7)] + [
            date(2024, 7, 1)
        ]  # months never checked, and July whose figure changed
        run_due_checks(date(2024, 7, 1))
    superseded = alert(ind, p.district_b, 7)
    assert superseded.status == Status.SUPERSEDED
    assert superseded.closed_in_month == date(2024, 7, 1)
    assert superseded.history.first().status == Status.SUPERSEDED
    with time_machine.travel(local(2024, 8, 14, 9), tick=False):
        assert stale_months(date(2024, 7, 1)) == []


def test_alert_reopens_when_a_correction_makes_it_hold_again(world):
    p = world
    ind = p.indicator_a
    r = report(ind, p.district_b, "2024-07", 2)
    report(ind, p.district_a, "2024-07", 20)
    check(7)
    report(ind, p.district_b, "2024-07", 20)
    check(7)
    assert alert(ind, p.district_b, 7).status == Status.SUPERSEDED
    r.refresh_from_db()
    report(ind, p.district_b, "2024-07", 3)
    again = check(7)
    reopened = alert(ind, p.district_b, 7)
    assert reopened.status == Status.OPEN and reopened.closed_at is None
    assert reopened.revision == 2
    assert {n.contact.name for n in again.notifications} == {"萧山区民政局", "市民政局"}


def test_acknowledging(world):
    p = world
    report(p.indicator_a, p.district_b, "2024-07", 5)
    check(7)
    a = alert(p.indicator_a, p.district_b, 7)
    a.acknowledge(p.district_b_user, "已约谈施工单位")
    a.refresh_from_db()
    assert a.status == Status.ACKNOWLEDGED and a.acknowledged_by == p.district_b_user
    assert a.history.first().history_user == p.district_b_user
    a.status = Status.RESOLVED
    with pytest.raises(ValidationError, match="已解除"):
        a.acknowledge(p.district_b_user)


def test_acknowledged_alert_escalates_on_re_evaluation(world):
    """Acknowledging does not stop escalation when the lag persists."""
    p = world
    for m, v in [(6, 5), (7, 5)]:
        report(p.indicator_a, p.district_b, f"2024-{m:02d}", v)
    check(6)
    check(7)
    a = alert(p.indicator_a, p.district_b, 7)
    a.acknowledge(p.agency_a_user)
    # a re-run with a longer streak is not possible for the same month, so escalate via
    # settings: with the supervision office after 2 months the July alert climbs.
    from django.test import override_settings

    with override_settings(TRACKER={"ESCALATE_TO_SUPERVISION_AFTER": 2}):
        check(7)
    a.refresh_from_db()
    assert (a.status, a.level, a.supervised) == (Status.ESCALATED, Level.SUPERVISION, True)


def test_alerts_are_scoped_like_everything_else(world):
    p = world
    report(p.indicator_a, p.district_a, "2024-07", 1)
    report(p.indicator_a, p.district_b, "2024-07", 1)
    check(7)
    assert LagAlert.objects.for_user(p.supervisor).count() == 2
    assert LagAlert.objects.for_user(p.agency_a_user).count() == 2
    assert LagAlert.objects.for_user(p.agency_b_user).count() == 0
    assert {a.district for a in LagAlert.objects.for_user(p.district_a_user)} == {p.district_a}
    assert LagAlert.objects.for_user(p.outsider).count() == 0


def test_qualitative_milestones_are_checked_after_their_month(world):
    """3月底前确定项目点位: a district that has not marked it done gets an alert; marking
    it done later resolves it."""
    p = world
    milestone = p.project_a.milestones.get(kind="qualitative")
    with time_machine.travel(local(2024, 3, 28, 9), tick=False):
        MilestoneCompletion.objects.create(milestone=milestone, district=p.district_a, done=True)
    with time_machine.travel(local(2024, 4, 6, 9), tick=False):
        assert run_milestone_check(date(2024, 2, 1)) is None  # no milestone in February
        result = run_milestone_check(date(2024, 3, 1))
    [missed] = result.changes.created
    assert missed.district == p.district_b and missed.kind == Kind.MILESTONE
    assert "「3月底前确定项目点位」" in missed.message
    assert {n.contact.name for n in result.notifications} == {"萧山区民政局", "市民政局"}
    with time_machine.travel(local(2024, 5, 6, 9), tick=False):
        MilestoneCompletion.objects.create(milestone=milestone, district=p.district_b, done=True)
        run_milestone_check(date(2024, 3, 1))
    missed.refresh_from_db()
    assert missed.status == Status.RESOLVED


def test_at_risk_alert_when_the_recent_pace_falls_far_short(world):
    """On track in July (19 of 20) but only 2 more since April: about 22 of 50 by
    November. A 提示 alert says so, with the pace still needed; it is not mailed."""
    p = world
    report(p.indicator_a, p.district_b, "2024-04", 17)
    report(p.indicator_a, p.district_b, "2024-07", 19)
    report(p.indicator_a, p.district_a, "2024-07", 20)
    result = check(7)
    risk = alert(p.indicator_a, p.district_b, 7, Kind.AT_RISK)
    assert risk.severity == "info" and risk.forecast == D("21.6667")
    assert risk.message == (
        "萧山区 新增老年助餐服务点：截至2024年7月底累计完成 19 个，序时应达 20 个，目前进度正常；"
        "按近三月进度预计11月底仅达 21.7 个，低于任务数 50 个；此后每月需完成 7.8 个"
    )
    assert result.notifications == []
