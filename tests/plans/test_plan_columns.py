"""Each plan owns its columns: other plans load beside 2024 and leave it untouched."""

import copy
from datetime import date

import pytest
from django.core.management import call_command

from tests.plan_helpers import city_plan_2025, district_plan
from tracker.plans.loader import load_plan
from tracker.plans.models import Indicator, Project, Quota
from tracker.plans.reference import District, PlanColumn, PlanYear
from tracker.plans.selection import find_plan


def export_2024(tmp_path, name) -> dict:
    """The 2024 plan's CSV and xlsx export, as bytes."""
    out = tmp_path / name
    call_command(
        "export_plan", "2024", "--issuer", "杭州市人民政府", "--csv", str(out),
        "--xlsx", str(out / "plan.xlsx"),
    )  # fmt: skip
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


def test_a_district_plan_and_a_2025_plan_load_beside_2024(plan_2024, plan_2024_data, tmp_path):
    before = export_2024(tmp_path, "before")
    districts_before = list(District.objects.values_list("code", "name", "kind", "order"))

    load_plan(district_plan())
    load_plan(city_plan_2025(plan_2024_data))

    assert export_2024(tmp_path, "after") == before  # byte-identical
    registered = set(District.objects.values_list("code", "name", "kind", "order"))
    assert set(districts_before) <= registered  # nobody renamed, re-kinded or re-ordered
    assert PlanYear.objects.count() == 3
    plan_2025 = PlanYear.objects.get(year=2025)
    labels = list(plan_2025.columns.values_list("label", flat=True))
    assert labels[-3:] == ["淳安县", "西湖风景名胜区", "临空经济示范区"]
    assert "建德市" not in labels
    assert list(plan_2024.columns.values_list("label", flat=True))[-2:] == [
        "建德市",
        "杭州西湖风景名胜区",
    ]
    assert District.objects.get(code="xihu-scenic").name == "杭州西湖风景名胜区"
    linkong = District.objects.get(code="linkong")
    assert linkong.kind == District.Kind.DEVELOPMENT_ZONE
    assert plan_2025.column_order()[linkong.pk] == 14  # last column of 2025, absent in 2024
    assert linkong.pk not in plan_2024.column_order()
    q = Quota.objects.get(indicator__project__plan_year=plan_2025, indicator__project__seq=1,
                          district__code="linkong")  # fmt: skip
    assert q.value == 5
    assert not Quota.objects.filter(
        indicator__project__plan_year=plan_2025, district__code="jiande"
    ).exists()


def test_the_district_plan_expresses_what_the_city_format_could_not(plan_2024, tmp_path, capsys):
    summary = load_plan(district_plan())
    plan = summary.plan_year
    assert (plan.issuer, plan.year) == ("西湖区人民政府", 2024)
    assert [c.label for c in plan.columns.all()] == [
        "北山街道",
        "西溪、灵隐",
        "三墩镇",
        "紫金港科技城",
    ]
    merged = PlanColumn.objects.get(plan=plan, label="西溪、灵隐")
    assert [d.name for d in merged.merged_units.all()] == ["灵隐街道"]
    order = {District.objects.get(pk=pk).code: i for pk, i in plan.column_order().items()}
    assert order == {"xh-beishan": 0, "xh-xixi": 1, "xh-lingyin": 1, "xh-sandun": 2, "xh-zjg": 3}
    shared = Quota.objects.get(indicator__project__plan_year=plan, indicator__order=1,
                               district__code="xh-xixi")  # fmt: skip
    assert shared.value == 4 and [d.code for d in shared.shared_with.all()] == ["xh-lingyin"]
    project = Project.objects.get(plan_year=plan, seq=1)
    assert project.lead_agency.name == "区民政局"
    assert [a.name for a in project.co_lead_agencies.all()] == ["区卫生健康局"]
    assert project.lead_agency_leader == "李华、王芳"
    first, second = Indicator.objects.filter(project=project).order_by("order")
    assert first.due == date(2024, 11, 30) and second.due == date(2024, 9, 30)
    undated = Project.objects.get(plan_year=plan, seq=2)
    assert undated.deadline == date(2024, 12, 31) and undated.deadline_assumed
    assert any("序号2：原文未写预计完成时间" in w for w in summary.warnings)

    # the city's plan is still the default for 2024; the district's is picked by issuer
    assert find_plan(2024) == plan_2024
    assert find_plan(2024, "西湖区人民政府") == plan
    call_command("check_plan", "2024")
    call_command("export_plan", "2024", "--issuer", "西湖区人民政府", "--csv", str(tmp_path))
    quotas = (tmp_path / "quotas.csv").read_text(encoding="utf-8")
    assert "西溪街道、灵隐街道,4," in quotas
    targets = (tmp_path / "targets.csv").read_text(encoding="utf-8")
    assert "2,1,防诈骗宣传,,qualitative,city," in targets


def test_reloading_2025_does_not_touch_2024(plan_2024, plan_2024_data):
    data = city_plan_2025(plan_2024_data)
    load_plan(data)
    assert not load_plan(copy.deepcopy(data)).changed
    # the same unit may not be renamed by the 2025 file
    data["districts"][2]["name"] = "拱墅县"
    with pytest.raises(Exception, match="代码 gongshu 已登记为「拱墅区」"):
        load_plan(data)
