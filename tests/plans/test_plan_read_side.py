"""Issue 16, the read side: the dashboard, API, lag check, simulate_year and the notice
work for any loaded plan, picked by plan (issuer and year) where more than one exists.

Plans used (written here and in tests/plans/test_plan_columns.py, loaded beside 2024):
- 西湖区人民政府's own 2024 plan over its 街道 (a merged column 「西溪、灵隐」 sharing one
  number, a target ending in September in a project ending in November);
- the same 区's 2025 plan with its columns printed in the reverse order;
- the city's 2025 plan with 西湖风景名胜区 relabelled, 建德市 dropped, a 开发区 added.
"""

import copy
import re
from datetime import date, datetime
from decimal import Decimal

import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from tests.factories import make_user
from tests.lag_helpers import local, report
from tests.plan_helpers import city_plan_2025, district_plan
from tracker.accounts.models import Role
from tracker.choices import LagStatus
from tracker.monitoring.evaluation import evaluate_month
from tracker.monitoring.models import LagEvaluation
from tracker.plans.integrity import Check, check_plan
from tracker.plans.loader import load_plan
from tracker.plans.models import Indicator, Quota
from tracker.plans.reference import District, PlanYear
from tracker.plans.trajectory import expected_curve, load_indicator_plans
from tracker.plans.units import city_unit_id, plan_columns, sort_units, unit_order
from tracker.progress import due
from tracker.progress.writes import milestone_districts
from tracker.reporting.matrix import matrix as read_matrix
from tracker.reporting.notice import notice as read_notice
from tracker.reporting.overview import overview as read_overview
from tracker.reporting.ranking import ranking as read_ranking

S = LagStatus
XIHU = "西湖区人民政府"
DISTRICT_LABELS = ["北山街道", "西溪、灵隐", "三墩镇", "紫金港科技城"]


def at(*args):
    return time_machine.travel(timezone.make_aware(datetime(*args)), tick=False)


def reversed_district_plan_2025() -> dict:
    """西湖区's 2025 plan: the same units, printed in the reverse order."""
    data = district_plan()
    data["plan_year"] = 2025
    data["districts"] = list(reversed(data["districts"]))
    for p in data["projects"]:
        if "deadline" in p:
            p["deadline"] = p["deadline"].replace("2024", "2025")
        for m in p.get("milestones") or []:
            m["due"] = m["due"].replace("2024", "2025")
        for ind in p["indicators"]:
            if "deadline" in ind:
                ind["deadline"] = ind["deadline"].replace("2024", "2025")
            if ind.get("quotas"):
                ind["quotas"] = list(reversed(ind["quotas"]))
    return data


def main_html(response) -> str:
    """The page's content (the header's plan and month pickers aside)."""
    html = response.content.decode()
    main = re.search(r"<main>.*</main>", html, re.S).group(0)
    # links and the matrix's filter form keep the picked plan once a year has two plans
    main = re.sub(r"(&amp;|&)plan=\d+", "", main)
    return re.sub(r'<input type="hidden" name="plan" value="\d+">', "", main)


def labels(matrix) -> list[str]:
    return [d.column_label or d.name for d in matrix.districts]


@pytest.fixture
def supervisor(db):
    return make_user("duchashi", Role.SUPERVISION)


@pytest.fixture
def xihu_plan(plan_2024):
    return load_plan(district_plan()).plan_year


def units(*codes):
    return [District.objects.get(code=c) for c in codes]


# --- one helper for a plan's units ----------------------------------------------------


