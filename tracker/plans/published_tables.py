"""The plan's two published tables as the gazette lays them out, in a workbook.

「责任清单」 (附件1): 序号 (category number), 类别, 项目名称, 分管市领导, 牵头单位,
牵头单位分管领导, 配合单位, 预计完成时间, 工作计划和进度安排; 序号 and 类别 are merged
down over a category's rows.

「任务分解表」 (附件2): 序号, 项目名称, 量化目标, 牵头单位, the city-level columns
(市本级), then the reporting units under one merged group header (「各区、县(市)任务
分解」) with the unit names on the row below; a project's 序号, 项目名称 and 牵头单位
are merged down over its rows where the gazette leaves them blank; a note printed
instead of quotas (「不分解区、县(市)目标任务」) is merged across the unit columns.

Page breaks repeat the header rows, as printed. This module writes such a
workbook (from the gazette's text for the 2024 fixture, or from a loaded plan for
``export_plan --xlsx``) and reads one back into plain rows for the importer; it
knows nothing about what the cells mean.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from openpyxl import Workbook, load_workbook
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter

RESPONSIBILITY_SHEET = "责任清单"
BREAKDOWN_SHEET = "任务分解表"
RESPONSIBILITY_HEADER = [
    "序号",
    "类别",
    "项目名称",
    "分管市领导",
    "牵头单位",
    "牵头单位分管领导",
    "配合单位",
    "预计完成时间",
    "工作计划和进度安排",
]
BREAKDOWN_FIXED = ["序号", "项目名称", "量化目标", "牵头单位"]
DEFAULT_GROUP_HEADER = "各区、县(市)任务分解"
FIXED_TIMESTAMP = datetime(2024, 2, 4)  # reproducible workbook metadata
HIDDEN_SHEET = "_计划数据"
#: A column of the city total, not a reporting unit: its cells are checked against the target.
TOTAL_LABELS = frozenset({"合计", "总计", "全市", "全市合计", "小计"})
CITY_LABELS = ("市本级", "市级", "市直")
HEADER_UNIT_RE = re.compile(r"^(?P<label>.*?)\s*[(（]\s*(?P<unit>[^()（）]{1,5})\s*[)）]$")


class TableError(ValueError):
    """The workbook is not laid out as the published tables; the message says where."""


@dataclass
class ResponsibilityRow:
    cells: list  # 9 texts, "" where the gazette leaves a merged cell blank
    page_break: bool = False


@dataclass
class BreakdownRow:
    seq: str
    name: str
    target: str
    lead: str
    cells: list  # one text per column ("" = blank), or [] when ``note`` is set
    note: str = ""
    page_break: bool = False
    total: str = ""  # the 合计/全市 cell, if the table prints one


@dataclass
class PublishedTables:
    responsibility_title: str
    breakdown_title: str
    city_labels: list[str]  # columns printed before the group header (市本级)
    unit_labels: list[str]  # columns under the group header
    responsibility: list[ResponsibilityRow] = field(default_factory=list)
    breakdown: list[BreakdownRow] = field(default_factory=list)
    group_header: str = DEFAULT_GROUP_HEADER
    target_unit: str = ""  # 「量化目标(人)」: the unit of bare numbers in that column
    column_units: list[str] = field(default_factory=list)  # 「上城区(人)」, per label
    total_label: str = ""  # 「合计」「全市」 when printed
    metadata: dict = field(default_factory=dict)  # the exporter's hidden sheet, if any

    @property
    def labels(self) -> list[str]:
        return [*self.city_labels, *self.unit_labels]


# --- the gazette's text (tab-separated as extracted) ----------------------------


def parse_gazette_text(text: str) -> PublishedTables:
    """Read 附件1 and 附件2 from the gazette text (``shared/seeds/003_*.txt``)."""
    lines = text.splitlines()

    def index_of(pattern, start=0):
        for i in range(start, len(lines)):
            if re.search(pattern, lines[i]):
                return i
        raise TableError(f"正文中找不到「{pattern}」")

    start1 = index_of(r"民生实事项目责任清单$", index_of(r"^附件 ?1$"))
    start2 = index_of(r"^附件 ?2$", start1)
    title2_at = index_of(r"任务分解表$", start2)
    end2 = index_of(r"^杭州市人民政府办公厅$", title2_at)
    tables = PublishedTables(
        responsibility_title=lines[start1].strip(),
        breakdown_title=lines[title2_at].strip(),
        city_labels=[],
        unit_labels=[],
    )
    page_break = False
    for line in lines[start1 + 1 : start2]:
        if not line.strip():
            continue
        cells = line.split("\t")
        if cells[0] == "序号":
            page_break = bool(tables.responsibility)
            continue
        cells = [c.strip() for c in cells] + [""] * (9 - len(cells))
        tables.responsibility.append(ResponsibilityRow(cells[:9], page_break))
        page_break = False
    header_seen = False
    for line in lines[title2_at + 1 : end2]:
        if not line.strip():
            continue
        cells = [c.strip() for c in line.split("\t")]
        if cells[0] == "序号":
            page_break = bool(tables.breakdown)
            if not header_seen:
                group_at = next(i for i, c in enumerate(cells) if c.endswith("任务分解"))
                tables.city_labels = cells[4:group_at]
                tables.group_header = cells[group_at]
            continue
        if not any(cells[:4]) and not header_seen:
            tables.unit_labels = [c for c in cells if c]
            header_seen = True
            continue
        if not any(cells[:4]):
            continue  # the second header row of a repeated header
        seq, name, target, lead, *rest = cells + [""] * max(0, 4 - len(cells))
        width = len(tables.labels)
        values = [c for c in rest if c]
        if len(values) == 1 and len(rest[0]) > 12:
            row = BreakdownRow(seq, name, target, lead, [], note=rest[0])
        else:
            row = BreakdownRow(seq, name, target, lead, (rest + [""] * width)[:width])
        row.page_break = page_break
        page_break = False
        tables.breakdown.append(row)
    return tables


# --- writing -------------------------------------------------------------------

WRAP = Alignment(wrap_text=True, vertical="center")
BOLD = Font(bold=True)


def write_workbook(tables: PublishedTables, path) -> Path:
    path = Path(path)
    wb = Workbook()
    wb.properties.creator = "minsheng-tracker"
    wb.properties.created = FIXED_TIMESTAMP
    wb.properties.modified = FIXED_TIMESTAMP
    _write_responsibility(wb.active, tables)
    _write_breakdown(wb.create_sheet(BREAKDOWN_SHEET), tables)
    if tables.metadata:
        write_metadata(wb, tables.metadata)
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    wb.save(buffer)
    path.write_bytes(_reproducible_zip(buffer.getvalue()))
    return path


def _reproducible_zip(data: bytes) -> bytes:
    """The same workbook gives the same bytes: zip entries get a fixed timestamp."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=FIXED_TIMESTAMP.timetuple()[:6])
            fixed.compress_type = zipfile.ZIP_DEFLATED
            content = src.read(info.filename)
            if info.filename == "docProps/core.xml":  # openpyxl stamps 「modified」 on save
                content = re.sub(
                    rb"(<dcterms:modified[^>]*>)[^<]*",
                    rb"\g<1>" + FIXED_TIMESTAMP.strftime("%Y-%m-%dT%H:%M:%SZ").encode(),
                    content,
                )
            dst.writestr(fixed, content)
    return out.getvalue()


