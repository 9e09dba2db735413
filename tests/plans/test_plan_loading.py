"""The 2024 plan as published: counts, exact quotas from 附件2, milestones from 附件1."""

from datetime import date
from decimal import Decimal

import pytest

from tracker.plans.loader import PlanChangeRefused, load_plan
from tracker.plans.models import Indicator, Milestone, Project, Quota
from tracker.plans.reference import Agency, Category, District
from tracker.progress.models import ProgressReport


def quota(seq, order, district):
    return Quota.objects.get(
        indicator__project__seq=seq, indicator__order=order, district__name=district
    ).value


def test_counts_match_the_gazette(plan_2024):
    assert Category.objects.filter(plan_year=plan_2024).count() == 10
    assert Project.objects.filter(plan_year=plan_2024).count() == 48
    assert list(District.objects.values_list("name", flat=True)) == [
        "市本级", "上城区", "拱墅区", "西湖区", "滨江区", "萧山区", "余杭区", "临平区",
        "钱塘区", "富阳区", "临安区", "桐庐县", "淳安县", "建德市", "杭州西湖风景名胜区",
    ]  # fmt: skip
    categories = list(plan_2024.categories.values_list("name", flat=True))
    assert categories[0] == "“幸福助老”在杭州"
    assert categories[-1] == "“城乡共富”在杭州"
    per_category = [c.projects.count() for c in plan_2024.categories.all()]
    assert per_category == [5, 4, 7, 7, 4, 4, 4, 4, 5, 4]


@pytest.mark.parametrize(
    ("seq", "order", "district", "value"),
    [
        (1, 1, "萧山区", 40),
        (1, 1, "临安区", 45),
        (1, 1, "杭州西湖风景名胜区", 2),
        (3, 1, "萧山区", 180000),
        (5, 1, "萧山区", 1390000),  # 「139 万」
        (15, 1, "临平区", 210000),  # 「21万平方米」
        (15, 2, "市本级", 5000),
        (16, 1, "萧山区", 2000),  # printed under 序号15, belongs to 16
        (23, 1, "钱塘区", Decimal("2.5")),
        (25, 2, "余杭区", 10120),
        (25, 1, "市本级", 3),
        (29, 5, "桐庐县", 3),
        (30, 2, "淳安县", Decimal("120.1")),
        (42, 2, "杭州西湖风景名胜区", 15),
        (47, 1, "富阳区", 19000),
    ],
)
def test_district_quotas_are_exactly_as_printed(plan_2024, seq, order, district, value):
    assert quota(seq, order, district) == Decimal(value)


def test_split_cells_keep_new_and_upgraded_points(plan_2024):
    shangcheng = Quota.objects.get(indicator__project__seq=26, district__name="上城区")
    assert (shangcheng.value, shangcheng.new_value, shangcheng.upgrade_value) == (9, 5, 4)
    assert shangcheng.published_text == "5(4)个"
    gongshu = Quota.objects.get(indicator__project__seq=26, district__name="拱墅区")
    assert (gongshu.new_value, gongshu.upgrade_value) == (6, 0)
    quotas = Quota.objects.filter(indicator__project__seq=26)
    assert sum(q.new_value for q in quotas) == 45
    assert sum(q.upgrade_value for q in quotas) == 55


def test_indicators_targets_kinds_and_scope(plan_2024):
    def ind(seq, order=1):
        return Indicator.objects.get(project__seq=seq, order=order)

    assert Indicator.objects.filter(project__plan_year=plan_2024).count() == 61
    assert [i.target_value for i in ind(24).project.indicators.all()] == [2000, 2000, 60]
    assert [i.target_value for i in ind(29).project.indicators.all()] == [20, 40, 20, 10, 10]
    assert ind(15, 1).target_value == 1_000_000 and ind(15, 1).unit == "平方米"
    assert ind(12).target_value == 250_000
    assert ind(12).scope == Indicator.Scope.CITY and not ind(12).quotas.exists()
    assert ind(11).kind == Indicator.Kind.QUALITATIVE and ind(11).target_value is None
    assert ind(9).kind == Indicator.Kind.LEVEL and ind(9).target_value == 83
    assert ind(39).kind == Indicator.Kind.LEVEL
    assert ind(16).quotas.count() == 10
    assert not Indicator.objects.filter(project__seq=15, order=3).exists()


