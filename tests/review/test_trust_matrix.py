"""Every write path asks the state machine: probed from the URLconf and the admin actions
(issue 30), the way the permission matrix is (``tests/accounts/test_permission_matrix``),
so a path nobody remembered is probed too.

Every named and unnamed URL pattern of the admin, the API and the dashboard is filled with
the ids of a **frozen** figure (approved June, then locked May: its report, its review
row, its month, its 佐证材料, its 原因说明) and posted, as each persona who could write
it if it were not frozen (the district, both lead agencies, 督查室), with bodies aimed at
that cell: a changed value, a correction with a reason, a file, every admin action on the
selected row (delete, unlock…), the history revert. API routes get POST, PUT, PATCH and
DELETE (JSON, and a multipart file for POSTs); Django views, which write only on POST, get
a POST per action. After each request (rolled back) the frozen figures, their evidence and
explanation must be as before, the figure the lead agency edited itself must not be
approved (four eyes), and no request may fail with a 5xx.
"""

from __future__ import annotations

import itertools
import json
import os

import pytest
import time_machine
from django.contrib import admin
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.test import Client
from django.urls import reverse

from tests.accounts.test_permission_matrix import _SuperRequest, enumerate_urls
from tests.accounts.test_permission_matrix import model_for as matrix_model_for
from tests.review.trust_world import PDF, TODAY, build, snapshot
from tracker.months import format_month

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        os.environ.get("DATABASE_URL", "").startswith("postgres"),
        reason="与权限矩阵一样只在 SQLite 轮次运行一次（数千个请求）",
    ),
]

WRITERS = ("district_a_user", "agency_a_user", "agency_b_user", "supervisor")
API_METHODS = ("POST", "PUT", "PATCH", "DELETE")
API_MODELS = {"attachment": "attachment", "review": "cellreview", "submission": "monthsubmission",
              "explanation": "explanation", "progress": "progressreport"}  # fmt: skip


def model_for(name: str) -> str | None:
    if name.startswith("api:"):
        base = name.removeprefix("api:").rsplit("-", 1)[0]
        if base in API_MODELS:
            return API_MODELS[base]
    return matrix_model_for(name)


def targets(world, report):
    """The objects of the cell ``report`` is: what the URL ids and the selections name."""
    review_row = world.review_of(report)
    objects = {
        "progressreport": report,
        "cellreview": review_row,
        "monthsubmission": review_row.submission,
        "attachment": report.attachments.first(),
        "explanation": world.explanation,
        "indicator": report.indicator,
        "project": report.indicator.project,
        "district": report.district,
    }
    return {k: v for k, v in objects.items() if v is not None}


def fill(name, params, objects, report):
    obj = objects.get(model_for(name) or "")
    values = {
        "object_id": (obj or report).pk,
        "pk": (obj or report).pk,
        "code": report.district.code,
        "indicator_id": report.indicator_id,
        "district_id": report.district_id,
        "seq": report.indicator.project.seq,
        "month": format_month(report.month),
        "format": "json",
        "app_label": "tracker",
        "content_type_id": 1,
        "id": 1,
        "token_key": "x",
    }
    kwargs = {}
    for param in sorted(params):
        if param == "version_id":  # the history revert: the figure's first version
            target = obj if obj is not None and hasattr(obj, "history") else report
            kwargs[param] = target.history.order_by("history_id").first().history_id
        else:
            kwargs[param] = values.get(param, "1")
    if name.endswith("_simple_history"):
        return reverse(name, args=[kwargs["object_id"], kwargs["version_id"]])
    return reverse(name, kwargs=kwargs)


def fill_route(route, report):
    if route == "admin/(?P<url>.*)$":
        return f"/admin/tracker/progressreport/{report.pk}/x/"
    import re  # only unnamed routes need it

    return "/" + re.sub(r"<(?:\w+:)?object_id>", str(report.pk), route)


