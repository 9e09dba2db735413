"""Two plans in one year: a plan loaded after months of checks of another has its own
evaluated months, so its episodes are not opened and resolved in the same run."""

import copy
from datetime import date

import pytest
from django.core.management import CommandError, call_command

from tests.plan_helpers import district_plan
from tracker.demo.simulation import _check_time
from tracker.monitoring.checks import run_lag_check
from tracker.monitoring.models import LagAlert
from tracker.plans.loader import load_plan

pytestmark = pytest.mark.django_db
MONTHS = [date(2024, m, 1) for m in range(1, 7)]


def test_a_second_plans_alerts_stay_open_when_the_first_was_checked_for_longer():
    first = load_plan(district_plan()).plan_year
    for month in MONTHS:
        run_lag_check(month, as_of=_check_time(month), notify=False)
    assert LagAlert.objects.filter(indicator__project__plan_year=first).exists()
    data = copy.deepcopy(district_plan())
    data["issuer"] = "西湖区教育局"
    second = load_plan(data).plan_year

    result = run_lag_check(date(2024, 3, 1), as_of=_check_time(date(2024, 3, 1)), notify=False)
    opened = {a.pk for a in result.changes.created}
    resolved = {a.pk for a in result.changes.resolved}
    mine = LagAlert.objects.filter(indicator__project__plan_year=second)
    assert mine.exists() and opened >= set(mine.values_list("pk", flat=True))
    assert not opened & resolved  # opened and resolved in one run: the bug
    assert all(a.is_active for a in mine)


def test_check_lag_lists_each_plan_in_its_own_block_and_takes_plan(capsys):
    first = load_plan(district_plan()).plan_year
    data = copy.deepcopy(district_plan())
    data["issuer"] = "西湖区教育局"
    for p in data["projects"]:
        for ind in p["indicators"]:
            ind["label"] = "乙" + ind["label"]
    second = load_plan(data).plan_year
    call_command("check_lag", "--month", "2024-03", "--dry-run")
    out = capsys.readouterr().out
    lines = out.splitlines()
    heads = [lines.index(f"计划：{p}（{p.issuer}，编号 {p.pk}）") for p in (first, second)]
    mine = [n for n, line in enumerate(lines) if line.split()[1:2] == ["新增老年助餐点"]]
    theirs = [n for n, line in enumerate(lines) if line.split()[1:2] == ["乙新增老年助餐点"]]
    assert mine and theirs
    assert heads[0] < min(mine) <= max(mine) < heads[1] < min(theirs)  # one block per plan

    call_command("check_lag", "--month", "2024-03", "--dry-run", "--plan", str(second.pk))
    out = capsys.readouterr().out
    assert "乙新增老年助餐点" in out and " 新增老年助餐点" not in out
    with pytest.raises(CommandError, match="没有编号为 999 的 2024 年计划"):
        call_command("check_lag", "--month", "2024-03", "--dry-run", "--plan", "999")
