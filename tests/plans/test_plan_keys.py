"""Plans matched by key, with a preview before any write (issue 29).

Damaged copies of the 2024 plan: reordered targets match by key and change no figure's
meaning; a quota row shifted by a column and a dropped milestone with completions are shown
with the data they touch and refused until confirmed; a confirmed change is in history with
its user and reason, and announced through ``plan_changed``.
"""

import copy
import importlib
import shutil

import pytest
import yaml
from django.apps import apps
from django.core.management import CommandError, call_command
from django.db.models import CharField, Value
from django.db.models.functions import Cast, Concat
from openpyxl import load_workbook

from tests.conftest import PLAN_2024
from tests.factories import make_user
from tests.lag_helpers import report
from tests.plans.test_plan_damaged import snapshot
from tracker.plans.importer import Registry, import_tables
from tracker.plans.loader import PlanChangeRefused, PlanFileError, load_plan, preview
from tracker.plans.models import Indicator, Milestone, Project, Quota
from tracker.plans.published_tables import BREAKDOWN_SHEET, read_workbook
from tracker.plans.reference import District
from tracker.plans.signals import plan_changed
from tracker.progress.models import MilestoneCompletion, ProgressReport


@pytest.fixture
def data(plan_2024_data):
    return copy.deepcopy(plan_2024_data)


def project(data, seq):
    return next(p for p in data["projects"] if p["seq"] == seq)


def test_stored_plan_has_the_keys_of_the_file(plan_2024):
    schools = Indicator.objects.get(project__plan_year=plan_2024, key="P25-T1")
    assert (schools.project.seq, schools.order, schools.unit) == (25, 1, "所")
    assert Project.objects.get(plan_year=plan_2024, key="P25").seq == 25
    # a sentence with two numbers is two rows: the first keeps the sentence's key
    rows = Milestone.objects.filter(project__key="P26", key__startswith="P26-M1")
    assert sorted(rows.values_list("key", "kind")) == [
        ("P26-M1", "absolute"),
        ("P26-M1.2", "stage"),
    ]


def test_reordered_targets_match_by_key(plan_2024, data):
    """序号25 listed with its two targets the other way round: 4 所 stay 4 所."""
    shangcheng = District.objects.get(code="shangcheng")
    schools = Indicator.objects.get(project__plan_year=plan_2024, key="P25-T1")
    report(schools, shangcheng, "2024-06", 4)
    p25 = project(data, 25)
    p25["indicators"].reverse()
    for m in p25["milestones"]:  # a careful clerk follows the targets, or names them by key
        for t in m.get("targets") or []:
            t["indicator"] = "P25-T1" if t["indicator"] == 1 else "P25-T2"

    changes = preview(data)
    assert not changes.needs_confirmation
    assert [(c.action, c.key, c.fields) for c in changes.changes] == [
        ("修改", "P25-T2", [("序次", "2", "1")]),
        ("修改", "P25-T1", [("序次", "1", "2")]),
    ]
    load_plan(data)
    schools.refresh_from_db()
    assert (schools.order, schools.unit, schools.label) == (2, "所", "新建成中小学、幼儿园")
    stored = ProgressReport.objects.get(district=shangcheng, indicator__project__seq=25)
    assert stored.indicator_id == schools.pk and stored.indicator.unit == "所"
    assert Quota.objects.get(indicator=schools, district=shangcheng).value == 6
    assert Milestone.objects.get(key="P25-M2").indicator_id == schools.pk


def test_shifted_quota_row_is_shown_with_its_reports_and_refused(plan_2024, data):
    """序号1's row moved one column left (the sum is still 227)."""
    meals = Indicator.objects.get(project__plan_year=plan_2024, key="P1-T1")
    shangcheng = District.objects.get(code="shangcheng")
    for month, value in (("2024-03", 2), ("2024-04", 4), ("2024-05", 6)):
        report(meals, shangcheng, month, value)
    row = project(data, 1)["indicators"][0]
    row["quotas"] = [*row["quotas"][1:], "—"]

    changes = preview(data)
    risky = {c.key: c for c in changes.risky}
    assert set(risky) == {"P1-T1@shangcheng"}
    shifted = risky["P1-T1@shangcheng"]
    assert shifted.fields == [("任务数", "10", "15"), ("原文", "10 个", "15 个")]
    assert shifted.touches == {"进度填报": 3}
    assert "修改分解任务 P1-T1@xihu-scenic「新增老年助餐服务点 · 西湖风景名胜区」" not in [
        c.line() for c in changes.changes
    ]
    removed = next(c for c in changes.changes if c.key == "P1-T1@xihu-scenic")
    assert removed.action == "删除" and not removed.risk  # nothing reported there
    added = next(c for c in changes.changes if c.key == "P1-T1@shibenji")
    assert added.action == "新增"

    before = snapshot()
    with pytest.raises(PlanChangeRefused) as info:
        load_plan(data)
    message = str(info.value)
    assert "修改分解任务 P1-T1@shangcheng「新增老年助餐服务点 · 上城区」" in message
    assert "任务数 10 → 15" in message and "进度填报 3 条" in message
    assert "--confirm --reason" in message
    assert snapshot() == before