def test_each_plan_orders_its_own_units(plan_2024, plan_2024_data):
    xihu_2024 = load_plan(district_plan()).plan_year
    xihu_2025 = load_plan(reversed_district_plan_2025()).plan_year
    city_2025 = load_plan(city_plan_2025(plan_2024_data)).plan_year
    four = units("xh-sandun", "xh-beishan", "xh-zjg", "xh-xixi")

    assert [c.label for c in plan_columns(xihu_2024)] == DISTRICT_LABELS
    assert [c.label for c in plan_columns(xihu_2025)] == list(reversed(DISTRICT_LABELS))
    assert [d.code for d in sort_units(unit_order(xihu_2024), four)] == [
        "xh-beishan", "xh-xixi", "xh-sandun", "xh-zjg"
    ]  # fmt: skip
    assert [d.code for d in sort_units(unit_order(xihu_2025), four)] == [
        "xh-zjg", "xh-sandun", "xh-xixi", "xh-beishan"
    ]  # fmt: skip
    # the 市本级 column is the plan's: the 区 plans have none
    shibenji = District.objects.get(code="shibenji")
    assert city_unit_id(plan_2024) == shibenji.pk == city_unit_id(city_2025)
    assert city_unit_id(xihu_2024) is None

    # who reports a milestone, and what is due, in the plan's order
    project = xihu_2025.projects.get(seq=1)
    reporting = [d.code for d in milestone_districts(project)]
    assert reporting == ["xh-zjg", "xh-sandun", "xh-xixi", "xh-beishan"]
    first = Indicator.objects.get(project=project, order=1)
    cells = [d for i, d in due.due_cells(date(2025, 3, 1)) if i == first.pk]
    assert cells == [d.pk for d in units("xh-zjg", "xh-sandun", "xh-xixi", "xh-beishan")]
    # the city's 2025 city-wide targets are due on its own 市本级; 建德市 owes nothing
    due_2025 = due.due_cells(date(2025, 3, 1))
    jiande = District.objects.get(code="jiande")
    assert not [c for c in due_2025 if c[1] == jiande.pk]
    city_wide = Indicator.objects.filter(project__plan_year=city_2025, scope="city").exclude(
        kind="qualitative"
    )
    assert city_wide.exists()
    assert all((i.pk, shibenji.pk) in due_2025 for i in city_wide)


# --- the per-target deadline ------------------------------------------------------------


def test_a_target_ending_in_september_is_overdue_in_october_while_its_sibling_is_not(
    xihu_plan,
):
    """序号1 of the 区 plan ends in November; its second target (助餐服务 1000人次,
    only 西溪、灵隐) ends in September: October finds that one 逾期未完成."""
    first = Indicator.objects.get(project__plan_year=xihu_plan, project__seq=1, order=1)
    second = Indicator.objects.get(project__plan_year=xihu_plan, project__seq=1, order=2)
    assert (first.due, second.due) == (date(2024, 11, 30), date(2024, 9, 30))
    xixi, beishan = units("xh-xixi", "xh-beishan")

    plans = load_indicator_plans(xihu_plan)
    curve = expected_curve(plans[second.pk])  # the pace curve reaches 1000 by September
    assert curve[8].value == 1000 and curve[8].is_checkpoint
    assert expected_curve(plans[first.pk])[8].value < 10  # November's target: not yet

    report(second, xixi, "2024-10", 900)
    report(first, xixi, "2024-10", 3)
    report(first, beishan, "2024-10", 2)
    october = evaluate_month(date(2024, 10, 1), as_of=local(2024, 11, 6, 9), plan_year=xihu_plan)
    assert october.cell(second.pk, xixi.pk).status == S.OVERDUE
    assert october.cell(first.pk, xixi.pk).status != S.OVERDUE
    assert october.cell(first.pk, beishan.pk).status != S.OVERDUE
    september = evaluate_month(date(2024, 9, 1), as_of=local(2024, 10, 6, 9), plan_year=xihu_plan)
    assert september.cell(second.pk, xixi.pk).status != S.OVERDUE  # due by its end, not past


# --- simulate_year and check_lag for another plan ------------------------------------------


def test_simulate_and_check_a_district_plan_beside_the_city_plan(plan_2024, plan_2024_data):
    load_plan(city_plan_2025(plan_2024_data))
    xihu_2025 = load_plan(reversed_district_plan_2025()).plan_year
    with at(2025, 4, 20, 12):
        call_command(
            "simulate_year", "2025", "--issuer", XIHU, "--through", "2025-03", "--quiet"
        )  # fmt: skip
        mine = LagEvaluation.objects.filter(indicator__project__plan_year=xihu_2025)
        assert set(mine.values_list("month", flat=True)) == {date(2025, m, 1) for m in (1, 2, 3)}
        assert set(mine.values_list("district__code", flat=True)) == {
            "xh-zjg",
            "xh-sandun",
            "xh-xixi",
            "xh-beishan",
        }  # fmt: skip

        out = _call("check_lag", "--month", "2025-03", "--issuer", XIHU)
        assert f"计划：{xihu_2025}" in out
        assert "新增老年助餐点" in out and "新增老年助餐服务点" not in out  # the city's seq 1
        with pytest.raises(CommandError, match="尚未载入 某某区人民政府 2025 年度计划"):
            _call("check_lag", "--month", "2025-03", "--issuer", "某某区人民政府")
        with pytest.raises(CommandError, match="尚未载入 某某区人民政府 2025 年度计划"):
            call_command("simulate_year", "2025", "--issuer", "某某区人民政府", "--quiet")


