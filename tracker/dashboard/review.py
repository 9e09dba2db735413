"""审核与上报 pages (issue 15): thin views over ``tracker.review.workflow``.

- ``review/`` (``?month=YYYY-MM``, default the month being reported): the state of every
  district-month of the current plan (未上报 / 已上报 / 部分退回 / 已审核) with the
  counts per state; the lead agency's queue of submitted cells (审核通过 / 退回 with a
  reason); a district's 「上报本月」 button and its returned cells; red cells still
  without an explanation ``conf.EXPLANATION_GRACE_DAYS`` days after the deadline.
- ``review/<district code>/<YYYY-MM>/``: one district-month: its cells (state, reason,
  lock) and its history — every step with who and when; 督查室 unlocks (with a reason)
  and relocks the month or a cell there.
- POST ``review/act/``: one form target for every action (``do`` = submit, approve,
  return, unlock, relock); the object is looked up in the user's scope (404 outside
  it) and the service decides; a refusal is shown in Chinese and changes nothing.
- POST ``matrix/<indicator>/<district>/explain/``: write the cell's explanation.
"""

from __future__ import annotations

from datetime import date

from django.contrib import messages
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from tracker.accounts.permissions import Action, allowed, restrict, scope_for
from tracker.calendar import reporting_month
from tracker.dashboard.views import _context, page
from tracker.months import format_month, month_label, months_of_year
from tracker.plans.models import Indicator
from tracker.plans.reference import District
from tracker.plans.selection import current_plan, plan_month
from tracker.progress.models import CellReview, MonthSubmission
from tracker.reporting.review_sheet import review_sheet
from tracker.review import queries as review_selectors
from tracker.review import workflow as review
from tracker.review.explanations import explanation_due, grace_days, missing_explanations


def _month_param(text: str | None) -> date | None:
    if not text:
        return None
    try:
        return plan_month(text)
    except ValueError as exc:
        raise Http404(str(exc)) from exc


@page()
def review_states(request):
    """The 督查室 view of every district-month, the review queue, 上报本月."""
    user = request.viewer
    scope = scope_for(user)
    plan = current_plan()
    if plan is None:
        raise Http404("尚未导入任何年度计划")
    month = _month_param(request.GET.get("month")) or reporting_month(plan)
    if month.year != plan.year:
        raise Http404(f"{month_label(month)}不在{plan.year}年计划内")
    months = [m for m in months_of_year(plan.year) if m <= max(month, reporting_month(plan))]
    grid = review_selectors.month_states(plan, months, user)
    own = None
    if scope.is_district:
        row = next((cells for d, cells in grid.rows if d.pk == scope.district_id), None)
        own = next((c for c in row if c.month == month), None) if row else None
    queue = review_selectors.review_queue(user, months) if not scope.is_district else []
    returned = review_selectors.returned_cells(user)
    missing = missing_explanations(user, month)
    by_month, by_indicator = _queue_groups(queue)
    context = _context(
        request,
        None,
        plan=plan,
        grid=grid,
        review_month=month,
        review_month_text=format_month(month),
        review_month_label=month_label(month),
        totals=grid.totals(month),
        own=own,
        queue=queue,
        queue_by_month=by_month,
        queue_by_indicator=by_indicator,
        returned=returned,
        missing=missing,
        grace_days=grace_days(),
        explanation_due=explanation_due(month),
        can_review=_may_review(user),
    )
    return render(request, "dashboard/review_states.html", context)


def _queue_groups(queue):
    """The queue as the review page's two ways in: (district, month, count) and
    (indicator, month, count), plan order."""
    by_month: dict = {}
    by_indicator: dict = {}
    for c in queue:
        key = (c.district.code, c.month)
        by_month.setdefault(key, [c.district, c.month, 0])[2] += 1
        key = (c.indicator_id, c.month)
        by_indicator.setdefault(key, [c.indicator, c.month, 0])[2] += 1
    months = sorted(by_month.values(), key=lambda x: (x[1], x[0].order))
    return months, list(by_indicator.values())


