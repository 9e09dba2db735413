"""Alert episodes: explanations, one episode per cell and kind through its lifecycle
(open, escalate, resolve, supersede), corrections and late filings that change only
what really changed, milestones, scope."""

from datetime import date
from decimal import Decimal

import pytest
import time_machine
from django.core.exceptions import ValidationError

from tests.lag_helpers import local, percent_plan, report
from tracker.accounts.models import Role
from tracker.choices import LagStatus
from tracker.monitoring.checks import (
    run_due_checks,
    run_due_milestone_checks,
    run_lag_check,
    run_milestone_check,
    stale_months,
)
from tracker.monitoring.episodes import derive_runs, explain
from tracker.monitoring.evaluation import Cell
from tracker.monitoring.models import LagAlert
from tracker.monitoring.rules import Forecast
from tracker.notifications.models import Contact, Delivery, Notification
from tracker.plans.trajectory import IndicatorPlan
from tracker.progress.models import MilestoneCompletion, ProgressReport

D = Decimal
Status, Kind, Level = LagAlert.Status, LagAlert.Kind, LagAlert.Level
QUERIES_PER_CHECK = (  # 33 on SQLite, 31 on PostgreSQL, with 2 or 14 districts (digests: 2
    34  # for shared indicators and districts; evaluation: quotas, reports, last streaks)
)


def check(month: int, **kw):
    """The monthly check as beat runs it: the 6th of the next month, 09:00 Shanghai."""
    with time_machine.travel(local(2024, month + 1, 6, 9), tick=False):
        return run_lag_check(date(2024, month, 1), **kw)


def episode(indicator, district, kind=Kind.LAG):
    """The one episode of a cell and kind that is not superseded."""
    return LagAlert.objects.exclude(status=Status.SUPERSEDED).get(
        indicator=indicator, district=district, kind=kind
    )


def flips(alert):
    return [(f"{f.month:%m}", f.old_status, f.new_status) for f in alert.flips.order_by("pk")]


def catch_up(month: int, day: int, hour: int = 9):
    """The daily catch-up as beat runs it on ``day`` of the month after ``month``."""
    with time_machine.travel(local(2024, month + 1, day, hour), tick=False):
        return run_due_checks(date(2024, month, 1))


def digests():
    return sorted(Notification.objects.values_list("contact__name", flat=True))


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


def test_a_district_behind_for_months_is_one_episode_escalated_then_resolved(world):
    p = world
    ind = p.indicator_a
    # 上城区 keeps pace; 萧山区 (quota 50) is behind June to August and catches up in September.
    for month, a, b in [(6, 15, 9), (7, 20, 12), (8, 25, 15), (9, 30, 30)]:
        report(ind, p.district_a, f"2024-{month:02d}", a)
        report(ind, p.district_b, f"2024-{month:02d}", b)

    june = check(6)
    a = episode(ind, p.district_b)
    assert (a.severity, a.status, a.level, a.month) == ("red", Status.OPEN, 0, date(2024, 6, 1))
    assert "未完成「6月底前完成30%」节点" in a.message
    assert {n.contact.name for n in june.notifications} == {"萧山区民政局", "市民政局"}

    july = check(7)
    a.refresh_from_db()
    assert (a.streak, a.level, a.status, a.supervised) == (2, Level.AGENCY, Status.ESCALATED, False)
    assert (a.month, a.last_month) == (date(2024, 6, 1), date(2024, 7, 1))
    assert "已连续 2 个月滞后" in a.message
    assert {n.contact.name for n in july.notifications} == {"萧山区民政局", "市民政局"}
    assert "预警升级（1 项）" in july.notifications[0].body

    august = check(8)
    a.refresh_from_db()
    assert (a.level, a.supervised) == (Level.SUPERVISION, True)  # 挂牌督办
    assert "市政府督查室" in {n.contact.name for n in august.notifications}

    september = check(9)
    a.refresh_from_db()
    assert (a.status, a.closed_in_month) == (Status.RESOLVED, date(2024, 9, 1))
    assert LagAlert.objects.filter(kind=Kind.LAG).count() == 1  # one episode, not 3 rows
    assert flips(a) == [
        ("06", "", "open"),
        ("07", "open", "escalated"),
        ("08", "escalated", "escalated"),
        ("09", "escalated", "resolved"),
    ]
    # the news of the recovery reaches everyone who heard of the episode, once
    assert {n.contact.name for n in september.notifications} == {
        "萧山区民政局", "市民政局", "市政府督查室",
    }  # fmt: skip
    assert all("已解除（1 项）" in n.body for n in september.notifications)
    assert check(9).notifications == []
    # 上城区 keeps pace with the plan; its straight-line forecast (40 of 50 by November)
    # flags it at risk on the evaluation, but not far enough short for an alert.
    assert not LagAlert.objects.filter(district=p.district_a).exists()


