"""``/api/health/``: 200 ``ok`` or 503 ``degraded`` for monitors (no login needed).

Anonymous callers get only the status. Staff (session or bearer token) also get each
check: database, broker, worker and beat (``tracker.services.health``), with backend
names and the age of the last heartbeat.
"""

from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import permissions
from rest_framework.decorators import api_view, permission_classes, throttle_classes

from tracker.services import health as service


@extend_schema(
    responses={
        200: OpenApiResponse(description="正常：数据库、消息队列、任务进程和定时调度均在运行"),
        503: OpenApiResponse(description="降级：某项不可用，或心跳超过规定分钟数未更新"),
    }
)
@api_view(["GET"])
@permission_classes([permissions.AllowAny])
@throttle_classes([])
@never_cache
def health(request):
    result = service.report()
    body = {"status": result.status}
    if request.user.is_authenticated and request.user.is_staff:
        body["checks"] = result.checks
        body["stale_after_minutes"] = int(service.stale_after().total_seconds() // 60)
    return JsonResponse(
        body, status=200 if result.healthy else 503, json_dumps_params={"ensure_ascii": False}
    )
