"""Excel in and out: every workbook the tracker hands out, and the one import path.

Kinds (each names itself in a hidden ``_meta`` sheet, so one importer reads them all):

- **月度填报表** ``export_month_workbook(user, month, district_id=, agency_id=)``: one
  district's (or one lead agency's) whole month — the rows of the 本月填报 page
  (``progress.entry_sheet.entry_sheet``, the one builder; ``month_sheet``): 序号, 项目,
  量化目标, 区、县(市), 单位, 任务数, 上月累计, 序时应达 (``plans.trajectory``),
  本月累计, 备注, 更正/确认超额 as
  是/否 dropdowns, and a hidden 编号 column (``indicator-district``) so the importer knows
  the cell. The sheet is protected; only the input columns are unlocked.
- **任务分解表** ``export_breakdown(user, plan_year, month)``: indicators as rows, the
  user's districts as columns (任务数 / 累计完成 / 完成率 under each district), the
  cumulative value being each district's value as of ``month`` as filed
  (``progress.values.values_as_of``), amounts in the plan's printed unit (「万人」 columns
  hold 万). Re-imports: a 累计完成 cell changed from what was exported is written (converted
  back from 万); untouched cells write nothing. Cells are found by the visible 序号 +
  指标 and the district in the header, so sorting rows does no harm.
- **单项模板** ``export_template(user, indicator, month)``: one indicator, a row per
  district the user may report (the admin's per-indicator template).

``import_workbook(user, data)`` reads any of them and writes all or nothing through
``progress.writes.submit`` (the one write path; history records who, when and
「Excel 导入」). Every bad row is reported with its Excel row number and, in the month
workbook and the 任务分解表, the district and indicator it is about. Refused before any
row is read: files over ``IMPORT_MAX_BYTES`` (default 2 MB), archives that inflate past
``IMPORT_MAX_UNPACKED_BYTES`` (a zip bomb), more than ``IMPORT_MAX_CELLS`` cells or
``IMPORT_MAX_COLUMNS`` columns, anything openpyxl cannot read, a file without our
``_meta`` or with our sheet renamed, a month in the future or outside the plan, more
than ``IMPORT_MAX_ROWS`` rows, and any formula. Numbers typed as text (「120」, 「1,200」)
are read as numbers; blank rows and rows without 本月累计 are skipped.

Text cells written by export that start with ``= + - @`` (or a tab/CR) are prefixed with
an apostrophe, so a label or note can never run as a formula in a spreadsheet program.
"""

from __future__ import annotations

import io
import re
import zipfile
import zlib
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from django.db import transaction
from django.utils import timezone
from openpyxl import Workbook, load_workbook
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Font, PatternFill, Protection
from openpyxl.utils import column_index_from_string, get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation

from tracker import conf
from tracker import formats as figures
from tracker.accounts.permissions import SUPERVISION_SCOPE, scope_for
from tracker.calendar import deadline_label, reporting_month
from tracker.months import add_months, first_of_month, format_month, month_label, parse_month
from tracker.plans.models import Indicator, Milestone, Quota
from tracker.plans.reference import Agency, District, PlanYear
from tracker.plans.selection import current_plan
from tracker.plans.units import city_unit_id, plan_columns, sort_units, unit_order
from tracker.progress.due import due_cells
from tracker.progress.entry_sheet import (
    EntrySheet,
    MilestoneRow,
    chosen_scope,
    entry_sheet,
    month_milestones,
)
from tracker.progress.lifecycle import frozen_cells
from tracker.progress.models import ProgressReport
from tracker.progress.values import values_as_of
from tracker.progress.writes import (
    Entry,
    EntryError,
    ProgressRejected,
    Source,
    SubmitResult,
    check_milestone,
    record_milestone,
    submit,
    validate,
)
from tracker.ratios import completion_pct

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
META_SHEET = "_meta"
TEMPLATE_SHEET = "填报"
BREAKDOWN_SHEET = "任务分解表"
KIND_TEMPLATE, KIND_MONTH, KIND_BREAKDOWN = "template", "month", "breakdown"
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
#: the month workbook's columns; the last one (编号) is hidden
MONTH_HEADER = (
    "序号",
    "项目",
    "量化目标",
    "区、县(市)",
    "单位",
    "任务数",
    "上月累计",
    "序时应达",
    "本月累计（填写）",
    "备注（选填）",
    "更正（是/否）",
    "更正原因",
    "确认超额（是/否）",
    "编号",
)
MONTH_INPUT_COLUMNS = range(9, 14)  # 本月累计 … 确认超额, 1-based
MONTH_KEY_COLUMN = 14
VALUE_COLUMN = 9
LOCKED_NOTE = "已审核并锁定，不能修改；如确需修改，请联系市政府督查室解锁"
MILESTONE_SHEET = "节点"
MILESTONE_HEADER = (
    "序号",
    "项目",
    "节点内容",
    "区、县(市)",
    "节点日期",
    "完成情况（已完成/未完成）",
    "完成日期（年-月-日）",
    "备注（选填）",
    "编号",
)
MILESTONE_INPUT_COLUMNS = range(6, 9)
MILESTONE_KEY_COLUMN = 9
DONE, NOT_DONE = "已完成", "未完成"
BREAKDOWN_FIXED = ("序号", "项目", "指标", "单位", "全市目标")
FIRST_DATA_ROW = 4
HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
INPUT_FILL = PatternFill("solid", fgColor="FFF2CC")
BOLD = Font(bold=True)
YES = {"是", "y", "yes", "true", "1", "√", "✓"}
NO = {"否", "n", "no", "false", "0", ""}