def _merge_down(ws, col, blocks):
    """Merge each run of rows where the gazette left ``col`` blank below a value."""
    for first, last in blocks:
        if last > first:
            ws.merge_cells(start_row=first, start_column=col, end_row=last, end_column=col)


def _runs(rows_values, row_numbers, breaks):
    """(first, last) row runs: a value followed by blanks, cut at page breaks."""
    runs, current = [], None
    for value, number, brk in zip(rows_values, row_numbers, breaks, strict=True):
        if value or brk or current is None:
            if current:
                runs.append(current)
            current = [number, number]
        else:
            current[1] = number
    if current:
        runs.append(current)
    return runs


def _write_responsibility(ws, tables):
    ws.title = RESPONSIBILITY_SHEET
    ws.append([tables.responsibility_title])
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=9)
    ws.cell(1, 1).font = BOLD
    numbers, breaks = [], []
    for row in tables.responsibility:
        if row.page_break or ws.max_row == 1:
            ws.append(RESPONSIBILITY_HEADER)
        ws.append(row.cells)
        numbers.append(ws.max_row)
        breaks.append(row.page_break)
    for col in (1, 2):
        values = [r.cells[col - 1] for r in tables.responsibility]
        _merge_down(ws, col, _runs(values, numbers, breaks))
    for col, width in zip("ABCDEFGHI", (5, 14, 30, 9, 16, 10, 30, 9, 60), strict=True):
        ws.column_dimensions[col].width = width


