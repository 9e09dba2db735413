"""Bare Django views returning the same JSON as four API endpoints, from the same queries.

The benchmark's floor (``manage.py bench_api``): no DRF, no serializers, no pagination
classes, no throttling — what the query and JSON encoding cost alone. Mounted only when
``TRACKER_BENCH_FLOOR=1``.
"""

from django.http import JsonResponse

from tracker import selectors
from tracker.models import ProgressReport
from tracker.months import format_month, parse_month


def _user(request):
    """The bearer token's user, as the API resolves it."""
    from tracker.api.auth import user_for_token

    return user_for_token(request.headers.get("Authorization", "").removeprefix("Bearer "))


def _month(request):
    return parse_month(request.GET.get("month", "2024-09"))


def ranking(request):
    rows = selectors.ranking(_month(request))
    return JsonResponse([
        {"rank": r.rank, "previous_rank": r.previous_rank, "change": r.change,
         "district": {"id": r.district.pk, "code": r.district.code, "name": r.district.name},
         "due": r.due, "on_track": r.on_track, "share_pct": str(r.share_pct)}
        for r in rows
    ], safe=False, json_dumps_params={"ensure_ascii": False})  # fmt: skip


def overview(request):
    data = selectors.overview(_user(request), _month(request))
    return JsonResponse({
        "month": format_month(data.month),
        "categories": [
            {"id": c.id, "name": c.name, "status": c.status, "projects": [
                {"seq": p.seq, "name": p.name, "status": p.status,
                 "indicators": [{"id": i.id, "status": i.status,
                                 "completion_pct": str(i.completion_pct)} for i in p.indicators]}
                for p in c.projects]}
            for c in data.categories
        ],
    }, json_dumps_params={"ensure_ascii": False})  # fmt: skip


def progress(request):
    rows = list(
        ProgressReport.objects.for_user(_user(request))
        .order_by("-month", "indicator__project__seq", "indicator__order", "district__order")
        .values("id", "indicator_id", "district_id", "month", "value", "version")[:50]
    )
    for row in rows:
        row["month"] = format_month(row["month"])
        row["value"] = str(row["value"])
    return JsonResponse({"results": rows}, json_dumps_params={"ensure_ascii": False})


def trajectory(request, pk: int):
    from tracker.services.trajectory import expected_curve, load_indicator_plans

    plan = load_indicator_plans(indicator_ids=[pk])[pk]
    reports = ProgressReport.objects.for_user(_user(request)).filter(indicator_id=pk)
    totals = {}
    for month, value in reports.values_list("month", "value"):
        totals[month] = totals.get(month, 0) + value
    return JsonResponse({"points": [
        {"month": format_month(p.month), "expected": str(p.value),
         "actual": str(totals.get(p.month))}
        for p in expected_curve(plan)
    ]}, json_dumps_params={"ensure_ascii": False})  # fmt: skip
