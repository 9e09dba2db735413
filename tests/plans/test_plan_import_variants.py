"""Tables as other cities actually publish them (workbooks built here with openpyxl): one
header row, blank continuation 序号, units in headers and cells, 合计/全市 columns,
ceilings, numbered titles in the work plan. Each is imported, listed and loaded."""

import copy

import pytest
import yaml
from django.core.management import CommandError, call_command
from openpyxl import Workbook

from tracker.plans.importer import Registry, import_tables
from tracker.plans.loader import PlanFileError, load_plan
from tracker.plans.models import Indicator, Milestone, Quota
from tracker.plans.published_tables import (
    BREAKDOWN_SHEET,
    RESPONSIBILITY_HEADER,
    RESPONSIBILITY_SHEET,
    TableError,
    read_workbook,
)
from tracker.plans.reference import Agency, PlanYear

NINGBO_PROJECTS = [
    ["1", "幸福养老", "新增养老床位300张、助餐服务1.2万人次", "张三", "市民政局", "李四",
     "市财政局、海曙区鼓楼街道、江北区庄桥街道、各镇", "11月底",
     "3月底前完成选址; 6月底前完成150张; 11月底前全面完成"],
    ["2", "就业创业", "城镇登记失业率低于4.3%", "王五", "市人力社保局", "赵六", "市统计局",
     "12月底", "全年控制在4.3%以内"],
    ["3", "健康宁波", "开展免费筛查1万例以上", "钱七", "市卫生健康委", "孙八", "", "11月底",
     "6月底前完成5000例; 11月底前全面完成"],
    ["4", "出行无忧", "新辟公交线路10条、优化调整公交线路6条", "周九", "市交通局", "吴十", "",
     "12月底", "6月底前完成3条线路优化调整; 12月底前全面完成"],
    ["5", "", "建成社区食堂20个", "郑一", "市商务局", "冯二", "", "",
     "1.社区食堂:6月底前完成10个;11月底前建成"],
]  # fmt: skip
NINGBO_BREAKDOWN = [
    ["序号", "项目名称", "量化目标", "牵头单位", "合计", "海曙区", "江北区", "镇海区"],
    ["1", "新增养老床位300张、助餐服务1.2万人次", "300张", "市民政局",
     "300张", "100张", "120张", "80张"],
    ["", "", "1.2万人次", "", "1.2万人次", "0.5万人次", "0.4万人次", "0.3万人次"],
    ["2", "城镇登记失业率低于4.3%", "低于4.3%", "市人力社保局", "", "不分解区(县、市)目标任务"],
    ["3", "开展免费筛查1万例以上", "1万例以上", "市卫生健康委",
     "1万例", "4000例", "3000例以上", "3000例"],
    ["4", "新辟公交线路10条、优化调整公交线路6条", "10条", "市交通局", "10条", "4条", "3条", "3条"],
    ["", "", "6条", "", "6条", "2条", "2条", "2条"],
    ["5", "建成社区食堂20个", "20个", "市商务局", "21个", "8个", "6个", "6个"],
]  # fmt: skip


def ningbo_workbook(path, breakdown=NINGBO_BREAKDOWN, title="2024年宁波市民生实事项目"):
    """宁波's layout: one header row, no merged 序号 on continuation rows, a 合计 column."""
    wb = Workbook()
    ws = wb.active
    ws.title = RESPONSIBILITY_SHEET
    ws.append([f"{title}责任清单"])
    ws.append([*RESPONSIBILITY_HEADER[:7], "预计完成\n时间", RESPONSIBILITY_HEADER[8]])  # narrow
    for row in NINGBO_PROJECTS:
        ws.append(row)
    ws2 = wb.create_sheet(BREAKDOWN_SHEET)
    ws2.append([f"{title}任务分解表"])
    for row in breakdown:
        ws2.append(row)
        if len(row) == 6:  # a note printed across the unit columns
            ws2.merge_cells(
                start_row=ws2.max_row, start_column=6, end_row=ws2.max_row, end_column=8
            )
    wb.save(path)
    return path


