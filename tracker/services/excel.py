"""Excel in and out: the 任务分解表 with progress, a per-indicator template, its import.

- ``export_breakdown(user, plan_year, month)``: indicators as rows, the user's districts
  as columns (任务数 / 累计完成 / 完成率 under each district), the cumulative value being
  each district's value as of ``month`` (``services.lag.values_as_of``), 完成率 from
  ``domain.cell.completion_pct``, amounts in the plan's printed unit (「万人」 columns hold
  万). Three queries whatever the size.
- ``export_template(user, indicator, month)``: one row per district the user may report,
  with quota and last month's cumulative value filled in; the user types 本月累计.
  A hidden sheet ``_meta`` names the indicator and month, so the file imports back.
- ``import_template(user, file)``: all-or-nothing through ``services.progress.submit``;
  every bad row is reported with its Excel row number and the reason. Refused before any
  row is read: files over ``IMPORT_MAX_BYTES`` (default 2 MB), archives that inflate
  past ``IMPORT_MAX_UNPACKED_BYTES`` (a zip bomb), anything openpyxl cannot read, a
  sheet without our ``_meta``, more than ``IMPORT_MAX_ROWS`` rows, and any formula.

Text cells written by export that start with ``= + - @`` (or a tab/CR) are prefixed with
an apostrophe, so a label or note can never run as a formula in a spreadsheet program.
"""

from __future__ import annotations

import io
import re
import zipfile
import zlib
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.conf import settings
from openpyxl import Workbook, load_workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import column_index_from_string, get_column_letter

from tracker.domain import format as figures
from tracker.domain.cell import completion_pct
from tracker.models import District, Indicator, ProgressReport, Quota
from tracker.months import add_months, format_month, month_label, parse_month
from tracker.scoping import scope_for
from tracker.services.lag import values_as_of
from tracker.services.progress import Entry, EntryError, ProgressRejected, Source, submit

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
META_SHEET = "_meta"
TEMPLATE_HEADER = (
    "区县代码",
    "区、县(市)",
    "任务数",
    "上月累计",
    "本月累计（填写）",
    "备注",
    "更正（是/否）",
    "更正原因",
    "确认超额（是/否）",
)
FIRST_DATA_ROW = 4
HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
BOLD = Font(bold=True)
YES = {"是", "y", "yes", "true", "1", "√", "✓"}


