"""Dashboard pages: thin views over ``tracker.services.summary``.

Every page reads through the same scoping as the admin and API (``for_user``, via the
summary functions). Anonymous visitors are sent to the login page (``/accounts/login/``),
except that with ``TRACKER["PUBLIC_READ_ONLY"]`` the public parts (overview, ranking and
the monthly notice with its downloads) are readable city-wide without logging in; the
matrix, cells, scorecards, project pages and "my work" always need a user with a role.

The month shown is ``?month=YYYY-MM`` or, by default, the latest month with statuses.

The notice's PDF: no pure-Python PDF library renders Chinese without system fonts and
native dependencies, so the printable page *is* the PDF path (``@media print`` styles,
browser 打印 → 另存为 PDF). When Chromium is installed (``/usr/bin/chromium``, or the
``TRACKER_CHROMIUM`` environment variable) ``…/pdf/`` prints that same page with
``chromium --headless --print-to-pdf`` in a subprocess; otherwise it answers 503 with a
message in Chinese saying to print from the browser.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import tempfile
from datetime import date
from functools import wraps
from urllib.parse import quote

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.contrib.staticfiles import finders
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from tracker.models import Category, District, PlanYear, Project
from tracker.months import format_month, plan_month
from tracker.scoping import scope_for
from tracker.services import summary
from tracker.services.excel import safe

PDF_TIMEOUT_SECONDS = 60


def public_mode() -> bool:
    return bool(settings.TRACKER.get("PUBLIC_READ_ONLY", False))


def page(public: bool = False):
    """Require a user with a role. ``public`` pages also serve visitors without one in
    published read-only mode; ``request.viewer`` is then None (the city-wide view)."""

    def decorate(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            user = request.user
            has_role = user.is_authenticated and scope_for(user).role is not None
            if has_role:
                request.viewer = user
            elif public and public_mode():
                request.viewer = None
            elif user.is_authenticated:
                return render(request, "dashboard/no_role.html", status=403)
            else:
                return redirect_to_login(request.get_full_path(), reverse(settings.LOGIN_URL))
            return view(request, *args, **kwargs)

        return wrapper

    return decorate


def _month(request) -> date | None:
    text = request.GET.get("month")
    if text:
        try:
            return plan_month(text)
        except ValueError as exc:
            raise Http404(str(exc)) from exc
    return summary.latest_month(request.viewer)


def _context(request, month, **extra):
    months = summary.evaluated_months(request.viewer)
    if month and month not in months:
        months = sorted([*months, month])
    return {
        "month": month,
        "month_text": format_month(month) if month else "",
        "month_label": summary.month_label(month) if month else "",
        "months": [(format_month(m), summary.month_label(m)) for m in reversed(months)],
        "viewer": request.viewer,
        "scope": scope_for(request.viewer) if request.viewer else None,
        "public_mode": public_mode(),
        "deadline_day": settings.TRACKER.get("REPORTING_DEADLINE_DAY", 5),
        **extra,
    }


@page(public=True)
def overview(request):
    month = _month(request)
    data = summary.overview(request.viewer, month) if month else None
    return render(request, "dashboard/overview.html", _context(request, month, overview=data))


@page()
def matrix(request):
    month = _month(request)
    category_id = request.GET.get("category") or None
    problems = request.GET.get("problems") == "1"
    data = None
    if month:
        data = summary.matrix(
            request.viewer,
            month,
            category_id=int(category_id) if category_id and category_id.isdigit() else None,
            problems_only=problems,
        )
    categories = Category.objects.filter(plan_year__year=month.year) if month else []
    return render(
        request,
        "dashboard/matrix.html",
        _context(
            request,
            month,
            matrix=data,
            categories=list(categories),
            category_id=int(category_id) if category_id and category_id.isdigit() else None,
            problems=problems,
        ),
    )


@page()
def cell(request, indicator_id: int, district_id: int):
    detail = summary.cell_detail(request.viewer, indicator_id, district_id)
    if detail is None:
        raise Http404("不存在或不在您的职责范围内")
    month = _month(request)
    chart = detail.chart()
    if month:
        chart["highlight"] = f"{month.month}月"
    current = next((e for e in detail.evaluations if e.month == month), None)
    if current is None and detail.evaluations:
        current = detail.evaluations[-1]
    return render(
        request,
        "dashboard/cell.html",
        _context(
            request,
            month,
            detail=detail,
            current=current,
            chart=json.dumps(chart, ensure_ascii=False),
        ),
    )


@page(public=True)
def ranking(request):
    month = _month(request)
    rows = summary.ranking(month, request.viewer) if month else []
    return render(request, "dashboard/ranking.html", _context(request, month, rows=rows))


@page()
def district(request, code: str):
    district = get_object_or_404(District, code=code)
    scope = scope_for(request.viewer)
    if scope.is_district and scope.district_id != district.pk:
        raise Http404("不在您的职责范围内")
    month = _month(request)
    card = summary.district_scorecard(request.viewer, district, month) if month else None
    return render(
        request, "dashboard/district.html", _context(request, month, district=district, card=card)
    )


@page()
def project(request, seq: int):
    month = _month(request)
    year = month.year if month else PlanYear.objects.values_list("year", flat=True).first()
    project = get_object_or_404(
        Project.objects.for_user(request.viewer).select_related("lead_agency", "category"),
        seq=seq,
        plan_year__year=year,
    )
    data = summary.matrix(request.viewer, month, project_id=project.pk) if month else None
    return render(
        request, "dashboard/project.html", _context(request, month, project=project, matrix=data)
    )


@page()
def my_work(request):
    month = _month(request)
    rows = summary.my_work(request.viewer, month) if month else []
    counts = summary.status_counts(e.status for e in rows)
    return render(
        request,
        "dashboard/my_work.html",
        _context(
            request,
            month,
            rows=rows,
            red=counts["seriously_behind"],
            yellow=counts["behind"],
            grey=counts["not_reported"],
            risk=sum(1 for e in rows if e.at_risk),
        ),
    )


def _notice_month(text: str) -> date:
    try:
        return plan_month(text)
    except ValueError as exc:
        raise Http404(str(exc)) from exc


@page(public=True)
def notice_latest(request):
    """``/notice/`` (and the month picker's ``?month=``): the chosen or latest notice."""
    month = _month(request)
    if month is None:
        return render(request, "dashboard/notice.html", _context(request, None, notice=None))
    return redirect("dashboard:notice", format_month(month))


@page(public=True)
def notice(request, month: str):
    if request.GET.get("month") and request.GET["month"] != month:
        return redirect("dashboard:notice", format_month(_notice_month(request.GET["month"])))
    month = _notice_month(month)
    data = summary.notice(month)
    return render(request, "dashboard/notice.html", _context(request, month, notice=data))


def _number(value):
    return float(value) if value is not None else None


@page(public=True)
def notice_xlsx(request, month: str):
    """The notice as a workbook; every text cell goes through ``safe`` (no formulas)."""
    month = _notice_month(month)
    data = summary.notice(month)
    wb = Workbook()
    ws = wb.active
    ws.title = "晾晒通报"
    bold = Font(bold=True)
    head_fill = PatternFill("solid", fgColor="F2DCDB")

    def row(*values, header=False):
        ws.append([safe(v) for v in values])
        if header:
            for c in ws[ws.max_row]:
                c.font, c.fill = bold, head_fill

    row(data.title)
    ws["A1"].font = Font(bold=True, size=14, color="C00000")
    row(f"（{data.number}）")
    row()
    row("已到节点的区县指标", "正常", "滞后（黄）", "严重滞后（红）", "未按时填报", "正常占比(%)",
        "未解除预警", header=True)  # fmt: skip
    row(data.cells_due, data.on_track, data.behind, data.seriously_behind, data.not_reported,
        _number(data.on_track_pct), data.open_alerts)  # fmt: skip
    row()
    row("一、各区、县(市)晾晒排名")
    ws.cell(ws.max_row, 1).font = bold
    row("排名", "区、县(市)", "正常占比(%)", "已到节点", "正常", "黄", "红", "未按时填报",
        "上月排名", "名次变化", header=True)  # fmt: skip
    for r in data.ranking:
        row(r.rank, r.district.name, _number(r.share_pct), r.due, r.on_track, r.behind,
            r.seriously_behind, r.not_reported, r.previous_rank, r.change)  # fmt: skip
    row()
    row(f"二、严重滞后事项（{len(data.red_items)} 项）")
    ws.cell(ws.max_row, 1).font = bold
    row("序号", "项目", "指标", "区、县(市)", "牵头单位", "任务数", "序时应达", "累计完成",
        "落后百分点", "连续滞后月数", header=True)  # fmt: skip
    for e in data.red_items:
        row(e.project_seq, e.indicator.project.name, e.label, e.district.name, e.lead_agency,
            _number(e.quota), _number(e.expected), _number(e.actual), _number(e.gap_points),
            e.streak)  # fmt: skip
    row()
    row(f"三、挂牌督办建议（{len(data.supervised)} 项）")
    ws.cell(ws.max_row, 1).font = bold
    row("序号", "区、县(市)", "牵头单位", "类型", "连续滞后月数", "说明", header=True)
    for a in data.supervised:
        row(a.project_seq, a.district.name, a.indicator.project.lead_agency.name, a.kind,
            a.streak, a.message)  # fmt: skip
        ws.cell(ws.max_row, 6).alignment = Alignment(wrap_text=True)
    for i, width in enumerate((8, 14, 30, 28, 18, 10, 10, 10, 12, 12), start=1):
        ws.column_dimensions[get_column_letter(i)].width = width
    out = io.BytesIO()
    wb.save(out)
    response = HttpResponse(
        out.getvalue(),
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
    name = quote(f"晾晒通报_{format_month(month)}.xlsx")
    response["Content-Disposition"] = f"attachment; filename*=UTF-8''{name}"
    return response


def chromium_binary() -> str | None:
    """The Chromium used to print PDFs: ``TRACKER_CHROMIUM`` or ``chromium`` on PATH."""
    candidate = os.environ.get("TRACKER_CHROMIUM") or shutil.which("chromium")
    return candidate if candidate and os.path.exists(candidate) else None


def _unavailable(message: str) -> HttpResponse:
    return HttpResponse(message, status=503, content_type="text/plain; charset=utf-8")


@page(public=True)
def notice_pdf(request, month: str):
    month = _notice_month(month)
    binary = chromium_binary()
    if binary is None:
        return _unavailable(
            "本服务器未安装 Chromium，无法生成 PDF；请打开通报页面，用浏览器「打印 → 另存为 PDF」。"
        )
    css_path = finders.find("tracker/dashboard.css")
    with open(css_path, encoding="utf-8") as fh:
        inline_css = fh.read()
    html = render(
        request,
        "dashboard/notice.html",
        _context(request, month, notice=summary.notice(month), inline_css=inline_css, pdf=True),
    ).content
    with tempfile.TemporaryDirectory() as tmp:
        source, target = os.path.join(tmp, "notice.html"), os.path.join(tmp, "notice.pdf")
        with open(source, "wb") as fh:
            fh.write(html)
        command = [
            binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--no-pdf-header-footer", f"--user-data-dir={os.path.join(tmp, 'profile')}",
            f"--print-to-pdf={target}", f"file://{source}",
        ]  # fmt: skip
        try:
            subprocess.run(command, check=False, timeout=PDF_TIMEOUT_SECONDS, capture_output=True)
        except (OSError, subprocess.TimeoutExpired):
            return _unavailable("PDF 生成超时或失败，请打开通报页面用浏览器打印。")
        if not os.path.exists(target) or os.path.getsize(target) == 0:
            return _unavailable("PDF 生成失败，请打开通报页面用浏览器打印。")
        with open(target, "rb") as fh:
            pdf = fh.read()
    response = HttpResponse(pdf, content_type="application/pdf")
    name = quote(f"晾晒通报_{format_month(month)}.pdf")
    response["Content-Disposition"] = f"attachment; filename*=UTF-8''{name}"
    return response
