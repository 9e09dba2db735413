"""The monthly notice as files: an xlsx workbook and a PDF.

PDF: WeasyPrint (pinned in pyproject.toml) with Debian's Pango and a CJK font
(fonts-wqy-zenhei), no browser. A month's PDF is rendered once and kept on disk under
``NOTICE_PDF_DIR``, named by the month and ``reporting.notice.fingerprint``
(stored statuses, alerts, notice settings): a request finds it there until that month's
data or its 文号/成文日期/cap change, and the next request renders it again. Older files
of the month are removed then.
"""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path

from django.conf import settings
from django.contrib.staticfiles import finders
from django.template.loader import render_to_string
from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter

from tracker import conf
from tracker.months import date_label, format_month, month_end_label, month_label
from tracker.progress.workbooks import safe
from tracker.reporting.notice import (
    LIVE_STAMP,
    Notice,
    fingerprint,
    notice,
    notice_context_defaults,
)

PERCENT = '0.0"%"'  # values are already in percent (42.6 → 「42.6%」)
AMOUNT = "#,##0.##"
COUNT = "#,##0"
FOOTNOTE = (
    "注：完成率 = 累计完成 ÷ 任务数；序时完成率 = 累计完成 ÷ 序时应达；"
    "落后百分点 = (序时应达 − 累计完成) ÷ 任务数 × 100。逾期未完成计入红色。"
    "单位按计划文件列示。"
)
FILING_NOTE = (
    "未报：已过填报截止日仍未填报的应报单元格，与「填报完整性」页口径相同；"
    "已过完成时限的指标按是否完成计入逾期未完成或正常，不计为未按时填报。"
)


def explanation_text(x, month) -> str:
    """One explanation as a line of the workbook (the page and PDF use
    ``dashboard/_explanation.html``)."""
    written = "" if x.month == month else f"（{month_label(x.month)}填写）"
    return (
        f"原因说明{written}：{x.reason}；整改措施：{x.measures}；"
        f"计划追赶完成时间：{date_label(x.catch_up_by)}"
    )


