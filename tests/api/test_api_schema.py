"""The schema tells the truth (issue 28), read from the generated OpenAPI document: every
operation documents its success and its errors in the one error body, nullable fields say
so, and every decimal is described as a plain decimal string. (schemathesis checks the
answers against it: ``test_api_fuzz.py``.)"""

import pytest
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from tracker.api.schema import PLAIN_PATTERN

ERROR = {"$ref": "#/components/schemas/Error"}


@pytest.fixture(scope="module")
def schema():
    return SchemaGenerator().get_schema(request=None, public=True)


def _operations(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            yield f"{method.upper()} {path}", operation


def test_every_operation_documents_its_success_and_errors(schema):
    operations = dict(_operations(schema))
    assert len(operations) >= 52
    for name, operation in operations.items():
        codes = set(operation["responses"])
        assert codes & {"200", "201", "204"}, name  # a class-level override hid none
        for code in codes - {"200", "201", "204", "503"}:
            if name.startswith("GET /api/health/"):
                continue
            content = operation["responses"][code].get("content", {})
            assert content["application/json"]["schema"] == ERROR, (name, code)
        if name != "POST /api/v1/auth/token/" and not name.startswith("GET /api/health/"):
            assert {"401", "403", "404", "429"} <= codes, name
    assert "200" in operations["GET /api/v1/projects/{id}/"]["responses"]
    assert "401" in operations["POST /api/v1/auth/token/"]["responses"]


def test_fields_that_come_back_null_are_nullable(schema):
    components = schema["components"]["schemas"]
    for component, field in [("Explanation", "written_by"), ("CellReview", "reviewed_by"),
                             ("MonthSubmission", "submitted_by"), ("Attachment", "uploaded_by"),
                             ("Quota", "column_label")]:  # fmt: skip
        assert components[component]["properties"][field].get("nullable") is True, field


def test_every_decimal_is_a_plain_decimal_string(schema):
    components = schema["components"]["schemas"]
    for name in ("Quota", "ScorecardLine", "LagAlert", "TrajectoryPoint"):
        decimals = [
            p for p in components[name]["properties"].values() if p.get("format") == "decimal"
        ]
        assert decimals, name
        for prop in decimals:
            assert prop["pattern"] == PLAIN_PATTERN and "纯十进制" in prop["description"]


def test_field_errors_come_in_the_documented_shape(personas):
    client = APIClient()
    client.force_authenticate(personas.supervisor)
    response = client.post(
        "/api/v1/progress/bulk/",
        {"indicator": personas.indicator_a.pk, "month": "2024-13",
         "rows": [{"district": personas.district_a.pk, "value": "1"}, {"value": "2"}]},
        format="json",
    )  # fmt: skip
    assert response.status_code == 400
    body = response.json()
    assert set(body) == {"detail", "errors"}
    assert {(e["row"], e["field"], e["code"]) for e in body["errors"]} == {
        (None, "month", "invalid"),
        (2, "district", "required"),
    }
    assert "月份格式应为 YYYY-MM" in body["detail"]