def test_running_a_month_twice_changes_nothing_and_sends_nothing(world):
    p = world
    report(p.indicator_a, p.district_b, "2024-07", 5)
    report(p.indicator_a, p.district_a, "2024-07", 20)
    first = check(7)
    snapshot = list(LagAlert.objects.values().order_by("pk"))
    history, flip_count = LagAlert.history.count(), LagAlert.objects.first().flips.count()
    second = check(7)
    assert first.notifications and second.notifications == []
    assert second.changes.created == [] and second.changes.updated == []
    assert list(LagAlert.objects.values().order_by("pk")) == snapshot
    assert LagAlert.history.count() == history
    assert LagAlert.objects.first().flips.count() == flip_count
    assert Notification.objects.count() == len(first.notifications)


def test_a_correction_of_an_earlier_month_notifies_only_where_the_current_state_changed(world):
    """Scenario 1 of issue 12. 上城区 was behind in April–May and caught up in June (told
    opened, then resolved); 萧山区 is behind in July–August (told, escalated to the lead
    agency). Correcting 上城区's April changes no current state: nobody hears anything and
    the resolved episode is not sent again. Correcting 萧山区's June lengthens its streak
    to 3: only its district, its lead agency and 督查室 (挂牌督办) hear of it."""
    p = world
    ind = p.indicator_a
    # quota 50 each; expected Apr 5, May 10, Jun 15, Jul 20, Aug 25
    a_april = report(ind, p.district_a, "2024-04", 0)
    for month, a, b in [(4, None, 5), (5, 3, 10), (6, 15, 15), (7, 20, 12), (8, 25, 17)]:
        if a is not None:
            report(ind, p.district_a, f"2024-{month:02d}", a)
        report(ind, p.district_b, f"2024-{month:02d}", b)
    for month in range(1, 9):
        check(month)
    shangcheng = episode(ind, p.district_a)
    assert (shangcheng.status, shangcheng.month) == (Status.RESOLVED, date(2024, 4, 1))
    xiaoshan = episode(ind, p.district_b)
    assert (xiaoshan.level, xiaoshan.status) == (Level.AGENCY, Status.ESCALATED)
    before = Notification.objects.count()

    # 1. 上城区 corrects April (0 → 5): its episode now starts in May, still resolved.
    ProgressReport.objects.filter(pk=a_april.pk).update(
        value=5, is_correction=True, reported_at=local(2024, 9, 10, 15)
    )
    results = catch_up(8, 11)
    assert [r.month.month for r in results] == [4, 5, 6, 7, 8]  # re-evaluated from April
    assert Notification.objects.count() == before  # no current state changed: silence
    shangcheng.refresh_from_db()
    assert (shangcheng.status, shangcheng.month) == (Status.RESOLVED, date(2024, 5, 1))
    assert LagAlert.objects.filter(district=p.district_a).count() == 1

    # 2. 萧山区 corrects June (15 → 9, 红 at the checkpoint): August's streak becomes 3.
    ProgressReport.objects.filter(indicator=ind, district=p.district_b, month="2024-06-01").update(
        value=9, is_correction=True, reported_at=local(2024, 9, 11, 15)
    )
    catch_up(8, 12)
    new = Notification.objects.order_by("pk")[before:]
    assert sorted(n.contact.name for n in new) == ["市政府督查室", "市民政局", "萧山区民政局"]
    for n in new:
        assert [a.pk for a in n.alerts.all()] == [xiaoshan.pk]
        assert "预警升级（1 项）" in n.body and "上城区" not in n.body
    xiaoshan.refresh_from_db()
    assert (xiaoshan.month, xiaoshan.level, xiaoshan.supervised) == (
        date(2024, 6, 1), Level.SUPERVISION, True,
    )  # fmt: skip
    assert catch_up(8, 13) == [] and Notification.objects.count() == before + 3