def _write_breakdown(ws, tables):
    labels = tables.labels
    width = 4 + len(labels)
    ws.append([tables.breakdown_title])
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=width)
    ws.cell(1, 1).font = BOLD
    numbers, breaks = [], []

    def header():
        top = ws.max_row + 1
        first = [*BREAKDOWN_FIXED, *tables.city_labels]
        if tables.unit_labels:
            first.append(tables.group_header)
        ws.append(first)
        ws.append([""] * (4 + len(tables.city_labels)) + tables.unit_labels)
        for col in range(1, 5 + len(tables.city_labels)):
            ws.merge_cells(start_row=top, start_column=col, end_row=top + 1, end_column=col)
        if len(tables.unit_labels) > 1:
            start = 5 + len(tables.city_labels)
            ws.merge_cells(start_row=top, start_column=start, end_row=top, end_column=width)

    for row in tables.breakdown:
        if row.page_break or ws.max_row == 1:
            header()
        if row.note:
            ws.append([row.seq, row.name, row.target, row.lead, row.note])
            ws.merge_cells(
                start_row=ws.max_row, start_column=5, end_row=ws.max_row, end_column=width
            )
        else:
            ws.append([row.seq, row.name, row.target, row.lead, *[c or None for c in row.cells]])
        numbers.append(ws.max_row)
        breaks.append(row.page_break)
    for col, attr in ((1, "seq"), (2, "name"), (4, "lead")):
        values = [getattr(r, attr) for r in tables.breakdown]
        _merge_down(ws, col, _runs(values, numbers, breaks))
    ws.column_dimensions["B"].width = 30
    for row in ws.iter_rows():
        for cell in row:
            cell.alignment = WRAP


# --- reading -------------------------------------------------------------------


def _unmerged_values(ws) -> list[list[str]]:
    """Cell texts with each merged range's value copied into all its cells."""
    grid = [
        ["" if v is None else str(v).strip() for v in row] for row in ws.iter_rows(values_only=True)
    ]
    for rng in ws.merged_cells.ranges:
        value = grid[rng.min_row - 1][rng.min_col - 1]
        for r in range(rng.min_row, rng.max_row + 1):
            for c in range(rng.min_col, rng.max_col + 1):
                grid[r - 1][c - 1] = value
    return grid


def _merged_across(ws) -> set[tuple[int, int]]:
    """(row, first column) of ranges merged across several columns (notes, group header)."""
    return {
        (rng.min_row, rng.min_col) for rng in ws.merged_cells.ranges if rng.max_col > rng.min_col
    }


def _open(path):
    """The workbook, or ``TableError`` in Chinese for a .xls, a broken or a non-Excel file."""
    path = Path(path)
    if not path.is_file():
        raise TableError(f"找不到文件「{path}」。")
    if path.suffix.lower() == ".xls":
        raise TableError(
            "这是旧版 Excel 文件（.xls），无法直接读取。"
            "请在 Excel 或 WPS 中「另存为」.xlsx 工作簿后再导入。"
        )
    if not zipfile.is_zipfile(path):
        raise TableError(
            "文件不是有效的 .xlsx 工作簿（可能已损坏，或只是改了扩展名）。"
            "请在 Excel 或 WPS 中打开并另存为 .xlsx 后再导入。"
        )
    try:
        return load_workbook(path)
    except Exception as exc:  # openpyxl raises KeyError, BadZipFile, InvalidFileException …
        raise TableError(
            f"工作簿无法打开（{type(exc).__name__}）：文件可能已损坏。"
            "请在 Excel 或 WPS 中打开并另存为 .xlsx 后再导入。"
        ) from exc


