"""Export → import → load gives the reviewed 2024 plan back unchanged: keys, unit codes,
merged columns, city-wide scopes and the reviewed milestones travel in the workbook."""

import copy

from django.core.management import call_command
from openpyxl import load_workbook

from tests.plan_helpers import numeric_milestones, quota_cells
from tracker.plans.importer import Registry, import_tables
from tracker.plans.loader import load_plan
from tracker.plans.models import Indicator, Milestone, Project, Quota
from tracker.plans.published_tables import HIDDEN_SHEET, read_workbook
from tracker.plans.reference import PlanColumn, PlanYear

PLAN_MODELS = (PlanYear, PlanColumn, Project, Indicator, Quota, Milestone)


def _rows(plan):
    milestones = Milestone.objects.filter(project__plan_year=plan)
    return {
        "milestones": sorted(
            milestones.values_list(
                "project__seq", "order", "indicator__order", "due_date", "kind", "value", "text"
            )
        ),
        "targets": sorted(
            Indicator.objects.filter(project__plan_year=plan).values_list(
                "project__seq", "order", "label", "unit", "kind", "scope", "target_value"
            )
        ),
        "quotas": sorted(
            Quota.objects.filter(indicator__project__plan_year=plan).values_list(
                "indicator__project__seq", "indicator__order", "district__code", "value"
            )
        ),
    }


def test_export_import_load_gives_the_reviewed_plan_back(plan_2024, plan_2024_data, tmp_path):
    before = _rows(plan_2024)
    history = {m: m.history.count() for m in PLAN_MODELS}
    out = tmp_path / "plan.xlsx"
    call_command("export_plan", "2024", "--xlsx", str(out))
    assert load_workbook(out)[HIDDEN_SHEET].sheet_state == "hidden"

    result = import_tables(read_workbook(out), year=2024, registry=Registry.build())
    plan = result.plan
    assert len(quota_cells(plan)) == 643
    assert quota_cells(plan) == quota_cells(plan_2024_data)
    assert numeric_milestones(plan) == numeric_milestones(plan_2024_data)
    projects = {p["seq"]: p for p in plan["projects"]}
    assert projects[25]["key"] == "P25"
    assert [i["key"] for i in projects[25]["indicators"]] == ["P25-T1", "P25-T2"]
    assert projects[25]["milestones"][0]["key"] == "P25-M1"
    assert projects[11]["indicators"][0]["scope"] == "city"
    assert not [r for r in result.review if "不是已登记的单位" in r]

    summary = load_plan(copy.deepcopy(plan))
    assert not summary.changed, summary.describe()
    assert _rows(plan_2024) == before
    assert {m: m.history.count() for m in PLAN_MODELS} == history
    assert PlanYear.objects.count() == 1


def test_the_commands_round_trip_and_an_edited_work_plan_is_parsed_again(
    plan_2024, tmp_path, capsys
):
    """No --issuer: the hidden sheet says whose plan it is. A work plan edited in the
    workbook is parsed again, and the review says so."""
    out = tmp_path / "plan.xlsx"
    call_command("export_plan", "2024", "--plan", str(plan_2024.pk), "--xlsx", str(out))
    wb = load_workbook(out)
    ws = wb["责任清单"]
    row = next(
        r
        for r in range(1, ws.max_row + 1)
        if ws.cell(r, 3).value == plan_2024.projects.get(seq=2).name
    )
    ws.cell(row, 9).value = "6月底前完成50%; 11月底前全面完成"
    wb.save(out)
    call_command("import_plan", str(out), "-o", str(tmp_path / "plan.yaml"))
    printed = capsys.readouterr().out
    assert "杭州市人民政府 2024 年" in printed
    assert "序号2：工作计划和进度安排与导出时不同" in printed
    assert printed.count("工作计划和进度安排与导出时不同") == 1
    summary = load_plan(tmp_path / "plan.yaml")
    assert summary.plan_year == plan_2024
    dues = Milestone.objects.filter(project__plan_year=plan_2024, project__seq=2)
    assert sorted({m.due_date.month for m in dues}) == [6, 11]
