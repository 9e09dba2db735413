"""Entering progress: every rule refuses bad input, says why in Chinese, and writes nothing."""

from datetime import date
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse

from tests.factories import DistrictFactory, IndicatorFactory, MilestoneFactory
from tracker.plans.models import Indicator, Milestone
from tracker.plans.reference import District
from tracker.progress.models import MilestoneCompletion, ProgressReport
from tracker.progress.writes import Entry, ProgressRejected, record_milestone, submit

TODAY = date(2024, 7, 20)


def entry(p, value, month="2024-06", district=None, indicator=None, **kw):
    return Entry(
        indicator_id=(indicator or p.indicator_a).pk,
        district_id=(district or p.district_a).pk,
        month=month,
        value=value,
        **kw,
    )


def snapshot():
    return list(ProgressReport.objects.order_by("pk").values_list("pk", "value", "version"))


def rejected(user, entries, today=TODAY) -> list[str]:
    """Submit, expect refusal, and check nothing changed; return the messages."""
    before = snapshot()
    history = ProgressReport.history.count()
    with pytest.raises(ProgressRejected) as caught:
        submit(user, entries, today=today)
    assert snapshot() == before
    assert ProgressReport.history.count() == history
    return [e.message for e in caught.value.errors]


def test_a_valid_entry_is_written_with_history_naming_the_user(personas):
    p = personas
    result = submit(p.agency_a_user, [entry(p, "12")], today=TODAY)
    report = result.created[0]
    assert (report.value, report.month, report.version) == (Decimal(12), date(2024, 6, 1), 1)
    record = report.history.get()
    assert record.history_user == p.agency_a_user
    assert record.history_type == "+"
    assert record.history_change_reason == "管理后台填报"

    submit(p.agency_a_user, [entry(p, "15", expected_version=1)], today=TODAY)
    report.refresh_from_db()
    assert (report.value, report.version) == (Decimal(15), 2)
    old, new = report.history.order_by("history_date")
    assert (old.value, new.value) == (Decimal(12), Decimal(15))


def test_an_unchanged_resubmission_writes_no_history(personas):
    p = personas
    submit(p.agency_a_user, [entry(p, 12)], today=TODAY)
    result = submit(p.agency_a_user, [entry(p, 12)], today=TODAY)
    assert result.unchanged and not result.updated
    assert ProgressReport.history.count() == 1


@pytest.mark.parametrize(
    "value, message",
    [
        ("abc", "只能填写数字"),
        ("", "请填写数值"),
        ("-3", "不能为负数"),
        (Decimal("-1"), "不能为负数"),
        ("12 万元", "与指标单位「个」不一致"),
        ("5(4)", "不要用括号拆分"),
        ("1.23456", "最多保留 4 位小数"),
        (float("nan"), "不是有效数字"),
    ],
)
def test_numbers_only_non_negative_in_the_indicators_unit(personas, value, message):
    messages = rejected(personas.agency_a_user, [entry(personas, value)])
    assert any(message in m for m in messages), messages


def test_the_indicators_own_unit_is_accepted(personas):
    report = submit(personas.agency_a_user, [entry(personas, "12 个")], today=TODAY).created[0]
    assert report.value == 12


def test_cumulative_values_may_not_decrease_without_a_correction(personas):
    p = personas
    submit(p.agency_a_user, [entry(p, 30, "2024-05"), entry(p, 40, "2024-07")], today=TODAY)
    messages = rejected(p.agency_a_user, [entry(p, 25, "2024-06")])
    assert messages == [
        "累计值 25 个 小于2024年5月已填报的 30 个，累计数不能减少；"
        "如确需更正，请勾选「更正」并填写原因"
    ]
    assert "大于2024年7月已填报的 40 个" in rejected(p.agency_a_user, [entry(p, 45, "2024-06")])[0]
    assert (
        "须填写更正原因"
        in rejected(p.agency_a_user, [entry(p, 25, "2024-06", is_correction=True)])[0]
    )
    fixed = submit(
        p.agency_a_user,
        [entry(p, 25, "2024-06", is_correction=True, correction_reason="5月重复统计")],
        today=TODAY,
    ).created[0]
    assert fixed.is_correction and fixed.correction_reason == "5月重复统计"


