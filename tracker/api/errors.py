"""The API's one exception handler: every error answers with the one documented body,
``{"detail": "…"}`` in Chinese, plus ``"errors": [{"row", "field", "message", "code"}]``
when fields were at fault (``serializers.ErrorSerializer``, the schema's ``Error``).

DRF's field errors (``{"month": ["…"]}``) are turned into that list, the same shape as a
refused progress write, so a client reads every 400 the same way. With
``LANGUAGE_CODE = "zh-hans"`` most of DRF's messages are already translated; the JSON
parse error and the CSRF refusal are formatted in English by DRF, and Django's
``get_object_or_404`` says "No Project matches the given query.", so they are replaced
here.
"""

from django.core.exceptions import SuspiciousOperation
from django.http import Http404
from rest_framework import exceptions
from rest_framework.views import exception_handler as drf_exception_handler

TOO_MUCH = "请求内容过大或字段过多，未做任何修改；请分批提交。"
PARSE_ERROR = "请求内容不是有效的 JSON，无法解析。请检查格式（如引号、逗号、括号）后重试。"
CSRF_FAILED = (
    "CSRF 校验失败：请刷新页面后重试。脚本或其他系统调用接口请使用 Bearer 令牌"
    "（POST /api/v1/auth/token/），不要使用浏览器会话。"
)
NON_FIELD = {"non_field_errors", "detail"}
SHOWN = 3  # field problems spelled out in ``detail``


def exception_handler(exc, context):
    if isinstance(exc, Http404) and str(exc).isascii():
        exc = exceptions.NotFound()  # DRF's own text, translated: 未找到。
    elif isinstance(exc, exceptions.ParseError) and str(exc.detail).startswith("JSON parse error"):
        exc = exceptions.ParseError(PARSE_ERROR)
    elif isinstance(exc, exceptions.PermissionDenied) and str(exc.detail).startswith("CSRF Failed"):
        exc = exceptions.PermissionDenied(CSRF_FAILED, code="csrf_failed")
    elif isinstance(exc, SuspiciousOperation):  # too many fields, a body too big: still JSON
        exc = exceptions.ParseError(TOO_MUCH)
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(exc, exceptions.ValidationError):
        response.data = validation_body(exc.detail)
    return response


def validation_body(detail) -> dict:
    """``{"detail", "errors"}`` from a ``ValidationError``'s nested detail."""
    errors = list(_flatten(detail, ()))
    if not errors:
        return {"detail": "请求有误", "errors": []}
    shown = [f"{e['field']}：{e['message']}" if e["field"] else e["message"] for e in errors]
    text = "；".join(shown[:SHOWN])
    if len(shown) > SHOWN:
        text += f"（共 {len(shown)} 处问题）"
    return {"detail": text, "errors": errors}


def _flatten(detail, path):
    if isinstance(detail, dict):
        for key, value in detail.items():
            yield from _flatten(value, (*path, key))
    elif isinstance(detail, list | tuple):
        nested = any(isinstance(item, dict | list) for item in detail)
        for index, item in enumerate(detail):
            yield from _flatten(item, (*path, index) if nested else path)
    else:
        yield _entry(path, detail)


def _entry(path, message) -> dict:
    """One problem: ``rows.2.value`` is row 3, field ``value``."""
    row = None
    names = []
    for part in path:
        if isinstance(part, int):
            row, names = part + 1, []
        elif part not in NON_FIELD:
            names.append(str(part))
    return {
        "row": row,
        "field": ".".join(names),
        "message": str(message),
        "code": str(getattr(message, "code", None) or "invalid"),
    }