def test_dropped_milestone_with_completions_is_refused(plan_2024, data):
    first = Milestone.objects.get(project__plan_year=plan_2024, key="P1-M1")
    for code in ("shangcheng", "gongshu"):
        MilestoneCompletion.objects.create(
            milestone=first, district=District.objects.get(code=code), done=True
        )
    project(data, 1)["milestones"].pop(0)

    changes = preview(data)
    assert [(c.action, c.key, c.touches) for c in changes.risky] == [
        ("删除", "P1-M1", {"节点完成": 2})
    ]
    with pytest.raises(
        PlanChangeRefused, match="删除进度节点 P1-M1「3月底前确定项目点位以及实施名单」"
    ):
        load_plan(data)
    assert MilestoneCompletion.objects.filter(milestone=first).count() == 2
    # the other milestones keep their keys: nothing slides onto P1-M1's completions
    assert Milestone.objects.get(key="P1-M2").text == "6月底前开展项目设计及招标"


def test_confirmed_change_is_in_history_with_user_and_reason_and_announced(
    plan_2024, data, tmp_path
):
    meals = Indicator.objects.get(project__plan_year=plan_2024, key="P1-T1")
    shangcheng = District.objects.get(code="shangcheng")
    report(meals, shangcheng, "2024-03", 2)
    row = project(data, 1)["indicators"][0]
    row["quotas"][1] = "12 个"
    row["quotas"][2] = "13 个"
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    make_user("duchashi")
    heard = []

    def listen(sender, plan, indicator_ids, project_ids, cells=(), **kwargs):
        heard.append((plan.pk, indicator_ids, project_ids, cells))

    plan_changed.connect(listen, dispatch_uid="test_plan_keys")
    try:
        with pytest.raises(CommandError, match="须同时用 --reason"):
            call_command("load_plan", str(path), "--confirm")
        with pytest.raises(CommandError, match="任务数 10 → 12"):
            call_command("load_plan", str(path))
        assert not heard
        call_command(
            "load_plan",
            str(path),
            "--confirm",
            "--reason",
            "上城区任务数调整",
            "--user",
            "duchashi",
        )
    finally:
        plan_changed.disconnect(dispatch_uid="test_plan_keys")
    quota = Quota.objects.get(indicator=meals, district=shangcheng)
    assert quota.value == 12
    change = quota.history.latest("history_date")
    assert change.history_user.username == "duchashi"
    assert change.history_change_reason == "载入计划文件 plan.yaml：上城区任务数调整"
    gongshu = District.objects.get(name="拱墅区")
    # two quotas corrected: their two cells are re-evaluated, not the target's 14 districts
    assert heard == [
        (plan_2024.pk, [], [], sorted([(meals.pk, shangcheng.pk), (meals.pk, gongshu.pk)]))
    ]


def test_history_without_a_user_names_the_command_line(plan_2024, data, tmp_path):
    project(data, 2)["name"] = "新增认知障碍照护专区床位1000张（修订）"
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    call_command("load_plan", str(path))
    change = Project.objects.get(key="P2").history.latest("history_date")
    assert change.history_user is None
    assert change.history_change_reason.startswith("载入计划文件 plan.yaml（命令行，系统用户 ")


def test_dry_run_lists_the_changes_and_writes_nothing(plan_2024, data, tmp_path, capsys):
    meals = Indicator.objects.get(project__plan_year=plan_2024, key="P1-T1")
    report(meals, District.objects.get(code="gongshu"), "2024-03", 3)
    project(data, 1)["indicators"][0]["unit"] = "家"
    project(data, 1)["indicators"][0]["target"] = "227 家"
    project(data, 1)["indicators"][0]["quotas"] = [
        str(q).replace("个", "家") for q in project(data, 1)["indicators"][0]["quotas"]
    ]
    project(data, 1)["milestones"][2]["targets"][0]["value"] = "100家"
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    before = snapshot()
    call_command("load_plan", str(path), "--dry-run")
    out = capsys.readouterr().out
    assert "项目 P1 序号1「新增老年助餐服务点227个」" in out
    assert "修改量化目标 P1-T1「新增老年助餐服务点（227 家）」：单位 个 → 家" in out
    assert "【需确认：单位改变，已存的数字将按新的含义计算】" in out
    assert "进度填报 1 条" in out
    assert snapshot() == before


