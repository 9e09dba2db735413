"""序号11 (「青荷礼包」, issue 30): its only milestone is due in March and nobody marks it
done. The March check raises it red; it is red on the overview (a qualitative project,
badge 定性), in the matrix's and 我的待办's lists and in the notice; and the schedule
escalates it month after month like a lag streak — the lead agency in April, 督查室 with
挂牌督办 in May — until it is marked done. Time is pinned to each scheduled check."""

import io
from datetime import date

import time_machine
from django.urls import reverse
from openpyxl import load_workbook

from tests.factories import make_user
from tracker.accounts.models import Role
from tracker.choices import LagStatus
from tracker.monitoring.checks import milestone_due_at, run_catch_up
from tracker.monitoring.models import LagAlert
from tracker.plans.models import Milestone, Project
from tracker.plans.reference import District
from tracker.progress.models import MilestoneCompletion
from tracker.reporting.notice import notice
from tracker.reporting.notice_files import notice_workbook
from tracker.reporting.overview import overview

MARCH, APRIL, MAY = date(2024, 3, 1), date(2024, 4, 1), date(2024, 5, 1)


def scheduled(month):
    """The beat's monthly check of ``month``, at the time it runs."""
    with time_machine.travel(milestone_due_at(month), tick=False):
        run_catch_up(month)


def gift_alert() -> LagAlert:
    return LagAlert.objects.get(kind=LagAlert.Kind.MILESTONE, indicator__project__seq=11)


def test_seq_11_missed_march_milestone_is_red_everywhere_and_escalates(plan_2024, client):
    gift = Project.objects.get(plan_year=plan_2024, seq=11)
    scheduled(MARCH)
    alert = gift_alert()
    assert alert.district == District.objects.get(code="shibenji")  # a city-wide target
    assert (alert.severity, alert.level, alert.supervised) == ("red", 0, False)
    assert "3月底前完成实施细则制定" in alert.message

    projects = {p.seq: p for p in overview(None, MARCH).projects}
    assert projects[11].status == LagStatus.SERIOUSLY_BEHIND  # not grey 未到节点
    assert (projects[11].missed_milestones, projects[11].kind_label) == (1, "定性")
    assert projects[1].kind_label == "量化"
    listed = [a for a in notice(MARCH).missed_milestones if a.indicator.project.seq == 11]
    assert listed == [alert]  # (nobody filed anything: every March milestone is missed)

    client.force_login(make_user("duchashi", Role.SUPERVISION))
    for page, args in (("overview", []), ("notice", ["2024-03"]), ("matrix", []), ("my_work", [])):
        html = client.get(reverse(f"dashboard:{page}", args=args), {"month": "2024-03"})
        html = html.content.decode()
        if page == "overview":
            assert 'data-seq="11" data-status="seriously_behind"' in html
        else:
            assert 'id="missed-milestones"' in html and 'data-seq="11"' in html, page
    assert "定性目标，按节点检查" in client.get("/", {"month": "2024-03"}).content.decode()

    scheduled(APRIL)  # still missed: its second month, raised to the lead agency
    alert.refresh_from_db()
    assert (alert.streak, alert.level, alert.status) == (2, 1, LagAlert.Status.ESCALATED)
    scheduled(MAY)  # third month: 督查室, 挂牌督办
    alert.refresh_from_db()
    assert (alert.streak, alert.level, alert.supervised) == (3, 2, True)
    assert [f.why for f in alert.flips.order_by("at", "pk")] == [
        "节点未按时完成", "升级至牵头单位", "挂牌督办"
    ]  # fmt: skip

    milestone = Milestone.objects.get(project=gift)
    with time_machine.travel(milestone_due_at(MAY), tick=False):
        MilestoneCompletion.objects.create(milestone=milestone, district=alert.district, done=True)
    scheduled(date(2024, 6, 1))
    alert.refresh_from_db()
    assert alert.status == LagAlert.Status.RESOLVED
    projects = {p.seq: p for p in overview(None, date(2024, 6, 1)).projects}
    assert projects[11].status == LagStatus.NOT_DUE and projects[11].missed_milestones == 0


def test_the_notice_workbook_lists_the_missed_milestone(plan_2024):
    scheduled(MARCH)
    sheet = load_workbook(io.BytesIO(notice_workbook(notice(MARCH)))).active
    rows = [r for r in sheet.iter_rows(values_only=True) if r[0] == 11 and r[2] == "市本级"]
    assert rows and "3月底前完成实施细则制定" in rows[0][4] and rows[0][5] == 1
