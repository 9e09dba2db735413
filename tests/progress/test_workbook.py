"""The month workbook of a district or agency, and the 任务分解表 with a month: export,
fill, import back all or nothing through the one import path (``tracker.progress.workbooks``).

The simulated 2024 year (through September) is built once for the module; October is
the month being reported (time pinned to 20 October 2024), so no October report exists
and everything typed into the workbook is new.
"""

from __future__ import annotations

import io
from datetime import date, datetime
from decimal import Decimal
from urllib.parse import unquote
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from openpyxl import load_workbook

from tests.dashboard_helpers import simulated_year
from tests.factories import make_user
from tracker.accounts.models import Role
from tracker.plans.models import Indicator
from tracker.plans.reference import District
from tracker.progress.due import due_cells
from tracker.progress.models import ProgressReport
from tracker.progress.values import values_as_of
from tracker.progress.workbooks import (
    ExportRefused,
    ImportRejected,
    export_breakdown,
    export_month_workbook,
    import_workbook,
)

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2024, 10, 20, 10, 0, tzinfo=TZ)
OCT, SEPT = date(2024, 10, 1), date(2024, 9, 1)
FIRST = 4  # first data row
VALUE, NOTE, KEY = 9, 10, 14  # 1-based columns of the month workbook


@pytest.fixture(scope="module")
def year(django_db_setup, django_db_blocker, plan_2024_data):
    yield from simulated_year(django_db_blocker, plan_2024_data)


@pytest.fixture
def pinned():
    with time_machine.travel(NOW, tick=False):
        yield


def _book(data: bytes):
    return load_workbook(io.BytesIO(data))


def _save(wb) -> bytes:
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _rows(ws):
    """(excel row, cells) of the data rows, by the hidden key."""
    return [
        (r[0].row, r) for r in ws.iter_rows(min_row=FIRST) if len(r) >= KEY and r[KEY - 1].value
    ]


def _next_value(indicator: Indicator, previous) -> Decimal:
    """A plausible October figure: a rate keeps its level, a count grows by one."""
    if indicator.is_level:
        return Decimal(str(previous)) if previous is not None else Decimal(50)
    return (Decimal(str(previous)) if previous is not None else Decimal(0)) + 1


def fill_all(data: bytes, *, skip: int | None = None, as_text_every: int = 3):
    """Type a value into every row but ``skip`` (left blank); every third value typed as
    text (「12」), one blank row inserted in the middle. Returns (file, {key: value})."""
    wb = _book(data)
    ws = wb["填报"]
    typed = {}
    for n, (_row, cells) in enumerate(_rows(ws)):
        if n == skip:
            continue
        i, _d = (int(x) for x in cells[KEY - 1].value.split("-"))
        value = _next_value(Indicator.objects.get(pk=i), cells[6].value)
        typed[cells[KEY - 1].value] = value
        cells[VALUE - 1].value = f"{value:f}" if n % as_text_every == 0 else float(value)
    ws.insert_rows(FIRST + 3)  # a blank row among the data
    return _save(wb), typed


def _filename(response) -> str:
    return unquote(response["Content-Disposition"].split("''", 1)[1])


def _state():
    return ProgressReport.objects.count(), ProgressReport.history.count()


# --- the district workbook -----------------------------------------------------------------