def safe(value):
    """A value safe to put in a cell: text that looks like a formula is neutralised."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def _num(value: Decimal | None):
    if value is None:
        return None
    return int(value) if value == value.to_integral_value() else float(value)


def _text(value) -> str:
    return "" if value is None else str(value).strip()


def _blank(value) -> bool:
    return _text(value) == ""


def _reporting_districts(user, indicator: Indicator):
    """Districts the user may enter for ``indicator``, with their quota, in plan order."""
    scope = scope_for(user)
    plan = indicator.project.plan_year
    if indicator.scope == Indicator.Scope.CITY:  # the plan's own 市本级 column
        districts = District.objects.filter(pk=city_unit_id(plan))
        quotas = {d.pk: indicator.target_value for d in districts}
    else:
        rows = Quota.objects.filter(indicator=indicator).select_related("district")
        districts = [q.district for q in rows]
        quotas = {q.district_id: q.value for q in rows}
    return [
        (d, quotas.get(d.pk))
        for d in sort_units(unit_order(plan), districts)  # the plan's column order
        if scope.can_report(indicator, d)
    ]


def _meta(wb: Workbook, **values) -> None:
    meta = wb.create_sheet(META_SHEET)
    for key, value in values.items():
        meta.append([key, value])
    meta.sheet_state = "hidden"


def _header(ws, row: int, titles) -> None:
    for col, title in enumerate(titles, start=1):
        cell = ws.cell(row=row, column=col, value=title)
        cell.font, cell.fill = BOLD, HEADER_FILL
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)


def _bytes(wb: Workbook) -> bytes:
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


# --- 任务分解表 -------------------------------------------------------------------------


def breakdown_month(now=None) -> tuple[PlanYear | None, date | None]:
    """The 任务分解表's default: the current plan at its month being reported
    (``calendar``) — in November 2026 with only the 2024 plan, 2024年12月."""
    plan = current_plan(now)
    return (plan, reporting_month(plan, now)) if plan else (None, None)


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
    # the plan's own columns in its order (every registered unit for a plan without any)
    districts = [c.district for c in plan_columns(plan_year)] or list(District.objects.all())
    city_id = city_unit_id(plan_year)
    if scope.is_district:
        districts = [d for d in districts if d.pk == scope.district_id]
    quotas = {
        (q.indicator_id, q.district_id): q.value
        for q in Quota.objects.filter(indicator__in=indicators).only(
            "indicator_id", "district_id", "value"
        )
    }
    actual = values_as_of(  # as filed: the figures the unit reads back and re-imports
        [i.pk for i in indicators], [d.pk for d in districts], month, counted=False
    )

    wb = Workbook()
    ws = wb.active
    ws.title = BREAKDOWN_SHEET
    ws["A1"] = safe(f"{plan_year.year}年民生实事任务分解及完成情况（截至{month_label(month)}底）")
    ws["A1"].font = Font(bold=True, size=14)
    for col, title in enumerate(BREAKDOWN_FIXED, start=1):
        ws.cell(row=2, column=col, value=title)
        ws.merge_cells(start_row=2, start_column=col, end_row=3, end_column=col)
    for index, district in enumerate(districts):
        col = len(BREAKDOWN_FIXED) + 1 + index * 3
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
            col = len(BREAKDOWN_FIXED) + 1 + index * 3
            quota = _breakdown_quota(indicator, district, quotas, city_id)
            value = actual.get((indicator.pk, district.pk))
            ws.cell(row=row, column=col, value=_num(figures.scaled(quota, scale)))
            ws.cell(row=row, column=col + 1, value=_num(figures.scaled(value, scale)))
            rate = completion_pct(value, quota, ceiling=indicator.is_ceiling)  # 累计完成 ÷ 任务数
            if rate is not None:
                cell = ws.cell(row=row, column=col + 2, value=float(rate / 100))
                cell.number_format = "0.0%"
        row += 1
    ws.freeze_panes = "F4"
    for col, width in ((1, 6), (2, 28), (3, 24), (4, 8), (5, 10)):
        ws.column_dimensions[get_column_letter(col)].width = width
    _meta(wb, kind=KIND_BREAKDOWN, plan_year_id=plan_year.pk, month=format_month(month),
          plan_year=plan_year.year)  # fmt: skip
    return _bytes(wb)


def _breakdown_quota(indicator, district, quotas, city_id):
    if indicator.scope == Indicator.Scope.CITY:
        return indicator.target_value if district.pk == city_id else None
    return quotas.get((indicator.pk, district.pk))


# --- the per-indicator template ------------------------------------------------------------


def export_template(user, indicator: Indicator, month: date) -> bytes:
    """A sheet to fill in for one indicator and month, one row per reportable district."""
    rows = _reporting_districts(user, indicator)
    previous = values_as_of(  # as filed, as the 本月填报 page's 上月
        [indicator.pk], [d.pk for d, _ in rows], add_months(month, -1), counted=False
    )
    current = {
        r.district_id: r
        for r in ProgressReport.objects.filter(
            indicator=indicator, month=month, district__in=[d for d, _ in rows]
        )
    }
    wb = Workbook()
    ws = wb.active
    ws.title = TEMPLATE_SHEET
    ws["A1"] = safe(
        f"序号{indicator.project.seq}「{indicator.label}」{month_label(month)}底累计完成情况"
        f"（单位：{figures.unit_label(indicator.unit, level=indicator.is_level)}）"
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
    _meta(wb, indicator_id=indicator.pk, month=format_month(month),
          plan_year=indicator.project.plan_year.year, kind=KIND_TEMPLATE)  # fmt: skip
    return _bytes(wb)


# --- the month workbook of a district or an agency -----------------------------------------


class ExportRefused(Exception):
    """Nothing to hand out (no cell due in that scope, a month in the future …)."""


def _milestone_sheet(wb, rows: list[MilestoneRow]) -> None:
    """The 节点 sheet: one row per milestone × district of the sheet (``entry_sheet``)."""
    ws = wb.create_sheet(MILESTONE_SHEET)
    ws["A1"] = "本月到期的进度节点"
    ws["A1"].font = Font(bold=True, size=13)
    ws["A2"] = "完成情况从下拉列表选择；已完成的须填写完成日期（如 2024-10-15）。"
    _header(ws, 3, MILESTONE_HEADER)
    unlocked = Protection(locked=False)
    for r, row in enumerate(rows, start=FIRST_DATA_ROW):
        m, completion = row.milestone, row.completion
        state = None if completion is None else (DONE if completion.done else NOT_DONE)
        values = (
            m.project.seq,
            safe(m.project.name),
            safe(m.text),
            row.district.name,
            m.due_date,
            state,
            completion.done_on if completion else None,
            safe(completion.note) if completion and completion.note else None,
            row.key,
        )
        for col, value in enumerate(values, start=1):
            ws.cell(row=r, column=col, value=value)
        ws.cell(row=r, column=5).number_format = "yyyy-mm-dd"
        ws.cell(row=r, column=7).number_format = "yyyy-mm-dd"
        for col in MILESTONE_INPUT_COLUMNS:
            cell = ws.cell(row=r, column=col)
            cell.protection, cell.fill = unlocked, INPUT_FILL
    last = FIRST_DATA_ROW + max(len(rows), 1) - 1
    state = DataValidation(
        type="list",
        formula1=f'"{DONE},{NOT_DONE}"',
        allow_blank=True,
        showErrorMessage=True,
        errorTitle="请选择",
        error=f"请从下拉列表选择「{DONE}」或「{NOT_DONE}」",
    )
    ws.add_data_validation(state)
    state.add(f"F{FIRST_DATA_ROW}:F{last}")
    for col, width in enumerate((6, 24, 40, 14, 12, 16, 16, 24, 10), start=1):
        ws.column_dimensions[get_column_letter(col)].width = width
    ws.column_dimensions[get_column_letter(MILESTONE_KEY_COLUMN)].hidden = True
    ws.protection.sheet = True
    ws.protection.formatColumns = False
    ws.protection.formatRows = False


def month_sheet(user, month: date, *, district_id=None, agency_id=None) -> EntrySheet:
    """The rows of the month workbook: the 本月填报 page's own (``progress.entry_sheet``), read
    the way the page reads them — 督查室's choice of a district or an agency as that unit's
    scope (``chosen_scope``); anyone else's choice only narrows their own scope."""
    return entry_sheet(
        chosen_scope(user, district_id=district_id, agency_id=agency_id),
        month,
        district_ids=[district_id] if district_id else None,
        agency_id=agency_id or None,
    )