def test_rates_stay_within_0_to_100(personas):
    p = personas
    rate = IndicatorFactory(project=p.project_a, order=2, label="保障率", unit="%",
                            kind=Indicator.Kind.LEVEL, target_value=Decimal(83))  # fmt: skip
    rate.quotas.create(district=p.district_a, value=Decimal(83))
    assert "应在 0—100 之间" in rejected(p.agency_a_user, [entry(p, 120, indicator=rate)])[0]
    assert submit(p.agency_a_user, [entry(p, "81%", indicator=rate)], today=TODAY).created


@pytest.mark.parametrize(
    "month, message",
    [
        ("2024-08", "不能填报未来月份"),
        ("2023-12", "不在2024年计划年度内"),
        ("2024-13", "月份格式应为 YYYY-MM"),
        ("六月", "月份格式应为 YYYY-MM"),
    ],
)
def test_no_future_month_and_none_outside_the_plan_year(personas, month, message):
    assert message in rejected(personas.agency_a_user, [entry(personas, 5, month)])[0]


def test_no_district_without_a_quota_and_no_unknown_district(personas):
    p = personas
    elsewhere = DistrictFactory(code="chunan", name="淳安县")
    msg = rejected(p.agency_a_user, [entry(p, 5, district=elsewhere)])[0]
    assert msg == "淳安县在「新增老年助餐服务点」上没有分解任务，不能填报"
    unknown = Entry(indicator_id=p.indicator_a.pk, district_id=99999, month="2024-06", value=1)
    assert "未知的区、县(市)" in rejected(p.supervisor, [unknown])[0]


def test_city_wide_indicators_are_reported_on_the_city_only(personas):
    p = personas
    city = DistrictFactory(code="shibenji", name="市本级", kind=District.Kind.CITY, order=0)
    jobs = IndicatorFactory(project=p.project_a, order=3, label="城镇新增就业", unit="人",
                            scope=Indicator.Scope.CITY, target_value=Decimal(250000))  # fmt: skip
    assert "只能按市本级填报" in rejected(p.supervisor, [entry(p, 5, indicator=jobs)])[0]
    assert submit(p.supervisor, [entry(p, 60000, indicator=jobs, district=city)], today=TODAY)


def test_qualitative_targets_take_no_numbers(personas):
    p = personas
    gift = IndicatorFactory(project=p.project_a, order=4, label="青荷礼包",
                            kind=Indicator.Kind.QUALITATIVE)  # fmt: skip
    assert "定性目标" in rejected(p.supervisor, [entry(p, 1, indicator=gift)])[0]


def test_far_above_quota_needs_confirmation(personas):
    p = personas  # quota 50
    messages = rejected(p.agency_a_user, [entry(p, 151)])
    assert messages == [
        "上城区填报 151 个，超过任务数 50 个 的 3 倍，请核实；确认无误请勾选「确认超额」后再提交"
    ]
    assert submit(p.agency_a_user, [entry(p, 151, confirmed=True)], today=TODAY).created


def test_out_of_scope_rows_are_refused_and_the_whole_batch_with_them(personas):
    p = personas
    own = entry(p, 5)
    theirs = entry(p, 5, indicator=p.indicator_b)
    assert rejected(p.agency_a_user, [own, theirs]) == [
        "您无权填报上城区在「新建基层生育咨询门诊」上的进度"
    ]
    assert (
        "您无权填报萧山区" in rejected(p.district_a_user, [entry(p, 5, district=p.district_b)])[0]
    )
    assert rejected(p.outsider, [own])