def split_header_unit(text: str) -> tuple[str, str]:
    """「量化目标(万人次)」 → (「量化目标」, 「万人次」); 「各区、县(市)任务分解」 is left alone:
    a parenthesised place word (市、县、区) is part of the name, not a unit."""
    m = HEADER_UNIT_RE.match(text or "")
    if m and m.group("label") and not re.search(r"[区县市镇乡街]", m.group("unit")):
        return m.group("label").strip(), m.group("unit").strip()
    return text, ""


def _squeezed(cells) -> list[str]:
    """Header texts without the line breaks and spaces of a narrow printed column
    (「预计完成\n时间」 is 预计完成时间)."""
    return [re.sub(r"\s+", "", c) for c in cells]


def _is_header_row(row: list[str], first: list[str]) -> bool:
    """The second row of a two-row header: the fixed columns merged down (same texts) or
    blank, and something printed over the unit columns."""
    fixed = row[:4]
    return (fixed == first[:4] or not any(fixed)) and any(row[4:])


def read_workbook(path) -> PublishedTables:
    """Read both sheets back; raises ``TableError`` (in Chinese) for a file that is not an
    .xlsx workbook, a missing sheet, a misplaced header or a value past the last header."""
    wb = _open(path)
    missing = [n for n in (RESPONSIBILITY_SHEET, BREAKDOWN_SHEET) if n not in wb.sheetnames]
    if missing:
        raise TableError(
            f"工作簿缺少工作表「{'」「'.join(missing)}」（现有：{'、'.join(wb.sheetnames)}）。"
            f"请把附件1 放在「{RESPONSIBILITY_SHEET}」、附件2 放在「{BREAKDOWN_SHEET}」。"
        )
    ws1, ws2 = wb[RESPONSIBILITY_SHEET], wb[BREAKDOWN_SHEET]
    grid1 = _unmerged_values(ws1)
    grid2 = _unmerged_values(ws2)
    tables = PublishedTables(
        responsibility_title=grid1[0][0] if grid1 else "",
        breakdown_title=grid2[0][0] if grid2 else "",
        city_labels=[],
        unit_labels=[],
    )
    if HIDDEN_SHEET in wb.sheetnames:
        tables.metadata = _read_metadata(wb[HIDDEN_SHEET])
    header_rows = [i for i, row in enumerate(grid1) if row[:1] == ["序号"]]
    if not header_rows or _squeezed(grid1[header_rows[0]][:9]) != RESPONSIBILITY_HEADER:
        found = grid1[header_rows[0]][:9] if header_rows else []
        raise TableError(
            f"「{RESPONSIBILITY_SHEET}」的表头应为 {'、'.join(RESPONSIBILITY_HEADER)}，"
            f"实际为 {'、'.join(found) or '（找不到以「序号」开头的表头行）'}。"
            "请按公报原表排列各列。"
        )
    for i, row in enumerate(grid1):
        if i <= header_rows[0] or row[:1] == ["序号"] or not any(row):
            continue
        tables.responsibility.append(ResponsibilityRow((row + [""] * 9)[:9]))
    _read_breakdown(ws2, grid2, tables)
    return tables


def _header_columns(first, second, two_rows, across, top):
    """(index, label, unit, is a total, under a group header) per printed column past the
    four fixed ones, and the last header column's index."""
    last = max((c for c, v in enumerate(first) if v), default=3)
    if two_rows:
        last = max(last, max((c for c, v in enumerate(second) if v), default=3))
    columns, grouped, group_header = [], False, ""
    for col in range(4, last + 1):
        label = first[col] if col < len(first) else ""
        below = second[col] if two_rows and col < len(second) else ""
        if below and (below != label or (top + 1, col + 1) in across):
            if not grouped and label:
                group_header = label
            grouped = True
            label = below
        if not label:
            raise TableError(
                f"「{BREAKDOWN_SHEET}」第{top + 1}行 {get_column_letter(col + 1)}列的表头是空的。"
                "请补上单位名称，或删去这一列。"
            )
        name, unit = split_header_unit(label)
        columns.append((col, name, unit, name.replace(" ", "") in TOTAL_LABELS, grouped))
    return columns, last, group_header