def workbook_title(user, month: date, *, district_id=None, agency_id=None) -> str:
    """Whose workbook: 「淳安县」, 「市民政局」, or 「全市」 for 督查室 without a choice."""
    scope = scope_for(user)
    district_id = scope.district_id if scope.is_district else district_id
    agency_id = scope.agency_id if scope.is_agency else agency_id
    if district_id:
        return District.objects.filter(pk=district_id).values_list("name", flat=True).first()
    if agency_id:
        return Agency.objects.filter(pk=agency_id).values_list("name", flat=True).first()
    return "全市"


def export_month_workbook(user, month: date, *, district_id=None, agency_id=None) -> bytes:
    """月度填报表: every cell due for ``month`` in the user's scope, one row each."""
    month = first_of_month(month)
    if month > first_of_month(timezone.localdate()):
        raise ExportRefused(f"不能下载未来月份（{month_label(month)}）的填报表")
    sheet = month_sheet(user, month, district_id=district_id, agency_id=agency_id)
    rows, milestones = sheet.rows, sheet.milestones
    if not rows and not milestones:
        raise ExportRefused(f"{month_label(month)}在您的职责范围内没有需要填报的量化目标")
    who = workbook_title(user, month, district_id=district_id, agency_id=agency_id)
    wb = Workbook()
    ws = wb.active
    ws.title = TEMPLATE_SHEET
    ws["A1"] = safe(f"{who}民生实事月度进度填报表（{deadline_label(month)}）")
    ws["A1"].font = Font(bold=True, size=13)
    ws["A2"] = (
        "只填写黄色列：本月累计为截至本月底的累计数（比率填百分数，如 83），可填数字或文本形式的"
        "数字；空着的行不导入。不要修改其他列，不要使用公式。"
    )
    ws["A2"].alignment = Alignment(wrap_text=False)
    _header(ws, 3, MONTH_HEADER)
    last = FIRST_DATA_ROW + max(len(rows), 1) - 1
    unlocked = Protection(locked=False)
    for r, row in enumerate(rows, start=FIRST_DATA_ROW):
        indicator, district, report = row.indicator, row.district, row.report
        values = (
            indicator.project.seq,
            safe(indicator.project.name),
            safe(indicator.label),
            district.name,
            safe(row.input_unit),  # amounts here are in the stored base unit
            _num(row.quota),
            _num(row.previous),
            _num(figures.rounded(row.expected)),  # as the pages round it (one decimal)
            _num(report.value) if report else None,
            safe(report.note) if report else None,
            None,
            None,
            None,
            row.key,
        )
        for col, value in enumerate(values, start=1):
            ws.cell(row=r, column=col, value=value)
        if row.locked:  # approved: shown, not editable (importing it unchanged is fine)
            ws.cell(row=r, column=VALUE_COLUMN).comment = Comment(LOCKED_NOTE, "督查室")
            continue
        for col in MONTH_INPUT_COLUMNS:
            cell = ws.cell(row=r, column=col)
            cell.protection, cell.fill = unlocked, INPUT_FILL
    yes_no = DataValidation(
        type="list",
        formula1='"是,否"',
        allow_blank=True,
        showErrorMessage=True,
        errorTitle="请选择",
        error="请从下拉列表选择「是」或「否」",
    )
    ws.add_data_validation(yes_no)
    yes_no.add(f"K{FIRST_DATA_ROW}:K{last}")
    yes_no.add(f"M{FIRST_DATA_ROW}:M{last}")
    number = DataValidation(
        type="decimal",
        operator="greaterThanOrEqual",
        formula1="0",
        allow_blank=True,
        showErrorMessage=True,
        errorStyle="warning",
        errorTitle="请填写数字",
        error="本月累计应为不小于 0 的数字（截至本月底的累计数）",
    )
    ws.add_data_validation(number)
    number.add(f"I{FIRST_DATA_ROW}:I{last}")
    widths = (6, 24, 26, 14, 8, 10, 10, 10, 14, 24, 10, 20, 12, 10)
    for col, width in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(col)].width = width
    ws.column_dimensions[get_column_letter(MONTH_KEY_COLUMN)].hidden = True
    ws.freeze_panes = "E4"
    ws.protection.sheet = True
    ws.protection.formatColumns = False  # widths may still be changed
    ws.protection.formatRows = False
    if milestones:
        _milestone_sheet(wb, milestones)
    _meta(wb, kind=KIND_MONTH, month=format_month(month), plan_year=month.year,
          district_id=district_id or "", agency_id=agency_id or "")  # fmt: skip
    return _bytes(wb)


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
    month: date
    created: int
    updated: int
    unchanged: int
    kind: str = KIND_TEMPLATE
    indicator: Indicator | None = None  # the per-indicator template's
    milestones: int = 0  # completions recorded (the month workbook's 节点 sheet)

    @property
    def summary(self) -> str:
        text = (
            f"{month_label(self.month)}：新增 {self.created} 条，修改 {self.updated} 条，"
            f"未变 {self.unchanged} 条"
        )
        return text + (f"，节点完成情况 {self.milestones} 条" if self.milestones else "")


