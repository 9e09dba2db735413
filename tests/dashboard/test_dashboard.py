"""Dashboard pages on the published 2024 plan with a simulated year through September.

The simulation makes 淳安县 lag by design (about half of pace), so it must show red in
the matrix, sit last in the ranking and appear on the monthly notice. The year is built
once for the module (see ``tests.dashboard_helpers``).
"""

import io
import re
from datetime import date

import pytest
from django.contrib.staticfiles import finders
from django.urls import reverse
from openpyxl import load_workbook

from tests.dashboard_helpers import SEPT, simulated_year
from tests.factories import make_user
from tracker import formats as fmt
from tracker.accounts.models import Role
from tracker.choices import RED_STATUSES, LagStatus
from tracker.monitoring.models import LagEvaluation
from tracker.plans.models import Indicator, Project
from tracker.plans.reference import District
from tracker.reporting.models import NoticeIssue
from tracker.reporting.notice import notice as read_notice

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def year(django_db_setup, django_db_blocker, plan_2024_data):
    yield from simulated_year(django_db_blocker, plan_2024_data)


@pytest.fixture
def seq1_indicator(year):
    return Indicator.objects.get(project=year.seq1)


def get(client, name, *args, **params):
    response = client.get(reverse(f"dashboard:{name}", args=args), params)
    assert response.status_code == 200, response.content[:500]
    return response


# --- login and access -----------------------------------------------------------------


def test_anonymous_visitors_are_sent_to_the_chinese_login_page(year, client):
    response = client.get(reverse("dashboard:matrix"))
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/matrix/"
    page = client.get(response["Location"]).content.decode()
    assert "民生实事 · 进度看板" in page and "用户名" in page and "密码" in page

    make_user("dcs2", Role.SUPERVISION, password="pw-12345-abc")
    login = client.post(
        "/accounts/login/",
        {"username": "dcs2", "password": "pw-12345-abc", "next": "/matrix/"},
    )
    assert login.status_code == 302 and login["Location"] == "/matrix/"
    assert client.get("/matrix/").status_code == 200

    client.post("/accounts/logout/")
    assert client.get("/").status_code == 302
    bad = client.post("/accounts/login/", {"username": "dcs2", "password": "wrong"})
    assert "用户名或密码不正确" in bad.content.decode()


def test_a_user_without_a_role_sees_nothing(year, client):
    client.force_login(year.outsider)
    for url in ("/", "/matrix/", "/ranking/", "/my/", f"/notice/{SEPT}/"):
        response = client.get(url)
        assert response.status_code == 403 and "无权查看" in response.content.decode()


# --- overview -------------------------------------------------------------------------


def test_overview_shows_categories_projects_and_alerts(year, client, django_assert_max_num_queries):
    client.force_login(year.supervisor)
    # 10, and 督查室's header count of deliveries that need a person (issue 31)
    with django_assert_max_num_queries(12):  # issue 32: + missed milestones' 挂牌督办
        response = get(client, "overview", month=SEPT)
    data = response.context["overview"]
    assert len(data.categories) == 10 and len(data.projects) == 48
    assert data.categories[0].name == "“幸福助老”在杭州"
    assert data.open_alerts > 0 and sum(data.project_counts.values()) == 48
    html = response.content.decode()
    assert html.count('<tr class="project"') == 48
    first = data.projects[0]
    assert first.seq == 1 and first.indicators[0].label == "新增老年助餐服务点"
    # 淳安县 is red on 序号1 even when the city total is not.
    assert first.indicators[0].counts["seriously_behind"] >= 1
    assert f'data-seq="1" data-status="{first.status}"' in html
    # the default month is the latest checked one
    assert get(client, "overview").context["month_text"] == SEPT


def test_overview_is_scoped_for_an_agency(year, client):
    client.force_login(year.agency)
    data = get(client, "overview", month=SEPT).context["overview"]
    expected = set(
        Project.objects.filter(lead_agency=year.seq1.lead_agency).values_list("seq", flat=True)
    )
    assert {p.seq for p in data.projects} == expected


