"""Floors: bare Django views computing the same answer as an endpoint or page, from the
same tables.

No DRF (no serializers, renderers, content negotiation, throttles, pagination classes),
no templates: what the query, the computation and the encoding cost alone. Each API floor
returns the same JSON as its endpoint (``tests/system/test_bench_floors.py`` asserts it on the
simulated year); each page floor reads the same selector as its page and writes its
figures as bare HTML rows. Mounted under ``/bench/floor/`` by ``bench.urls`` only (the
benchmark's settings, ``bench.settings``); production URLs never reach them.
"""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import BadRequest, PermissionDenied
from django.http import Http404, HttpResponse, JsonResponse
from django.urls import path
from django.utils import timezone
from rest_framework import exceptions

from tracker import formats as fmt
from tracker.accounts.permissions import Action, restrict, scope_for
from tracker.monitoring.models import LagEvaluation
from tracker.monitoring.stored import actual_series, latest_month
from tracker.months import format_month
from tracker.plans.selection import month_and_plan, plan_month
from tracker.plans.trajectory import expected_curve, load_indicator_plans
from tracker.progress.models import ProgressReport
from tracker.progress.state import counted_reports
from tracker.progress.values import series_as_of
from tracker.reporting.cell import cell_detail
from tracker.reporting.matrix import matrix as read_matrix
from tracker.reporting.notice import notice as read_notice
from tracker.reporting.overview import overview as read_overview
from tracker.reporting.ranking import agency_ranking as read_agency_ranking
from tracker.reporting.ranking import ranking as read_ranking

Q2, Q4 = Decimal("0.01"), Decimal("0.0001")
JSON = {"json_dumps_params": {"ensure_ascii": False}}


def _dec(value, places=Q2):
    """The API's number format (``formats.plain`` of the field's places)."""
    return None if value is None else fmt.plain(Decimal(value).quantize(places))


def _user(request):
    """The bearer token's user (the API's own check), or the session's (pages), with a
    role: a user without one gets a 403 from the API and the pages, so the floors refuse
    it too (one query, as the API's permission)."""
    user = _authenticated(request)
    if scope_for(user).role is None:
        raise PermissionDenied("账号须分配角色")
    return user


def _authenticated(request):
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        from tracker.api.auth import BearerTokenAuthentication

        try:
            return BearerTokenAuthentication().authenticate_credentials(
                header.removeprefix("Bearer ").encode()
            )[0]
        except exceptions.AuthenticationFailed as exc:
            raise Http404("令牌无效") from exc
    if request.user.is_authenticated:
        return request.user
    raise Http404("需要登录")


def _summary(request, who):
    """``(month, plan, alone)`` of a summary, read as the API reads them (``?month`` and
    the plan picker, ``plans.month_and_plan``). Part of the answer, not overhead: the plan
    decides which units are ranked and in which column order ties fall."""
    try:
        month, choice = month_and_plan(request.GET)
    except ValueError as exc:
        raise BadRequest(str(exc)) from exc  # the API's 400
    month = month or latest_month(who, choice.plan)
    if month is None:
        raise Http404("还没有进度检查结果")
    return month, choice.plan, choice.plan is not None and not choice.many


# --- API floors ---------------------------------------------------------------------------


def overview(request):
    who = _user(request)
    month, plan, _alone = _summary(request, who)
    data = read_overview(who, month, plan=plan)

    def indicator(i):
        return {
            "id": i.id, "label": i.label, "unit": i.unit, "status": str(i.status),
            "status_label": str(i.status_label), "completion_pct": _dec(i.completion_pct),
            "completion_uncapped_pct": _dec(i.completion_uncapped_pct),
            "pace_pct": _dec(i.pace_pct), "pace_completion_pct": _dec(i.pace_completion_pct),
            "counts": {str(k): v for k, v in i.counts.items()}, "open_alerts": i.open_alerts,
        }  # fmt: skip

    at = data.evaluated_at
    return JsonResponse({
        "month": format_month(data.month),
        "evaluated_at": timezone.localtime(at).isoformat() if at else None,
        "categories": [
            {"id": c.id, "order": c.order, "name": c.name, "status": str(c.status),
             "open_alerts": c.open_alerts, "projects": [
                {"id": p.id, "seq": p.seq, "name": p.name, "lead_agency": p.lead_agency,
                 "status": str(p.status), "completion_pct": _dec(p.completion_pct),
                 "pace_pct": _dec(p.pace_pct), "open_alerts": p.open_alerts,
                 "indicators": [indicator(i) for i in p.indicators]}
                for p in c.projects]}
            for c in data.categories
        ],
    }, **JSON)  # fmt: skip


def ranking(request):
    who = _user(request)
    month, plan, alone = _summary(request, who)
    # the API's public, city-wide ranking of the plan's units, ties in its column order
    rows = read_ranking(month, plan=plan, only_plan_of_year=alone)
    return JsonResponse([
        {"rank": r.rank, "tied": r.tied, "rank_label": r.place,
         "previous_rank": r.previous_rank, "change": r.change,
         "district": {"id": r.district.pk, "code": r.district.code, "name": r.district.name,
                      "kind": r.district.kind, "order": r.district.order},
         "due": r.due, "on_track": r.on_track, "behind": r.behind,
         "seriously_behind": r.seriously_behind, "not_reported": r.not_reported,
         "share_pct": _dec(r.share_pct)}
        for r in rows
    ], safe=False, **JSON)  # fmt: skip