def test_project_fields_from_responsibility_list(plan_2024):
    p = Project.objects.get(plan_year=plan_2024, seq=19)
    assert p.lead_agency.name == "市住保房管局"  # 附件1 「市住房管局」, 附件2 「市住保房管局」
    assert p.city_leader == "丁狄刚"
    assert p.deadline == date(2024, 11, 30)
    assert "各区、县(市)政府" in p.cooperating_text
    assert "市残联" in set(p.cooperating_agencies.values_list("name", flat=True))
    assert Project.objects.get(seq=23).city_leader == "方毅"  # printed 「方 毅」
    assert Project.objects.get(seq=42).lead_agency_leader == "漆宪忠、邓伟民"
    assert Project.objects.get(seq=34).deadline == date(2024, 10, 31)
    assert Project.objects.get(seq=41).deadline == date(2024, 5, 31)
    assert Project.objects.get(seq=6).deadline == date(2024, 9, 30)
    assert Project.objects.get(seq=27).deadline == date(2024, 9, 30)
    assert not Agency.objects.filter(name__in=["市住房管局", "市住房房管局"]).exists()


def test_numeric_milestones_are_numbers(plan_2024):
    def checkpoints(seq, order=1):
        return [
            (m.due_date.month, m.expected)
            for m in Milestone.objects.filter(project__seq=seq, indicator__order=order)
            if m.is_checkpoint
        ]

    assert checkpoints(12) == [(3, 60000), (6, 130000), (9, 200000), (11, 250000)]
    assert checkpoints(1) == [(9, 100), (11, 227)]
    assert checkpoints(9) == [(3, 80), (6, 81), (9, 82), (12, 83)]
    assert checkpoints(14) == [(3, 2200), (6, 4400), (9, 8800), (11, 11000)]
    assert checkpoints(32) == [(6, 100), (9, 140), (11, 200)]  # 完工通水, not 进场施工
    monthly = Milestone.objects.filter(project__seq=27, kind=Milestone.Kind.MONTHLY)
    assert [(m.due_date.month, m.value) for m in monthly] == [
        (5, 250),
        (6, 250),
        (7, 250),
        (8, 250),
    ]
    assert Milestone.objects.get(project__seq=41, kind="percent").due_date == date(2024, 5, 18)
    qualitative = Milestone.objects.filter(project__seq=1, kind=Milestone.Kind.QUALITATIVE)
    assert [m.text for m in qualitative] == [
        "3月底前确定项目点位以及实施名单",
        "6月底前开展项目设计及招标",
    ]


def test_loading_twice_changes_nothing(plan_2024, plan_2024_data, django_assert_max_num_queries):
    history_before = Quota.history.count() + Milestone.history.count() + Project.history.count()
    # set-based: a few queries per table, plus the plan's columns and the unit/header checks,
    # and the preview (the stored rows by key, and one count per kind of data hanging on them)
    with django_assert_max_num_queries(40):
        summary = load_plan(plan_2024_data)
    assert not summary.changed, summary.describe()
    after = Quota.history.count() + Milestone.history.count() + Project.history.count()
    assert after == history_before


def test_edited_file_updates_in_place_and_keeps_progress(plan_2024, plan_2024_data):
    import copy

    xiaoshan = District.objects.get(name="萧山区")
    indicator = Indicator.objects.get(project__seq=1)
    report = ProgressReport.objects.create(
        indicator=indicator, district=xiaoshan, month=date(2024, 6, 1), value=Decimal(12)
    )
    edited = copy.deepcopy(plan_2024_data)
    project = edited["projects"][0]
    project["indicators"][0]["quotas"][5] = "41 个"
    project["indicators"][0]["target"] = "228 个"
    with pytest.raises(PlanChangeRefused, match=r"修改分解任务 P1-T1@xiaoshan.*任务数 40 → 41"):
        load_plan(edited)  # 萧山区 has a report: its quota changes only when confirmed
    assert quota(1, 1, "萧山区") == 40
    summary = load_plan(edited, confirm=True, reason="市政府调整萧山区任务数")
    assert summary.updated["分解任务"] == 1 and summary.updated["量化目标"] == 1
    assert not summary.created
    assert quota(1, 1, "萧山区") == 41
    report.refresh_from_db()
    assert report.value == 12 and report.indicator_id == indicator.pk
    change = Quota.history.filter(district=xiaoshan, indicator=indicator).latest("history_date")
    assert change.history_type == "~" and change.value == 41
    assert change.history_change_reason == "市政府调整萧山区任务数"
