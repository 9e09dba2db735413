"""The integrity check passes on the published plan and names what breaks a copy."""

import copy
import csv

import pytest
from django.core.management import CommandError, call_command

from tracker.plans.integrity import Check, check_plan, unacknowledged
from tracker.plans.loader import PlanFileError, load_plan
from tracker.plans.models import Milestone, Project
from tracker.plans.reference import PlanYear


def test_published_plan_passes_with_the_known_deadline_mismatch_acknowledged(plan_2024):
    findings = check_plan(plan_2024)
    assert unacknowledged(findings) == []
    [known] = findings
    assert (known.seq, known.check, known.acknowledged) == (9, Check.MILESTONE_AFTER_DEADLINE, True)
    assert "12 月底" in known.message


def test_check_plan_command_succeeds(plan_2024, capsys):
    call_command("check_plan", "2024")
    assert "完整性检查通过" in capsys.readouterr().out


def _broken(plan_2024_data):
    data = copy.deepcopy(plan_2024_data)
    projects = {p["seq"]: p for p in data["projects"]}
    projects[1]["indicators"][0]["quotas"][5] = "50 个"  # 萧山区 40 → 50: sum 237 ≠ 227
    ms = projects[13]["milestones"]
    ms[2]["targets"][0]["value"] = "3000人"  # 9月 3000 after 6月 4000: backwards
    projects[17]["milestones"][2]["targets"][0]["value"] = "250个"  # 9月 250 > 200
    projects[20]["milestones"].append({"due": "2024-12", "text": "12月底前验收"})  # late
    return data


def test_broken_copy_fails_with_clear_messages(db, plan_2024_data):
    load_plan(_broken(plan_2024_data))
    plan_year = PlanYear.objects.get(year=2024)
    problems = {(f.seq, f.check): f.message for f in unacknowledged(check_plan(plan_year))}
    assert set(problems) == {
        (1, Check.QUOTA_SUM),
        (13, Check.MILESTONE_BACKWARDS),
        (17, Check.MILESTONE_EXCEEDS),
        (17, Check.MILESTONE_BACKWARDS),  # 11月 200 after the broken 9月 250
        (20, Check.MILESTONE_AFTER_DEADLINE),
    }
    assert "合计 237个，与年度目标 227个 不符" in problems[(1, Check.QUOTA_SUM)]
    assert "低于之前的节点" in problems[(13, Check.MILESTONE_BACKWARDS)]
    with pytest.raises(CommandError, match="5 个问题"):
        call_command("check_plan", "2024")


def test_bad_file_is_refused_and_changes_nothing(plan_2024, plan_2024_data):
    data = copy.deepcopy(plan_2024_data)
    data["projects"][0]["indicators"][0]["quotas"][5] = "40 张"  # wrong unit
    data["projects"][0]["name"] = "改过的名称"
    data["projects"][1]["indicators"][0]["quotas"] = ["—"] * 3  # wrong column count
    data["projects"][2]["milestones"][0]["due"] = "2025-03"  # outside the plan year
    with pytest.raises(PlanFileError) as info:
        load_plan(data)
    message = str(info.value)
    assert "「40 张」的单位「张」与指标单位「个」不一致" in message
    assert "应按列序列出 15 个单元格" in message
    assert "不在 2024 年度内" in message
    assert Project.objects.get(seq=1).name == "新增老年助餐服务点227个"


def test_missing_or_malformed_file_is_a_clear_error(db, tmp_path):
    with pytest.raises(PlanFileError, match="找不到计划文件"):
        load_plan(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("projects: [unclosed", encoding="utf-8")
    with pytest.raises(PlanFileError, match=r"bad.yaml .*不是有效的 YAML.*请检查缩进"):
        load_plan(bad)
    with pytest.raises(CommandError, match="找不到计划文件"):
        call_command("load_plan", str(tmp_path / "nope.yaml"))


def test_export_csv_is_diffable_against_the_publication(plan_2024, tmp_path):
    call_command("export_plan", "2024", "--csv", str(tmp_path))
    with (tmp_path / "quotas.csv").open(encoding="utf-8") as fh:
        quotas = list(csv.DictReader(fh))
    assert list(quotas[0]) == [
        "seq", "indicator", "label", "unit", "district", "quota", "new", "upgrade"
    ]  # fmt: skip
    assert len(quotas) == 643
    cell = {(r["seq"], r["indicator"], r["district"]): r for r in quotas}
    assert cell[("1", "1", "萧山区")]["quota"] == "40"
    assert cell[("25", "2", "余杭区")]["quota"] == "10120"
    assert (cell[("26", "1", "上城区")]["new"], cell[("26", "1", "上城区")]["upgrade"]) == (
        "5",
        "4",
    )
    assert cell[("23", "1", "钱塘区")]["quota"] == "2.5"

    with (tmp_path / "milestones.csv").open(encoding="utf-8") as fh:
        milestones = list(csv.DictReader(fh))
    assert list(milestones[0]) == ["seq", "indicator", "month", "kind", "value", "expected", "text"]
    rows = {(r["seq"], r["indicator"], r["month"], r["kind"]): r for r in milestones}
    assert rows[("12", "1", "2024-03", "absolute")]["expected"] == "60000"
    assert rows[("12", "1", "2024-03", "absolute")]["value"] == "6万人"
    assert rows[("14", "1", "2024-06", "percent")]["expected"] == "4400"
    assert rows[("9", "1", "2024-06", "level")]["expected"] == "81"
    qualitative = rows[("1", "", "2024-03", "qualitative")]
    assert (qualitative["value"], qualitative["expected"]) == ("", "")
    assert len(milestones) == Milestone.objects.count()


def test_a_target_with_its_own_deadline_is_checked_against_it(db, plan_2024_data):
    """序号15's second target ends in September here: its November milestone is late."""
    data = copy.deepcopy(plan_2024_data)
    projects = {p["seq"]: p for p in data["projects"]}
    projects[15]["indicators"][1]["deadline"] = "2024-09"
    load_plan(data)
    plan_year = PlanYear.objects.get(year=2024)
    [late] = unacknowledged(check_plan(plan_year))
    assert (late.seq, late.indicator, late.check) == (15, 2, Check.MILESTONE_AFTER_DEADLINE)
    assert "晚于预计完成时间 2024年9月底" in late.message
