"""Excel: the 任务分解表 export, the fill-in template, and its all-or-nothing import."""

import io
import zipfile
from datetime import date
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse
from openpyxl import load_workbook

from tracker.plans.models import Indicator
from tracker.plans.reference import District
from tracker.progress.models import ProgressReport
from tracker.progress.workbooks import (
    ImportRejected,
    export_breakdown,
    export_template,
    import_template,
    safe,
)
from tracker.progress.writes import Entry, submit

TODAY = date(2024, 7, 20)


@pytest.fixture(autouse=True)
def pinned():
    with time_machine.travel(date(2024, 7, 20), tick=False):
        yield


def fill(data: bytes, values: dict[str, object], extra=None) -> bytes:
    """Type values into the template's 本月累计 column, by district code."""
    wb = load_workbook(io.BytesIO(data))
    ws = wb["填报"]
    for row in ws.iter_rows(min_row=4):
        code = row[0].value
        if code in values:
            row[4].value = values[code]
        for column, value in (extra or {}).get(code, {}).items():
            row[column].value = value
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def test_round_trip_export_fill_import(personas):
    p = personas
    submit(p.agency_a_user, [Entry(p.indicator_a.pk, p.district_a.pk, "2024-05", 20)], today=TODAY)
    data = export_template(p.agency_a_user, p.indicator_a, date(2024, 6, 1))
    ws = load_workbook(io.BytesIO(data))["填报"]
    rows = [[c.value for c in r][:5] for r in ws.iter_rows(min_row=4)]
    assert rows == [
        ["shangcheng", "上城区", 50, 20, None],
        ["xiaoshan", "萧山区", 50, None, None],
    ]
    filled = fill(data, {"shangcheng": 26, "xiaoshan": "12"}, {"xiaoshan": {5: "含村级点"}})
    result = import_template(p.agency_a_user, filled)
    assert (result.created, result.updated) == (2, 0)
    june = ProgressReport.objects.filter(month=date(2024, 6, 1))
    assert dict(june.values_list("district__code", "value")) == {
        "shangcheng": Decimal(26),
        "xiaoshan": Decimal(12),
    }
    assert june.get(district=p.district_b).note == "含村级点"
    assert {h.history_change_reason for h in ProgressReport.history.filter(month="2024-06-01")} == {
        "Excel 导入"
    }
    assert {h.history_user for h in ProgressReport.history.all()} == {p.agency_a_user}


def test_bad_rows_are_all_reported_with_row_numbers_and_nothing_lands(personas):
    p = personas
    submit(p.agency_a_user, [Entry(p.indicator_a.pk, p.district_a.pk, "2024-05", 20)], today=TODAY)
    data = export_template(p.agency_a_user, p.indicator_a, date(2024, 6, 1))
    filled = fill(data, {"shangcheng": 15, "xiaoshan": "很多"})
    with pytest.raises(ImportRejected) as caught:
        import_template(p.agency_a_user, filled)
    messages = [str(e) for e in caught.value.errors]
    assert messages[0].startswith("第 4 行：累计值 15 个 小于2024年5月已填报的 20 个")
    assert messages[1].startswith("第 5 行：「很多」不是数字")
    assert ProgressReport.objects.count() == 1


def test_rows_outside_the_users_scope_are_refused(personas):
    p = personas
    data = export_template(p.supervisor, p.indicator_a, date(2024, 6, 1))
    filled = fill(data, {"shangcheng": 5, "xiaoshan": 6})
    with pytest.raises(ImportRejected) as caught:
        import_template(p.district_a_user, filled)
    assert [str(e) for e in caught.value.errors] == [
        "第 5 行：您无权填报萧山区在「新增老年助餐服务点」上的进度"
    ]
    with pytest.raises(ImportRejected, match="不在您的职责范围内"):
        import_template(p.agency_b_user, filled)
    assert not ProgressReport.objects.exists()


def test_district_user_template_lists_only_their_district(personas):
    p = personas
    data = export_template(p.district_b_user, p.indicator_a, date(2024, 6, 1))
    codes = [r[0].value for r in load_workbook(io.BytesIO(data))["填报"].iter_rows(min_row=4)]
    assert codes == ["xiaoshan"]


def _formula_file(personas) -> bytes:
    data = export_template(personas.agency_a_user, personas.indicator_a, date(2024, 6, 1))
    return fill(data, {"shangcheng": "=C4*2", "xiaoshan": 3})


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: b"not an excel file", "不是有效的 Excel"),
        (lambda p: _zip({"hello.txt": b"x"}), "已损坏或格式不正确"),
        (lambda p: b"PK" + b"\0" * 100, "不是有效的 Excel"),
        (_formula_file, "含有公式（E4）"),
        (lambda p: _plain_workbook(), "不是本系统的填报模板"),
        (lambda p: _zip({"big.xml": b"0" * (21 * 1024 * 1024)}), "解压后过大"),
    ],
)
def test_broken_malformed_or_dangerous_files_change_nothing(personas, make, message):
    with pytest.raises(ImportRejected) as caught:
        import_template(personas.agency_a_user, make(personas))
    assert message in str(caught.value)
    assert not ProgressReport.objects.exists()


def test_oversized_files_are_refused(personas, settings):
    settings.TRACKER = {**settings.TRACKER, "IMPORT_MAX_BYTES": 1000}
    with pytest.raises(ImportRejected, match="文件过大"):
        import_template(personas.agency_a_user, b"x" * 2000)