_CELL_TAG = re.compile(rb"<(?:\w+:)?c[\s>/]")
_CELL_REF = re.compile(rb'<(?:\w+:)?c\s[^>]*?\br="([A-Z]{1,3})[0-9]+"')


def _cell_limits() -> tuple[int, int]:
    return conf.IMPORT_MAX_CELLS, conf.IMPORT_MAX_COLUMNS


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
            [f"列数过多（到第 {widest} 列），本系统的表格最多 {max_columns} 列，请删除多余的列"]
        )


def _limits() -> tuple[int, int, int]:
    return (
        conf.IMPORT_MAX_BYTES,
        conf.IMPORT_MAX_UNPACKED_BYTES,
        conf.IMPORT_MAX_ROWS,
    )


def max_upload_bytes() -> int:
    """The largest file the importer reads (views read one byte more to tell)."""
    return _limits()[0]


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


def _yes_no(value, row: int, what: str, errors: list, label: str = "") -> bool:
    text = _text(value).lower()
    if text in YES:
        return True
    if text not in NO:
        errors.append(EntryError(row, "value", f"{label}「{what}」只能填写「是」或「否」"))
    return False


def _sheet(wb, name: str, max_rows: int):
    if name not in wb.sheetnames:
        raise ImportRejected([f"找不到工作表「{name}」，请不要修改工作表名称，或重新下载模板"])
    ws = wb[name]
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
    return ws