# --- matrix and cells -----------------------------------------------------------------


def test_matrix_shows_the_lagging_district_in_red(
    year, client, seq1_indicator, django_assert_max_num_queries
):
    client.force_login(year.supervisor)
    # +1: the header's month being reported; +1: 督查室's count of deliveries to resend
    with django_assert_max_num_queries(13):  # issue 32: + missed milestones' 挂牌督办
        response = get(client, "matrix", month=SEPT)
    m = response.context["matrix"]
    names = [d.name for d in m.districts]
    assert names[:2] == ["市本级", "上城区"] and len(names) == 15
    col = names.index("淳安县")
    row = next(r for r in m.rows if r.indicator.pk == seq1_indicator.pk)
    assert row.cells[col].status == LagStatus.SERIOUSLY_BEHIND
    stored = LagEvaluation.objects.filter(month="2024-09-01", district=year.chunan)
    due = stored.exclude(status=LagStatus.NOT_DUE)
    red = sum(1 for r in m.rows if r.cells[col] and r.cells[col].status == "seriously_behind")
    assert red == due.filter(status=LagStatus.SERIOUSLY_BEHIND).count() > due.count() * 0.8
    html = response.content.decode()
    # a red cell links to where it is fixed: 本月填报 at that cell (督查室 may enter it)
    url = reverse("dashboard:report", args=["2024-12"])  # the 2024 plan's last month
    anchor = f"#c-{seq1_indicator.pk}-{year.chunan.pk}"
    assert re.search(
        rf'<td class="cell red[^"]*" data-status="seriously_behind" '
        rf'title="严重滞后（红）：[^"]*完成率 [^"]*">'
        rf'<a href="{url}\?district=chunan{anchor}"',
        html,
    )
    assert m.column_counts[col]["seriously_behind"] == red


def test_matrix_filters(year, client):
    client.force_login(year.supervisor)
    full = get(client, "matrix", month=SEPT).context["matrix"]
    problems = get(client, "matrix", month=SEPT, problems="1").context["matrix"]
    assert 0 < len(problems.rows) <= len(full.rows)
    assert all(any(c and c.status in ("behind", "seriously_behind", "overdue", "not_reported")
                   for c in r.cells) for r in problems.rows)  # fmt: skip
    category = year.seq1.category
    only = get(client, "matrix", month=SEPT, category=category.pk).context["matrix"]
    assert {r.indicator.project.category_id for r in only.rows} == {category.pk}


def test_matrix_is_scoped(year, client):
    client.force_login(year.xihu_user)
    m = get(client, "matrix", month=SEPT).context["matrix"]
    assert [d.name for d in m.districts] == ["西湖区"]
    assert all(len(r.cells) == 1 for r in m.rows)

    client.force_login(year.agency)
    m = get(client, "matrix", month=SEPT).context["matrix"]
    assert {r.indicator.project.lead_agency_id for r in m.rows} == {year.seq1.lead_agency_id}
    assert len(m.districts) > 1