def test_chunan_workbook_lists_every_due_indicator_with_last_month_and_pace(year, db, pinned):
    wb = _book(export_month_workbook(year.chunan_user, OCT))
    ws = wb["填报"]
    assert ws["A1"].value == "淳安县民生实事月度进度填报表（2024年10月，11月5日前报送）"
    header = [c.value for c in ws[3]]
    assert header[:9] == ["序号", "项目", "量化目标", "区、县(市)", "单位", "任务数", "上月累计",
                          "序时应达", "本月累计（填写）"]  # fmt: skip
    rows = _rows(ws)
    due = due_cells(OCT, year.chunan_user)
    assert [r[KEY - 1].value for _, r in rows] == [f"{i}-{d}" for i, d in due]
    assert {r[3].value for _, r in rows} == {"淳安县"}
    september = values_as_of([i for i, _ in due], [year.chunan.pk], SEPT)
    for _, cells in rows:
        i = int(cells[KEY - 1].value.split("-")[0])
        stored = september.get((i, year.chunan.pk))
        assert cells[6].value == (None if stored is None else pytest.approx(float(stored)))
    seq1 = Indicator.objects.get(project=year.seq1)
    row = next(r for _, r in rows if r[KEY - 1].value == f"{seq1.pk}-{year.chunan.pk}")
    assert (row[0].value, row[4].value) == (1, seq1.unit)
    assert row[5].value == pytest.approx(float(seq1.quotas.get(district=year.chunan).value))
    assert row[7].value is not None  # 序时应达 filled in
    # protected, only the input columns unlocked, the key hidden, 是/否 as dropdowns
    assert ws.protection.sheet
    assert row[0].protection.locked and row[KEY - 1].protection.locked
    assert not row[VALUE - 1].protection.locked and not row[NOTE - 1].protection.locked
    assert ws.column_dimensions["N"].hidden
    lists = [dv for dv in ws.data_validations.dataValidation if dv.type == "list"]
    assert lists and lists[0].formula1 == '"是,否"'
    assert {str(r) for dv in lists for r in dv.sqref.ranges} == {
        f"K4:K{rows[-1][0]}",
        f"M4:M{rows[-1][0]}",
    }


def test_chunan_round_trip_lands_every_value_with_history(year, db, pinned):
    data = export_month_workbook(year.chunan_user, OCT)
    filled, typed = fill_all(data, skip=1)
    assert any(isinstance(v, str) for v in _values(filled))  # numbers stored as text
    result = import_workbook(year.chunan_user, filled)
    assert (result.created, result.updated) == (len(typed), 0)
    landed = {
        f"{r.indicator_id}-{r.district_id}": r.value
        for r in ProgressReport.objects.filter(month=OCT, district=year.chunan)
    }
    assert landed == typed
    history = ProgressReport.history.filter(month=OCT, district=year.chunan)
    assert history.count() == len(typed)
    assert {h.history_user for h in history} == {year.chunan_user}
    assert {h.history_change_reason for h in history} == {"Excel 导入"}
    assert {h.history_date for h in history} == {NOW}

    # exported again, the workbook shows October's figures; re-importing changes nothing
    again = _book(export_month_workbook(year.chunan_user, OCT))["填报"]
    shown = {r[KEY - 1].value: r[VALUE - 1].value for _, r in _rows(again)}
    assert {k: Decimal(str(v)) for k, v in shown.items() if v is not None} == typed
    result = import_workbook(year.chunan_user, _save(again.parent))
    assert (result.created, result.updated, result.unchanged) == (0, 0, len(typed))


def _values(data: bytes):
    return [r[VALUE - 1].value for _, r in _rows(_book(data)["填报"])]


def test_a_mistake_is_named_by_row_district_and_indicator_and_nothing_lands(year, db, pinned):
    seq1 = Indicator.objects.get(project=year.seq1)
    before = _state()
    wb = _book(export_month_workbook(year.chunan_user, OCT))
    ws = wb["填报"]
    for number, cells in _rows(ws):
        if cells[KEY - 1].value == f"{seq1.pk}-{year.chunan.pk}":
            september = cells[6].value
            cells[VALUE - 1].value = september - 1  # a cumulative count going down
            bad_row = number
        else:
            i = int(cells[KEY - 1].value.split("-")[0])
            cells[VALUE - 1].value = float(_next_value(Indicator.objects.get(pk=i), cells[6].value))
    with pytest.raises(ImportRejected) as caught:
        import_workbook(year.chunan_user, _save(wb))
    assert [str(e) for e in caught.value.errors] == [
        f"第 {bad_row} 行：淳安县·序号1「{seq1.label}」：累计值 {september - 1} {seq1.unit} "
        f"小于2024年9月已填报的 {september} {seq1.unit}，累计数不能减少；"
        "如确需更正，请勾选「更正」并填写原因"
    ]
    assert _state() == before


# --- the agency workbook ----------------------------------------------------------------