def meishan_workbook(path):
    """眉山's layout: two header rows, units in the headers (「量化目标(人)」「东坡区(人)」), a
    全市 column, a ceiling worded 「控制在…以内」."""
    wb = Workbook()
    ws = wb.active
    ws.title = RESPONSIBILITY_SHEET
    ws.append(["2024年眉山市民生实事项目责任清单"])
    ws.append(RESPONSIBILITY_HEADER)
    ws.append(["1", "稳岗就业", "新增城镇就业5000人", "甲", "市人社局", "乙", "", "12月底",
               "6月底前完成2500人; 12月底前全面完成"])  # fmt: skip
    ws.append(["", "稳岗就业", "城镇调查失业率控制在5.5%以内", "甲", "市人社局", "乙", "",
               "12月底", "全年控制在5.5%以内"])  # fmt: skip
    ws2 = wb.create_sheet(BREAKDOWN_SHEET)
    ws2.append(["2024年眉山市民生实事项目任务分解表"])
    ws2.append(["序号", "项目名称", "量化目标(人)", "牵头单位", "全市", "各区县任务", None])
    ws2.append([None, None, None, None, None, "东坡区(人)", "彭山区(人)"])
    for col in range(1, 6):
        ws2.merge_cells(start_row=2, start_column=col, end_row=3, end_column=col)
    ws2.merge_cells("F2:G2")
    ws2.append(["1", "新增城镇就业5000人", "5000", "市人社局", "5000", "3000", "2000"])
    ws2.append(["2", "城镇调查失业率控制在5.5%以内", "控制在5.5%以内", "市人社局", "", "—", "—"])
    wb.save(path)
    return path


@pytest.fixture
def ningbo(db, tmp_path):
    tables = read_workbook(ningbo_workbook(tmp_path / "ningbo.xlsx"))
    return import_tables(tables, year=2024, registry=Registry.build(issuer="宁波市人民政府"))


def _projects(result):
    return {p["seq"]: p for p in result.plan["projects"]}


def test_one_header_row_keeps_the_first_project_and_reads_blank_continuation_rows(ningbo):
    plan = ningbo.plan
    assert plan["issuer"] == "宁波市人民政府"  # from the title
    assert [d["name"] for d in plan["districts"]] == [
        "海曙区",
        "江北区",
        "镇海区",
    ]  # 合计 is no unit
    projects = _projects(ningbo)
    assert sorted(projects) == [1, 2, 3, 4, 5]
    first = projects[1]["indicators"]
    assert [i["target"] for i in first] == ["300张", "1.2万人次"]
    assert first[0]["quotas"] == ["100张", "120张", "80张"]
    assert first[1]["quotas"] == ["0.5万人次", "0.4万人次", "0.3万人次"]
    assert [i["key"] for i in first] == ["P1-T1", "P1-T2"]
    review = "\n".join(ningbo.review)
    assert "序号1：「1.2万人次」一行序号为空，按该项目的续行读取" in review
    assert "序号5：合计「21个」与量化目标「20个」不一致" in review


def test_ceilings_and_minimums_are_read_with_their_direction(ningbo):
    projects = _projects(ningbo)
    rate = projects[2]["indicators"][0]
    assert rate["label"] == "城镇登记失业率"  # 「低于」 is the direction, not the name
    assert (rate["target"], rate["kind"], rate["direction"], rate["scope"]) == (
        "4.3%", "level", "ceiling", "city",
    )  # fmt: skip
    screening = projects[3]["indicators"][0]
    assert (screening["target"], screening["unit"]) == ("1万例", "例")  # a floor, not 「例以上」
    assert "direction" not in screening
    assert "序号2：量化目标「低于4.3%」按上限理解" in "\n".join(ningbo.review)