def test_cell_page_has_the_chart_data_and_alert_history(
    year, client, seq1_indicator, django_assert_max_num_queries
):
    client.force_login(year.chunan_user)
    # 16, the cell's explanations and reviews and the may-explain check (issue 15), the
    # plans of the year (plan picker), the header's month being reported; issue 30: the
    # cell's 佐证材料 (its reports, which the viewer may change, files, locks)
    with django_assert_max_num_queries(25):
        response = get(client, "cell", seq1_indicator.pk, year.chunan.pk, month=SEPT)
    detail = response.context["detail"]
    quota = seq1_indicator.quotas.get(district=year.chunan).value
    # 序号1: nothing expected before the last qualitative step; the whole quota by 11月.
    assert detail.expected[3] == 0 and detail.expected[10] == float(quota)
    assert detail.actual[8] is not None and detail.actual[8] < detail.expected[8] * 0.7
    assert detail.statuses[8] == LagStatus.SERIOUSLY_BEHIND
    assert detail.alerts and "淳安县 新增老年助餐服务点：截至2024年" in detail.alerts[0].message
    assert [e.month.month for e in detail.evaluations] == list(range(1, 10))
    assert any(m["qualitative"] for m in detail.plan_milestones)
    html = response.content.decode()
    assert "echarts-5.6.0.min.js" in html and 'id="chart"' in html and "预警记录" in html
    assert response.context["current"].month.month == 9
    behind = response.context["current"].gap_points
    assert behind > 0 and f"落后 {fmt.number(behind)} 个百分点" in html
    other = District.objects.get(name="萧山区")
    url = reverse("dashboard:cell", args=[seq1_indicator.pk, other.pk])
    assert client.get(url).status_code == 404


def test_cell_page_says_ahead_of_pace_not_a_negative_lag(year, client, seq1_indicator):
    """A district ahead of its 序时进度 reads 「领先 6 个百分点」, not 「落后 -6」."""
    sept = LagEvaluation.objects.filter(indicator=seq1_indicator, month=date(2024, 9, 1))
    ahead = sept.filter(gap_points__lt=0).order_by("gap_points").first()
    assert ahead is not None
    client.force_login(year.supervisor)
    html = get(client, "cell", seq1_indicator.pk, ahead.district_id, month=SEPT).content.decode()
    assert f"领先 {fmt.number(-ahead.gap_points)} 个百分点" in html
    assert "落后 -" not in html and "落后序时进度" not in html


def test_agency_cannot_open_cells_of_other_agencies(year, client):
    client.force_login(year.agency)
    foreign = Indicator.objects.exclude(project__lead_agency=year.seq1.lead_agency).first()
    url = reverse("dashboard:cell", args=[foreign.pk, year.chunan.pk])
    assert client.get(url).status_code == 404


# --- ranking, district, project -------------------------------------------------------


def test_ranking_puts_the_lagging_district_last(year, client, django_assert_max_num_queries):
    client.force_login(year.xihu_user)  # the ranking is published to every district
    # +1: the header's month being reported; +1: the plan's column order (ties); 部门晾晒:
    # +2 (the agencies' statuses, the agencies) +4 (the projects' roll-up, the overview's)
    # +1 (the overview's missed milestones read 挂牌督办 as of the month)
    with django_assert_max_num_queries(17):
        response = get(client, "ranking", month=SEPT)
    rows = response.context["rows"]
    assert len(rows) == 14  # 13 districts + 西湖风景名胜区; 市本级 is not ranked
    assert rows[-1].district.name == "淳安县" and rows[-1].seriously_behind > 30
    keys = [r.tie_key for r in rows]  # level rows share their place (1, 2, 2, 4)
    assert [r.rank for r in rows] == [keys.index(k) + 1 for k in keys]
    assert all(r.previous_rank is not None for r in rows)
    assert rows[0].share_pct > rows[-1].share_pct
    html = response.content.decode()
    assert '<tr data-district="chunan"><td class="place">14</td>' in html
    agencies = response.context["agency_rows"]
    assert len(agencies) == 19 and 'id="agency-ranking"' in html


def test_district_scorecard(year, client, django_assert_max_num_queries):
    client.force_login(year.supervisor)
    # +1 the plans of the year (plan picker), +2 the district's column (merged or not),
    # +1 the header's month being reported, +1 the ranking's column order
    with django_assert_max_num_queries(16):  # issue 32: + 挂牌督办 as of the month
        response = get(client, "district", "chunan", month=SEPT)
    card = response.context["card"]
    stored = LagEvaluation.objects.filter(month="2024-09-01", district=year.chunan)
    assert len(card) == stored.count() and card.rank == 14
    assert card.counts["seriously_behind"] == stored.filter(status="seriously_behind").count()
    assert "晾晒第 14 名" in response.content.decode()

    client.force_login(year.chunan_user)
    assert client.get(reverse("dashboard:district", args=["chunan"])).status_code == 200
    assert client.get(reverse("dashboard:district", args=["xihu"])).status_code == 404