@page()
def review_month(request, code: str, month: str):
    """One district-month: the review sheet (figure, 上月, 序时应达, status, explanation,
    attachments; approve all / selected, return selected), locks, and every step with who
    and when."""
    user = request.viewer
    month = _month_param(month)
    district = get_object_or_404(District, code=code)
    submission = (
        restrict(user, Action.VIEW, MonthSubmission.objects.all())
        .filter(district=district, month=month)
        .select_related("district", "submitted_by")
        .first()
    )
    if scope_for(user).is_district and scope_for(user).district_id != district.pk:
        raise Http404("不在您的职责范围内")
    sheet = None
    steps = []
    if submission is not None:
        sheet = review_sheet(user, month, district=district)
        steps = review_selectors.month_history(submission, user)
    return render(
        request,
        "dashboard/review_month.html",
        _context(
            request,
            None,
            district=district,
            submission=submission,
            review_month=month,
            review_month_text=format_month(month),
            review_month_label=month_label(month),
            sheet=sheet,
            cells=[r.cell for r in sheet.rows] if sheet else [],
            steps=steps,
            is_supervision=scope_for(user).is_supervision,
            can_review=_may_review(user),
            state_label=review_selectors.STATE_LABEL,
        ),
    )


@page()
def review_indicator(request, indicator_id: int, month: str):
    """One indicator across districts: the same review sheet, a row per district."""
    user = request.viewer
    month = _month_param(month)
    indicator = (
        restrict(user, Action.VIEW, Indicator.objects.all())
        .select_related("project__lead_agency")
        .filter(pk=indicator_id)
        .first()
    )
    if indicator is None:
        raise Http404("不存在或不在您的职责范围内")
    sheet = review_sheet(user, month, indicator=indicator)
    return render(
        request,
        "dashboard/review_indicator.html",
        _context(
            request,
            None,
            indicator=indicator,
            review_month=month,
            review_month_text=format_month(month),
            review_month_label=month_label(month),
            sheet=sheet,
            can_review=_may_review(user),
        ),
    )


def _may_review(user) -> bool:
    """Show the review buttons (the service still decides each cell)."""
    scope = scope_for(user)
    return (scope.is_agency or scope.is_supervision) and allowed(user, Action.REVIEW, CellReview)


def _ids(values) -> list[int]:
    return sorted({int(v) for v in values if str(v).isdigit() and len(str(v)) <= 10})


@page()
@require_POST
def review_bulk(request):
    """全部审核通过 / 审核通过所选 / 退回所选 (each with its own reason): one request, all
    or nothing (``review.approve_cells`` / ``review.return_cells``)."""
    user = request.viewer
    do = request.POST.get("do", "")
    default = reverse("dashboard:review_states")
    if do == "approve_all":
        ids = _ids(request.POST.getlist("all"))
    else:
        ids = _ids(request.POST.getlist("cell"))
    if not ids:
        return _refused(request, "请先勾选要审核的指标", _back_url(request, default))
    found = {
        c.pk: c
        for c in restrict(user, Action.VIEW, CellReview.objects.all())
        .select_related("indicator__project__lead_agency", "district", "submission")
        .filter(pk__in=ids)
    }
    if len(found) != len(ids):
        raise Http404("不存在或不在您的职责范围内")
    cells = [found[i] for i in ids]
    try:
        if do in ("approve_all", "approve"):
            n = len(review.approve_cells(user, cells))
            done = f"已审核通过 {n} 项"
        elif do == "return":
            pairs = [(c, request.POST.get(f"reason-{c.pk}", "")) for c in cells]
            n = len(review.return_cells(user, pairs))
            done = f"已退回 {n} 项，已通知相关地区更正后重新上报"
        else:
            raise Http404("未知操作")
    except review.ReviewRejected as exc:
        return _refused(request, str(exc), _back_url(request, default))
    messages.success(request, done)
    return _back(request, default)


def _back_url(request, default: str) -> str:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}):
        return target
    return default


def _back(request, default: str):
    return redirect(_back_url(request, default))


