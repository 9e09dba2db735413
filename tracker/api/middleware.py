"""A query parameter of the API is given once: ``?year=1&year=2`` is a 400 in the one error
body, never a silent pick of the last value (which would let an invalid first value
through, and the schema has no list parameters)."""

from django.http import JsonResponse

API_PREFIX = "/api/"


class OneValueEach:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path_info.startswith(API_PREFIX):  # behind a prefix too
            repeated = [name for name, values in request.GET.lists() if len(values) > 1]
            if repeated:
                errors = [
                    {
                        "row": None,
                        "field": name,
                        "message": "该参数只能出现一次",
                        "code": "repeated",
                    }
                    for name in repeated
                ]
                detail = "；".join(f"{e['field']}：{e['message']}" for e in errors)
                return JsonResponse(
                    {"detail": detail, "errors": errors},
                    status=400,
                    json_dumps_params={"ensure_ascii": False},
                )
        return self.get_response(request)
