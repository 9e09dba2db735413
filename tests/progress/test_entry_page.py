"""本月填报 (tracker.dashboard.entry): one page for a district's (or an agency's) month.

Time is pinned to 20 November 2024 (Asia/Shanghai): November is being reported (October's
deadline passed on the 5th), due 5 December; January–November may be entered, December not.
"""

from datetime import date
from decimal import Decimal

import pytest
import time_machine

from tests.factories import IndicatorFactory, MilestoneFactory, ProjectFactory, QuotaFactory
from tracker.progress.models import CellReview, MilestoneCompletion, MonthSubmission, ProgressReport
from tracker.progress.writes import Entry, submit

NOV_20 = "2024-11-20 10:00:00+08:00"


@pytest.fixture(autouse=True)
def _november():
    with time_machine.travel(NOV_20, tick=False):
        yield


def page(client, user, path="/report/2024-11/"):
    client.force_login(user)
    return client.get(path)


def body(response) -> str:
    return response.content.decode()


def test_report_sends_to_the_month_being_reported(client, personas):
    response = page(client, personas.district_a_user, "/report/")
    assert response.status_code == 302
    assert response["Location"] == "/report/2024-11/"


def test_district_sees_its_own_cells_with_deadline_and_plan_months(client, personas):
    p = personas
    submit(p.district_a_user, [Entry(p.indicator_a.pk, p.district_a.pk, "2024-10", "20")])
    response = page(client, p.district_a_user)
    html = body(response)
    assert response.status_code == 200
    assert "2024年11月，12月5日前报送" in html
    assert "还剩 15 天" in html
    assert f'id="c-{p.indicator_a.pk}-{p.district_a.pk}"' in html
    assert f'id="c-{p.indicator_b.pk}-{p.district_a.pk}"' in html
    assert f'id="c-{p.indicator_a.pk}-{p.district_b.pk}"' not in html  # 萧山区's is not ours
    assert f'name="value-{p.indicator_b.pk}-{p.district_b.pk}"' not in html
    # months offered as plan months (Jan–Nov), never a browser month picker
    months = response.context["enterable"]
    assert [m for m, _, _ in months] == [f"2024-{n:02d}" for n in range(11, 0, -1)]
    assert 'type="month"' not in html
    row = next(r for r in response.context["sheet"].rows if r.indicator == p.indicator_a)
    assert row.previous == Decimal(20) and row.quota == Decimal(50)
    assert row.expected is not None


def test_all_or_nothing_with_the_bad_row_named(client, personas):
    p = personas
    client.force_login(p.district_a_user)
    a, b = f"{p.indicator_a.pk}-{p.district_a.pk}", f"{p.indicator_b.pk}-{p.district_a.pk}"
    data = {f"value-{a}": "12", f"version-{a}": "0", f"value-{b}": "十二", f"version-{b}": "0"}
    response = client.post("/report/2024-11/", data)
    html = body(response)
    assert response.status_code == 400
    assert ProgressReport.objects.count() == 0  # the good row was not written either
    assert "全部未保存" in html
    assert f"「{p.indicator_b.label}」（上城区）：「十二」不是数字" in html
    row = next(r for r in response.context["sheet"].rows if r.indicator == p.indicator_b)
    assert (
        row.errors
        and not next(
            r for r in response.context["sheet"].rows if r.indicator == p.indicator_a
        ).errors
    )
    assert 'value="十二"' in html  # what was typed is kept

    data[f"value-{b}"] = "7"
    response = client.post("/report/2024-11/", data)
    assert response.status_code == 302
    saved = {r.indicator_id: r.value for r in ProgressReport.objects.all()}
    assert saved == {p.indicator_a.pk: Decimal(12), p.indicator_b.pk: Decimal(7)}
    history = ProgressReport.history.filter(indicator=p.indicator_a).first()
    assert history.history_user == p.district_a_user
    assert history.history_change_reason == "本月填报"


