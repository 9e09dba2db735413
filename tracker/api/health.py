"""``/api/health/``: 200 ``ok`` or 503 ``degraded`` for monitors (no login needed).

Anonymous callers get only the status. Staff (session or bearer token) also get each
check: database, broker, worker and beat (``tracker.health.checks``), with backend
names and the age of the last heartbeat. The caller is identified only after the checks
ran, and a failure to identify them (the database is down) means anonymous: the endpoint
answers 503, never 500.
"""

from django.http import JsonResponse
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import permissions
from rest_framework.views import APIView

from tracker.health import checks as service


@method_decorator(never_cache, name="dispatch")
class HealthView(APIView):
    permission_classes = [permissions.AllowAny]
    throttle_classes: list = []

    def perform_authentication(self, request):
        """Lazy: authenticating reads the database, which may be what is down."""

    @extend_schema(
        responses={
            200: OpenApiResponse(description="正常：数据库、消息队列、任务进程和定时调度均在运行"),
            503: OpenApiResponse(description="降级：某项不可用，或心跳超过规定分钟数未更新"),
        }
    )
    def get(self, request):
        result = service.report()
        body = {"status": result.status}
        if _is_staff(request):
            body["checks"] = result.checks
            body["stale_after_minutes"] = int(service.stale_after().total_seconds() // 60)
        return JsonResponse(
            body, status=200 if result.healthy else 503, json_dumps_params={"ensure_ascii": False}
        )


def _is_staff(request) -> bool:
    try:
        return bool(request.user and request.user.is_staff)
    except Exception:  # the session or token store is unreachable: treat as anonymous
        return False


health = HealthView.as_view()