def _check_header(ws, row: int, expected: tuple) -> None:
    header = next(ws.iter_rows(min_row=row, max_row=row, values_only=True), ())
    found = tuple(_text(h) for h in header[: len(expected)])
    if found != expected:
        raise ImportRejected(["表头已被修改，请使用本系统下载的模板"])


def _meta_month(meta: dict) -> date:
    try:
        month = parse_month(_text(meta.get("month")))
    except (TypeError, ValueError) as exc:
        raise ImportRejected(["模板信息已被修改，无法识别月份，请重新下载模板"]) from exc
    now = first_of_month(timezone.localdate())
    if month > now:
        raise ImportRejected(
            [f"不能导入未来月份（{month_label(month)}）的数据，当前为{month_label(now)}"]
        )
    return month


def import_workbook(user, data: bytes, *, month: date | None = None) -> ImportResult:
    """Read any of our workbooks and write it all, or nothing (``ImportRejected``).

    ``month``, when given (the upload page of a month), must be the workbook's month."""
    wb = _open(data)
    if META_SHEET not in wb.sheetnames:
        raise ImportRejected(["这不是本系统的填报模板（缺少模板信息），请先下载模板再填写"])
    meta = {
        _text(row[0]): row[1] if len(row) > 1 else None
        for row in wb[META_SHEET].iter_rows(values_only=True)
        if row and row[0]
    }
    kind = _text(meta.get("kind")) or KIND_TEMPLATE
    readers = {
        KIND_TEMPLATE: _import_template,
        KIND_MONTH: _import_month,
        KIND_BREAKDOWN: _import_breakdown,
    }
    if kind not in readers:
        raise ImportRejected(["模板信息已被修改，无法识别表格类型，请重新下载模板"])
    file_month = _meta_month(meta)
    if month is not None and file_month != first_of_month(month):
        raise ImportRejected(
            [
                f"这是{month_label(file_month)}的表格，与本页的{month_label(month)}不一致，"
                "请在对应月份的页面上传"
            ]
        )
    entries, labels, extra = readers[kind](user, wb, meta, file_month)
    milestones, skipped = extra.get("milestones", []), extra.get("skipped", 0)
    if not entries and not milestones:
        if skipped:  # only approved, locked cells, as exported: nothing to do
            return ImportResult(file_month, 0, 0, skipped, kind=kind)
        raise ImportRejected([extra.get("empty", "表格中没有填写任何「本月累计」数值")])
    try:
        with transaction.atomic():  # the numbers and the milestones: all or nothing
            result = submit(user, entries, source=Source.EXCEL) if entries else SubmitResult()
            for row in milestones:
                try:
                    record_milestone(
                        user,
                        row.milestone,
                        row.district,
                        done=row.done,
                        done_on=row.done_on,
                        note=row.note,
                        source=Source.EXCEL,
                    )
                except ProgressRejected as exc:
                    raise ImportRejected([row.error(e.message) for e in exc.errors]) from exc
    except ProgressRejected as exc:
        raise ImportRejected(_labelled(exc.errors, labels)) from exc
    return ImportResult(
        month=file_month,
        created=len(result.created),
        updated=len(result.updated),
        unchanged=len(result.unchanged) + skipped,
        kind=kind,
        indicator=extra.get("indicator"),
        milestones=len(milestones),
    )