def _read_breakdown(ws2, grid2, tables):
    header2 = [i for i, row in enumerate(grid2) if row[:1] == ["序号"]]
    first = grid2[header2[0]] if header2 else []
    if not header2 or _squeezed(split_header_unit(c)[0] for c in first[:4]) != BREAKDOWN_FIXED:
        raise TableError(
            f"「{BREAKDOWN_SHEET}」的表头应以 {'、'.join(BREAKDOWN_FIXED)} 开头。"
            "请按公报原表排列各列。"
        )
    top = header2[0]
    tables.target_unit = split_header_unit(first[2])[1]
    second = grid2[top + 1] if top + 1 < len(grid2) else []
    two_rows = _is_header_row(second, first)
    columns, last, group_header = _header_columns(first, second, two_rows, _merged_across(ws2), top)
    if group_header:
        tables.group_header = group_header
    units = [c for c in columns if not c[3]]
    lead = 0  # 市本级 and the like before the units (not under a group header)
    for c in units:
        if c[4] if two_rows else not c[1].startswith(CITY_LABELS):
            break
        lead += 1
    tables.city_labels = [c[1] for c in units[:lead]]
    tables.unit_labels = [c[1] for c in units[lead:]]
    tables.column_units = [c[2] for c in units]
    totals = [c for c in columns if c[3]]
    tables.total_label = totals[0][1] if totals else ""
    across = _merged_across(ws2)
    printed = {c: v for c, v in enumerate(first) if v and c >= 4}
    for i, row in enumerate(grid2):
        if i < top + (2 if two_rows else 1) or row[:1] == ["序号"] or not any(row):
            continue
        if not row[0] and printed and all(c < len(row) and row[c] == v for c, v in printed.items()):
            continue  # a repeated header row whose 序号 cell is not merged
        if two_rows and _is_header_row(row, first) and row[4:] == second[4:]:
            continue  # second row of a repeated header
        past = [(c, v) for c, v in enumerate(row) if c > last and v]
        if past:
            c, v = past[0]
            raise TableError(
                f"「{BREAKDOWN_SHEET}」第{i + 1}行 {get_column_letter(c + 1)}列「{v}」在最后一个"
                f"表头列（{get_column_letter(last + 1)}列）之后，没有对应的单位。"
                "请补上表头，或把数值移到正确的列。"
            )
        cells = [row[c[0]] if c[0] < len(row) else "" for c in units]
        total = next((row[c[0]] for c in totals if c[0] < len(row)), "")
        note_at = units[0][0] + 1 if units else 5
        if (i + 1, note_at) in across and cells and len(set(cells)) == 1 and cells[0]:
            tables.breakdown.append(BreakdownRow(*row[:4], [], note=cells[0], total=total))
        else:
            tables.breakdown.append(BreakdownRow(*row[:4], cells, total=total))


# --- what the exporter adds for the round trip ----------------------------------------


def write_metadata(wb, metadata: dict) -> None:
    """A hidden sheet with what the printed tables cannot carry (keys, unit codes, merged
    columns, scopes, directions, the reviewed milestones): one JSON text per row."""
    ws = wb.create_sheet(HIDDEN_SHEET)
    ws.sheet_state = "hidden"
    ws.append(["说明", "本表由 export_plan 写入，供 import_plan 读回编号等信息；请勿修改。"])
    ws.append(["plan", json.dumps(metadata.get("plan", {}), ensure_ascii=False)])
    for project in metadata.get("projects", []):
        ws.append([project["key"], json.dumps(project, ensure_ascii=False)])


def _read_metadata(ws) -> dict:
    out: dict = {"plan": {}, "projects": []}
    for row in ws.iter_rows(min_row=2, values_only=True):
        tag, text = [*row, None, None][:2]
        if not tag or not text:
            continue
        try:
            value = json.loads(text)
        except ValueError as exc:
            raise TableError(f"隐藏工作表「{HIDDEN_SHEET}」「{tag}」一行已损坏：{exc}") from exc
        if tag == "plan":
            out["plan"] = value
        else:
            out["projects"].append(value)
    return out
