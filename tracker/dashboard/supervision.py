"""挂牌督办 pages: the list of 督办事项, one item with its history and the forms for
交办 / 整改反馈 / 销号 / 继续督办, and its 佐证材料. Thin views over
``tracker.supervision`` (``process`` decides who may; ``queries`` reads in scope, so an
item outside the viewer's scope is a 404)."""

from __future__ import annotations

from datetime import date

from django.contrib import messages
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from tracker.accounts.permissions import scope_for
from tracker.dashboard.review import _refused
from tracker.dashboard.views import _context, page
from tracker.months import format_month, month_label, parse_month
from tracker.plans.models import Indicator
from tracker.plans.reference import District
from tracker.review.attachments import open_stored
from tracker.supervision import process, queries
from tracker.supervision.models import SupervisionAttachment

INLINE = {"pdf": "application/pdf", "jpg": "image/jpeg", "png": "image/png"}


def _today():
    return timezone.localdate()


def _date(raw: str) -> date:
    try:
        return date.fromisoformat((raw or "").strip())
    except ValueError as exc:
        raise process.Refused("整改期限格式应为 YYYY-MM-DD") from exc


def _pk(raw) -> int:
    raw = str(raw or "")
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 10):
        raise Http404("参数不正确")
    return int(raw)


@page()
@require_GET
def supervision_list(request):
    get = request.GET
    state = get.get("state", "")
    district = get.get("district", "").strip()[:20]
    overdue = get.get("overdue") == "1"
    rows = queries.items(
        request.viewer, today=_today(), state=state, district=district, overdue=overdue
    )
    return render(
        request,
        "dashboard/supervision_list.html",
        _context(
            request, None, items=rows, state=state, district=district, overdue=overdue,
            state_choices=queries.STATE_CHOICES,
            districts=District.objects.filter(supervision_items__isnull=False).distinct()
            .order_by("order"),
        ),
    )  # fmt: skip


@page()
@require_http_methods(["GET", "POST"])
def supervision_item(request, pk: int):
    found = queries.item_page(request.viewer, pk)
    if found is None:
        raise Http404("不存在或不在您的职责范围内")
    here = reverse("dashboard:supervision_item", args=[pk])
    if request.method == "POST":
        item, post = found.item, request.POST
        try:
            action = post.get("action", "")
            if action == "feedback":
                files = [(f.name, f) for f in request.FILES.getlist("files")]
                process.feedback(request.viewer, item, post.get("text", ""), files)
                done = "已提交整改反馈"
            elif action == "close":
                process.close(request.viewer, item, post.get("reason", ""))
                done = "已销号"
            elif action == "keep_open":
                deadline = _date(post.get("deadline", ""))
                process.keep_open(request.viewer, item, post.get("reason", ""), deadline=deadline)
                done = "已继续督办，新的整改期限已通知责任单位"
            else:
                raise process.Refused("未知的操作")
        except process.Refused as exc:
            return _refused(request, str(exc), here)
        messages.success(request, done)
        return redirect(here)
    item = found.item
    scope = scope_for(request.viewer)
    return render(
        request,
        "dashboard/supervision_item.html",
        _context(
            request, None, page=found, item=item, overdue=item.is_overdue(_today()),
            may_decide=scope.is_supervision and item.state == "reported",
            may_feedback=item.state == "assigned" and process.may_feedback(request.viewer, item),
        ),
    )  # fmt: skip


@page()
@require_http_methods(["GET", "POST"])
def supervision_assign(request):
    """交办 a cell (from the notice's 挂牌督办建议): 督查室 only."""
    source = request.POST if request.method == "POST" else request.GET
    indicator = get_object_or_404(
        Indicator.objects.select_related("project__lead_agency"), pk=_pk(source.get("indicator"))
    )
    district = get_object_or_404(District, pk=_pk(source.get("district")))
    try:
        month = parse_month(source.get("month", ""))
    except ValueError as exc:
        raise Http404("月份不正确") from exc
    if not scope_for(request.viewer).is_supervision:  # after the lookups: 404 alike
        back = reverse("dashboard:supervision_list")
        return _refused(request, process.ONLY_SUPERVISION.format(what="交办"), back)
    existing = process.open_item(indicator.pk, district.pk)
    if request.method == "POST":
        try:
            item = process.assign(
                request.viewer, indicator, district, month,
                deadline=_date(source.get("deadline", "")), note=source.get("note", ""),
            )  # fmt: skip
        except process.Refused as exc:
            return _refused(request, str(exc), request.get_full_path())
        messages.success(request, f"已交办{item.unit_name}，整改期限 {item.deadline:%Y-%m-%d}")
        return redirect("dashboard:supervision_item", item.pk)
    return render(
        request,
        "dashboard/supervision_assign.html",
        _context(
            request, None, indicator=indicator, district=district, source_month=month,
            source_month_text=format_month(month), source_month_label=month_label(month),
            existing=existing,
            unit=indicator.project.lead_agency.name if district.kind == District.Kind.CITY
            else district.name,
        ),
    )  # fmt: skip


@page()
@require_GET
def supervision_attachment(request, pk: int):
    """Open one 佐证材料 of a 反馈 (scoped like its item)."""
    found = SupervisionAttachment.objects.for_user(request.viewer).filter(pk=_pk(pk)).first()
    if found is None:
        raise Http404("不存在或不在您的职责范围内")
    inline = found.kind in INLINE
    response = FileResponse(
        open_stored(found), as_attachment=not inline, filename=found.original_name,
        content_type=INLINE.get(found.kind, "application/octet-stream"),
    )  # fmt: skip
    response["X-Content-Type-Options"] = "nosniff"
    return response
