"""Error pages: Chinese HTML in the dashboard's look, or Chinese JSON under ``/api/``.

Django calls these for the dashboard and the admin alike (``handler403/404/500`` in
``config.urls``; only with DEBUG off). Requests under ``/api/`` get ``{"detail": "…"}``
like the API's own errors (``tracker.api.errors``). The 500 page is rendered without a
request context and falls back to plain text if even that fails.
"""

from django.http import HttpResponse, HttpResponseServerError, JsonResponse
from django.template import loader
from django.views.decorators.csrf import requires_csrf_token

NOT_FOUND = "未找到。"
FORBIDDEN = "您没有执行该操作的权限。"
SERVER_ERROR = "服务器内部错误，请稍后重试。"


def _is_api(request) -> bool:
    return request.path.startswith("/api/")


def _json(detail: str, status: int) -> JsonResponse:
    return JsonResponse(
        {"detail": detail}, status=status, json_dumps_params={"ensure_ascii": False}
    )


@requires_csrf_token
def page_not_found(request, exception=None):
    if _is_api(request):
        return _json(NOT_FOUND, 404)
    return HttpResponse(loader.render_to_string("404.html", request=request), status=404)


def _reason(exception) -> str:
    """The refusal's own Chinese message (``PermissionDenied("…")``), if it has one:
    people are told why (an approved figure, a locked cell), never an English internal."""
    text = str(exception or "")
    return text if any("\u4e00" <= ch <= "\u9fff" for ch in text) else ""


@requires_csrf_token
def permission_denied(request, exception=None):
    reason = _reason(exception)
    if _is_api(request):
        return _json(reason or FORBIDDEN, 403)
    html = loader.render_to_string("403.html", {"reason": reason}, request=request)
    return HttpResponse(html, status=403)


@requires_csrf_token
def server_error(request):
    if _is_api(request):
        return _json(SERVER_ERROR, 500)
    try:
        html = loader.render_to_string("500.html")
    except Exception:  # the error page itself must not fail
        html = "<h1>系统出错</h1><p>请稍后重试。</p>"
    return HttpResponseServerError(html)
