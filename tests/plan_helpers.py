"""Plans for tests: compare plan files by what they mean (quotas and numeric milestones),
not by text; a 区 government's own plan and a 2025 city plan to load beside 2024."""

import copy
from collections import Counter
from datetime import date
from pathlib import Path

from tracker.plans.loader import _build_spec

ROOT = Path(__file__).resolve().parent.parent
PUBLISHED_XLSX = ROOT / "fixtures" / "plan_2024_published.xlsx"
GAZETTE_TEXT = ROOT.parent / "shared" / "seeds" / "003_ccd5309b306f7828.txt"


def quota_cells(data) -> dict:
    """(seq, indicator, unit code) → (value, new, upgrade) as the loader reads them."""
    spec = _build_spec(copy.deepcopy(data))
    return {
        (p["seq"], ind["order"], code): (q["value"], q["new_value"], q["upgrade_value"])
        for p in spec.projects
        for ind in p["indicators"]
        for code, q in ind["quotas"].items()
    }


def numeric_milestones(data) -> Counter:
    """(seq, indicator, due date, kind, value) of every numeric milestone row."""
    spec = _build_spec(copy.deepcopy(data))
    return Counter(
        (p["seq"], m["indicator"], m["due_date"], m["kind"], m["value"])
        for p in spec.projects
        for m in p["milestones"]
        if m["kind"] != "qualitative"
    )


def milestone_texts(data) -> dict:
    """(seq, indicator, due date, kind, value) → the sentence it was read from."""
    spec = _build_spec(copy.deepcopy(data))
    return {
        (p["seq"], m["indicator"], m["due_date"], m["kind"], m["value"]): m["text"]
        for p in spec.projects
        for m in p["milestones"]
    }


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


def second_plan_2024(plan_2024_data, issuer="宁波市人民政府") -> dict:
    """Another issuer's plan of the same year over the same units (two plans in one year)."""
    data = copy.deepcopy(plan_2024_data)
    data["issuer"] = issuer
    data["format_version"] = 2
    return data
