"""Exports of the lists people work with: exactly the rows and columns a page shows, as an
xlsx workbook or a CSV file (UTF-8 with BOM, so Excel opens it in Chinese).

A table is ``Table(title, header, rows)``; cells are text or numbers. Pages build their
tables with the same numbers they print (``tracker.formats`` for figures), so the
file says what the screen says.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from tracker.formats import number, percent, whole_percent
from tracker.months import month_label

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV = "text/csv; charset=utf-8"
HEAD_FILL = PatternFill("solid", fgColor="DDE6F0")


@dataclass
class Table:
    title: str
    header: Sequence[str]
    rows: list[Sequence]


def _safe(value):
    """Text that a spreadsheet would run as a formula (=, +, -, @) is kept as text."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _sheet_title(text: str, used: set[str]) -> str:
    for ch in "[]:*?/\\":
        text = text.replace(ch, " ")
    title = text[:31] or "Sheet"
    n = 2
    while title in used:
        title = f"{text[:28]}({n})"
        n += 1
    used.add(title)
    return title


def workbook(tables: list[Table]) -> bytes:
    """One sheet per table, header bold and frozen, columns sized to their text."""
    wb = Workbook()
    wb.remove(wb.active)
    used: set[str] = set()
    for table in tables:
        ws = wb.create_sheet(_sheet_title(table.title, used))
        ws.append(list(table.header))
        for cell in ws[1]:
            cell.font = Font(bold=True)
            cell.fill = HEAD_FILL
            cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        for row in table.rows:
            ws.append([_safe(v) for v in row])
        ws.freeze_panes = "B2"
        for i, name in enumerate(table.header, start=1):
            width = max([len(str(name))] + [len(str(r[i - 1])) for r in table.rows[:200]])
            ws.column_dimensions[get_column_letter(i)].width = min(max(width * 1.6, 8), 48)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def csv_bytes(table: Table) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(table.header)
    writer.writerows([_safe(v) for v in row] for row in table.rows)
    return ("\ufeff" + out.getvalue()).encode("utf-8")


# --- completeness ----------------------------------------------------------------------

TALLY_HEADER = ("应报", "已报", "按时", "逾期", "未报", "待报", "上报率", "及时率")


def tally_cells(t) -> list:
    return [
        t.expected, t.filed, t.on_time, t.late, t.missing, t.pending,
        percent(t.filed_rate), percent(t.on_time_rate),
    ]  # fmt: skip


def grid_cell(t) -> str:
    """A year-grid cell: 「已报/应报（逾期 n，未报 n）」."""
    if not t.expected:
        return "—"
    extra = [f"逾期 {t.late}"] * bool(t.late) + [f"未报 {t.missing}"] * bool(t.missing)
    extra += [f"待报 {t.pending}"] * bool(t.pending)
    return f"{t.filed}/{t.expected}" + (f"（{'，'.join(extra)}）" if extra else "")


def completeness_tables(data, *, year_view: bool) -> list[Table]:
    """The completeness page as tables: per district and per lead agency; for the year
    view the grids (district/agency × month) as shown, then every tally in long form."""
    groups = (("区、县(市)", data.districts), ("牵头单位", data.agencies))
    if not year_view:
        month = month_label(data.months[0]) if data.months else ""
        tables = []
        for label, rows in groups:
            body = [[r.name, *tally_cells(r.total)] for r in rows]
            if rows is data.districts:
                body.append(["合计", *tally_cells(data.total)])
            tables.append(Table(f"{month}按{label}", (label, *TALLY_HEADER), body))
        return tables
    heads = [month_label(m) for m in data.months]
    tables = []
    for label, rows in groups:
        body = [[r.name, *map(grid_cell, r.cells(data.months)), grid_cell(r.total)] for r in rows]
        tables.append(Table(f"{label}×月份", (label, *heads, "全年"), body))
    long = [
        [label, r.name, month_label(m), *tally_cells(t)]
        for label, rows in groups
        for r in rows
        for m, t in zip(data.months, r.cells(data.months), strict=True)
    ]
    tables.append(Table("明细", ("类别", "名称", "月份", *TALLY_HEADER), long))
    return tables


# --- matrix, ranking, district page ------------------------------------------------------


def matrix_cell_text(cell) -> str:
    """A matrix cell as the page shows it: 完成率 (whole, as in the grid) and its status."""
    if cell is None:
        return ""
    shown = whole_percent(cell.completion_pct)
    return f"{shown}%（{cell.status_label}）" if shown != "—" else cell.status_label


def matrix_table(data, title: str) -> Table:
    header = ("序号", "指标", *[d.name for d in data.districts])
    rows = [
        [r.indicator.project.seq, r.indicator.label, *map(matrix_cell_text, r.cells)]
        for r in data.rows
    ]
    return Table(title, header, rows)


def ranking_table(rows, title: str) -> Table:
    def change(r):
        if r.change is None:
            return "—"
        return "持平" if r.change == 0 else (f"↑{r.change}" if r.change > 0 else f"↓{-r.change}")

    header = (
        "排名",
        "区、县(市)",
        "正常占比",
        "已到节点",
        "正常",
        "黄",
        "红",
        "未按时填报",
        "较上月",
    )
    body = [
        [
            r.place_cell, r.district.name, percent(r.share_pct),
            r.due, r.on_track, r.behind, r.seriously_behind, r.not_reported, change(r),
        ]
        for r in rows
    ]  # fmt: skip
    return Table(title, header, body)


def evaluations_table(lines, title: str, *, show_district: bool = False) -> Table:
    header = [
        "序号", "指标", "牵头单位", "任务数", "序时应达", "累计完成", "完成率",
        "序时完成率", "落后(百分点)", "状态", "到期可达（预计）", "此后每月需完成",
    ]  # fmt: skip
    if show_district:
        header.insert(3, "区、县(市)")
    body = []
    for e in lines:
        gap = number(e.gap_points) if e.gap_points is not None and e.gap_points > 0 else "—"
        row = [
            e.project_seq, e.label, e.lead_agency, e.show(e.quota), e.show(e.expected),
            e.show(e.actual), percent(e.completion_pct), percent(e.pace_completion_pct), gap,
            e.status_label, e.show(e.forecast), e.show(e.needed_pace),
        ]  # fmt: skip
        if show_district:
            row.insert(3, e.district.name)
        body.append(row)
    return Table(title, header, body)