def _datetime(value):
    if value is None:
        return None
    text = timezone.localtime(value).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def progress(request):
    """The first page (50 rows) of the progress list, the same rows in the same order."""
    user = _user(request)
    qs = ProgressReport.objects.for_user(user)
    rows = list(
        qs.order_by("-month", "indicator__project__seq", "indicator__order", "district__order")
        .values_list(
            "id", "indicator_id", "district_id", "month", "value", "note", "is_correction",
            "correction_reason", "version", "reported_by__username", "reported_at", "created_at",
        )[:50]
    )  # fmt: skip
    count = qs.count()
    return JsonResponse({
        "count": count,
        "results": [
            {"id": pk, "indicator": i, "district": d, "month": format_month(m),
             "value": None if v is None else fmt.plain(v), "note": note,
             "is_correction": corr, "correction_reason": reason, "version": version,
             "reported_by": who or "", "reported_at": _datetime(rat),
             "created_at": _datetime(cat)}
            for pk, i, d, m, v, note, corr, reason, version, who, rat, cat in rows
        ],
    }, **JSON)  # fmt: skip


def trajectory(request, pk: int):
    """City-wide 序时进度 and reported value by month: per district its latest report up to
    each month, carried forward (``progress.values.series_as_of``), summed (rates: averaged)."""
    user = _user(request)
    plan = load_indicator_plans(indicator_ids=[pk]).get(pk)
    if plan is None:
        raise Http404("不存在")
    reports = restrict(user, Action.VIEW, ProgressReport.objects.filter(indicator_id=pk))
    scope = scope_for(user)
    district_id = scope.district_id if scope.is_district else None
    if district_id is not None and not plan.is_city_only:
        if district_id not in plan.quotas:
            raise Http404("该区、县(市)没有此指标的分解任务")
        reports = reports.filter(district_id=district_id)
    actual = series_as_of(
        counted_reports(reports).values_list("district_id", "month", "value"),
        plan.year,
        level=plan.is_level,
    )
    split = district_id is not None and not plan.is_city_only
    stored = restrict(user, Action.VIEW, LagEvaluation.objects.filter(indicator_id=pk))
    if split:
        stored = stored.filter(district_id=district_id)
    actual.update(actual_series(stored, level=plan.is_level))
    curve = expected_curve(plan, district_id) if split else expected_curve(plan)
    points = []
    for p in curve:
        points.append({
            "month": format_month(p.month), "expected": _dec(p.value, Q4),
            "actual": _dec(actual.get(p.month), Q4), "is_checkpoint": p.is_checkpoint,
            "milestone": p.text,
        })  # fmt: skip
    return JsonResponse({
        "indicator": pk, "district": district_id, "unit": fmt.base_unit(plan),
        "target": _dec(plan.quotas.get(district_id, plan.target), Q4),
        "points": points,
    }, **JSON)  # fmt: skip


# --- page floors: the page's selector, its figures as bare HTML rows ----------------------


def _html(rows) -> HttpResponse:
    body = "\n".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return HttpResponse(f"<!doctype html><table>\n{body}\n</table>")


def page_overview(request):
    who = _user(request)
    month, plan, _alone = _summary(request, who)
    data = read_overview(who, month, plan=plan)
    return _html(
        (p.seq, p.name, p.status_label, i.label, i.completion_pct, i.pace_pct, i.status_label)
        for p in data.projects
        for i in p.indicators
    )


def page_matrix(request):
    who = _user(request)
    month, plan, _alone = _summary(request, who)
    data = read_matrix(who, month, plan=plan)
    return _html(
        (row.indicator.label, *(c.status if c else "" for c in row.cells)) for row in data.rows
    )


def page_cell(request, indicator_id: int, district_id: int):
    detail = cell_detail(_user(request), indicator_id, district_id)
    if detail is None:
        raise Http404("不存在")
    return _html(
        (format_month(e.month), e.status, e.expected, e.actual, e.completion_pct)
        for e in detail.evaluations
    )


def page_ranking(request):
    who = _user(request)
    month, plan, _alone = _summary(request, who)
    rows = read_ranking(month, who, plan=plan)
    agencies = read_agency_ranking(month, who, plan=plan)  # 部门晾晒, on the same page
    return _html(
        [(r.place, r.district.name, r.due, r.on_track, r.share_pct) for r in rows]
        + [(r.place, r.agency.name, r.due, r.on_track, r.share_pct) for r in agencies]
    )


def page_notice(request, month: str):
    data = read_notice(plan_month(month))
    if data is None:
        raise Http404("没有通报")
    return HttpResponse(str(data).encode())


urlpatterns = [
    path("api/overview/", overview),
    path("api/ranking/", ranking),
    path("api/progress/", progress),
    path("api/trajectory/<int:pk>/", trajectory),
    path("page/overview/", page_overview),
    path("page/matrix/", page_matrix),
    path("page/cell/<int:indicator_id>/<int:district_id>/", page_cell),
    path("page/ranking/", page_ranking),
    path("page/notice/<str:month>/", page_notice),
]
