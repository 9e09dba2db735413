"""Dashboard pages: thin views over ``tracker.services.summary``.

Every page reads through the same scoping as the admin and API (``for_user``). Anonymous
visitors are sent to the login page, except that with ``TRACKER["PUBLIC_READ_ONLY"]``
they may read the public parts (overview, ranking, monthly notice) city-wide.

The month shown is ``?month=YYYY-MM`` or, by default, the latest month with statuses.
The notice's PDF is printed by headless Chromium from the printable page when
``/usr/bin/chromium`` (or ``TRACKER_CHROMIUM``) exists; otherwise the page says to use
the browser's 打印 → 另存为 PDF.
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
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from openpyxl import Workbook
from openpyxl.styles import Font

from tracker.models import District, Project
from tracker.months import format_month, parse_month
from tracker.scoping import scope_for
from tracker.services import summary
from tracker.services.excel import safe


def _public() -> bool:
    return bool(settings.TRACKER.get("PUBLIC_READ_ONLY", False))


def page(public: bool = False):
    """Require a user with a role; ``public`` pages also serve anonymous visitors in
    published read-only mode (``request.viewer`` is then None: the city-wide view)."""

    def decorate(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            user = request.user
            if user.is_authenticated and scope_for(user).role is not None:
                request.viewer = user
            elif public and _public() and not user.is_authenticated:
                request.viewer = None
            elif user.is_authenticated:
                return render(request, "dashboard/no_role.html", status=403)
            else:
                return redirect_to_login(request.get_full_path(), reverse("admin:login"))
            return view(request, *args, **kwargs)

        return wrapper

    return decorate


def _month(request, viewer) -> date | None:
    text = request.GET.get("month")
    if text:
        try:
            return parse_month(text)
        except ValueError as exc:
            raise Http404(str(exc)) from exc
    return summary.latest_month(viewer)


def _context(request, month, **extra):
    months = summary.evaluated_months(request.viewer)
    return {
        "month": month,
        "month_text": format_month(month) if month else "",
        "months": [format_month(m) for m in months],
        "viewer": request.viewer,
        "scope": scope_for(request.viewer) if request.viewer else None,
        **extra,
    }


@page(public=True)
def overview(request):
    month = _month(request, request.viewer)
    data = summary.overview(request.viewer, month) if month else None
    return render(request, "dashboard/overview.html", _context(request, month, overview=data))


@page()
def matrix(request):
    month = _month(request, request.viewer)
    data = summary.matrix(request.viewer, month) if month else None
    return render(request, "dashboard/matrix.html", _context(request, month, matrix=data))


@page()
def cell(request, indicator_id: int, district_id: int):
    detail = summary.cell_detail(request.viewer, indicator_id, district_id)
    if detail is None:
        raise Http404("不在您的职责范围内或不存在")
    month = _month(request, request.viewer)
    return render(
        request,
        "dashboard/cell.html",
        _context(
            request, month, detail=detail, chart=json.dumps(detail.chart(), ensure_ascii=False)
        ),
    )


@page(public=True)
def ranking(request):
    month = _month(request, request.viewer)
    rows = summary.ranking(month) if month else []
    return render(request, "dashboard/ranking.html", _context(request, month, rows=rows))


@page()
def district(request, code: str):
    district = get_object_or_404(District, code=code)
    scope = scope_for(request.viewer)
    if scope.is_district and scope.district_id != district.pk:
        raise Http404("不在您的职责范围内")
    month = _month(request, request.viewer)
    lines = summary.district_scorecard(request.viewer, district, month) if month else []
    place = next((r for r in summary.ranking(month) if r.district.pk == district.pk), None)
    return render(
        request,
        "dashboard/district.html",
        _context(request, month, district=district, lines=lines, place=place),
    )


@page()
def project(request, seq: int):
    month = _month(request, request.viewer)
    year = month.year if month else None
    project = get_object_or_404(
        Project.objects.for_user(request.viewer).select_related("lead_agency", "category"),
        seq=seq,
        plan_year__year=year,
    )
    data = summary.matrix(request.viewer, month, project_id=project.pk)
    return render(
        request, "dashboard/project.html", _context(request, month, project=project, matrix=data)
    )


@page()
def my_work(request):
    month = _month(request, request.viewer)
    rows = summary.my_work(request.viewer, month) if month else []
    return render(request, "dashboard/my_work.html", _context(request, month, rows=rows))


def _notice_month(text: str) -> date:
    try:
        return parse_month(text)
    except ValueError as exc:
        raise Http404(str(exc)) from exc


@page(public=True)
def notice(request, month: str):
    month = _notice_month(month)
    data = summary.notice(month)
    return render(request, "dashboard/notice.html", _context(request, month, notice=data))


@page(public=True)
def notice_xlsx(request, month: str):
    month = _notice_month(month)
    data = summary.notice(month)
    wb = Workbook()
    ws = wb.active
    ws.title = "晾晒通报"
    ws.append([safe(f"{month.year}年{month.month}月民生实事项目推进情况通报")])
    ws["A1"].font = Font(bold=True, size=14)
    ws.append([])
    ws.append(["应完成节点的指标数", data.cells_due, "正常", data.on_track, "滞后（黄）",
               data.behind, "严重滞后（红）", data.seriously_behind, "未按时填报",
               data.not_reported])  # fmt: skip
    ws.append([])
    ws.append(["排名", "区、县(市)", "正常占比(%)", "正常", "黄", "红", "未按时填报", "名次变化"])
    for r in data.ranking:
        share = float(r.share_pct) if r.share_pct is not None else None
        ws.append([r.rank, r.district.name, share, r.on_track, r.behind, r.seriously_behind,
                   r.not_reported, r.change])  # fmt: skip
    ws.append([])
    ws.append(["严重滞后事项"])
    ws.append(["序号", "项目", "指标", "区、县(市)", "牵头单位", "应达", "实际", "落后百分点"])
    for e in data.red_items:
        ws.append([
            e.indicator.project.seq, safe(e.indicator.project.name), safe(e.indicator.label),
            e.district.name, e.indicator.project.lead_agency.name,
            float(e.expected) if e.expected is not None else None,
            float(e.actual) if e.actual is not None else None,
            float(e.gap_points) if e.gap_points is not None else None,
        ])  # fmt: skip
    ws.append([])
    ws.append(["挂牌督办"])
    for a in data.supervised:
        ws.append([a.indicator.project.seq, safe(a.message)])
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
    candidate = os.environ.get("TRACKER_CHROMIUM") or shutil.which("chromium") or None
    return candidate if candidate and os.path.exists(candidate) else None


@page(public=True)
def notice_pdf(request, month: str):
    month = _notice_month(month)
    binary = chromium_binary()
    if binary is None:
        return HttpResponse(
            "本服务器未安装 Chromium，无法生成 PDF；"
            "请打开通报页面，用浏览器「打印 → 另存为 PDF」。",
            status=503,
            content_type="text/plain; charset=utf-8",
        )
    html = render(
        request, "dashboard/notice.html", _context(request, month, notice=summary.notice(month))
    ).content
    with tempfile.TemporaryDirectory() as tmp:
        source, target = os.path.join(tmp, "notice.html"), os.path.join(tmp, "notice.pdf")
        with open(source, "wb") as fh:
            fh.write(html)
        subprocess.run(
            [binary, "--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer",
             f"--print-to-pdf={target}", f"file://{source}"],
            check=False, timeout=60, capture_output=True,
        )  # fmt: skip
        if not os.path.exists(target):
            return HttpResponse("PDF 生成失败，请使用浏览器打印。", status=503,
                                content_type="text/plain; charset=utf-8")  # fmt: skip
        with open(target, "rb") as fh:
            pdf = fh.read()
    response = HttpResponse(pdf, content_type="application/pdf")
    name = quote(f"晾晒通报_{format_month(month)}.pdf")
    response["Content-Disposition"] = f"attachment; filename*=UTF-8''{name}"
    return response
