"""Each plan owns its columns: other plans load beside 2024 and leave it untouched."""

import copy
from datetime import date

import pytest
from django.core.management import call_command

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


def district_plan() -> dict:
    """A 区 government's own 2024 plan over its 街道, 镇 and a 开发区."""
    return {
        "format_version": 2,
        "plan_year": 2024,
        "issuer": "西湖区人民政府",
        "title": "2024年西湖区民生实事项目",
        "districts": [
            {"code": "xh-beishan", "name": "北山街道", "kind": "subdistrict"},
            {
                "code": "xh-xixi",
                "name": "西溪街道",
                "kind": "subdistrict",
                "label": "西溪、灵隐",
                "merged": [{"code": "xh-lingyin", "name": "灵隐街道", "kind": "subdistrict"}],
            },
            {"code": "xh-sandun", "name": "三墩镇", "kind": "township"},
            {"code": "xh-zjg", "name": "紫金港科技城", "kind": "development_zone"},
        ],
        "categories": ["幸福助老"],
        "projects": [
            {
                "seq": 1,
                "category": 1,
                "name": "新增老年助餐点10个，助餐服务1000人次",
                "city_leader": "张明",
                "lead_agency": ["区民政局", "区卫生健康局"],
                "lead_agency_leader": ["李华", "王芳"],
                "cooperating": "各街道、镇",
                "deadline": "2024-11",
                "work_plan": "6月底前完成5个; 11月底前全面完成。",
                "indicators": [
                    {
                        "label": "新增老年助餐点",
                        "unit": "个",
                        "kind": "cumulative",
                        "target": "10个",
                        "quotas": ["3个", "4个", "2个", "1个"],
                    },
                    {
                        "label": "助餐服务",
                        "unit": "人次",
                        "kind": "cumulative",
                        "target": "1000人次",
                        "quotas": ["—", "1000人次", "—", "—"],
                        "deadline": "2024-09",
                    },
                ],
                "milestones": [
                    {
                        "due": "2024-06",
                        "text": "6月底前完成5个",
                        "targets": [{"indicator": 1, "kind": "absolute", "value": "5个"}],
                    },
                ],
            },
            {
                "seq": 2,
                "category": 1,
                "name": "开展老年人防诈骗宣传",
                "city_leader": "张明",
                "lead_agency": "区公安分局",
                "lead_agency_leader": "赵强",
                "work_plan": "全年开展。",
                "indicators": [
                    {"label": "防诈骗宣传", "kind": "qualitative", "target": "—", "scope": "city"}
                ],
            },
        ],
    }


def city_plan_2025(plan_2024_data) -> dict:
    """2024's plan re-dated: 西湖风景名胜区 relabelled, 建德市 dropped, a 开发区 added."""
    data = copy.deepcopy(plan_2024_data)
    data["plan_year"] = 2025

    def redate(value):
        if isinstance(value, date):
            return value.replace(year=2025)
        return str(value).replace("2024-", "2025-")

    for p in data["projects"]:
        p["deadline"] = redate(p["deadline"])
        for m in p.get("milestones") or []:
            m["due"] = redate(m["due"])
        for ind in p["indicators"]:
            if ind.get("quotas"):
                del ind["quotas"][13]
                ind["quotas"].append("—")
    data["projects"][0]["indicators"][0]["quotas"][-1] = "5 个"
    districts = data["districts"]
    assert districts[13]["name"] == "建德市"
    del districts[13]
    districts[-1]["label"] = "西湖风景名胜区"
    districts.append({"code": "linkong", "name": "临空经济示范区", "kind": "development_zone"})
    return data


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