def test_the_preview_shows_a_renamed_category_a_new_title_and_a_relabelled_column(
    plan_2024, data, tmp_path, capsys
):
    """What the writer changes on the plan itself is in the preview too: a dry run lists
    it and writes nothing (it used to say 无变化); the load then writes it, with history.
    Labels change no figure's meaning, so none needs confirming."""
    from tracker.plans.reference import Category, PlanColumn, PlanYear

    data["categories"][0] = "“幸福养老”在杭州"
    data["title"] = "2024年市政府民生实事项目（修订）"
    data["districts"][1]["label"] = "上城"
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    before = snapshot()
    call_command("load_plan", str(path), "--dry-run")
    out = capsys.readouterr().out
    assert "无变化" not in out
    assert "计划（年度、类别、计划列）" in out
    assert "修改年度 2024「2024年市政府民生实事项目」：名称 2024年市政府民生实事项目 → " in out
    assert "修改类别 1「“幸福养老”在杭州」：名称 “幸福助老”在杭州 → “幸福养老”在杭州" in out
    assert "修改计划列 shangcheng「上城」：表头（原文） 上城区 → 上城" in out
    assert snapshot() == before
    assert PlanColumn.objects.get(plan=plan_2024, district__code="shangcheng").label == "上城区"

    call_command("load_plan", str(path), "--reason", "更正名称")  # no confirmation needed
    category = Category.objects.get(plan_year=plan_2024, order=1)
    assert category.name == "“幸福养老”在杭州"
    assert category.history.first().history_change_reason.startswith("载入计划文件")
    assert PlanYear.objects.get(pk=plan_2024.pk).title.endswith("（修订）")
    assert PlanColumn.objects.get(plan=plan_2024, district__code="shangcheng").label == "上城"
    capsys.readouterr()
    call_command("load_plan", str(path))  # the same file again
    assert "：无变化" in capsys.readouterr().out


def test_a_file_without_keys_loads_only_into_an_empty_plan(db, data, tmp_path, capsys):
    def strip(d):
        for p in d["projects"]:
            p.pop("key")
            for item in [*p["indicators"], *(p.get("milestones") or [])]:
                item.pop("key")
        return d

    keyless = strip(copy.deepcopy(data))
    load_plan(copy.deepcopy(keyless))  # an empty plan: keys derived from positions
    assert Indicator.objects.get(key="P25-T2").unit == "个"
    assert not load_plan(copy.deepcopy(keyless)).changed  # the same file again: nothing to do

    project(keyless, 25)["indicators"].reverse()
    for m in project(keyless, 25)["milestones"]:
        for t in m.get("targets") or []:
            t["indicator"] = 3 - t["indicator"]
    with pytest.raises(PlanFileError, match=r"计划文件缺少 key.*--derive-keys"):
        load_plan(copy.deepcopy(keyless))

    path = tmp_path / "plan.yaml"
    shutil.copy(PLAN_2024, path)
    text = path.read_text(encoding="utf-8")
    text = text.replace("- key: P25\n  seq: 25", "- seq: 25").replace(
        "  - key: P25-T2\n    label:", "  - label:"
    )
    path.write_text(text, encoding="utf-8")
    call_command("load_plan", str(path))  # it reads as the stored plan: nothing to refuse
    assert "无变化" in capsys.readouterr().out
    call_command("load_plan", str(path), "--derive-keys")
    out = capsys.readouterr().out
    assert "已在" in out and "序号25 → P25" in out and "序号25 第2个量化目标 → P25-T2" in out
    assert "无变化" in out
    assert path.read_text(encoding="utf-8") == PLAN_2024.read_text(encoding="utf-8")


def test_duplicate_keys_are_refused(db, data):
    project(data, 2)["key"] = "P1"
    with pytest.raises(PlanFileError, match="序号2 字段「key」（标识）：「P1」与序号1重复"):
        load_plan(data)