def test_second_writer_of_the_same_cell_is_told_not_overwritten(personas):
    p = personas
    submit(p.agency_a_user, [entry(p, 10)], today=TODAY)
    # Both opened the cell at version 1; the district saves first.
    submit(p.district_a_user, [entry(p, 12, expected_version=1)], today=TODAY)
    msg = rejected(p.agency_a_user, [entry(p, 11, expected_version=1)])[0]
    assert "已被shangcheng于" in msg and "修改为 12" in msg and "请刷新后重新填报" in msg
    # Two people creating the same empty cell: the second is told too.
    other = entry(p, 3, district=p.district_b, expected_version=0)
    submit(p.district_b_user, [other], today=TODAY)
    assert "请刷新后重新填报" in rejected(p.agency_a_user, [other])[0]


def test_every_bad_row_is_reported_with_its_row_number(personas):
    p = personas
    rows = [
        entry(p, "x", row=4),
        entry(p, 5, district=p.district_b, row=5),
        entry(p, 5, month="2024-09", district=p.district_b, row=6),
    ]
    with pytest.raises(ProgressRejected) as caught:
        submit(p.agency_a_user, rows, today=TODAY)
    assert [(e.row, e.field) for e in caught.value.errors] == [(4, "value"), (6, "month")]
    assert str(caught.value.errors[0]).startswith("第 4 行：")
    assert not ProgressReport.objects.exists()


def test_milestone_completion_is_scoped_dated_and_kept_in_history(personas):
    p = personas
    step = MilestoneFactory(project=p.project_a, indicator=None, kind=Milestone.Kind.QUALITATIVE,
                            due_date=date(2024, 3, 31), text="确定点位")  # fmt: skip
    done = record_milestone(p.district_a_user, step, p.district_a, done=True,
                            done_on=date(2024, 3, 20), today=TODAY)  # fmt: skip
    assert done.history.get().history_user == p.district_a_user
    with pytest.raises(ProgressRejected, match="您无权填报萧山区"):
        record_milestone(p.district_a_user, step, p.district_b, done=True,
                         done_on=date(2024, 3, 20), today=TODAY)  # fmt: skip
    with pytest.raises(ProgressRejected, match="不能晚于今天"):
        record_milestone(p.agency_a_user, step, p.district_b, done=True,
                         done_on=date(2024, 8, 1), today=TODAY)  # fmt: skip
    with pytest.raises(ProgressRejected, match="须填写完成日期"):
        record_milestone(p.agency_a_user, step, p.district_b, done=True, today=TODAY)
    assert MilestoneCompletion.objects.count() == 1


# --- the admin screens --------------------------------------------------------------


@pytest.fixture
def pinned():
    with time_machine.travel(date(2024, 7, 20), tick=False):
        yield


def grid_url(p, month="2024-06"):
    return reverse("admin:tracker_progressreport_grid") + (
        f"?indicator={p.indicator_a.pk}&month={month}"
    )


def test_grid_shows_districts_quota_and_previous_value(personas, client, pinned):
    p = personas
    submit(p.agency_a_user, [entry(p, 20, "2024-05")], today=TODAY)
    client.force_login(p.agency_a_user)
    html = client.get(grid_url(p)).content.decode()
    assert "上城区" in html and "萧山区" in html
    assert f'name="value-{p.district_a.pk}"' in html
    assert "2024-05" in html  # the previous value's month
    client.force_login(p.district_b_user)
    html = client.get(grid_url(p)).content.decode()
    assert "萧山区" in html and "上城区" not in html


def test_grid_saves_all_rows_or_none(personas, client, pinned):
    p = personas
    client.force_login(p.agency_a_user)
    a, b = p.district_a.pk, p.district_b.pk
    bad = {f"value-{a}": "10", f"version-{a}": "0", f"value-{b}": "十", f"version-{b}": "0"}
    response = client.post(grid_url(p), bad)
    assert response.status_code == 400  # refused, nothing written
    assert "全部未保存" in response.content.decode()
    assert "只能填写数字" in response.content.decode()
    assert not ProgressReport.objects.exists()

    good = {**bad, f"value-{b}": "8", f"note-{b}": "含2个村级点"}
    response = client.post(grid_url(p), good)
    assert response.status_code == 302
    assert dict(ProgressReport.objects.values_list("district__name", "value")) == {
        "上城区": Decimal(10),
        "萧山区": Decimal(8),
    }
    assert {h.history_user for h in ProgressReport.history.all()} == {p.agency_a_user}