def test_lead_agency_sees_its_projects_and_filters_by_project(client, personas):
    p = personas
    other = ProjectFactory(seq=3, name="老旧小区加装电梯", lead_agency=p.agency_a)
    lift = IndicatorFactory(project=other, label="加装电梯")
    QuotaFactory(indicator=lift, district=p.district_b, value=Decimal(8))
    response = page(client, p.agency_a_user)
    keys = {(r.indicator, r.district) for r in response.context["sheet"].rows}
    assert keys == {
        (p.indicator_a, p.district_a),
        (p.indicator_a, p.district_b),
        (lift, p.district_b),
    }  # 卫健委's indicator_b is not 民政局's
    response = client.get("/report/2024-11/?project=3")
    assert [(r.indicator, r.district) for r in response.context["sheet"].rows] == [
        (lift, p.district_b)
    ]
    assert client.get("/report/2024-11/?project=2").status_code == 404  # 卫健委's project


def test_supervisor_picks_a_district(client, personas):
    p = personas
    response = page(client, p.supervisor)
    assert "请先选择区、县(市)或牵头单位" in body(response)
    response = client.get("/report/2024-11/?district=xiaoshan")
    assert {r.district for r in response.context["sheet"].rows} == {p.district_b}


def test_future_month_refused_and_nothing_written(client, personas):
    p = personas
    response = page(client, p.district_a_user, "/report/2024-12/")
    assert response.status_code == 404
    assert "不能填报2024年12月" in body(response)
    key = f"{p.indicator_a.pk}-{p.district_a.pk}"
    response = client.post("/report/2024-12/", {f"value-{key}": "5", f"version-{key}": "0"})
    assert response.status_code == 404
    assert not ProgressReport.objects.exists()


def test_locked_cell_is_read_only(client, personas):
    p = personas
    submit(p.district_a_user, [Entry(p.indicator_a.pk, p.district_a.pk, "2024-11", "9")])
    submission = MonthSubmission.objects.create(district=p.district_a, month=date(2024, 11, 1))
    CellReview.objects.create(
        submission=submission,
        indicator=p.indicator_a,
        district=p.district_a,
        month=date(2024, 11, 1),
        state="approved",
        locked=True,
    )
    response = page(client, p.district_a_user)
    html = body(response)
    key = f"{p.indicator_a.pk}-{p.district_a.pk}"
    assert f'name="value-{key}"' not in html and "已审核锁定" in html
    other = f"{p.indicator_b.pk}-{p.district_a.pk}"
    response = client.post(
        "/report/2024-11/",
        {f"value-{key}": "30", f"value-{other}": "4", f"version-{other}": "0"},
    )
    # A value forged for the locked row is refused in Chinese (issue 30), and the page
    # writes all or nothing: the other row is not saved either.
    assert response.status_code == 400
    assert "已审核并锁定，不能修改" in body(response)
    assert ProgressReport.objects.get(indicator=p.indicator_a).value == Decimal(9)  # untouched
    assert not ProgressReport.objects.filter(indicator=p.indicator_b).exists()
    response = client.post("/report/2024-11/", {f"value-{other}": "4", f"version-{other}": "0"})
    assert response.status_code == 302
    assert ProgressReport.objects.get(indicator=p.indicator_b).value == Decimal(4)


def test_milestone_of_the_month_recorded_with_the_numbers(client, personas):
    p = personas
    milestone = MilestoneFactory(
        project=p.project_a, due_date=date(2024, 11, 30), kind="qualitative", text="完成验收"
    )
    response = page(client, p.district_a_user)
    rows = response.context["sheet"].milestones
    assert [(r.milestone, r.district) for r in rows] == [(milestone, p.district_a)]
    mkey = f"{milestone.pk}-{p.district_a.pk}"
    nkey = f"{p.indicator_a.pk}-{p.district_a.pk}"
    data = {f"done-{mkey}": "on", f"date-{mkey}": "2024-12-01", f"value-{nkey}": "3"}
    response = client.post("/report/2024-11/", data)  # a completion date in the future
    assert response.status_code == 400
    assert "不能晚于今天" in body(response)
    assert not ProgressReport.objects.exists() and not MilestoneCompletion.objects.exists()
    data[f"date-{mkey}"] = "2024-11-18"
    assert client.post("/report/2024-11/", data).status_code == 302
    completion = MilestoneCompletion.objects.get()
    assert completion.done and completion.done_on == date(2024, 11, 18)
    assert ProgressReport.objects.get().value == Decimal(3)