def test_direction_in_the_file(plan_2024, data):
    """A target marked ``direction: ceiling`` is stored so; on a target with reports the
    change is a reinterpretation and needs confirming."""
    target = project(data, 9)["indicators"][0]
    target["direction"] = "ceiling"
    changes = preview(data)
    assert [(c.key, c.fields, c.risk) for c in changes.changes] == [
        ("P9-T1", [("方向", "不低于（下限）", "不高于（上限）")], "")
    ]
    load_plan(data)
    assert Indicator.objects.get(project__plan_year=plan_2024, key="P9-T1").is_ceiling

    report(
        Indicator.objects.get(project__plan_year=plan_2024, key="P9-T1"),
        District.objects.get(code="gongshu"),
        "2024-03",
        80,
    )
    target["direction"] = "floor"
    with pytest.raises(PlanChangeRefused, match="方向改变"):
        load_plan(data)


def test_the_migration_derives_the_keys_the_loader_writes(plan_2024):
    """Stored plans got their keys from the data migration: the same as the file's."""
    # (a migration module's name starts with a digit: imported by name)
    migration = importlib.import_module("tracker.migrations.0012_b1_plan_keys")
    before = (
        sorted(Project.objects.values_list("pk", "key")),
        sorted(Indicator.objects.values_list("pk", "key")),
        sorted(Milestone.objects.values_list("pk", "key")),
    )
    for model in (Milestone, Indicator, Project):  # forget them (unique placeholders)
        model.objects.update(key=Concat(Value("old-"), Cast("pk", CharField())))
    migration.derive_keys(apps, None)
    after = (
        sorted(Project.objects.values_list("pk", "key")),
        sorted(Indicator.objects.values_list("pk", "key")),
        sorted(Milestone.objects.values_list("pk", "key")),
    )
    assert after == before
    assert len({k for _pk, k in after[2]}) == Milestone.objects.count()


def test_renumbered_projects_keep_their_targets(plan_2024, data):
    """序号1 and 序号2 swap numbers (and places): each keeps its key, targets and reports."""
    meals = Indicator.objects.get(project__plan_year=plan_2024, key="P1-T1")
    report(meals, District.objects.get(code="xiaoshan"), "2024-04", 12)
    first, second = project(data, 1), project(data, 2)
    first["seq"], second["seq"] = 2, 1
    data["projects"][0], data["projects"][1] = second, first
    changes = preview(data)
    assert not changes.needs_confirmation
    assert [(c.key, c.fields) for c in changes.changes] == [
        ("P2", [("序号", "2", "1")]),
        ("P1", [("序号", "1", "2")]),
    ]
    load_plan(data)
    meals.refresh_from_db()
    assert meals.project.seq == 2 and meals.project.key == "P1"
    assert ProgressReport.objects.get(indicator=meals).value == 12
    assert Project.objects.get(plan_year=plan_2024, seq=1).name.startswith("新增认知障碍")


def test_shifted_quota_row_in_a_workbook_is_shown_and_refused(plan_2024, tmp_path):
    """The same damage made in the exported workbook (序号1's row in 任务分解表 moved one
    column left): import, then load, shows 上城区's quota change with its reports and
    refuses; nothing changes."""
    meals = Indicator.objects.get(project__plan_year=plan_2024, key="P1-T1")
    shangcheng = District.objects.get(code="shangcheng")
    for month, value in (("2024-03", 2), ("2024-04", 4)):
        report(meals, shangcheng, month, value)
    out = tmp_path / "plan.xlsx"
    call_command("export_plan", "2024", "--xlsx", str(out))
    wb = load_workbook(out)
    ws = wb[BREAKDOWN_SHEET]
    header = next(r for r in range(1, 10) if any(c.value == "上城区" for c in ws[r]))
    first = next(c.column for c in ws[header] if c.value == "上城区")
    row = next(r for r in range(header + 1, ws.max_row + 1) if ws.cell(r, 1).value in (1, "1"))
    last = ws.max_column
    values = [ws.cell(row, col).value for col in range(first, last + 1)]
    for col, value in zip(range(first, last + 1), [*values[1:], None], strict=True):
        ws.cell(row, col).value = value
    wb.save(out)

    plan = import_tables(read_workbook(out), year=2024, registry=Registry.build()).plan
    changes = preview(copy.deepcopy(plan))
    risky = {c.key: c for c in changes.risky}
    assert "P1-T1@shangcheng" in risky
    assert risky["P1-T1@shangcheng"].touches == {"进度填报": 2}
    before = snapshot()
    with pytest.raises(PlanChangeRefused, match="P1-T1@shangcheng"):
        load_plan(plan)
    assert snapshot() == before