def test_project_page_shows_its_districts(year, client):
    client.force_login(year.supervisor)
    response = get(client, "project", 1, month=SEPT)
    m = response.context["matrix"]
    assert len(m.rows) == 1 and "淳安县" in [d.name for d in m.districts]
    assert "新增老年助餐服务点" in response.content.decode()
    client.force_login(year.agency)
    other = Project.objects.exclude(lead_agency=year.seq1.lead_agency).first()
    assert client.get(reverse("dashboard:project", args=[other.seq])).status_code == 404


# --- my work ----------------------------------------------------------------------------


def test_my_work_lists_what_is_behind_in_scope(year, client, django_assert_max_num_queries):
    client.force_login(year.chunan_user)
    # 10, +1 the header, +6 未填报 (the plan, due cells, 市本级 column, what the plan
    # expects by then, reports), +1 explanations, +1 the plans of the year, +2 rows' plan data,
    # issue 30: +1 returned figures, +1 missed milestones, +1 the header's returned count
    with django_assert_max_num_queries(24):
        response = get(client, "my_work", month=SEPT)
    rows = response.context["rows"]
    assert rows and {e.district.name for e in rows} == {"淳安县"}
    assert rows[0].status in (LagStatus.OVERDUE, LagStatus.SERIOUSLY_BEHIND)
    assert all(e.status in ("behind", "seriously_behind", "overdue", "not_reported") or e.at_risk
               for e in rows)  # fmt: skip
    assert any(e.needed_pace is not None and e.forecast is not None for e in rows)
    assert "此后每月需完成" in response.content.decode()

    client.force_login(year.xihu_user)
    mine = get(client, "my_work", month=SEPT).context["rows"]
    assert {e.district.name for e in mine} <= {"西湖区"}

    client.force_login(year.agency)
    mine = get(client, "my_work", month=SEPT).context["rows"]
    assert {e.indicator.project.lead_agency_id for e in mine} == {year.seq1.lead_agency_id}
    assert any(e.district.name == "淳安县" for e in mine)


# --- the monthly notice ---------------------------------------------------------------


def test_notice_page(year, client, django_assert_max_num_queries):
    client.force_login(year.supervisor)
    # 17, plus the red items' explanations, plus the header's month being reported, plus
    # 督查室's count of deliveries that need a person; issue 30: the missed milestones
    # (their own list, and the overview's project counts); whether the month's notice was
    # issued (then its stored record is served instead); issue 32: 部门晾晒 (+2: the
    # agencies' statuses, the agencies; the projects are the overview's), the month's
    # 未报 from its one home (+7: ``completeness.month_tally``), the 挂牌督办 items then,
    # missed milestones' and 督查室's 交办 list (+3)
    with django_assert_max_num_queries(35):
        response = get(client, "notice", SEPT)
    html = response.content.decode()
    assert "民生实事项目推进情况通报" in html and "（2024年第9期）" in html
    notice = response.context["notice"]
    assert notice.cells_due == notice.on_track + notice.behind + notice.seriously_behind + (
        notice.not_reported
    )
    assert notice.ranking[-1].district.name == "淳安县"
    assert any(e.district.name == "淳安县" for e in notice.red_items)
    assert notice.red_districts[0][0] == "淳安县"
    assert notice.candidates and "挂牌督办建议" in html
    assert len(notice.candidates) <= notice.cap == 10 < notice.candidates_total
    assert 'id="red-by-district"' in html and "序时完成率 = 累计完成 ÷ 序时应达" in html
    with open(finders.find("tracker/dashboard.css"), encoding="utf-8") as css:
        assert "@media print" in css.read()
    # the month picker's ?month= goes to that month's notice
    moved = client.get(reverse("dashboard:notice", args=[SEPT]), {"month": "2024-08"})
    assert moved.status_code == 302 and moved["Location"] == "/notice/2024-08/"
    assert client.get("/notice/")["Location"] == f"/notice/{SEPT}/"