def _call(*args) -> str:
    from io import StringIO

    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


# --- the dashboard and API pick a plan ------------------------------------------------------


@pytest.fixture
def checked_2024(plan_2024, supervisor, client):
    """March 2024 checked with the city's plan alone; the pages as they were."""
    with at(2024, 4, 10, 12):
        call_command("check_lag", "--month", "2024-03")
        client.force_login(supervisor)
        pages = {
            name: main_html(client.get(reverse(f"dashboard:{name}"), {"month": "2024-03"}))
            for name in ("overview", "matrix", "ranking")
        }
    return pages


def test_2024_pages_unchanged_and_the_district_plan_picked_by_issuer(
    checked_2024, client, supervisor, django_assert_max_num_queries
):
    xihu = load_plan(district_plan()).plan_year
    xixi, beishan = units("xh-xixi", "xh-beishan")
    first = Indicator.objects.get(project__plan_year=xihu, project__seq=1, order=1)
    report(first, xixi, "2024-03", 1)
    report(first, beishan, "2024-03", 1)
    with at(2024, 4, 10, 12):
        call_command("check_lag", "--month", "2024-03")  # both 2024 plans, one month
        assert LagEvaluation.objects.filter(indicator__project__plan_year=xihu).exists()
        client.force_login(supervisor)
        for name, before in checked_2024.items():  # the city's plan is still the default
            response = client.get(reverse(f"dashboard:{name}"), {"month": "2024-03"})
            assert main_html(response) == before, name
            assert response.context["plan_choice"].many
        matrix_2024 = client.get(reverse("dashboard:matrix"), {"month": "2024-03"})
        assert labels(matrix_2024.context["matrix"])[-2:] == ["建德市", "杭州西湖风景名胜区"]

        # 12, and 督查室's header count of deliveries that need a person (issue 31)
        with django_assert_max_num_queries(13):
            response = client.get(reverse("dashboard:matrix"), {"month": "2024-03", "issuer": XIHU})
        m = response.context["matrix"]
        assert response.context["plan"] == xihu
        assert labels(m) == DISTRICT_LABELS  # the 区 plan's columns, in its order
        html = response.content.decode()
        assert html.count(">西溪、灵隐</a>") == 1 and "灵隐街道</a>" not in html
        assert f'<option value="{xihu.pk}" selected>{XIHU} 2024年</option>' in html

        by_id = client.get(reverse("dashboard:overview"), {"plan": xihu.pk})
        assert by_id.context["month"] == date(2024, 3, 1)  # its latest checked month
        assert "西湖区人民政府 2024年民生实事项目总览" in by_id.content.decode()
        assert f"/projects/1/?month=2024-03&amp;plan={xihu.pk}" in by_id.content.decode()
        project = client.get(reverse("dashboard:project", args=[1]), {"plan": xihu.pk})
        assert project.context["project"].plan_year == xihu  # not the city's 序号1
        assert labels(project.context["matrix"]) == DISTRICT_LABELS
        assert [p.name for p in by_id.context["overview"].projects] == [
            "新增老年助餐点10个，助餐服务1000人次", "开展老年人防诈骗宣传"
        ]  # fmt: skip
        ranking = client.get(reverse("dashboard:ranking"), {"month": "2024-03", "plan": xihu.pk})
        ranked = {r.district.code for r in ranking.context["rows"]}
        assert ranked == {"xh-beishan", "xh-xixi", "xh-sandun", "xh-zjg"}  # 灵隐: in 西溪's row
        notice = client.get(reverse("dashboard:notice", args=["2024-03"]), {"plan": xihu.pk})
        assert notice.context["notice"].indicators == 2  # the 区 plan's two numeric targets
        assert [r.district.code for r in notice.context["notice"].ranking] == [
            r.district.code for r in ranking.context["rows"]
        ]
        assert "淳安县" not in main_html(notice)
        xlsx = client.get(reverse("dashboard:notice_xlsx", args=["2024-03"]), {"plan": xihu.pk})
        assert xlsx.status_code == 200
        assert client.get(reverse("dashboard:matrix"), {"plan": "999999"}).status_code == 404
        wrong_year = client.get(reverse("dashboard:matrix"), {"month": "2023-03", "issuer": XIHU})
        assert wrong_year.status_code == 404