def safe(value):
    """A value safe to put in a cell: text that looks like a formula is neutralised."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def _num(value: Decimal | None):
    if value is None:
        return None
    return int(value) if value == value.to_integral_value() else float(value)


def _reporting_districts(user, indicator: Indicator):
    """Districts the user may enter for ``indicator``, with their quota, in table order."""
    scope = scope_for(user)
    if indicator.scope == Indicator.Scope.CITY:
        districts = District.objects.filter(kind=District.Kind.CITY)
        quotas = {d.pk: indicator.target_value for d in districts}
    else:
        rows = Quota.objects.filter(indicator=indicator).select_related("district")
        districts = [q.district for q in rows]
        quotas = {q.district_id: q.value for q in rows}
    return [
        (d, quotas.get(d.pk))
        for d in sorted(districts, key=lambda d: d.order)
        if scope.can_report(indicator, d)
    ]


def export_breakdown(user, plan_year, month: date) -> bytes:
    """任务分解表 layout with each district's quota, cumulative value and completion rate."""
    scope = scope_for(user)
    indicators = list(
        Indicator.objects.for_user(user)
        .filter(project__plan_year=plan_year)
        .exclude(kind=Indicator.Kind.QUALITATIVE)
        .select_related("project")
        .order_by("project__seq", "order")
    )
    districts = list(District.objects.order_by("order"))
    if scope.is_district:
        districts = [d for d in districts if d.pk == scope.district_id]
    quotas = {
        (q.indicator_id, q.district_id): q.value
        for q in Quota.objects.filter(indicator__in=indicators).only(
            "indicator_id", "district_id", "value"
        )
    }
    actual = values_as_of([i.pk for i in indicators], [d.pk for d in districts], month)

    wb = Workbook()
    ws = wb.active
    ws.title = "任务分解表"
    ws["A1"] = safe(f"{plan_year.year}年民生实事任务分解及完成情况（截至{month_label(month)}底）")
    ws["A1"].font = Font(bold=True, size=14)
    fixed = ["序号", "项目", "指标", "单位", "全市目标"]
    for col, title in enumerate(fixed, start=1):
        ws.cell(row=2, column=col, value=title)
        ws.merge_cells(start_row=2, start_column=col, end_row=3, end_column=col)
    for index, district in enumerate(districts):
        col = len(fixed) + 1 + index * 3
        ws.cell(row=2, column=col, value=district.name)
        ws.merge_cells(start_row=2, start_column=col, end_row=2, end_column=col + 2)
        for offset, title in enumerate(("任务数", "累计完成", "完成率")):
            ws.cell(row=3, column=col + offset, value=title)
    for row in ws.iter_rows(min_row=2, max_row=3):
        for cell in row:
            cell.font, cell.fill = BOLD, HEADER_FILL
            cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
    row = 4
    for indicator in indicators:
        ws.cell(row=row, column=1, value=indicator.project.seq)
        ws.cell(row=row, column=2, value=safe(indicator.project.name))
        ws.cell(row=row, column=3, value=safe(indicator.label))
        scale = figures.scale_of(indicator.target_text)  # the plan's printed unit (万人 …)
        unit = figures.unit_label(indicator.unit, level=indicator.is_level, scale=scale)
        ws.cell(row=row, column=4, value=safe(unit))
        ws.cell(row=row, column=5, value=_num(figures.scaled(indicator.target_value, scale)))
        for index, district in enumerate(districts):
            col = len(fixed) + 1 + index * 3
            if indicator.scope == Indicator.Scope.CITY:
                quota = indicator.target_value if district.kind == District.Kind.CITY else None
            else:
                quota = quotas.get((indicator.pk, district.pk))
            value = actual.get((indicator.pk, district.pk))
            ws.cell(row=row, column=col, value=_num(figures.scaled(quota, scale)))
            ws.cell(row=row, column=col + 1, value=_num(figures.scaled(value, scale)))
            rate = completion_pct(value, quota)  # 完成率 = 累计完成 ÷ 任务数
            if rate is not None:
                cell = ws.cell(row=row, column=col + 2, value=float(rate / 100))
                cell.number_format = "0.0%"
        row += 1
    ws.freeze_panes = "F4"
    for col, width in ((1, 6), (2, 28), (3, 24), (4, 8), (5, 10)):
        ws.column_dimensions[get_column_letter(col)].width = width
    return _bytes(wb)


def export_template(user, indicator: Indicator, month: date) -> bytes:
    """A sheet to fill in for one indicator and month, one row per reportable district."""
    rows = _reporting_districts(user, indicator)
    previous = values_as_of([indicator.pk], [d.pk for d, _ in rows], add_months(month, -1))
    current = {
        r.district_id: r
        for r in ProgressReport.objects.filter(
            indicator=indicator, month=month, district__in=[d for d, _ in rows]
        )
    }
    wb = Workbook()
    ws = wb.active
    ws.title = "填报"
    unit = "%" if indicator.is_level else indicator.unit
    ws["A1"] = safe(
        f"序号{indicator.project.seq}「{indicator.label}」{month_label(month)}底累计完成情况"
        f"（单位：{unit}）"
    )
    ws["A1"].font = Font(bold=True, size=13)
    ws["A2"] = "只填写「本月累计」及备注等列；不要修改区县代码，不要使用公式。"
    for col, title in enumerate(TEMPLATE_HEADER, start=1):
        cell = ws.cell(row=3, column=col, value=title)
        cell.font, cell.fill = BOLD, HEADER_FILL
    for offset, (district, quota) in enumerate(rows):
        r = FIRST_DATA_ROW + offset
        report = current.get(district.pk)
        ws.cell(row=r, column=1, value=district.code)
        ws.cell(row=r, column=2, value=district.name)
        ws.cell(row=r, column=3, value=_num(quota))
        ws.cell(row=r, column=4, value=_num(previous.get((indicator.pk, district.pk))))
        if report is not None:
            ws.cell(row=r, column=5, value=_num(report.value))
            ws.cell(row=r, column=6, value=safe(report.note))
    for col, width in enumerate((14, 18, 10, 10, 16, 30, 12, 24, 14), start=1):
        ws.column_dimensions[get_column_letter(col)].width = width
    meta = wb.create_sheet(META_SHEET)
    meta.append(["indicator_id", indicator.pk])
    meta.append(["month", format_month(month)])
    meta.append(["plan_year", indicator.project.plan_year.year])
    meta.sheet_state = "hidden"
    return _bytes(wb)