def _labelled(errors: list[EntryError], labels: dict) -> list[EntryError]:
    """The progress service's errors with the Excel row and what the row is about."""
    return [
        EntryError(labels[e.row][0], e.field, f"{labels[e.row][1]}：{e.message}", e.code)
        if e.row in labels
        else e
        for e in errors
    ]


#: the admin's historic name for the one import path
import_template = import_workbook


def _import_template(user, wb, meta, month):
    """The per-indicator template: rows keyed by district code."""
    _, _, max_rows = _limits()
    try:
        indicator_id = int(meta["indicator_id"])
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
    ws = _sheet(wb, TEMPLATE_SHEET, max_rows)
    _check_header(ws, 3, TEMPLATE_HEADER)
    codes = dict(District.objects.values_list("code", "pk"))
    entries, errors = [], []
    for number, row in enumerate(
        ws.iter_rows(min_row=FIRST_DATA_ROW, values_only=True), start=FIRST_DATA_ROW
    ):
        row = list(row) + [None] * (len(TEMPLATE_HEADER) - len(row))
        code, _name, _quota, _prev, value, note, correction, reason, confirm = row[:9]
        if _blank(value):
            continue  # a blank row, or a district not filled in this time
        code = _text(code)
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
                note=_text(note),
                is_correction=_is_yes(correction),
                correction_reason=_text(reason),
                confirmed=_is_yes(confirm),
                row=number,
            )
        )
    if errors:
        raise ImportRejected(errors)
    return entries, {}, {"indicator": indicator, "empty": "模板中没有填写任何「本月累计」数值"}


def _label(indicator: Indicator, district: District) -> str:
    return f"{district.name}·序号{indicator.project.seq}「{indicator.label}」"


def _import_month(user, wb, meta, month):
    """The month workbook: rows keyed by the hidden 编号 (indicator-district), checked
    against the row's visible 量化目标 and 区县 and against the cells due that month."""
    _, _, max_rows = _limits()
    ws = _sheet(wb, TEMPLATE_SHEET, max_rows)
    _check_header(ws, 3, MONTH_HEADER)
    due = set(due_cells(month))  # every cell due that month; scope is submit's to judge
    raw_rows = []
    for number, row in enumerate(
        ws.iter_rows(min_row=FIRST_DATA_ROW, values_only=True), start=FIRST_DATA_ROW
    ):
        row = list(row) + [None] * (len(MONTH_HEADER) - len(row))
        if not _blank(row[8]):
            raw_rows.append((number, row))
    indicators = Indicator.objects.select_related("project").in_bulk({i for i, _ in due})
    districts = District.objects.in_bulk({d for _, d in due})
    entries, labels, errors = [], {}, []
    for number, row in raw_rows:
        key = _text(row[MONTH_KEY_COLUMN - 1])
        try:
            i, d = (int(part) for part in key.split("-"))
        except ValueError:
            i = d = None
        if (i, d) not in due:
            errors.append(
                EntryError(
                    number,
                    "key",
                    f"编号「{key}」已被修改或不是{month_label(month)}应填报的指标，"
                    "请不要修改或复制行，重新下载填报表",
                )
            )
            continue
        indicator, district = indicators[i], districts[d]
        label = _label(indicator, district)
        if _text(row[2]) != _text(safe(indicator.label)) or _text(row[3]) != district.name:
            errors.append(
                EntryError(
                    number,
                    "key",
                    f"{label}：本行的量化目标或区县与编号不一致（表格可能被改动），"
                    "请重新下载填报表",
                )
            )
            continue
        labels[number] = (number, label)
        correction = _yes_no(row[10], number, "更正", errors, f"{label}：")
        confirmed = _yes_no(row[12], number, "确认超额", errors, f"{label}：")
        entries.append(
            Entry(
                indicator_id=i,
                district_id=d,
                month=month,
                value=row[8],
                note=_text(row[9]),
                is_correction=correction,
                correction_reason=_text(row[11]),
                confirmed=confirmed,
                row=number,
            )
        )
    kept = _without_unchanged_locked(entries, month)
    skipped, entries = len(entries) - len(kept), kept
    milestones = (
        _read_milestones(user, wb, month, errors) if MILESTONE_SHEET in wb.sheetnames else []
    )
    if errors:
        # list the numbers' problems too, so one round of corrections is enough
        raise ImportRejected(errors + _labelled(validate(user, entries), labels))
    return (
        entries,
        labels,
        {
            "empty": "填报表中没有填写任何数值或节点完成情况",
            "milestones": milestones,
            "skipped": skipped,
        },
    )