def test_agency_workbook_covers_its_projects_in_every_district(year, db, pinned):
    ws = _book(export_month_workbook(year.agency, OCT))["填报"]
    rows = _rows(ws)
    agency_id = year.seq1.lead_agency_id
    indicator_ids = {int(r[KEY - 1].value.split("-")[0]) for _, r in rows}
    assert set(
        Indicator.objects.filter(pk__in=indicator_ids).values_list(
            "project__lead_agency", flat=True
        )
    ) == {agency_id}
    assert len(rows) == len(due_cells(OCT, year.agency))
    assert len({r[3].value for _, r in rows}) > 10  # every district with a quota
    filled, typed = fill_all(_save(ws.parent))
    result = import_workbook(year.agency, filled)
    assert result.created == len(typed)
    assert ProgressReport.objects.filter(month=OCT).count() == len(typed)
    assert {h.history_user for h in ProgressReport.history.filter(month=OCT)} == {year.agency}


def test_supervision_chooses_a_district_or_an_agency_and_export_queries_are_bounded(
    year, db, pinned
):
    def queries(**choice):
        with CaptureQueriesContext(connection) as ctx:
            data = export_month_workbook(year.supervisor, OCT, **choice)
        return len(ctx.captured_queries), _rows(_book(data)["填报"])

    one, chunan_rows = queries(district_id=year.chunan.pk)
    by_agency, agency_rows = queries(agency_id=year.seq1.lead_agency_id)
    city, city_rows = queries()
    assert {r[3].value for _, r in chunan_rows} == {"淳安县"}
    assert len(agency_rows) == len(due_cells(OCT, year.agency))
    assert len(city_rows) == len(due_cells(OCT)) > 10 * len(chunan_rows)
    # set-based: 700 rows cost no more queries than 49 (one more reads the chosen name;
    # the city-wide targets' 市本级 column is looked up only when there are some in scope)
    assert city <= one <= 16 and by_agency <= 16


def test_nothing_due_or_a_future_month_is_refused(year, db, pinned):
    with pytest.raises(ExportRefused, match="不能下载未来月份（2024年11月）"):
        export_month_workbook(year.chunan_user, date(2024, 11, 1))
    with pytest.raises(ExportRefused, match="2024年10月在您的职责范围内没有需要填报的量化目标"):
        export_month_workbook(year.chunan_user, OCT, district_id=year.xihu.pk)  # not theirs


# --- broken workbooks change nothing ------------------------------------------------------


def _chunan_filled(year) -> bytes:
    return fill_all(export_month_workbook(year.chunan_user, OCT))[0]


def _edit(data: bytes, change) -> bytes:
    wb = _book(data)
    change(wb)
    return _save(wb)


def _rename_sheet(wb):
    wb["填报"].title = "Sheet1"


def _tamper_key(wb):
    ws = wb["填报"]
    _, first = _rows(ws)[0]
    _, second = _rows(ws)[1]
    first[KEY - 1].value = second[KEY - 1].value  # the row now claims another indicator


def _garbage_key(wb):
    _rows(wb["填报"])[0][1][KEY - 1].value = "999999-1"


def _future_month(wb):
    ws = wb["_meta"]
    for row in ws.iter_rows():
        if row[0].value == "month":
            row[1].value = "2024-12"


def _formula(wb):
    _rows(wb["填报"])[0][1][VALUE - 1].value = "=G4+1"


def _yes_no(wb):
    _rows(wb["填报"])[0][1][12].value = "也许"


