"""The admin: the 2024 plan browsable in Chinese, scoped by role, edited only by 督查室."""

from datetime import date
from decimal import Decimal

import pytest
from django.urls import reverse

from tests.factories import make_user
from tracker.accounts.models import Role
from tracker.plans.models import Indicator, Project
from tracker.plans.reference import Agency, District
from tracker.progress.models import ProgressReport


@pytest.fixture
def people(plan_2024):
    minzheng = Agency.objects.get(name="市民政局")
    weijian = Agency.objects.get(name="市卫生健康委员会")
    return {
        "supervisor": make_user("duchashi", Role.SUPERVISION),
        "minzheng": make_user("minzheng", Role.AGENCY, agency=minzheng),
        "weijian": make_user("weijian", Role.AGENCY, agency=weijian),
        "xiaoshan": make_user(
            "xiaoshan", Role.DISTRICT, district=District.objects.get(name="萧山区")
        ),
        "outsider": make_user("outsider"),
    }


def changelist(model):
    return reverse(f"admin:tracker_{model}_changelist")


def test_supervisor_browses_all_48_projects_in_chinese(
    client, people, django_assert_max_num_queries
):
    client.force_login(people["supervisor"])
    with django_assert_max_num_queries(12):
        response = client.get(changelist("project"))
    assert response.status_code == 200
    assert response.context["cl"].result_count == 48
    assert "新增老年助餐服务点227个" in response.content.decode()
    assert "牵头单位" in response.content.decode()


def test_projects_filter_by_category_and_lead_agency(client, people, plan_2024):
    client.force_login(people["supervisor"])
    category = plan_2024.categories.get(order=3)  # “春雨计划”在杭州
    response = client.get(changelist("project"), {"category__id__exact": category.pk})
    assert response.context["cl"].result_count == 7
    agency = Agency.objects.get(name="市体育局")
    response = client.get(changelist("project"), {"lead_agency__id__exact": agency.pk})
    assert sorted(p.seq for p in response.context["cl"].result_list) == [27, 42, 43, 44]


def test_indicator_page_shows_quotas_as_a_table_of_districts(client, people):
    client.force_login(people["supervisor"])
    indicator = Indicator.objects.get(project__seq=1)
    response = client.get(reverse("admin:tracker_indicator_change", args=[indicator.pk]))
    table = {row["district"]: row["text"] for row in response.context["quota_table"]}
    names = list(table)
    assert (names[0], names[-1], len(names)) == ("市本级", "杭州西湖风景名胜区", 15)
    assert (table["萧山区"], table["临安区"], table["市本级"]) == ("40 个", "45 个", "—")
    assert 'id="quota-table"' in response.content.decode()


def test_project_page_has_indicators_and_milestones_inline(client, people):
    client.force_login(people["supervisor"])
    project = Project.objects.get(seq=24)
    response = client.get(reverse("admin:tracker_project_change", args=[project.pk]))
    body = response.content.decode()
    assert response.status_code == 200
    assert "新建“医防护”儿童健康管理中心" in body
    assert "6月底前,加快实施,各项任务完成50%" in body


def test_agency_reads_only_its_projects_and_cannot_edit_the_plan(client, people):
    client.force_login(people["minzheng"])
    response = client.get(changelist("project"))
    assert sorted(p.seq for p in response.context["cl"].result_list) == [1, 2]
    other = Project.objects.get(seq=3)  # led by 市卫生健康委员会
    assert client.get(reverse("admin:tracker_project_change", args=[other.pk])).status_code == 404
    own = Project.objects.get(seq=1)
    url = reverse("admin:tracker_project_change", args=[own.pk])
    assert client.get(url).status_code == 200  # read-only view
    response = client.post(url, {"name": "改名"})
    assert response.status_code == 403
    assert Project.objects.get(seq=1).name == "新增老年助餐服务点227个"
    history = reverse("admin:tracker_project_history", args=[other.pk])
    assert client.get(history).status_code == 404  # out of scope: as good as missing


def test_district_reads_the_plan_but_only_its_own_quotas(client, people):
    client.force_login(people["xiaoshan"])
    assert client.get(changelist("project")).context["cl"].result_count == 48
    response = client.get(changelist("quota"))
    assert {q.district.name for q in response.context["cl"].result_list} == {"萧山区"}
    indicator = Indicator.objects.get(project__seq=1)
    response = client.get(reverse("admin:tracker_indicator_change", args=[indicator.pk]))
    table = {row["district"]: row["text"] for row in response.context["quota_table"]}
    assert table["萧山区"] == "40 个" and table["临安区"] == "—"


def test_user_without_role_sees_nothing(client, people):
    client.force_login(people["outsider"])
    assert client.get(changelist("project")).status_code == 403
    assert client.get(changelist("progressreport")).status_code == 403


def _add_report(client, indicator, district, value="5"):
    return client.post(
        reverse("admin:tracker_progressreport_add"),
        {
            "indicator": indicator.pk,
            "district": district.pk,
            "month": "2024-06-01",
            "value": value,
            "note": "",
            "correction_reason": "",
        },
    )


def test_progress_entry_is_scoped(client, people):
    xiaoshan, linan = District.objects.get(name="萧山区"), District.objects.get(name="临安区")
    own = Indicator.objects.get(project__seq=1)  # 市民政局
    other = Indicator.objects.get(project__seq=3)  # 市卫生健康委员会

    client.force_login(people["minzheng"])
    assert _add_report(client, own, linan).status_code == 302
    response = _add_report(client, other, linan)
    assert response.status_code == 200  # form redisplayed with the error
    assert not ProgressReport.objects.filter(indicator=other).exists()

    client.force_login(people["xiaoshan"])
    assert _add_report(client, other, xiaoshan).status_code == 302
    _add_report(client, own, linan, value="9")
    assert not ProgressReport.objects.filter(district=linan, value=9).exists()
    visible = client.get(changelist("progressreport")).context["cl"].result_list
    assert {r.district for r in visible} == {xiaoshan}
    report = ProgressReport.objects.get(indicator=other, district=xiaoshan)
    assert report.reported_by == people["xiaoshan"]
    assert report.history.latest().history_user == people["xiaoshan"]


def test_only_the_supervision_office_deletes_progress_and_history_keeps_it(client, people):
    xiaoshan = District.objects.get(name="萧山区")
    indicator = Indicator.objects.get(project__seq=1)
    report = ProgressReport.objects.create(
        indicator=indicator, district=xiaoshan, month=date(2024, 6, 1), value=Decimal(3)
    )
    url = reverse("admin:tracker_progressreport_delete", args=[report.pk])
    client.force_login(people["minzheng"])
    assert client.post(url, {"post": "yes"}).status_code == 403
    assert ProgressReport.objects.filter(pk=report.pk).exists()
    client.force_login(people["supervisor"])
    assert client.post(url, {"post": "yes"}).status_code == 302
    assert not ProgressReport.objects.filter(pk=report.pk).exists()
    deleted = ProgressReport.history.get(id=report.pk, history_type="-")
    assert deleted.history_user == people["supervisor"]