def _bytes(wb: Workbook) -> bytes:
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


# --- import ---------------------------------------------------------------------------


class ImportRejected(Exception):
    """The file was refused; nothing was written. ``errors`` lists every reason."""

    def __init__(self, errors: list[EntryError] | list[str]):
        self.errors = [
            e if isinstance(e, EntryError) else EntryError(None, "file", e) for e in errors
        ]
        super().__init__("；".join(str(e) for e in self.errors))


@dataclass
class ImportResult:
    indicator: Indicator
    month: date
    created: int
    updated: int
    unchanged: int


_CELL_TAG = re.compile(rb"<(?:\w+:)?c[\s>/]")
_CELL_REF = re.compile(rb'<(?:\w+:)?c\s[^>]*?\br="([A-Z]{1,3})[0-9]+"')


def _cell_limits() -> tuple[int, int]:
    conf = settings.TRACKER
    return int(conf.get("IMPORT_MAX_CELLS", 30000)), int(conf.get("IMPORT_MAX_COLUMNS", 26))


def _check_cells(archive: zipfile.ZipFile, max_unpacked: int) -> None:
    """Count the cells and the widest column of every sheet in the raw XML, before
    openpyxl builds a Python object per cell (540 k padded cells took 12 s and 330 MB)."""
    max_cells, max_columns = _cell_limits()
    cells = widest = 0
    for info in archive.infolist():
        name = info.filename
        if not (name.startswith("xl/worksheets/") and name.endswith(".xml")):
            continue
        with archive.open(info) as handle:
            xml = handle.read(max_unpacked + 1)
        cells += len(_CELL_TAG.findall(xml))
        for letters in set(_CELL_REF.findall(xml)):
            widest = max(widest, column_index_from_string(letters.decode()))
        if cells > max_cells:
            raise ImportRejected([f"单元格过多（超过 {max_cells} 个），请使用本系统下载的模板"])
    if widest > max_columns:
        raise ImportRejected(
            [f"列数过多（到第 {widest} 列），模板只有 {len(TEMPLATE_HEADER)} 列，请删除多余的列"]
        )


def _limits() -> tuple[int, int, int]:
    conf = settings.TRACKER
    return (
        int(conf.get("IMPORT_MAX_BYTES", 2 * 1024 * 1024)),
        int(conf.get("IMPORT_MAX_UNPACKED_BYTES", 20 * 1024 * 1024)),
        int(conf.get("IMPORT_MAX_ROWS", 1000)),
    )


def _open(data: bytes):
    max_bytes, max_unpacked, _ = _limits()
    if len(data) > max_bytes:
        raise ImportRejected([f"文件过大（{len(data) // 1024} KB），上限为 {max_bytes // 1024} KB"])
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
            if unpacked > max_unpacked:
                raise ImportRejected(["文件解压后过大，疑似损坏或恶意文件，已拒绝"])
            _check_cells(archive, max_unpacked)
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise ImportRejected(
            ["文件不是有效的 Excel（.xlsx）文件，请上传由本系统下载的模板"]
        ) from exc
    try:
        return load_workbook(io.BytesIO(data), data_only=False)
    except Exception as exc:  # openpyxl raises many types for broken files
        raise ImportRejected(
            ["Excel 文件已损坏或格式不正确，无法读取，请重新下载模板填写"]
        ) from exc