def test_a_late_filing_of_an_earlier_month_resends_nothing(world):
    """萧山区 filed April late: told 未按时填报 in May, told resolved when May came in on
    time. Its late April report re-checks April and May and tells nobody anything."""
    p = world
    ind = p.indicator_a
    for month in (4, 5):
        report(ind, p.district_a, f"2024-{month:02d}", 5 * (month - 3))
    report(ind, p.district_b, "2024-05", 10)
    for month in range(1, 6):
        check(month)
    late = episode(ind, p.district_b, Kind.NOT_REPORTED)
    assert (late.status, late.closed_in_month) == (Status.RESOLVED, date(2024, 5, 1))
    before = Notification.objects.count()
    assert before == 4  # April: district + agency told; May: resolved, told again
    report(ind, p.district_b, "2024-04", 5, filed=local(2024, 6, 10, 10))
    assert [r.month.month for r in catch_up(5, 11)] == [4, 5]
    assert Notification.objects.count() == before
    assert LagAlert.objects.filter(district=p.district_b).count() == 1


def test_deleting_a_report_marks_its_month_stale_and_re_checks_it(world):
    p = world
    ind = p.indicator_a
    for month in (4, 5, 6, 7):
        report(ind, p.district_a, f"2024-{month:02d}", 5 * (month - 3))
        wrong = report(ind, p.district_b, f"2024-{month:02d}", 5 * (month - 3))
    with time_machine.travel(local(2024, 8, 6, 9), tick=False):
        run_due_checks(date(2024, 7, 1))
    assert not LagAlert.objects.filter(district=p.district_b).exists()
    with time_machine.travel(local(2024, 8, 9, 15), tick=False):
        wrong.delete()  # entered in the wrong district's row
        assert stale_months(date(2024, 7, 1)) == [date(2024, 7, 1)]
    catch_up(7, 10)
    missing = episode(ind, p.district_b, Kind.NOT_REPORTED)
    assert missing.is_active and missing.month == date(2024, 7, 1)
    assert {n.contact.name for n in missing.notifications.all()} == {"萧山区民政局", "市民政局"}


def test_a_corrected_figure_supersedes_the_episode_it_invalidated(world):
    p = world
    ind = p.indicator_a
    report(ind, p.district_a, "2024-07", 20)
    wrong = report(ind, p.district_b, "2024-07", 2)
    check(7)
    assert episode(ind, p.district_b).status == Status.OPEN
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
    superseded = LagAlert.objects.get(district=p.district_b, kind=Kind.LAG)
    assert superseded.status == Status.SUPERSEDED
    assert superseded.closed_in_month == date(2024, 7, 1)
    assert superseded.history.first().status == Status.SUPERSEDED
    assert flips(superseded)[-1] == ("07", "open", "superseded")
    # those who were told it opened are told it was withdrawn, once
    withdrawn = Notification.objects.filter(alerts=superseded).order_by("pk")
    assert [n.body.count("已撤销（数据更正）（1 项）") for n in withdrawn] == [0, 0, 1, 1]
    with time_machine.travel(local(2024, 8, 14, 9), tick=False):
        assert stale_months(date(2024, 7, 1)) == []