def test_notice_xlsx(year, client):
    NoticeIssue.objects.create(month=date(2024, 9, 1), doc_number="杭督通〔2024〕9号",
                               supervision_cap=100)  # fmt: skip
    first = read_notice(date(2024, 9, 1)).candidates[0]
    hostile = Indicator.objects.get(pk=first.indicator_id)
    hostile.label = "=HYPERLINK(1)"  # a hostile label must not become a formula
    hostile.save()
    client.force_login(year.supervisor)
    response = get(client, "notice_xlsx", SEPT)
    assert response["Content-Disposition"].startswith("attachment; filename*=UTF-8''")
    ws = load_workbook(io.BytesIO(response.content)).active
    assert ws["A3"].value == "2024年9月民生实事项目推进情况通报"  # under the 版头
    values = list(ws.iter_rows(values_only=True))
    assert any(row[1] == "淳安县" for row in values)
    assert values[1][0] == "杭督通〔2024〕9号"
    assert any(row[1] == "'=HYPERLINK(1)" and row[4] == first.unit for row in values)
    assert not any(isinstance(v, str) and v.startswith("=") for row in values for v in row)


# --- published read-only mode ---------------------------------------------------------


def test_public_read_only_mode_shows_only_the_public_parts(year, client, settings):
    settings.TRACKER = {**settings.TRACKER, "PUBLIC_READ_ONLY": True}
    overview = get(client, "overview", month=SEPT)
    assert len(overview.context["overview"].projects) == 48
    assert "公开只读" in overview.content.decode()
    assert "/matrix/" not in overview.content.decode()  # no links to the private pages
    assert get(client, "ranking", month=SEPT).context["rows"][-1].district.name == "淳安县"
    assert get(client, "notice", SEPT).status_code == 200
    assert get(client, "notice_xlsx", SEPT).status_code == 200
    for url in ("/matrix/", "/my/", "/districts/chunan/", "/projects/1/"):
        assert client.get(url).status_code == 302, url


def test_public_parts_need_a_login_when_read_only_mode_is_off(year, client, settings):
    settings.TRACKER = {**settings.TRACKER, "PUBLIC_READ_ONLY": False}
    for url in ("/", "/ranking/", f"/notice/{SEPT}/", f"/notice/{SEPT}/xlsx/"):
        assert client.get(url).status_code == 302, url


# --- 审核与上报 (issue 15) ---------------------------------------------------------------


def test_review_states_page_on_the_published_plan(year, client, django_assert_max_num_queries):
    """Every column of the plan × January–December of 2024, nobody has reported a month
    yet (all 未上报); red cells of September without an explanation are listed for
    督查室 (淳安县 lags by design); a district sees only its own row."""
    client.force_login(year.supervisor)
    with django_assert_max_num_queries(14):
        response = get(client, "review_states", month=SEPT)
    grid = response.context["grid"]
    columns = year.plan_year.columns.count()
    assert len(grid.rows) >= columns and len(grid.months) == 12
    assert response.context["totals"][0] == ("not_submitted", "未上报", len(grid.rows))
    missing = response.context["missing"]
    red = LagEvaluation.objects.filter(month=date(2024, 9, 1), status__in=RED_STATUSES)
    assert len(missing) == red.count() > 0
    assert year.chunan in {e.district for e in missing}
    client.force_login(year.chunan_user)
    response = get(client, "review_states", month=SEPT)
    assert [d for d, _ in response.context["grid"].rows] == [year.chunan]
    assert {e.district for e in response.context["missing"]} == {year.chunan}