def _without_unchanged_locked(entries: list[Entry], month: date) -> list[Entry]:
    """A locked (approved) cell left as exported is not an attempt to change it."""
    ids = {e.indicator_id for e in entries}
    dids = {e.district_id for e in entries}
    locked = {(i, d) for i, d, m in frozen_cells(ids, dids) if m == month}
    if not locked:
        return entries
    stored = {
        (r.indicator_id, r.district_id): r
        for r in ProgressReport.objects.filter(
            month=month, indicator_id__in=ids, district_id__in=dids
        )
    }

    def untouched(e: Entry) -> bool:
        report = stored.get((e.indicator_id, e.district_id))
        return (
            report is not None
            and _same(e.value, report.value)
            and e.note == report.note
            and not e.is_correction
        )

    return [e for e in entries if (e.indicator_id, e.district_id) not in locked or not untouched(e)]


@dataclass
class MilestoneEntry:
    row: int
    label: str
    milestone: Milestone
    district: District
    done: bool
    done_on: date | None
    note: str

    def error(self, message: str) -> EntryError:
        return EntryError(
            None, "milestone", f"「{MILESTONE_SHEET}」表第 {self.row} 行：{self.label}：{message}"
        )


def _date(value) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date) or value is None:
        return value
    text = _text(value).replace("/", "-").replace(".", "-")
    if not text:
        return None
    return date.fromisoformat("-".join(part.zfill(2) for part in text.split("-")))


def _read_milestones(user, wb, month, errors: list) -> list[MilestoneEntry]:
    """The 节点 sheet: rows with 完成情况 chosen, keyed by the hidden 编号 (milestone-
    district) and checked like the admin's 节点填报 (``progress.check_milestone``); a row
    as recorded already is skipped."""
    _, _, max_rows = _limits()
    ws = _sheet(wb, MILESTONE_SHEET, max_rows)
    _check_header(ws, 3, MILESTONE_HEADER)
    known = {row.key: row for row in month_milestones(SUPERVISION_SCOPE, month)}
    found = []
    for number, row in enumerate(
        ws.iter_rows(min_row=FIRST_DATA_ROW, values_only=True), start=FIRST_DATA_ROW
    ):
        row = list(row) + [None] * (len(MILESTONE_HEADER) - len(row))
        state = _text(row[5])
        if not state:
            continue
        where = f"「{MILESTONE_SHEET}」表第 {number} 行："
        key = _text(row[MILESTONE_KEY_COLUMN - 1])
        cell = known.get(key)
        if cell is None:
            errors.append(
                EntryError(
                    None,
                    "key",
                    f"{where}编号「{key}」已被修改或不是"
                    f"{month_label(month)}到期的节点，请重新下载填报表",
                )
            )
            continue
        milestone, district = cell.milestone, cell.district
        label = f"{district.name}·序号{milestone.project.seq}节点「{milestone.text[:30]}」"
        if _text(row[2]) != _text(safe(milestone.text)) or _text(row[3]) != district.name:
            errors.append(
                EntryError(
                    None,
                    "key",
                    f"{where}{label}：本行的节点或区县与编号"
                    "不一致（表格可能被改动），请重新下载填报表",
                )
            )
            continue
        if state not in (DONE, NOT_DONE):
            errors.append(
                EntryError(
                    None,
                    "done",
                    f"{where}{label}：完成情况只能选择「{DONE}」或「{NOT_DONE}」，收到「{state}」",
                )
            )
            continue
        try:
            done_on = _date(row[6])
        except ValueError:
            errors.append(
                EntryError(
                    None,
                    "done_on",
                    f"{where}{label}：完成日期「{_text(row[6])}」格式应为 年-月-日，如 2024-10-15",
                )
            )
            continue
        entry = MilestoneEntry(
            number, label, milestone, district, state == DONE, done_on, _text(row[7])
        )
        before = cell.completion
        if before is not None and (before.done, before.done_on, before.note) == (
            entry.done,
            entry.done_on,
            entry.note,
        ):
            continue  # as recorded
        problems = check_milestone(
            user, milestone, district, done=entry.done, done_on=done_on, note=entry.note
        )
        errors.extend(entry.error(p) for p in problems)
        found.append(entry)
    return found