def test_episodes_are_derived_from_runs_of_problem_months():
    """Not reporting inside a lag run continues it; a report after a not-reported run
    resolves that run and opens a lag episode; a recovery ends the run."""
    from tracker.monitoring.episodes import Row

    months = [date(2024, m, 1) for m in range(1, 8)]
    B, N = LagStatus.BEHIND, LagStatus.NOT_REPORTED
    rows = {
        date(2024, 2, 1): Row(date(2024, 2, 1), B, 1),
        date(2024, 3, 1): Row(date(2024, 3, 1), N, 2),
        date(2024, 4, 1): Row(date(2024, 4, 1), LagStatus.SERIOUSLY_BEHIND, 3),
        date(2024, 6, 1): Row(date(2024, 6, 1), N, 1),
        date(2024, 7, 1): Row(date(2024, 7, 1), B, 2),
    }
    runs = [(r.kind, r.start.month, r.end and r.end.month, r.severity, r.last.streak)
            for r in derive_runs(months, rows)]  # fmt: skip
    assert runs == [
        (Kind.LAG, 2, 5, "red", 3),
        (Kind.NOT_REPORTED, 6, 7, "yellow", 1),
        (Kind.LAG, 7, None, "yellow", 2),
    ]


def test_acknowledging(world):
    p = world
    report(p.indicator_a, p.district_b, "2024-07", 5)
    check(7)
    a = episode(p.indicator_a, p.district_b)
    a.acknowledge(p.district_b_user, "已约谈施工单位")
    a.refresh_from_db()
    assert a.status == Status.ACKNOWLEDGED and a.acknowledged_by == p.district_b_user
    assert a.history.first().history_user == p.district_b_user
    assert flips(a)[-1] == ("07", "open", "acknowledged")
    a.status = Status.RESOLVED
    with pytest.raises(ValidationError, match="已解除"):
        a.acknowledge(p.district_b_user)


def test_acknowledged_episode_escalates_on_re_evaluation(world):
    """Acknowledging does not stop escalation when the lag persists."""
    p = world
    for m, v in [(6, 5), (7, 5)]:
        report(p.indicator_a, p.district_b, f"2024-{m:02d}", v)
    check(6)
    check(7)
    a = episode(p.indicator_a, p.district_b)
    a.acknowledge(p.agency_a_user)
    # with the supervision office after 2 months the episode climbs on a re-run
    from django.test import override_settings

    with override_settings(TRACKER={"ESCALATE_TO_SUPERVISION_AFTER": 2}):
        rerun = check(7)
    a.refresh_from_db()
    assert (a.status, a.level, a.supervised) == (Status.ESCALATED, Level.SUPERVISION, True)
    assert "市政府督查室" in {n.contact.name for n in rerun.notifications}


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


def test_open_as_of_counts_episodes_open_at_the_end_of_a_month(world):
    p = world
    ind = p.indicator_a
    for month, b in [(6, 9), (7, 12), (8, 25)]:
        report(ind, p.district_a, f"2024-{month:02d}", 5 * (month - 3))
        report(ind, p.district_b, f"2024-{month:02d}", b)
    for month in (6, 7, 8):
        check(month)
    counts = [LagAlert.objects.open_as_of(date(2024, m, 1)).count() for m in (5, 6, 7, 8)]
    assert counts == [0, 1, 1, 0]  # one episode, open June and July, resolved in August


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


def _milestone_state():
    return sorted(
        LagAlert.objects.filter(kind=Kind.MILESTONE).values_list(
            "indicator_id", "district_id", "month", "status", "message"
        )
    )