def _refused(request, message: str, back: str):
    """A refused action answers 400 with its Chinese reason (issue 30: every path), and a
    way back; nothing changed."""
    messages.error(request, message)
    return render(request, "dashboard/refused.html", {"back": back}, status=400)


def _scoped_cell(user, pk: str, action: str = Action.VIEW) -> CellReview:
    if not str(pk).isdigit():
        raise Http404("参数不正确")
    cell = (
        restrict(user, action, CellReview.objects.all())
        .select_related("indicator__project__lead_agency", "district", "submission")
        .filter(pk=int(pk))
        .first()
    )
    if cell is None:
        raise Http404("不存在或不在您的职责范围内")
    return cell


def _scoped_submission(user, pk: str) -> MonthSubmission:
    if not str(pk).isdigit():
        raise Http404("参数不正确")
    found = restrict(user, Action.VIEW, MonthSubmission.objects.all()).filter(pk=int(pk)).first()
    if found is None:
        raise Http404("不存在或不在您的职责范围内")
    return found


@page()
@require_POST
def review_act(request):
    """Every 审核与上报 action, posted from the pages above."""
    user = request.viewer
    do = request.POST.get("do", "")
    reason = request.POST.get("reason", "")
    default = reverse("dashboard:review_states")
    try:
        if do == "submit":
            scope = scope_for(user)
            code = request.POST.get("district", "")
            district = get_object_or_404(District, code=code) if code else None
            if district is None and scope.is_district:
                district = get_object_or_404(District, pk=scope.district_id)
            if district is None:
                raise Http404("请指定区、县(市)")
            month = _month_param(request.POST.get("month"))
            if month is None:
                raise Http404("请指定月份")
            review.submit_month(user, district, month)
            done = f"{district.name}{month_label(month)}已上报，等待牵头单位审核"
        elif do in ("approve", "return"):
            cell = _scoped_cell(user, request.POST.get("cell", ""))
            review.review_cell(user, cell, approve=do == "approve", reason=reason)
            done = (
                f"已审核通过：{cell.district.name}「{cell.indicator.label}」"
                if do == "approve"
                else f"已退回：{cell.district.name}「{cell.indicator.label}」，已通知该地区"
            )
        elif do in ("unlock", "relock"):
            target = {}
            if request.POST.get("cell"):
                target["cell"] = _scoped_cell(user, request.POST["cell"])
            else:
                target["submission"] = _scoped_submission(user, request.POST.get("submission", ""))
            if do == "unlock":
                n = review.unlock(user, reason=reason, **target)
                done = f"已解锁 {n} 项"
            else:
                n = review.relock(user, **target)
                done = f"已重新锁定 {n} 项"
        else:
            raise Http404("未知操作")
    except review.ReviewRejected as exc:
        return _refused(request, str(exc), _back_url(request, default))
    messages.success(request, done)
    return _back(request, default)


@page()
@require_POST
def explain_cell(request, indicator_id: int, district_id: int):
    """Write the explanation of a lagging cell from its page."""
    user = request.viewer
    indicator = (
        restrict(user, Action.VIEW, Indicator.objects.all())
        .select_related("project")
        .filter(pk=indicator_id)
        .first()
    )
    district = District.objects.filter(pk=district_id).first()
    if indicator is None or district is None:
        raise Http404("不存在或不在您的职责范围内")
    month = _month_param(request.POST.get("month"))
    if month is None:
        raise Http404("请指定月份")
    cell_url = reverse("dashboard:cell", args=[indicator_id, district_id])
    back = f"{cell_url}?month={format_month(month)}"
    try:
        catch_up = date.fromisoformat(request.POST.get("catch_up_by", ""))
    except ValueError:
        return _refused(request, "请填写计划追赶完成时间（年-月-日）", back)
    try:
        review.explain(
            user,
            indicator,
            district,
            month,
            reason=request.POST.get("reason", ""),
            measures=request.POST.get("measures", ""),
            catch_up_by=catch_up,
        )
    except review.ReviewRejected as exc:
        return _refused(request, str(exc), back)
    messages.success(request, f"已保存{month_label(month)}的原因说明和整改措施")
    return redirect(back)