def test_grid_tells_the_second_writer(personas, client, pinned):
    p = personas
    a = p.district_a.pk
    client.force_login(p.agency_a_user)
    client.post(grid_url(p), {f"value-{a}": "10", f"version-{a}": "0"})
    client.force_login(p.district_a_user)
    client.post(grid_url(p), {f"value-{a}": "12", f"version-{a}": "1"})
    client.force_login(p.agency_a_user)
    response = client.post(grid_url(p), {f"value-{a}": "11", f"version-{a}": "1"})
    assert "请刷新后重新填报" in response.content.decode()
    assert ProgressReport.objects.get().value == 12


def test_grid_refuses_a_crafted_row_outside_scope(personas, client, pinned):
    p = personas
    client.force_login(p.district_a_user)
    b = p.district_b.pk
    response = client.post(grid_url(p), {f"value-{b}": "10", f"version-{b}": "0"})
    assert "您无权填报萧山区" in response.content.decode()
    assert not ProgressReport.objects.exists()


def test_change_form_validates_through_the_service(personas, client, pinned):
    p = personas
    client.force_login(p.district_a_user)
    url = reverse("admin:tracker_progressreport_add")
    form = {
        "indicator": p.indicator_a.pk,
        "district": p.district_a.pk,
        "month": "2024-06",
        "value": "-5",
        "expected_version": "0",
    }
    response = client.post(url, form)
    assert "不能为负数" in response.content.decode()
    assert not ProgressReport.objects.exists()
    response = client.post(url, {**form, "value": "7"})
    assert response.status_code == 302
    report = ProgressReport.objects.get()
    assert report.value == 7 and report.history.get().history_user == p.district_a_user


def test_only_the_supervision_office_deletes_and_the_deletion_is_recorded(personas, client, pinned):
    p = personas
    report = submit(p.agency_a_user, [entry(p, 10)], today=TODAY).created[0]
    url = reverse("admin:tracker_progressreport_delete", args=[report.pk])
    client.force_login(p.agency_a_user)
    assert client.post(url, {"post": "yes"}).status_code == 403
    client.force_login(p.supervisor)
    assert client.post(url, {"post": "yes"}).status_code == 302
    assert not ProgressReport.objects.exists()
    gone = ProgressReport.history.filter(history_type="-").get()
    assert gone.history_user == p.supervisor and gone.value == 10


def test_milestone_grid_records_completion(personas, client, pinned):
    p = personas
    step = MilestoneFactory(project=p.project_a, indicator=None, kind=Milestone.Kind.QUALITATIVE,
                            due_date=date(2024, 3, 31), text="确定点位")  # fmt: skip
    client.force_login(p.agency_a_user)
    url = reverse("admin:tracker_milestonecompletion_grid") + f"?milestone={step.pk}"
    a, b = p.district_a.pk, p.district_b.pk
    response = client.post(url, {f"done-{a}": "on", f"date-{a}": "2024-03-28", f"done-{b}": "on"})
    assert "萧山区：已完成的节点须填写完成日期" in response.content.decode()
    assert not MilestoneCompletion.objects.exists()
    client.post(url, {f"done-{a}": "on", f"date-{a}": "2024-03-28", f"note-{b}": "招标中"})
    assert dict(MilestoneCompletion.objects.values_list("district__name", "done")) == {
        "上城区": True,
        "萧山区": False,
    }


def test_role_groups_follow_the_profile(personas):
    p = personas
    assert list(p.agency_a_user.groups.values_list("name", flat=True)) == ["牵头单位"]
    assert p.district_a_user.has_perm("tracker.add_progressreport")
    assert not p.district_a_user.has_perm("tracker.change_quota")
    assert p.supervisor.has_perm("tracker.change_quota")