def notice_workbook(data: Notice, *, stamp: str = LIVE_STAMP) -> bytes:
    """The notice as one printable sheet, in the order of the 公文: 版头 (发文机关标志,
    发文字号), title, what it is (``stamp``: live, or issued when and with data as of when),
    主送机关, summary, ranking, 挂牌督办 candidates with units, the other red items per
    district, the footnote on 完成率/序时完成率, 署名 and 成文日期, and the 版记
    (抄送, 印发机关, 印发日期)."""
    wb = Workbook()
    ws = wb.active
    ws.title = "晾晒通报"
    bold = Font(bold=True)
    head_fill = PatternFill("solid", fgColor="F2DCDB")
    thin = Side(style="thin", color="999999")
    box = Border(left=thin, right=thin, top=thin, bottom=thin)

    def row(*values, header=False, formats=None):
        ws.append([safe(v) for v in values])
        cells = ws[ws.max_row]
        for i, c in enumerate(cells):
            if header:
                c.font, c.fill = bold, head_fill
            if header or formats is not None:
                c.border = box
            if formats and i < len(formats) and formats[i] and c.value is not None:
                c.number_format = formats[i]

    def title(text):
        row(text)
        ws.cell(ws.max_row, 1).font = bold

    def n(value):
        return float(value) if value is not None else None

    def explanation_row(x):
        """The item's 原因说明 / 整改措施 / 计划追赶完成时间 under it, across the sheet."""
        row("", explanation_text(x, data.month))
        ws.merge_cells(start_row=ws.max_row, start_column=2, end_row=ws.max_row, end_column=13)
        ws.cell(ws.max_row, 2).alignment = Alignment(wrap_text=True, vertical="top")
        ws.row_dimensions[ws.max_row].height = 45

    doc = data.document
    row(doc.mark)  # 版头: 发文机关标志 in red, 发文字号 under it
    ws["A1"].font = Font(bold=True, size=18, color="C00000")
    row(doc.doc_number or f"（{data.number}）")
    row(data.title)
    ws["A3"].font = Font(bold=True, size=14)
    row(stamp)
    row(f"{doc.addressees}：")  # 主送机关
    row()
    row("已到节点", "正常", "滞后（黄）", "严重滞后（红）", "其中逾期未完成", "未按时填报",
        "正常占比", "未解除预警", header=True)  # fmt: skip
    row(data.cells_due, data.on_track, data.behind, data.seriously_behind, data.overdue,
        data.not_reported, n(data.on_track_pct), data.open_alerts,
        formats=[COUNT] * 6 + [PERCENT, COUNT])  # fmt: skip
    f = data.filing  # the one 未报 (``completeness.month_tally``), as the page says
    row("应报", "已报", "其中逾期填报", "未报", "待报", header=True)
    row(f.expected, f.filed, f.late, f.missing, f.pending, formats=[COUNT] * 5)
    row(FILING_NOTE)
    row()
    title("一、晾晒排名")
    title("（一）各区、县(市)")
    row("排名", "区、县(市)", "正常占比", "已到节点", "正常", "黄", "红", "未按时填报",
        "上月排名", "名次变化", header=True)  # fmt: skip
    for r in data.ranking:
        row(r.place_cell, r.district.name, n(r.share_pct), r.due,
            r.on_track, r.behind, r.seriously_behind, r.not_reported, r.previous_rank, r.change,
            formats=[None, None, PERCENT] + [COUNT] * 7)  # fmt: skip
    row()
    title("（二）部门晾晒（牵头单位排名）")
    row("排名", "牵头单位", "正常占比", "已到节点", "正常", "黄", "红", "未按时填报",
        "上月排名", "名次变化", "项目", "项目状态", header=True)  # fmt: skip
    for r in data.agency_ranking:
        row(r.place_cell, r.agency.name, n(r.share_pct), r.due, r.on_track, r.behind,
            r.seriously_behind, r.not_reported, r.previous_rank, r.change, r.project_total,
            r.projects_text, formats=[None, None, PERCENT] + [COUNT] * 8 + [None])  # fmt: skip
    row()
    title(f"二、挂牌督办建议（{len(data.candidates)} 项，符合条件 {data.candidates_total} 项）")
    row("序号", "指标", "区、县(市)", "牵头单位", "单位", "任务数", "序时应达", "累计完成",
        "完成率", "序时完成率", "落后百分点", "状态", "连续月数", header=True)  # fmt: skip
    for e in data.candidates:
        row(e.project_seq, e.label_shown, e.district.name, e.lead_agency, e.unit, n(e.quota_shown),
            n(e.expected_shown), n(e.actual_shown), n(e.completion_pct),
            n(e.pace_completion_pct), n(e.gap_points), e.status_label, e.streak,
            formats=[None] * 5 + [AMOUNT] * 3 + [PERCENT, PERCENT, "0.0", None, COUNT])  # fmt: skip
        ws.cell(ws.max_row, 2).alignment = Alignment(wrap_text=True)
        if e.explanation is not None:
            explanation_row(e.explanation)
    month_end = month_end_label(data.month)
    if data.supervision_items:  # 挂牌督办 in force at the end of the month, as on the page
        row(f"截至{month_end}，已挂牌督办（已交办、尚未销号）{len(data.supervision_items)} 项：")
        row("序号", "指标", "区、县(市)", "责任单位", "交办日期", "整改期限", "状态", header=True)
        for x in data.supervision_items:
            state = x.state_then_label + (f"（第{x.round_then}轮）" if x.round_then > 1 else "")
            row(x.indicator.project.seq, x.indicator.label, x.district.name, x.unit_name,
                date_label(x.assigned_on), date_label(x.deadline_then), state)  # fmt: skip
    else:
        row(f"截至{month_end}，没有已交办、尚未销号的挂牌督办事项。")
    row()
    title("三、其他严重滞后事项（按区、县(市)汇总）")
    row("区、县(市)", "红色事项", "其中逾期未完成", "涉及项目序号", header=True)
    for d in data.others_by_district:
        row(d.district.name, d.count, d.overdue, "、".join(map(str, d.seqs)),
            formats=[None, COUNT, COUNT, None])  # fmt: skip
    if data.missed_milestones:  # issue 30: a missed qualitative milestone is red
        row()
        row(f"定性目标未按期完成节点（计为红色）{len(data.missed_milestones)} 项：")
        row(
            "序号",
            "项目",
            "区、县(市)",
            "牵头单位",
            "未完成的节点",
            "逾期月数",
            "督办",
            header=True,
        )
        for a in data.missed_milestones:
            project = a.indicator.project
            level = "挂牌督办" if a.under_supervision else a.level_then_label
            row(project.seq, project.name, a.district.name, project.lead_agency.name, a.message,
                a.streak_then, level, formats=[None] * 5 + [COUNT, None])  # fmt: skip
            ws.cell(ws.max_row, 5).alignment = Alignment(wrap_text=True)
    row()
    if data.explained_others:
        title("四、其他红色事项的原因说明和整改措施")
        row("序号", "指标", "区、县(市)", "状态", "原因说明和整改措施", header=True)
        for e in data.explained_others:
            row(e.project_seq, e.label, e.district.name, e.status_label,
                explanation_text(e.explanation, data.month))  # fmt: skip
            ws.merge_cells(start_row=ws.max_row, start_column=5, end_row=ws.max_row, end_column=13)
            ws.cell(ws.max_row, 5).alignment = Alignment(wrap_text=True, vertical="top")
            ws.row_dimensions[ws.max_row].height = 45
        row()
    if data.unexplained:
        row(f"另有 {data.unexplained} 项红色事项尚未说明原因和整改措施。")
        row()
    row(FOOTNOTE)
    row()
    row("发文机关署名", doc.signatory)
    row("成文日期", doc.issued_on_label)
    row()
    row("抄送", f"{doc.copy_to}。", header=True)  # 版记
    row("印发机关", doc.printer, header=True)
    row("印发日期", doc.printed_on_label, header=True)
    for i, width in enumerate((8, 30, 12, 18, 8, 11, 11, 11, 10, 11, 11, 12, 9), start=1):
        ws.column_dimensions[get_column_letter(i)].width = width
    ws.page_setup.orientation = ws.ORIENTATION_LANDSCAPE
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_options.horizontalCentered = True
    ws.page_margins.left = ws.page_margins.right = 0.5
    ws.oddFooter.center.text = "第 &P 页，共 &N 页"
    ws.print_title_rows = "5:5"  # the notice's own line (live or issued) on every page
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def pdf_dir() -> Path:
    """``NOTICE_PDF_DIR`` (by default ``notices`` in the var folder, ``TRACKER_VAR_DIR``)."""
    return Path(conf.NOTICE_PDF_DIR or Path(settings.VAR_DIR) / "notices")