def test_a_merged_column_is_one_number_on_the_dashboard_and_in_the_api(
    xihu_plan, supervisor, client
):
    first = Indicator.objects.get(project__plan_year=xihu_plan, project__seq=1, order=1)
    xixi, lingyin = units("xh-xixi", "xh-lingyin")
    report(first, xixi, "2024-03", 2)
    with at(2024, 4, 10, 12):
        call_command("check_lag", "--month", "2024-03")
        client.force_login(supervisor)
        m = client.get(reverse("dashboard:matrix"), {"month": "2024-03", "plan": xihu_plan.pk})
        matrix = m.context["matrix"]
        row = next(r for r in matrix.rows if r.indicator.pk == first.pk)
        shared = [c for c in row.cells if c is not None and c.district_id == xixi.pk]
        assert len(shared) == 1 and shared[0].quota == 4  # one number, not 4 × 2
        assert lingyin.pk not in [d.pk for d in matrix.districts]

        page = client.get(
            reverse("dashboard:district", args=["xh-lingyin"]), {"plan": xihu_plan.pk}
        )
        assert (
            "「西溪、灵隐」为合并列：西溪街道、灵隐街道共同承担一个任务数，任务数和进度记在西溪街道名下"
            in (page.content.decode())
        )

    api = APIClient()
    api.force_authenticate(supervisor)
    quotas = api.get("/api/v1/quotas/", {"indicator": first.pk}).json()["results"]
    assert [q["column_label"] for q in quotas] == DISTRICT_LABELS  # 4 quotas, in order
    merged = quotas[1]
    assert merged["district_name"] == "西溪街道" and merged["shared_with"] == ["xh-lingyin"]
    assert Decimal(merged["value"]) == 4
    plan = api.get(f"/api/v1/plan-years/{xihu_plan.pk}/").json()
    assert plan["issuer"] == XIHU
    assert [c["label"] for c in plan["columns"]] == DISTRICT_LABELS
    assert plan["columns"][1]["merged_units"] == ["xh-lingyin"]
    assert Quota.objects.filter(indicator=first).count() == 4


def test_the_2025_city_plan_shows_its_own_columns_in_the_api(plan_2024, plan_2024_data, supervisor):
    city_2025 = load_plan(city_plan_2025(plan_2024_data)).plan_year
    api = APIClient()
    api.force_authenticate(supervisor)
    listed = api.get("/api/v1/plan-years/", {"year": 2025}).json()["results"]
    assert [p["id"] for p in listed] == [city_2025.pk]
    columns = [c["label"] for c in listed[0]["columns"]]
    assert columns[0] == "市本级" and columns[-2:] == ["西湖风景名胜区", "临空经济示范区"]
    assert "建德市" not in columns and len(columns) == 15
    seq1 = Indicator.objects.get(project__plan_year=city_2025, project__seq=1)
    quotas = api.get("/api/v1/quotas/", {"indicator": seq1.pk}).json()["results"]
    assert quotas[-1]["column_label"] == "临空经济示范区" and Decimal(quotas[-1]["value"]) == 5
    old = api.get("/api/v1/plan-years/", {"year": 2024}).json()["results"]
    assert [c["label"] for c in old[0]["columns"]][-2:] == ["建德市", "杭州西湖风景名胜区"]