def _scaled_back(raw, scale: Decimal):
    """A 任务分解表 amount in printed units (万) back to base units; text that is not a
    number is passed on for the progress service to explain."""
    if scale == 1 or raw is None:
        return raw
    try:
        return Decimal(_text(raw).replace(",", "").replace("，", "")) * scale
    except InvalidOperation:
        return raw


def _import_breakdown(user, wb, meta, month):
    """The 任务分解表: indicators found by 序号 + 指标, districts by the header; a
    累计完成 cell different from the value as of the month is written, the rest not."""
    _, _, max_rows = _limits()
    try:
        plan_year = PlanYear.objects.get(pk=int(meta["plan_year_id"]))
    except (KeyError, TypeError, ValueError, PlanYear.DoesNotExist) as exc:
        raise ImportRejected(["模板信息已被修改，无法识别计划年度，请重新下载任务分解表"]) from exc
    if month.year != plan_year.year:
        raise ImportRejected([f"{month_label(month)}不在{plan_year.year}年计划年度内"])
    ws = _sheet(wb, BREAKDOWN_SHEET, max_rows)
    _check_header(ws, 2, BREAKDOWN_FIXED)
    header = next(ws.iter_rows(min_row=2, max_row=2, values_only=True), ())
    by_name = {d.name: d for d in District.objects.all()}
    columns, errors = [], []
    for col in range(len(BREAKDOWN_FIXED), len(header), 3):
        name = _text(header[col])
        if not name:
            continue
        if name not in by_name:
            errors.append(
                EntryError(2, "district", f"表头中的区县「{name}」不存在，请不要修改表头")
            )
            continue
        columns.append((col + 1, by_name[name]))  # 累计完成 is the second of the three
    indicators = {
        (i.project.seq, _text(safe(i.label))): i
        for i in Indicator.objects.filter(project__plan_year=plan_year)
        .exclude(kind=Indicator.Kind.QUALITATIVE)
        .select_related("project")
    }
    stored = values_as_of(  # as filed: an untouched cell writes nothing
        [i.pk for i in indicators.values()], [d.pk for _, d in columns], month, counted=False
    )
    entries, labels = [], {}
    for number, row in enumerate(
        ws.iter_rows(min_row=FIRST_DATA_ROW, values_only=True), start=FIRST_DATA_ROW
    ):
        row = list(row) + [None] * (len(header) - len(row))
        if all(_blank(v) for v in row):
            continue
        try:
            seq = int(_text(row[0]))
        except ValueError:
            seq = None
        indicator = indicators.get((seq, _text(row[2])))
        if indicator is None:
            errors.append(
                EntryError(
                    number,
                    "indicator",
                    f"序号「{_text(row[0])}」「{_text(row[2])}」不是{plan_year.year}年计划的"
                    "量化目标，请不要修改序号和指标列",
                )
            )
            continue
        scale = figures.scale_of(indicator.target_text)
        for col, district in columns:
            raw = row[col]
            if _blank(raw):
                continue
            value = _scaled_back(raw, scale)
            before = stored.get((indicator.pk, district.pk))
            if before is not None and _same(value, before):
                continue  # as exported: nothing to write
            # one Excel row holds many cells: the entry's row is unique per cell
            key = number * 1000 + col
            letter = get_column_letter(col + 1)
            labels[key] = (number, f"{district.name}·序号{seq}「{indicator.label}」（{letter}列）")
            entries.append(Entry(indicator.pk, district.pk, month, value, row=key))
    if errors:
        raise ImportRejected(errors)
    return entries, labels, {"empty": "任务分解表中没有新填写或修改的「累计完成」数值"}


def _same(value, stored: Decimal) -> bool:
    try:
        return Decimal(_text(value).replace(",", "")) == stored
    except InvalidOperation:
        return False


__all__ = [
    "ExportRefused",
    "ImportRejected",
    "ImportResult",
    "breakdown_month",
    "export_breakdown",
    "export_month_workbook",
    "export_template",
    "import_template",
    "import_workbook",
    "max_upload_bytes",
    "month_sheet",
    "safe",
    "workbook_title",
]