BROKEN = {
    "not xlsx": (lambda year: "这不是表格".encode(), "不是有效的 Excel"),
    "wrong sheet": (
        lambda year: _edit(_chunan_filled(year), _rename_sheet),
        "找不到工作表「填报」",
    ),
    "tampered id": (
        lambda year: _edit(_chunan_filled(year), _tamper_key),
        "第 4 行：淳安县·序号",
    ),
    "unknown id": (
        lambda year: _edit(_chunan_filled(year), _garbage_key),
        "第 4 行：编号「999999-1」已被修改",
    ),
    "future month": (
        lambda year: _edit(_chunan_filled(year), _future_month),
        "不能导入未来月份（2024年12月）的数据，当前为2024年10月",
    ),
    "formula": (lambda year: _edit(_chunan_filled(year), _formula), "文件中含有公式（I4）"),
    "not 是/否": (
        lambda year: _edit(_chunan_filled(year), _yes_no),
        "「确认超额」只能填写「是」或「否」",
    ),
    "outside scope": (
        lambda year: fill_all(
            export_month_workbook(year.supervisor, OCT, district_id=year.xihu.pk)
        )[0],
        "您无权填报西湖区",
    ),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_a_broken_workbook_changes_nothing(year, db, pinned, case):
    make, message = BROKEN[case]
    data = make(year)
    before = _state()
    with pytest.raises(ImportRejected) as caught:
        import_workbook(year.chunan_user, data)
    assert message in str(caught.value)
    assert _state() == before


def test_decreasing_cumulative_in_a_later_import_changes_nothing(year, db, pinned):
    import_workbook(year.chunan_user, _chunan_filled(year))
    before = _state()
    wb = _book(export_month_workbook(year.chunan_user, OCT))
    ws = wb["填报"]
    for _, cells in _rows(ws):
        i = int(cells[KEY - 1].value.split("-")[0])
        if not Indicator.objects.get(pk=i).is_level and cells[VALUE - 1].value:
            cells[VALUE - 1].value = 0  # below September
    with pytest.raises(ImportRejected, match="累计数不能减少"):
        import_workbook(year.chunan_user, _save(wb))
    assert _state() == before


# --- the 任务分解表 -------------------------------------------------------------------------


def _breakdown_cell(ws, seq: int, district: str):
    header = [c.value for c in ws[2]]
    row = next(r for r in ws.iter_rows(min_row=FIRST) if r[0].value == seq)
    return row[header.index(district) + 1]  # 累计完成, the second column under the district


def test_breakdown_takes_a_month_and_re_imports(year, db, pinned, client):
    client.force_login(year.supervisor)
    url = reverse("admin:tracker_progressreport_export")
    response = client.get(url, {"month": "2024-10"})
    assert _filename(response) == "任务分解表_2024-10.xlsx"
    wb = _book(response.content)
    ws = wb["任务分解表"]
    assert ws["A1"].value == "2024年民生实事任务分解及完成情况（截至2024年10月底）"
    seq1 = Indicator.objects.get(project=year.seq1)
    jobs = Indicator.objects.get(project__plan_year=year.plan_year, project__seq=12)
    city = District.objects.get(kind=District.Kind.CITY)
    september = values_as_of([seq1.pk, jobs.pk], [year.chunan.pk, city.pk], SEPT)
    cell = _breakdown_cell(ws, 1, "淳安县")
    assert cell.value == september[(seq1.pk, year.chunan.pk)]  # as of October = September
    cell.value = str(cell.value + 2)  # a number typed as text
    jobs_cell = _breakdown_cell(ws, 12, "市本级")  # printed in 万人
    jobs_cell.value = jobs_cell.value + 0.01  # + 100 人
    upload = io.BytesIO(_save(wb))
    upload.name = "任务分解表.xlsx"
    response = client.post(reverse("admin:tracker_progressreport_import"), {"file": upload})
    assert response.status_code == 302
    october = dict(ProgressReport.objects.filter(month=OCT).values_list("indicator_id", "value"))
    assert october == {
        seq1.pk: september[(seq1.pk, year.chunan.pk)] + 2,
        jobs.pk: september[(jobs.pk, city.pk)] + 100,
    }  # untouched cells wrote nothing


def test_breakdown_errors_name_row_district_and_indicator(year, db, pinned):
    data = export_breakdown(year.supervisor, year.plan_year, OCT)
    wb = _book(data)
    ws = wb["任务分解表"]
    cell = _breakdown_cell(ws, 1, "淳安县")
    cell.value = "很多"
    seq1 = Indicator.objects.get(project=year.seq1)
    before = _state()
    with pytest.raises(ImportRejected) as caught:
        import_workbook(year.supervisor, _save(wb))
    message = str(caught.value.errors[0])
    assert message.startswith(
        f"第 {cell.row} 行：淳安县·序号1「{seq1.label}」（{cell.column_letter}列）：「很多」"
    )
    assert _state() == before


def test_breakdown_defaults_to_the_month_being_reported(year, db, client):
    """In November 2026 with only the 2024 plan, the export is 2024年12月 — no more
    「2026年没有计划数据」."""
    client.force_login(year.supervisor)
    with time_machine.travel(datetime(2026, 11, 23, 10, 0, tzinfo=TZ), tick=False):
        response = client.get(reverse("admin:tracker_progressreport_export"))
    assert response.status_code == 200
    assert _filename(response) == "任务分解表_2024-12.xlsx"
    ws = _book(response.content)["任务分解表"]
    assert ws["A1"].value == "2024年民生实事任务分解及完成情况（截至2024年12月底）"


# --- the pages ---------------------------------------------------------------------------


def test_download_and_upload_pages(year, db, pinned, client):
    client.force_login(year.chunan_user)
    url = reverse("dashboard:report_xlsx", args=["2024-10"])
    assert url == "/report/2024-10/xlsx/"
    response = client.get(url, {"district": year.xihu.code})  # ignored: not 督查室
    assert response.status_code == 200
    assert _filename(response) == "淳安县_月度填报表_2024-10.xlsx"
    filled, typed = fill_all(response.content)
    page = reverse("dashboard:report_upload", args=["2024-10"])
    assert "月度填报表" in client.get(page).content.decode()

    september = io.BytesIO(_save(_book(filled)))
    september.name = "f.xlsx"
    wrong = client.post(reverse("dashboard:report_upload", args=["2024-09"]), {"file": september})
    assert wrong.status_code == 400
    assert "这是2024年10月的表格，与本页的2024年9月不一致" in wrong.content.decode()

    upload = io.BytesIO(filled)
    upload.name = "f.xlsx"
    response = client.post(page, {"file": upload})
    body = response.content.decode()
    assert response.status_code == 200 and f"新增 {len(typed)} 条" in body
    assert ProgressReport.objects.filter(month=OCT).count() == len(typed)

    broken = io.BytesIO(b"garbage")
    broken.name = "f.xlsx"
    response = client.post(page, {"file": broken})
    assert response.status_code == 400 and "导入失败，数据未作任何修改" in response.content.decode()


def test_supervision_downloads_a_districts_or_an_agencys_workbook(year, db, pinned, client):
    client.force_login(year.supervisor)
    url = reverse("dashboard:report_xlsx", args=["2024-10"])
    by_district = _rows(_book(client.get(url, {"district": year.chunan.code}).content)["填报"])
    assert {r[3].value for _, r in by_district} == {"淳安县"}
    response = client.get(url, {"agency": year.seq1.lead_agency_id})
    assert len(_rows(_book(response.content)["填报"])) == len(due_cells(OCT, year.agency))
    assert client.get(url, {"district": "nowhere"}).status_code == 404
    assert client.get(url, {"agency": "9" * 30}).status_code == 404
    future = client.get(reverse("dashboard:report_xlsx", args=["2024-11"]))
    assert future.status_code == 400 and "不能下载未来月份" in future.content.decode()


def test_pages_need_a_role(year, db, pinned, client):
    url = reverse("dashboard:report_xlsx", args=["2024-10"])
    assert client.get(url).status_code == 302  # to the login page
    client.force_login(make_user("nobody2", None))
    assert client.get(url).status_code == 403
    client.force_login(make_user("xh-two", Role.DISTRICT, district=year.xihu))
    rows = _rows(_book(client.get(url).content)["填报"])
    assert {r[3].value for _, r in rows} == {"西湖区"}


# --- qualitative milestones due that month ------------------------------------------------


def _milestone_rows(ws):
    return [r for r in ws.iter_rows(min_row=FIRST) if len(r) >= 9 and r[8].value]


def test_milestones_due_that_month_are_reported_in_the_same_workbook(year, db, pinned):
    from tracker.progress.models import MilestoneCompletion

    wb = _book(export_month_workbook(year.chunan_user, SEPT))
    ws = wb["节点"]
    rows = _milestone_rows(ws)
    assert [c.value for c in ws[3]][:8] == ["序号", "项目", "节点内容", "区、县(市)", "节点日期",
                                            "完成情况（已完成/未完成）", "完成日期（年-月-日）",
                                            "备注（选填）"]  # fmt: skip
    assert len(rows) == 7 and {r[3].value for r in rows} == {"淳安县"}
    assert {r[4].value.month for r in rows} == {9}  # due in September
    states = [dv for dv in ws.data_validations.dataValidation if dv.type == "list"]
    assert states[0].formula1 == '"已完成,未完成"'
    assert not rows[0][5].protection.locked and rows[0][2].protection.locked
    assert ws.protection.sheet and ws.column_dimensions["I"].hidden

    rows[0][5].value, rows[0][6].value = "已完成", "2024-09-28"  # a date typed as text
    rows[1][5].value, rows[1][6].value = "已完成", datetime(2024, 9, 20)
    rows[2][5].value, rows[2][7].value = "未完成", "招标推迟"
    result = import_workbook(year.chunan_user, _save(wb))
    assert result.milestones == 3 and "节点完成情况 3 条" in result.summary
    recorded = {
        c.milestone.text: (c.done, c.done_on, c.note)
        for c in MilestoneCompletion.objects.filter(
            district=year.chunan, milestone__due_date__month=9
        )
    }
    assert recorded == {
        rows[0][2].value: (True, date(2024, 9, 28), ""),
        rows[1][2].value: (True, date(2024, 9, 20), ""),
        rows[2][2].value: (False, None, "招标推迟"),
    }
    history = MilestoneCompletion.history.filter(district=year.chunan, history_date=NOW)
    assert {(h.history_user, h.history_change_reason) for h in history} == {
        (year.chunan_user, "Excel 导入")
    }
    # the re-exported workbook shows them; importing it again records nothing new
    again = _book(export_month_workbook(year.chunan_user, SEPT))
    shown = [(r[5].value, r[6].value) for r in _milestone_rows(again["节点"])[:3]]
    assert shown == [("已完成", datetime(2024, 9, 28)), ("已完成", datetime(2024, 9, 20)),
                     ("未完成", None)]  # fmt: skip
    count = MilestoneCompletion.history.count()
    import_workbook(year.chunan_user, _save(again))
    assert MilestoneCompletion.history.count() == count


def test_a_milestone_mistake_keeps_the_numbers_out_too(year, db, pinned):
    from tracker.progress.models import MilestoneCompletion

    seq1 = Indicator.objects.get(project=year.seq1)
    wb = _book(export_month_workbook(year.chunan_user, SEPT))
    for _, cells in _rows(wb["填报"]):  # a valid change of a September figure …
        if cells[KEY - 1].value == f"{seq1.pk}-{year.chunan.pk}":
            cells[VALUE - 1].value = cells[VALUE - 1].value + 1
    rows = _milestone_rows(wb["节点"])
    rows[0][5].value = "已完成"  # … with a milestone done but no date
    rows[1][5].value = "差不多"  # … and a state not in the list
    before = _state(), MilestoneCompletion.history.count()
    with pytest.raises(ImportRejected) as caught:
        import_workbook(year.chunan_user, _save(wb))
    messages = [str(e) for e in caught.value.errors]
    assert len(messages) == 2
    assert messages[0].startswith(f"「节点」表第 4 行：淳安县·序号{rows[0][0].value}节点「")
    assert messages[0].endswith("已完成的节点须填写完成日期")
    assert messages[1].startswith(f"「节点」表第 5 行：淳安县·序号{rows[1][0].value}节点「")
    assert messages[1].endswith("完成情况只能选择「已完成」或「未完成」，收到「差不多」")
    assert (_state(), MilestoneCompletion.history.count()) == before


# --- approved months ---------------------------------------------------------------------


def test_locked_cells_are_shown_locked_and_an_untouched_copy_imports(year, db, pinned):
    from tracker.review import workflow as review

    import_workbook(year.chunan_user, _chunan_filled(year))
    submission = review.submit_month(year.chunan_user, year.chunan, OCT)
    for cell in submission.cells.all():
        review.review_cell(year.supervisor, cell, approve=True)
    wb = _book(export_month_workbook(year.chunan_user, OCT))
    rows = _rows(wb["填报"])
    assert all(r[VALUE - 1].protection.locked for _, r in rows)
    assert "已审核并锁定" in rows[0][1][VALUE - 1].comment.text
    result = import_workbook(year.chunan_user, _save(wb))
    assert (result.created, result.updated, result.unchanged) == (0, 0, len(rows))
    number, first = rows[0]
    first[VALUE - 1].value = float(first[VALUE - 1].value) + 1
    before = _state()
    with pytest.raises(ImportRejected, match=f"第 {number} 行：淳安县·序号.*已审核并锁定"):
        import_workbook(year.chunan_user, _save(wb))
    assert _state() == before


def test_pace_and_quota_agree_with_the_stored_lag_check(year, db, pinned):
    """序时应达 and 任务数 in the workbook are the lag check's (one rule): September's stored
    evaluation of every 淳安县 cell, to one decimal."""
    from tracker.monitoring.models import LagEvaluation

    stored = {
        f"{e.indicator_id}-{e.district_id}": (e.quota, e.expected)
        for e in LagEvaluation.objects.filter(month=SEPT, district=year.chunan)
    }
    rows = _rows(_book(export_month_workbook(year.chunan_user, SEPT))["填报"])
    assert len(stored) == len(rows)
    for _, cells in rows:
        quota, expected = stored[cells[KEY - 1].value]
        assert Decimal(str(cells[5].value)) == quota
        if expected is None:
            assert cells[7].value is None
        else:
            assert Decimal(str(cells[7].value)) == expected.quantize(Decimal("0.1"))


# --- the page and the workbook show the same month ----------------------------------------


def _dec(value) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def _page_and_workbook(client, user, month: str, **choice):
    """(the 本月填报 page's sheet, the downloaded workbook's rows and 节点 rows by key) for
    ``user`` and ``month``, 督查室's ``choice`` passed to both as a query."""
    client.force_login(user)
    page = client.get(reverse("dashboard:report", args=[month]), choice)
    assert page.status_code == 200
    download = client.get(reverse("dashboard:report_xlsx", args=[month]), choice)
    assert download.status_code == 200
    wb = _book(download.content)
    rows = {r[KEY - 1].value: r for _, r in _rows(wb["填报"])}
    milestones = [r[8].value for r in _milestone_rows(wb["节点"])] if "节点" in wb else []
    return page.context["sheet"], rows, milestones


@pytest.mark.parametrize("who", ["chunan", "agency", "supervisor_agency"])
def test_page_and_workbook_show_the_same_rows_and_numbers(year, db, pinned, client, who):
    """For the same user and a filled month (September of the simulated year), every row of
    本月填报 is a row of the workbook with the same 任务数, 上月累计, 序时应达 and 本月累计,
    in the same order, and the same milestones are due."""
    agency_id = year.seq1.lead_agency_id
    user, choice = {
        "chunan": (year.chunan_user, {}),
        "agency": (year.agency, {}),
        "supervisor_agency": (year.supervisor, {"agency": agency_id}),
    }[who]
    sheet, rows, milestones = _page_and_workbook(client, user, "2024-09", **choice)
    assert sheet.rows and list(rows) == [r.key for r in sheet.rows]
    assert milestones == [m.key for m in sheet.milestones]
    for row in sheet.rows:
        cells = rows[row.key]
        assert (cells[3].value, cells[4].value) == (row.district.name, row.input_unit)
        assert _dec(cells[5].value) == row.quota, row.key  # 任务数
        assert _dec(cells[6].value) == row.previous, row.key  # 上月累计
        if row.expected is None:  # 序时应达, one decimal as the page rounds it
            assert cells[7].value is None
        else:
            assert abs(_dec(cells[7].value) - row.expected) <= Decimal("0.05"), row.key
        stored = row.report.value if row.report else None
        assert _dec(cells[VALUE - 1].value) == stored, row.key  # 本月累计
    # a filled month: the comparison is about real numbers, not empty cells
    assert sum(r.report is not None for r in sheet.rows) > len(sheet.rows) // 2
    assert sum(r.previous is not None for r in sheet.rows) > len(sheet.rows) // 2
    if who == "chunan":
        assert {r.district.name for r in sheet.rows} == {"淳安县"}
        assert len(sheet.milestones) == 7
    else:  # the agency's projects only, in every district with a quota
        assert {r.indicator.project.lead_agency_id for r in sheet.rows} == {agency_id}
        assert len({r.district.pk for r in sheet.rows}) > 10
