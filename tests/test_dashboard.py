"""Dashboard pages on the published 2024 plan with a simulated year through September.

The simulation makes 淳安县 lag by design (about half of pace), so it must show red in
the matrix, sit last in the ranking and appear on the monthly notice.
"""

import io
from datetime import date

import pytest
from django.urls import reverse
from openpyxl import load_workbook

from tests.factories import make_user
from tracker.models import District, Indicator, LagEvaluation, LagStatus, Project, Role
from tracker.services import summary
from tracker.services.simulation import SimulationError, simulate_year

SEPT = "2024-09"


@pytest.fixture
def year(plan_2024):
    result = simulate_year(2024, seed=7, through=date(2024, 9, 1))
    chunan = District.objects.get(name="淳安县")
    xihu = District.objects.get(name="西湖区")
    seq1 = Project.objects.get(plan_year=plan_2024, seq=1)
    return {
        "result": result,
        "chunan": chunan,
        "seq1": seq1,
        "supervisor": make_user("dcs", Role.SUPERVISION),
        "agency": make_user("mz", Role.AGENCY, agency=seq1.lead_agency),
        "chunan_user": make_user("ca", Role.DISTRICT, district=chunan),
        "xihu_user": make_user("xh", Role.DISTRICT, district=xihu),
        "outsider": make_user("nobody"),
    }


def test_simulated_year_is_deterministic_and_lags_where_designed(year):
    first = sorted(
        LagEvaluation.objects.filter(month="2024-09-01").values_list(
            "indicator_id", "district_id", "status"
        )
    )
    assert year["result"].months_checked == 9 and year["result"].corrections == 2
    simulate_year(2024, seed=7, through=date(2024, 9, 1))
    again = sorted(
        LagEvaluation.objects.filter(month="2024-09-01").values_list(
            "indicator_id", "district_id", "status"
        )
    )
    assert again == first
    statuses = LagEvaluation.objects.filter(month="2024-09-01", district=year["chunan"])
    due = statuses.exclude(status=LagStatus.NOT_DUE)
    assert due.filter(status=LagStatus.SERIOUSLY_BEHIND).count() > due.count() * 0.8
    late = LagEvaluation.objects.filter(month="2024-07-01", district__name="建德市")
    assert late.filter(status=LagStatus.NOT_REPORTED).exists()


def test_simulation_refuses_to_overwrite_real_progress(year):
    from tracker.models import ProgressReport

    report = ProgressReport.objects.first()
    report.reported_by = year["agency"]
    report.save()
    with pytest.raises(SimulationError, match="已有人工填报"):
        simulate_year(2024, seed=7, through=date(2024, 9, 1))


def test_matrix_shows_the_lagging_district_in_red(year, client, django_assert_max_num_queries):
    client.force_login(year["supervisor"])
    with django_assert_max_num_queries(12):
        response = client.get(reverse("dashboard:matrix"), {"month": SEPT})
    html = response.content.decode()
    m = response.context["matrix"]
    assert [d.name for d in m.districts][:2] == ["市本级", "上城区"] and len(m.districts) == 15
    col = [d.name for d in m.districts].index("淳安县")
    seq1 = Indicator.objects.get(project=year["seq1"])
    row = next(r for r in m.rows if r.indicator.pk == seq1.pk)
    assert row.cells[col].status == LagStatus.SERIOUSLY_BEHIND
    url = reverse("dashboard:cell", args=[seq1.pk, year["chunan"].pk])
    assert (
        f'<td class="cell red" data-status="seriously_behind" title="严重滞后（红）"><a href="{url}'
        in html
    )


def test_cell_page_has_the_chart_data_and_alert_history(year, client):
    client.force_login(year["chunan_user"])
    seq1 = Indicator.objects.get(project=year["seq1"])
    response = client.get(reverse("dashboard:cell", args=[seq1.pk, year["chunan"].pk]))
    detail = response.context["detail"]
    quota = seq1.quotas.get(district=year["chunan"]).value
    # 序号1: nothing expected before the last qualitative step; the whole quota by 11月.
    assert detail.expected[3] == 0 and detail.expected[10] == float(quota)
    assert detail.actual[8] is not None and detail.actual[8] < detail.expected[8] * 0.7
    assert detail.alerts and "淳安县 新增老年助餐服务点：截至2024年" in detail.alerts[0].message
    assert "echarts-5.6.0.min.js" in response.content.decode()
    other = District.objects.get(name="萧山区")
    assert client.get(reverse("dashboard:cell", args=[seq1.pk, other.pk])).status_code == 404