def test_work_plan_amounts_titles_and_deadline_less_completion(ningbo):
    projects = _projects(ningbo)
    lines = projects[4]["milestones"][0]["targets"]
    assert lines == [{"indicator": 2, "kind": "absolute", "value": "3条"}]  # 优化调整, not 新辟
    canteens = projects[5]["milestones"]
    assert [m.get("indicator") or m["targets"][0]["indicator"] for m in canteens] == [1, 1]
    assert canteens[-1]["due"] == "2024-11"
    assert canteens[-1]["targets"] == [{"indicator": 1, "kind": "percent", "value": "100%"}]
    review = "\n".join(ningbo.review)
    assert "序号5：没有预计完成时间" in review
    assert "责任清单第5个项目「建成社区食堂20个」：类别为空，已按上一项目归入「出行无忧」" in review


def test_the_import_loads_as_a_second_plan_of_the_year(plan_2024, ningbo):
    summary = load_plan(copy.deepcopy(ningbo.plan))
    plan = summary.plan_year
    assert (plan.issuer, plan.year) == ("宁波市人民政府", 2024)
    assert PlanYear.objects.filter(year=2024).count() == 2
    quotas = Quota.objects.filter(indicator__project__plan_year=plan)
    assert quotas.count() == 3 + 3 + 3 + 3 + 3 + 3
    assert (
        quotas.get(indicator__project__seq=1, indicator__order=2, district__name="海曙区").value
        == 5000
    )
    assert quotas.get(indicator__project__seq=3, district__name="江北区").value == 3000
    assert Indicator.objects.get(project__plan_year=plan, project__seq=2).scope == "city"
    assert Milestone.objects.filter(
        project__plan_year=plan, project__seq=5, kind="percent"
    ).exists()
    # 街道 and 镇 in 配合单位 are places, not agencies
    assert Agency.objects.filter(name="市财政局").exists()
    assert not Agency.objects.filter(name__endswith="街道").exists()
    assert not Agency.objects.filter(name__in=["各镇", "镇"]).exists()


def test_two_header_rows_with_units_in_the_headers_and_a_city_column(db, tmp_path):
    result = import_tables(
        read_workbook(meishan_workbook(tmp_path / "meishan.xlsx")),
        year=2024,
        registry=Registry.build(issuer="眉山市人民政府"),
    )
    assert result.plan["issuer"] == "眉山市人民政府"
    assert [d["name"] for d in result.plan["districts"]] == ["东坡区", "彭山区"]
    jobs, rate = (p["indicators"][0] for p in result.plan["projects"])
    assert (jobs["target"], jobs["unit"], jobs["quotas"]) == ("5000人", "人", ["3000人", "2000人"])
    assert (rate["target"], rate["direction"]) == ("5.5%", "ceiling")
    summary = load_plan(copy.deepcopy(result.plan))
    assert Quota.objects.filter(indicator__project__plan_year=summary.plan_year).count() == 2


def test_near_misses_only_among_the_issuers_own_units(plan_2024, tmp_path):
    """A 彭山区 column of 眉山's plan is not 「close to 萧山区」; a 萧山 column of 杭州's is."""
    meishan = import_tables(
        read_workbook(meishan_workbook(tmp_path / "meishan.xlsx")),
        year=2024,
        registry=Registry.build(issuer="眉山市人民政府"),
    )
    review = "\n".join(meishan.review)
    assert "第2列「彭山区」：不是已登记的单位，已暂填代码 unit-2" in review
    assert "萧山区" not in review
    load_plan(copy.deepcopy(meishan.plan))  # new_unit: the loader does not refuse it either

    typo = [list(r) for r in NINGBO_BREAKDOWN]
    typo[0][5] = "萧山"
    hangzhou = import_tables(
        read_workbook(ningbo_workbook(tmp_path / "typo.xlsx", typo, "2024年杭州市民生实事项目")),
        year=2024,
        registry=Registry.build(issuer="杭州市人民政府"),
    )
    assert "第1列「萧山」：不是已登记的单位（相近的已登记单位：萧山区）" in "\n".join(
        hangzhou.review
    )
    assert "new_unit" not in hangzhou.plan["districts"][0]