def form_bodies(name, objects, report):
    """Form fields of every tracker form and page, aimed at the frozen cell."""
    i, d, m = report.indicator_id, report.district_id, format_month(report.month)
    key = f"{i}-{d}"
    form = {
        "post": "yes", "indicator": i, "district": d, "month": m, "value": "0", "note": "绕过",
        "is_correction": "on", "correction_reason": "绕过审核", "confirmed": "on",
        "expected_version": report.version, f"value-{d}": "0", f"version-{d}": report.version,
        f"correction-{d}": "on", f"reason-{d}": "绕过", f"confirm-{d}": "on",
        f"value-{key}": "0", f"version-{key}": report.version, f"correction-{key}": "on",
        f"reason-{key}": "绕过", f"confirm-{key}": "on", "reason": "绕过审核", "measures": "绕过",
        "catch_up_by": "2024-12-31", "do": "approve",
        "cell": objects["cellreview"].pk, "submission": objects["monthsubmission"].pk,
    }  # fmt: skip
    bodies = [form, {**form, "do": "return"}] if name == "dashboard:review_act" else [form]
    model = next(
        (m for m in admin.site._registry if name == f"admin:{m._meta.app_label}_"
         f"{m._meta.model_name}_changelist"), None,
    )  # fmt: skip
    if model is None:
        return bodies
    obj = objects.get(model._meta.model_name)
    selected = [obj.pk] if obj is not None else []
    actions = list(admin.site._registry[model].get_actions(_SuperRequest())) or ["delete_selected"]
    return [{**form, "action": a, "_selected_action": selected, "index": "0"} for a in actions]


def api_bodies(report):
    d = report.district_id
    body = {
        "indicator": report.indicator_id, "district": d, "month": format_month(report.month),
        "value": "0", "note": "绕过", "version": report.version, "is_correction": True,
        "correction_reason": "绕过审核", "confirmed": True, "reason": "绕过审核",
        "measures": "绕过", "catch_up_by": "2024-12-31",
        "rows": [{"district": d, "value": "0", "is_correction": True,
                  "correction_reason": "绕过审核", "version": report.version}],
    }  # fmt: skip
    return [("json", json.dumps(body)), ("multipart", {"report": report.pk, "name": "b.pdf"})]


def test_every_write_path_asks_the_state_machine(personas, settings, media_root):
    p = personas
    with time_machine.travel(TODAY, tick=False):
        world = build(p)
        before = snapshot(world)
        urls, unnamed = enumerate_urls()
        requests, broken, errors = 0, [], []
        passes = [(world.approved, WRITERS), (world.locked, WRITERS),
                  (world.self_edited, ("agency_a_user",))]  # four eyes: its own edit  # fmt: skip
        for report, writers in passes:
            objects = targets(world, report)
            routes = [(n, fill(n, ps, objects, report)) for n, ps, _ in urls] + [
                (r, fill_route(r, report)) for r, _ in unnamed
            ]
            query = (
                f"?indicator={report.indicator_id}&district={report.district_id}"
                f"&month={format_month(report.month)}"
            )
            for who in writers:
                user = getattr(p, who)
                client = Client(raise_request_exception=False)
                client.force_login(user)
                for n, (name, url) in enumerate(routes):
                    api = url.startswith("/api/")
                    if api:
                        probes = list(itertools.product(API_METHODS, api_bodies(report)))
                        probes = [(m, b) for m, b in probes if m == "POST" or b[0] == "json"]
                    else:
                        probes = [("POST", ("form", b)) for b in form_bodies(name, objects, report)]
                    for method, (kind, body) in probes:
                        client.defaults["REMOTE_ADDR"] = f"10.2.{n % 250}.{requests % 250 + 1}"
                        with transaction.atomic():
                            if kind == "multipart":
                                upload = SimpleUploadedFile("b.pdf", PDF)
                                response = client.post(url + query, {**body, "file": upload})
                            elif kind == "json":
                                response = client.generic(
                                    method, url + query, body, content_type="application/json"
                                )
                            else:
                                response = client.post(url + query, body)
                            after = snapshot(world)
                            transaction.set_rollback(True)
                        requests += 1
                        if "logout" in name:
                            client.force_login(user)
                        where = (who, method, url, kind, str(body)[:40], response.status_code)
                        if response.status_code >= 500 and response.status_code != 503:
                            errors.append(where)
                        if after != before:
                            broken.append(where)
    print(f"\ntrust matrix: {requests} requests, {len(broken)} bypasses, {len(errors)} 5xx")
    assert requests > 1000
    assert errors == [], errors[:20]
    assert broken == [], broken[:20]


@pytest.fixture
def media_root(settings, tmp_path, monkeypatch):
    settings.MEDIA_ROOT = tmp_path / "media"
    monkeypatch.setenv("TRACKER_CHROMIUM", "/nonexistent/chromium")  # PDF: 503, not a print