def test_overview_ranking_and_notice(year, client, django_assert_max_num_queries):
    client.force_login(year["supervisor"])
    with django_assert_max_num_queries(12):
        overview = client.get(reverse("dashboard:overview"), {"month": SEPT})
    data = overview.context["overview"]
    assert len(data.categories) == 10 and len(data.projects) == 48
    assert data.categories[0].name == "“幸福助老”在杭州"
    assert data.open_alerts > 0

    with django_assert_max_num_queries(12):
        ranking = client.get(reverse("dashboard:ranking"), {"month": SEPT})
    rows = ranking.context["rows"]
    assert len(rows) == 14  # 13 districts + 西湖风景名胜区; 市本级 is not ranked
    assert rows[-1].district.name == "淳安县" and rows[-1].seriously_behind > 30
    assert [r.rank for r in rows] == list(range(1, 15))

    with django_assert_max_num_queries(15):
        notice = client.get(reverse("dashboard:notice", args=[SEPT]))
    html = notice.content.decode()
    assert "民生实事项目推进情况通报" in html and "（2024年第9期）" in html
    red = notice.context["notice"].red_items
    assert any(e.district.name == "淳安县" for e in red)
    assert '<td class="text-red">淳安县</td>' in html
    xlsx = client.get(reverse("dashboard:notice_xlsx", args=[SEPT]))
    ws = load_workbook(io.BytesIO(xlsx.content)).active
    assert ws["A1"].value == "2024年9月民生实事项目推进情况通报"
    assert any(row[1] == "淳安县" for row in ws.iter_rows(values_only=True))


def test_pages_are_scoped_like_the_admin(year, client):
    client.force_login(year["xihu_user"])
    m = client.get(reverse("dashboard:matrix"), {"month": SEPT}).context["matrix"]
    assert [d.name for d in m.districts] == ["西湖区"]
    assert client.get(reverse("dashboard:district", args=["chunan"])).status_code == 404
    mine = client.get(reverse("dashboard:my_work"), {"month": SEPT}).context["rows"]
    assert {e.district.name for e in mine} <= {"西湖区"}

    client.force_login(year["agency"])
    m = client.get(reverse("dashboard:matrix"), {"month": SEPT}).context["matrix"]
    agency_projects = {r.indicator.project.lead_agency_id for r in m.rows}
    assert agency_projects == {year["seq1"].lead_agency_id}
    mine = client.get(reverse("dashboard:my_work"), {"month": SEPT}).context["rows"]
    assert any(e.district.name == "淳安县" for e in mine)

    client.force_login(year["outsider"])
    assert client.get(reverse("dashboard:overview")).status_code == 403
    client.logout()
    assert client.get(reverse("dashboard:overview")).status_code == 302


def test_public_read_only_mode_shows_only_the_public_parts(year, client, settings):
    settings.TRACKER = {**settings.TRACKER, "PUBLIC_READ_ONLY": True}
    assert client.get(reverse("dashboard:overview"), {"month": SEPT}).status_code == 200
    assert client.get(reverse("dashboard:ranking"), {"month": SEPT}).status_code == 200
    assert client.get(reverse("dashboard:notice", args=[SEPT])).status_code == 200
    assert client.get(reverse("dashboard:matrix")).status_code == 302
    assert client.get(reverse("dashboard:my_work")).status_code == 302


def test_summary_totals_are_capped_per_district(year):
    seq1 = Indicator.objects.get(project=year["seq1"])
    rows = list(
        LagEvaluation.objects.filter(month="2024-09-01", indicator=seq1).values("quota", "actual")
    )
    ov = summary.overview(year["supervisor"], date(2024, 9, 1))
    line = next(i for p in ov.projects for i in p.indicators if i.id == seq1.pk)
    capped = sum(min(r["actual"], r["quota"]) for r in rows if r["actual"] is not None)
    assert line.actual_capped == capped
    assert line.completion_pct <= line.completion_uncapped_pct
