"""DRF's exception handler with Chinese ``detail`` where DRF's own text stays English.

With ``LANGUAGE_CODE = "zh-hans"`` most of DRF's messages are already translated; the JSON
parse error and the CSRF refusal are formatted in English by DRF, and Django's
``get_object_or_404`` says "No Project matches the given query.", so they are replaced
here. The body keeps DRF's shape, ``{"detail": "…"}``.
"""

from django.http import Http404
from rest_framework import exceptions
from rest_framework.views import exception_handler as drf_exception_handler

PARSE_ERROR = "请求内容不是有效的 JSON，无法解析。请检查格式（如引号、逗号、括号）后重试。"
CSRF_FAILED = (
    "CSRF 校验失败：请刷新页面后重试。脚本或其他系统调用接口请使用 Bearer 令牌"
    "（POST /api/v1/auth/token/），不要使用浏览器会话。"
)


def exception_handler(exc, context):
    if isinstance(exc, Http404) and str(exc).isascii():
        exc = exceptions.NotFound()  # DRF's own text, translated: 未找到。
    elif isinstance(exc, exceptions.ParseError) and str(exc.detail).startswith("JSON parse error"):
        exc = exceptions.ParseError(PARSE_ERROR)
    elif isinstance(exc, exceptions.PermissionDenied) and str(exc.detail).startswith("CSRF Failed"):
        exc = exceptions.PermissionDenied(CSRF_FAILED, code="csrf_failed")
    return drf_exception_handler(exc, context)