def test_catch_up_after_an_outage_raises_the_same_milestone_alerts(world):
    """Scenario 4 of issue 12: beat on time on 6 April vs. workers down until the daily
    catch-up of 20 May. 上城区 marks the 3月 milestone done on 10 April (after the
    scheduled check): both ways its miss is raised as of 6 April and resolved since, and
    萧山区's is open."""
    p = world
    milestone = p.project_a.milestones.get(kind="qualitative")
    with time_machine.travel(local(2024, 4, 10, 9), tick=False):
        MilestoneCompletion.objects.create(milestone=milestone, district=p.district_a, done=True)

    with time_machine.travel(local(2024, 4, 6, 9), tick=False):
        run_due_milestone_checks(date(2024, 3, 1))  # on time
    with time_machine.travel(local(2024, 5, 20, 9, 30), tick=False):
        run_due_milestone_checks(date(2024, 4, 1))  # the daily catch-ups since
    punctual = _milestone_state()
    told = digests()
    # still missed in April, its second month: raised to the lead agency (issue 30)
    assert [(s[3]) for s in punctual] == [Status.RESOLVED, Status.ESCALATED]

    LagAlert.objects.all().delete()
    Notification.objects.all().delete()
    from tracker.monitoring.models import LagRun

    LagRun.objects.all().delete()
    with time_machine.travel(local(2024, 5, 20, 9, 30), tick=False):
        results = run_due_milestone_checks(date(2024, 4, 1))  # first run after the outage
    assert [r.month.month for r in results] == [3, 3]  # as of 6 April, then as of now
    assert _milestone_state() == punctual
    # after the outage people hear the current state once: 上城区's miss was made up
    # before anyone could be told, so only 萧山区 and the agency hear of 萧山区's
    # 萧山区 hears twice: the miss (6 April), then its escalation (still missed in April)
    assert told == ["上城区民政局", "上城区民政局", "市民政局", "市民政局", "萧山区民政局",
                    "萧山区民政局"]  # fmt: skip
    assert digests() == ["市民政局", "萧山区民政局"]


def test_at_risk_episode_when_the_recent_pace_falls_far_short(world):
    """On track in July (19 of 20) but only 2 more since April: about 22 of 50 by
    November. A 提示 episode says so, with the pace still needed; it is not mailed."""
    p = world
    report(p.indicator_a, p.district_b, "2024-04", 17)
    report(p.indicator_a, p.district_b, "2024-07", 19)
    report(p.indicator_a, p.district_a, "2024-07", 20)
    result = check(7)
    risk = episode(p.indicator_a, p.district_b, Kind.AT_RISK)
    assert risk.severity == "info" and risk.forecast == D("21.6667")
    assert risk.message == (
        "萧山区 新增老年助餐服务点：截至2024年7月底累计完成 19 个，序时应达 20 个，目前进度正常；"
        "按近三月进度预计11月底仅达 21.7 个，低于任务数 50 个；此后每月需完成 7.8 个"
    )
    assert result.notifications == []
    assert not Delivery.objects.exists()


@pytest.mark.parametrize("extra", [0, 12])
def test_a_check_makes_the_same_queries_whatever_the_number_of_districts(
    world, extra, django_assert_max_num_queries
):
    """Set-based: evaluating, syncing episodes (with flips and history) and recording
    digests take a fixed number of statements, not one per cell."""
    from tests.lag_helpers import add_districts

    p = world
    for d in [p.district_a, p.district_b, *add_districts(p.indicator_a, extra)]:
        Contact.objects.create(name=f"{d.name}办", role=Role.DISTRICT, district=d, email="x@x.cn")
        report(p.indicator_a, d, "2024-07", 2)  # all behind: one episode each
    with django_assert_max_num_queries(QUERIES_PER_CHECK):
        result = check(7)
    assert len(result.changes.created) == 2 + extra
    # one digest per district contact (the world's two and one each here), one for the agency
    assert Notification.objects.count() == Contact.objects.filter(role=Role.DISTRICT).count() + 1