def render_pdf(data: Notice, *, stamp: str = LIVE_STAMP) -> bytes:
    """Render the notice to PDF with WeasyPrint (no caching); ``stamp`` as in
    ``notice_workbook``."""
    from weasyprint import HTML  # heavy (Pango): loaded only to render a PDF

    css_path = finders.find("tracker/dashboard.css")
    with open(css_path, encoding="utf-8") as fh:
        inline_css = fh.read()
    html = render_to_string(
        "dashboard/notice_pdf.html",
        {
            **notice_context_defaults(),
            "notice": data,
            "month": data.month,
            "month_text": format_month(data.month),
            "inline_css": inline_css,
            "pdf": True,
            "notice_stamp": stamp,
            "issued": stamp != LIVE_STAMP,
        },
    )
    return HTML(string=html, base_url=str(settings.BASE_DIR)).write_pdf()


def notice_pdf(month, plan=None) -> tuple[bytes, bool] | None:
    """The month's PDF and whether it came from the cache, or None when the month has no
    notice (see the module docstring). A cache hit costs 4 queries and no rendering.
    ``plan``: one plan's notice where a year has several (cached under its own name)."""
    folder = pdf_dir()
    label = format_month(month) if plan is None else f"p{plan.pk}-{format_month(month)}"
    path = folder / f"notice-{label}-{fingerprint(month)}.pdf"
    if path.exists():
        return path.read_bytes(), True
    data = notice(month, plan)
    if data is None:
        return None
    pdf = render_pdf(data)
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
    with os.fdopen(fd, "wb") as fh:
        fh.write(pdf)
    os.replace(tmp, path)
    for old in folder.glob(f"notice-{label}-*.pdf"):
        if old != path:
            old.unlink(missing_ok=True)
    return pdf, False