def test_a_value_past_the_last_header_is_refused_with_its_cell(db, tmp_path):
    rows = [list(r) for r in NINGBO_BREAKDOWN]
    rows[4] = [*rows[4], "", "999例"]
    path = ningbo_workbook(tmp_path / "past.xlsx", rows)
    with pytest.raises(
        TableError, match="「任务分解表」第6行 J列「999例」在最后一个表头列（H列）之后"
    ):
        read_workbook(path)


def test_no_unit_columns_and_empty_categories_are_listed(db, tmp_path):
    rows = [r[:4] for r in NINGBO_BREAKDOWN]
    result = import_tables(
        read_workbook(ningbo_workbook(tmp_path / "nocols.xlsx", rows)),
        year=2024,
        registry=Registry.build(issuer="宁波市人民政府"),
    )
    assert "任务分解表：没有填报单位列" in "\n".join(result.review)
    assert {i["scope"] for p in result.plan["projects"] for i in p["indicators"]} == {"city"}


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("plan.xls", b"\xd0\xcf\x11\xe0 old excel", "旧版 Excel 文件（.xls）"),
        ("plan.xlsx", b"not a zip at all", "不是有效的 .xlsx 工作簿"),
        ("plan.xlsx", b"PK\x03\x04broken", "不是有效的 .xlsx 工作簿"),
    ],
)
def test_xls_and_broken_files_are_refused_in_chinese(db, tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(CommandError, match=message):
        call_command("import_plan", str(path), "--year", "2024", "--issuer", "宁波市人民政府")
    assert not (tmp_path / "plan.yaml").exists()


def test_a_missing_file_is_named(db, tmp_path):
    with pytest.raises(CommandError, match="找不到文件"):
        call_command("import_plan", str(tmp_path / "none.xlsx"), "--year", "2024")


def test_import_without_an_issuer_in_the_title_asks_for_one(db, tmp_path):
    path = ningbo_workbook(tmp_path / "plain.xlsx", title="2024年民生实事项目")
    with pytest.raises(CommandError, match="看不出发布机关。请用 --issuer 指定"):
        call_command("import_plan", str(path), "-o", str(tmp_path / "p.yaml"))
    call_command(
        "import_plan", str(path), "-o", str(tmp_path / "p.yaml"), "--issuer", "宁波市人民政府"
    )
    text = (tmp_path / "p.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    assert data["issuer"] == "宁波市人民政府"
    assert data["projects"][1]["indicators"][0]["direction"] == "ceiling"
    assert "# - 序号2：量化目标「低于4.3%」按上限理解" in text


def test_loading_the_raw_output_fails_only_on_listed_items(plan_2024, tmp_path):
    """Placeholder codes collide with the units a first import registered: the loader's
    complaint names a column the review already lists."""
    first = import_tables(
        read_workbook(ningbo_workbook(tmp_path / "a.xlsx")),
        year=2024,
        registry=Registry.build(issuer="宁波市人民政府"),
    )
    load_plan(copy.deepcopy(first.plan))
    second = import_tables(
        read_workbook(meishan_workbook(tmp_path / "b.xlsx")),
        year=2024,
        registry=Registry.build(issuer="眉山市人民政府"),
        check_load=True,
    )
    with pytest.raises(PlanFileError) as caught:
        load_plan(copy.deepcopy(second.plan))
    listed = "\n".join(second.review)
    for problem in caught.value.problems:
        column = problem.split("」")[0] + "」"
        assert column in listed, problem  # the column's own item …
        assert f"载入时将被拒绝：{problem}" in listed  # … and the loader's words