def _zip(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return out.getvalue()


def _plain_workbook() -> bytes:
    from openpyxl import Workbook

    out = io.BytesIO()
    Workbook().save(out)
    return out.getvalue()


def test_export_escapes_text_that_would_run_as_a_formula(personas):
    assert safe('=HYPERLINK("http://x")') == '\'=HYPERLINK("http://x")'
    assert safe("-1+1") == "'-1+1" and safe("正常文本") == "正常文本" and safe(5) == 5
    p = personas
    submit(
        p.agency_a_user,
        [Entry(p.indicator_a.pk, p.district_a.pk, "2024-06", 5, note="=cmd|' /C calc'!A0")],
        today=TODAY,
    )
    data = export_template(p.agency_a_user, p.indicator_a, date(2024, 6, 1))
    cell = load_workbook(io.BytesIO(data))["填报"]["F4"]
    assert cell.data_type == "s" and cell.value == "'=cmd|' /C calc'!A0"


def test_breakdown_has_indicators_as_rows_and_districts_as_columns(plan_2024):
    from tests.factories import make_user
    from tracker.accounts.models import Role

    seq1 = Indicator.objects.get(project__plan_year=plan_2024, project__seq=1)
    xiaoshan = District.objects.get(name="萧山区")
    ProgressReport.objects.create(indicator=seq1, district=xiaoshan, month=date(2024, 5, 1),
                                  value=Decimal(30))  # fmt: skip
    data = export_breakdown(make_user("dcs", Role.SUPERVISION), plan_2024, date(2024, 6, 1))
    ws = load_workbook(io.BytesIO(data))["任务分解表"]
    header = [c.value for c in ws[2]]
    assert header[:5] == ["序号", "项目", "指标", "单位", "全市目标"]
    assert header[5] == "市本级" and "杭州西湖风景名胜区" in header
    row = next(r for r in ws.iter_rows(min_row=4, values_only=True) if r[0] == 1)
    col = header.index("萧山区")
    quota = Decimal(str(row[col]))
    assert row[2] == seq1.label and quota == seq1.quotas.get(district=xiaoshan).value
    assert row[col + 1] == 30
    assert row[col + 2] == pytest.approx(float(Decimal(30) / quota))
    assert sum(1 for r in ws.iter_rows(min_row=4, values_only=True) if r[0]) == 60  # numeric
    # amounts in the plan's printed units: 序号12 城镇新增就业 is 「25 万人」, not 250000
    jobs = next(r for r in ws.iter_rows(min_row=4, values_only=True) if r[0] == 12)
    assert (jobs[3], jobs[4], jobs[5]) == ("万人", 25, 25)


def test_breakdown_for_a_district_shows_only_its_columns(plan_2024):
    from tests.factories import make_user
    from tracker.accounts.models import Role

    xiaoshan = District.objects.get(name="萧山区")
    user = make_user("xs2", Role.DISTRICT, district=xiaoshan)
    ws = load_workbook(io.BytesIO(export_breakdown(user, plan_2024, date(2024, 6, 1))))[
        "任务分解表"
    ]
    assert [c.value for c in ws[2]][5:] == ["萧山区", None, None]


def test_admin_downloads_and_uploads(personas, client):
    p = personas
    client.force_login(p.agency_a_user)
    url = reverse("admin:tracker_progressreport_template")
    response = client.get(url, {"indicator": p.indicator_a.pk, "month": "2024-06"})
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    filled = fill(response.content, {"shangcheng": 9})
    upload = io.BytesIO(filled)
    upload.name = "t.xlsx"
    response = client.post(reverse("admin:tracker_progressreport_import"), {"file": upload})
    assert response.status_code == 302
    assert ProgressReport.objects.get().value == 9

    broken = io.BytesIO(b"garbage")
    broken.name = "t.xlsx"
    response = client.post(reverse("admin:tracker_progressreport_import"), {"file": broken})
    assert "导入失败，数据未作任何修改" in response.content.decode()
    export = client.get(reverse("admin:tracker_progressreport_export"), {"month": "2024-06"})
    assert export.status_code == 200 and export.content[:2] == b"PK"


def _padded(data: bytes, sheet: str, cells) -> bytes:
    wb = load_workbook(io.BytesIO(data))
    ws = wb[sheet]
    for row, column in cells:
        ws.cell(row=row, column=column, value=1)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def test_files_padded_with_cells_are_refused_before_parsing(personas):
    """The security test's file: a valid template plus 40 000 cells in the hidden sheet
    (rows and bytes within their limits). Counted in the raw XML, refused, nothing lands."""
    p = personas
    data = fill(export_template(p.agency_a_user, p.indicator_a, date(2024, 6, 1)),
                {"shangcheng": 5})  # fmt: skip
    padded = _padded(data, "_meta", ((r, c) for r in range(1, 1601) for c in range(1, 26)))
    assert len(padded) < 2 * 1024 * 1024
    with pytest.raises(ImportRejected, match="单元格过多"):
        import_template(p.agency_a_user, padded)
    assert not ProgressReport.objects.exists()


def test_columns_beyond_the_template_are_refused(personas):
    p = personas
    data = fill(export_template(p.agency_a_user, p.indicator_a, date(2024, 6, 1)),
                {"shangcheng": 5})  # fmt: skip
    with pytest.raises(ImportRejected, match="列数过多（到第 200 列）"):
        import_template(p.agency_a_user, _padded(data, "填报", [(4, 200)]))
    assert not ProgressReport.objects.exists()
    import_template(p.agency_a_user, data)  # the same file without the stray cell lands
    assert ProgressReport.objects.get().value == 5
