"""Damaged plan files are refused with one Chinese message each, and nothing is written."""

import copy

import pytest
import yaml
from django.core.management import CommandError, call_command

from tests.lag_helpers import report
from tracker.plans.loader import PlanFileError, load_plan
from tracker.plans.models import Indicator, Milestone, Project, Quota
from tracker.plans.reference import District, PlanColumn, PlanYear


def snapshot():
    """Everything a load could touch, as comparable values."""
    return (
        list(PlanYear.objects.values_list("issuer", "year", "title")),
        list(District.objects.values_list("code", "name", "kind", "order")),
        list(PlanColumn.objects.values_list("plan_id", "district__code", "order", "label")),
        list(Project.objects.values_list("seq", "name", "cooperating_text")),
        list(Quota.objects.values_list("indicator_id", "district_id", "value")),
        Milestone.objects.count(),
    )


def refused(data, *fragments, **kwargs):
    before = snapshot()
    with pytest.raises(PlanFileError) as info:
        load_plan(data, **kwargs)
    message = str(info.value)
    assert "Traceback" not in message
    for fragment in fragments:
        assert fragment in message, message
    assert snapshot() == before
    return message


@pytest.fixture
def data(plan_2024_data):
    return copy.deepcopy(plan_2024_data)


def test_missing_cell(plan_2024, data):
    data["projects"][0]["indicators"][0]["quotas"].pop()
    refused(
        data,
        "序号1 第1个量化目标「新增老年助餐服务点」 字段「quotas」（分解任务）",
        "应按列序列出 15 个单元格",
        "实际 14 个",
        "请补齐",
    )


def test_column_dropped(plan_2024, data):
    del data["districts"][13]  # 建德市's header gone, the cells still there
    message = refused(data, "应按列序列出 14 个单元格", "实际 15 个")
    assert "序号1 " in message and "序号48 " in message


def test_typo_in_a_unit_name_does_not_rename_the_registered_unit(plan_2024, data):
    data["districts"][2]["name"] = "拱墅县"
    refused(
        data,
        "第3列「拱墅县」 字段「name」",
        "代码 gongshu 已登记为「拱墅区」",
        "如是笔误请改回「拱墅区」",
    )
    assert District.objects.get(code="gongshu").name == "拱墅区"


def test_a_near_miss_name_under_a_new_code_is_refused(plan_2024, data):
    data["districts"][14] = {"code": "west-lake", "name": "西湖风景名胜区", "kind": "scenic_area"}
    refused(
        data,
        "第15列「西湖风景名胜区」 字段「name」",
        "与已登记的「杭州西湖风景名胜区」（代码 xihu-scenic）相近",
        "如确为新单位，请加 new_unit: true",
    )


def test_swapped_columns_caught_by_the_header_check(plan_2024, data):
    districts = data["districts"]
    districts[1], districts[2] = districts[2], districts[1]
    refused(
        data,
        "字段「districts」：列序与已载入的计划不同",
        "第2列 原为「上城区」，文件为「拱墅区」",
        "load_plan --reorder",
    )
    summary = load_plan(data, reorder=True)  # a deliberate reorder is allowed
    assert summary.updated["计划列"] == 2


def test_misspelled_key(plan_2024, data):
    project = data["projects"][2]
    project["cooperatng"] = project.pop("cooperating")
    refused(data, "序号3：未知字段「cooperatng」", "是否想写「cooperating」？")
    assert Project.objects.get(seq=3).cooperating_text == "各区、县(市)政府"


def test_unquoted_comma_in_a_milestone_is_an_unknown_key(db, tmp_path, data):
    text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
    text = text.replace(
        "- key: P1-M1\n    due: 2024-03\n    text: 3月底前确定项目点位以及实施名单",
        "- {key: P1-M1, due: 2024-03, text: 3月底前确定项目点位, 以及实施名单}",
        1,
    )
    path = tmp_path / "plan.yaml"
    path.write_text(text, encoding="utf-8")
    refused(path, "序号1 第1个进度节点：未知字段「以及实施名单」", "含逗号的文字请加引号")


def test_gbk_file(db, tmp_path, data):
    path = tmp_path / "plan_gbk.yaml"
    path.write_bytes(yaml.safe_dump(data, allow_unicode=True).encode("gbk"))
    refused(path, "plan_gbk.yaml 不是 UTF-8 编码（看起来是 GBK/GB18030 编码）", "以「UTF-8」另存")
    with pytest.raises(CommandError, match="不是 UTF-8 编码"):
        call_command("load_plan", str(path))


def test_missing_required_field(db, data):
    del data["projects"][4]["lead_agency"]
    refused(data, "序号5：缺少必填字段「lead_agency」（牵头单位）。请补上")


def test_month_out_of_range_is_chinese(db, data):
    data["projects"][0]["milestones"][0]["due"] = "2024-13"
    data["projects"][5]["deadline"] = "2024-13"
    message = refused(
        data,
        "序号1 第1个进度节点 字段「due」（节点日期）",
        "月份应在 1—12 之间",
        "序号6 字段「deadline」（预计完成时间）",
    )
    assert "month must be" not in message


def test_duplicate_column(db, data):
    data["districts"][14] = dict(data["districts"][13])  # 建德市 twice, 西湖风景名胜区 gone
    refused(data, "第15列「建德市」：代码 jiande 与第14列重复", "请删除重复的列")


@pytest.mark.django_db
def test_a_reload_that_drops_a_reported_project_is_refused(plan_2024, plan_2024_data):
    """The loader asks the targets' reverse relation for reports (plans sit below
    progress): a project with a filed figure cannot vanish from a reloaded file."""
    indicator = Indicator.objects.filter(project__plan_year=plan_2024, project__seq=1).first()
    report(indicator, District.objects.get(name="上城区"), "2024-03", 5)
    data = copy.deepcopy(plan_2024_data)
    data["projects"] = [p for p in data["projects"] if p["seq"] != 1]
    unconfirmed = r"删除项目 P1「序号1 .*」（涉及已存数据：进度填报 1 条"
    with pytest.raises(PlanFileError, match=unconfirmed):
        load_plan(data)  # the preview shows what the removal touches: refused unconfirmed
    refused = r"序号1「.*」 已有进度填报，不能从计划文件中删除该项目"
    with pytest.raises(PlanFileError, match=refused):
        load_plan(data, confirm=True, reason="测试")  # and reported figures are never deleted
    assert Project.objects.filter(plan_year=plan_2024, seq=1).exists()