def test_the_2025_city_plan_on_the_dashboard(plan_2024, plan_2024_data, supervisor, client):
    city_2025 = load_plan(city_plan_2025(plan_2024_data)).plan_year
    seq1 = Indicator.objects.get(project__plan_year=city_2025, project__seq=1)
    linkong, xihu_scenic = units("linkong", "xihu-scenic")
    report(seq1, linkong, "2025-03", 1)
    with at(2025, 4, 10, 12):
        call_command("check_lag", "--month", "2025-03")
        client.force_login(supervisor)
        response = client.get(reverse("dashboard:matrix"))  # default: the current plan
        assert response.context["plan"] == city_2025
        assert response.context["month"] == date(2025, 3, 1)
        shown = labels(response.context["matrix"])
        assert shown[-2:] == ["西湖风景名胜区", "临空经济示范区"] and "建德市" not in shown
        assert f'title="{xihu_scenic.name}"' in response.content.decode()
        overview = client.get(reverse("dashboard:overview")).context["overview"]
        assert len(overview.projects) == 48
        api = APIClient()
        api.force_authenticate(supervisor)
        ranking = api.get("/api/v1/summary/ranking/", {"month": "2025-03"}).json()
        assert "linkong" in [r["district"]["code"] for r in ranking]
        assert "jiande" not in [r["district"]["code"] for r in ranking]


# --- query counts do not grow with plans ---------------------------------------------------


def test_selectors_for_one_plan_keep_their_query_counts(
    xihu_plan, supervisor, django_assert_num_queries
):
    with at(2024, 4, 10, 12):
        call_command("check_lag", "--month", "2024-03")
    march = date(2024, 3, 1)
    with django_assert_num_queries(4):  # and the missed qualitative milestones (issue 30)
        ov = read_overview(None, march, plan=xihu_plan)
    assert [p.seq for p in ov.projects] == [1, 2]
    with django_assert_num_queries(3):
        m = read_matrix(None, march, plan=xihu_plan)
    assert labels(m) == DISTRICT_LABELS
    with django_assert_num_queries(3):  # statuses, units, the plan's column order
        rows = read_ranking(march, plan=xihu_plan)
    assert {r.district.code for r in rows} == {"xh-beishan", "xh-xixi", "xh-sandun", "xh-zjg"}
    # 11, and the missed milestones (list and counts); issue 32: 部门晾晒 (+2), 未报 (+7)
    with django_assert_num_queries(22):
        notice = read_notice(march, xihu_plan)
    assert notice.indicators == 2
    city = PlanYear.objects.get(year=2024, issuer="杭州市人民政府")
    with django_assert_num_queries(22):
        assert read_notice(march, city).indicators > 40


# --- plan integrity --------------------------------------------------------------------------


def test_an_assumed_deadline_is_a_finding_until_confirmed(xihu_plan):
    findings = [f for f in check_plan(xihu_plan) if f.check == Check.DEADLINE_ASSUMED]
    assert [(f.seq, f.acknowledged) for f in findings] == [(2, False)]
    assert "原文未写预计完成时间，已按 2024年12月31日 载入" in str(findings[0])
    with pytest.raises(CommandError, match="1 个问题"):
        call_command("check_plan", "2024", "--issuer", XIHU)
    data = district_plan()
    data["acknowledged"] = [{"seq": 2, "check": "deadline_assumed", "reason": "全年开展"}]
    load_plan(copy.deepcopy(data))
    call_command("check_plan", "2024", "--issuer", XIHU)  # confirmed: passes


def test_the_admin_shows_a_plans_columns_shared_quotas_and_findings(xihu_plan, supervisor, client):
    client.force_login(supervisor)
    page = client.get(reverse("admin:tracker_planyear_change", args=[xihu_plan.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'value="西溪、灵隐"' in html  # the columns inline, with the merged one
    assert "原文未写预计完成时间，已按 2024年12月31日 载入" in html
    project = xihu_plan.projects.get(seq=1)
    page = client.get(reverse("admin:tracker_project_change", args=[project.pk]))
    assert page.status_code == 200 and 'name="co_lead_agencies"' in page.content.decode()
    first = Indicator.objects.get(project=project, order=1)
    page = client.get(reverse("admin:tracker_indicator_change", args=[first.pk]))
    html = page.content.decode()
    assert 'name="quotas-1-shared_with"' in html and 'name="deadline"' in html
