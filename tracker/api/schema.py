"""The OpenAPI schema tells the truth about every answer (issue 28).

drf-spectacular documents what a view declares; this ``AutoSchema`` adds what every view
may answer besides, so the schema matches the responses (schemathesis ``--checks all`` in
``tests/api/test_api_fuzz.py``):

- a success response when an ``extend_schema(responses={…})`` lists only errors (a
  class-level one would otherwise replace the 200);
- that an optional query parameter left empty (``?district=``) counts as not given, as
  django-filter and the views read it (``allowEmptyValue``); pagination's are refused
  empty (``?page_size=`` is a 400, ``?page=`` a 404);
- the error responses, each with the one error body (``ErrorSerializer``): 400 where the
  operation takes parameters or a body, 401 (no or a bad token), 403 (no role, or not
  allowed), 404 (an id, a page or a month's results that are not there), 415 (a body in
  another content type), 429 (throttled).
"""

from __future__ import annotations

from drf_spectacular import openapi
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from rest_framework.permissions import AllowAny
from rest_framework.views import APIView

from tracker.api.filtering import NOT_FILTERS
from tracker.api.serializers import ErrorSerializer

ERRORS = {
    "400": "请求有误（参数、内容或业务规则），未做任何修改；errors 逐项列出字段问题",
    "401": "未登录，或令牌无效、已过期",
    "403": "无权访问：账号没有角色，或无权执行该操作",
    "404": "不存在，或不在您的职责范围内",
    "415": "请求内容的类型（Content-Type）不受支持",
    "429": "请求过于频繁，请稍后再试",
}


class AutoSchema(openapi.AutoSchema):
    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if not any(code.startswith("2") for code in responses):
            responses = {**self._default_success(direction), **responses}
        return responses

    def _default_success(self, direction) -> dict:
        """What drf-spectacular documents for the view when nothing is overridden."""
        serializer = self._get_serializer()
        if self.method == "DELETE":
            return {"204": {"description": "无内容"}}
        code = "201" if self._is_create_operation() else "200"
        return {code: self._get_response_for_code(serializer, code, direction=direction)}

    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        for parameter in operation.get("parameters", []):
            if (
                parameter["in"] == "query"
                and not parameter.get("required")
                and (
                    parameter["name"] not in NOT_FILTERS  # 「?page_size=」 is a 400
                )
            ):
                parameter["allowEmptyValue"] = True  # 「?district=」 is 「not given」 (a form)
        responses = operation["responses"]
        body = self.resolve_serializer(ErrorSerializer, "response").ref
        error = {"application/json": {"schema": body}}
        parameters = operation.get("parameters", [])
        takes_input = "requestBody" in operation or any(p["in"] == "query" for p in parameters)
        view = self.view
        public = any(issubclass(p, AllowAny) for p in getattr(view, "permission_classes", []))
        authenticates = bool(getattr(view, "authentication_classes", None)) and (
            type(view).perform_authentication is APIView.perform_authentication
        )  # /api/health/ reads no credentials
        wanted = {
            "400": takes_input,
            "401": authenticates,
            "403": not public,
            "404": not public,
            "415": "requestBody" in operation,
            "429": bool(getattr(view, "throttle_classes", None)),
        }
        for code, description in ERRORS.items():
            if code in responses:
                responses[code].setdefault("content", error)
                if not responses[code].get("description"):
                    responses[code]["description"] = description
            elif wanted[code]:
                responses[code] = {"description": description, "content": error}
        operation["responses"] = dict(sorted(responses.items()))
        return operation


#: the API's one number format (``tracker.api.fields.PlainDecimalField``, ``formats.plain``)
PLAIN_PATTERN = r"^-?(0|[1-9][0-9]*)(\.[0-9]*[1-9])?$"
PLAIN_FORMAT = (
    "纯十进制数字字符串：不用科学计数法、不补末尾的 0、不分千位，"
    '如 "20"、"8"、"1234.5"、"0.125"；原样提交回接口即可'
)


class PlainDecimalFieldExtension(OpenApiSerializerFieldExtension):
    """Every decimal the API writes is a plain decimal string; the schema says so (a
    pattern with no exponent and no trailing zeros). A request may still send
    「20.50」: it reads any decimal within the field's places."""

    target_class = "tracker.api.fields.PlainDecimalField"

    def map_serializer_field(self, auto_schema, direction):
        schema = auto_schema._map_serializer_field(self.target, direction, bypass_extensions=True)
        if direction == "response":
            schema["pattern"] = PLAIN_PATTERN  # described by ``describe_plain_decimals``
        return schema


def describe_plain_decimals(result, generator, request, public):
    """Postprocessing hook: every plain decimal's description says what the format is
    (after drf-spectacular has put a field's own help text there)."""
    for component in result.get("components", {}).get("schemas", {}).values():
        for prop in component.get("properties", {}).values():
            if prop.get("pattern") != PLAIN_PATTERN or PLAIN_FORMAT in prop.get("description", ""):
                continue
            own = prop.get("description")
            prop["description"] = f"{own}。{PLAIN_FORMAT}" if own else PLAIN_FORMAT
    return result