def _is_yes(value) -> bool:
    return str(value).strip().lower() in YES if value is not None else False


def import_template(user, data: bytes) -> ImportResult:
    """Read a filled template and write it all, or nothing (``ImportRejected``)."""
    wb = _open(data)
    _, _, max_rows = _limits()
    if META_SHEET not in wb.sheetnames or "填报" not in wb.sheetnames:
        raise ImportRejected(["这不是本系统的填报模板（缺少模板信息），请先下载模板再填写"])
    meta = {row[0]: row[1] for row in wb[META_SHEET].iter_rows(values_only=True) if row and row[0]}
    try:
        indicator_id = int(meta["indicator_id"])
        month = parse_month(str(meta["month"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise ImportRejected(["模板信息已被修改，无法识别指标和月份，请重新下载模板"]) from exc
    indicator = (
        Indicator.objects.for_user(user)
        .select_related("project__plan_year")
        .filter(pk=indicator_id)
        .first()
    )
    if indicator is None:
        raise ImportRejected(["模板中的量化目标不存在或不在您的职责范围内"])
    ws = wb["填报"]
    if ws.max_row > max_rows + FIRST_DATA_ROW:
        raise ImportRejected([f"行数过多（{ws.max_row} 行），上限为 {max_rows} 行"])
    formulas = [
        f"{cell.coordinate}"
        for row in ws.iter_rows()
        for cell in row
        if cell.data_type == "f" or (isinstance(cell.value, str) and cell.value.startswith("="))
    ]
    if formulas:
        raise ImportRejected([f"文件中含有公式（{'、'.join(formulas[:5])}），请只填写数值后再导入"])
    header = [c for c in next(ws.iter_rows(min_row=3, max_row=3, values_only=True), ())]
    if (
        tuple(str(h).strip() if h is not None else "" for h in header[: len(TEMPLATE_HEADER)])
        != TEMPLATE_HEADER
    ):
        raise ImportRejected(["表头已被修改，请使用本系统下载的模板"])

    codes = dict(District.objects.values_list("code", "pk"))
    entries, errors = [], []
    for number, row in enumerate(
        ws.iter_rows(min_row=FIRST_DATA_ROW, values_only=True), start=FIRST_DATA_ROW
    ):
        row = list(row) + [None] * (len(TEMPLATE_HEADER) - len(row))
        code, _name, _quota, _prev, value, note, correction, reason, confirm = row[:9]
        if all(v is None or str(v).strip() == "" for v in row[:9]):
            continue
        if value is None or str(value).strip() == "":
            continue  # a district not filled in this time
        code = str(code or "").strip()
        if code not in codes:
            errors.append(
                EntryError(number, "district", f"未知的区县代码「{code}」，请不要修改第一列")
            )
            continue
        entries.append(
            Entry(
                indicator_id=indicator.pk,
                district_id=codes[code],
                month=month,
                value=value,
                note=str(note or "").strip(),
                is_correction=_is_yes(correction),
                correction_reason=str(reason or "").strip(),
                confirmed=_is_yes(confirm),
                row=number,
            )
        )
    if errors:
        raise ImportRejected(errors)
    if not entries:
        raise ImportRejected(["模板中没有填写任何「本月累计」数值"])
    try:
        result = submit(user, entries, source=Source.EXCEL)
    except ProgressRejected as exc:
        raise ImportRejected(exc.errors) from exc
    return ImportResult(
        indicator=indicator,
        month=month,
        created=len(result.created),
        updated=len(result.updated),
        unchanged=len(result.unchanged),
    )


__all__ = [
    "ImportRejected",
    "ImportResult",
    "export_breakdown",
    "export_template",
    "import_template",
    "safe",
]