def test_page_query_count_is_bounded(client, personas, django_assert_max_num_queries):
    p = personas
    for n in range(4, 12):
        project = ProjectFactory(seq=n, lead_agency=p.agency_a, category=p.project_a.category)
        indicator = IndicatorFactory(project=project)
        for district in (p.district_a, p.district_b):
            QuotaFactory(indicator=indicator, district=district, value=Decimal(10))
        MilestoneFactory(project=project, due_date=date(2024, 11, 30), kind="qualitative")
    client.force_login(p.agency_a_user)
    with django_assert_max_num_queries(26):
        response = client.get("/report/2024-11/")
    assert len(response.context["sheet"].rows) == 18
    assert len(response.context["sheet"].milestones) == 16


def test_a_district_cannot_switch_to_another_district(client, personas):
    p = personas
    response = page(client, p.district_a_user, "/report/2024-11/?district=xiaoshan&agency=1")
    assert {r.district for r in response.context["sheet"].rows} == {p.district_a}
    other = f"{p.indicator_a.pk}-{p.district_b.pk}"  # 萧山区's cell, posted by hand
    response = client.post("/report/2024-11/?district=xiaoshan", {f"value-{other}": "5"})
    assert response.status_code == 400  # nothing of its own typed: 没有填写任何数值
    assert "没有填写任何数值" in body(response)
    assert not ProgressReport.objects.exists()


def test_a_target_in_wan_says_how_to_type_it(client, personas):
    p = personas
    project = ProjectFactory(seq=7, lead_agency=p.agency_a, category=p.project_a.category)
    people = IndicatorFactory(
        project=project, label="新增参保人数", unit="人", target_value=Decimal(250000),
        target_text="25万人",
    )  # fmt: skip
    QuotaFactory(indicator=people, district=p.district_a, value=Decimal(170000))
    html = body(page(client, p.district_a_user))
    assert "17 万人" in html  # 任务数 as the plan prints it
    assert "按“人”填写，也可写「17万」" in html
    key = f"{people.pk}-{p.district_a.pk}"
    response = client.post("/report/2024-11/", {f"value-{key}": "12万", f"version-{key}": "0"})
    assert response.status_code == 302
    assert ProgressReport.objects.get(indicator=people).value == Decimal(120000)


def test_supervisor_picks_an_agency_then_a_project(client, personas):
    p = personas
    client.force_login(p.supervisor)
    html = body(client.get("/report/2024-11/"))
    assert '<select name="district"' in html and '<select name="agency"' in html
    response = client.get(f"/report/2024-11/?agency={p.agency_b.pk}")
    rows = response.context["sheet"].rows
    assert {r.indicator for r in rows} == {p.indicator_b}
    assert f'<input type="hidden" name="agency" value="{p.agency_b.pk}">' in body(response)
    response = client.get(f"/report/2024-11/?agency={p.agency_b.pk}&project=2")
    assert len(response.context["sheet"].rows) == 2


def test_page_queries_do_not_grow_with_rows(client, personas):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    p = personas
    client.force_login(p.agency_a_user)

    def count():
        with CaptureQueriesContext(connection) as queries:
            response = client.get("/report/2024-11/")
        return len(queries), len(response.context["sheet"].all_rows)

    def add(seq):
        project = ProjectFactory(seq=seq, lead_agency=p.agency_a, category=p.project_a.category)
        indicator = IndicatorFactory(project=project)
        for district in (p.district_a, p.district_b):
            QuotaFactory(indicator=indicator, district=district, value=Decimal(10))
        MilestoneFactory(project=project, due_date=date(2024, 11, 30), kind="qualitative")

    add(4)
    small, small_rows = count()
    for seq in range(5, 10):
        add(seq)
    large, large_rows = count()
    assert large_rows > small_rows * 2
    assert large == small
