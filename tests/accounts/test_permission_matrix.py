"""The permission matrix, derived from the URLconf (issue 13).

Every URL pattern of the admin, the API and the dashboard is enumerated from
``config.urls`` — a view added tomorrow is probed without anyone listing it. Its ids are
filled with objects of *another owner* (B: 卫健委's indicator in 萧山区, and 萧山区's
rows), and every method is tried as each persona: 督查室, two agencies, two districts,
a user without a role, anonymous, and anonymous in published read-only mode.

A **leak** is, for a persona who may not see B's rows (民政局, 上城区, no role,
anonymous with or without public mode):

- a response that contains one of B's secret markers (texts only B's rows carry), or
- a write that changed B's rows or added one for B (compared after each write, inside
  a savepoint that is rolled back, with B's rows as they were before the first probe).

Any 5xx, for any persona, is a failure too. The counts are printed and written to the
README (section 权限矩阵).
"""

from __future__ import annotations

import itertools
import json
import os
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

import pytest
import time_machine
from axes.models import AccessAttempt
from django.contrib import admin
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from knox.models import AuthToken

from tests.factories import MilestoneFactory, make_user
from tracker.accounts.models import Role, UserProfile
from tracker.monitoring.models import LagAlert, LagEvaluation
from tracker.notifications.models import Contact, Delivery, Notification
from tracker.plans.models import Milestone, Quota
from tracker.progress.models import MilestoneCompletion, ProgressReport
from tracker.supervision.models import SupervisionEvent, SupervisionItem

# ~13,000 requests: run once, in the SQLite pass. The rules it probes are queryset filters
# and view checks that do not depend on the database; the PostgreSQL pass runs the scoping
# tests of each area (test_permissions, test_api_permissions, test_security_*) instead.
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        os.environ.get("DATABASE_URL", "").startswith("postgres"),
        reason="权限矩阵只在 SQLite 轮次运行一次（约 13,000 个请求）",
    ),
]

SECRET = "机密B"
SECRET_NUMBER = "987654"
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
ALLOWED_TO_SEE_B = {"supervisor", "agency_b_user", "district_b_user", "leader"}
PERSONAS = ("supervisor", "agency_a_user", "agency_b_user", "district_a_user",
            "district_b_user", "outsider", "anonymous", "anonymous_public",
            # issue 30: read-only leaders; 分管市领导 of project A only, 民政局's 分管领导
            "leader", "city_leader", "agency_leader")  # fmt: skip


def enumerate_urls():
    """(namespaced name, parameter names, prefix) of every named pattern under
    admin/, api/ and the dashboard; unnamed patterns are counted separately."""
    found, unnamed = [], []

    def walk(patterns, namespace, params, prefix):
        for p in patterns:
            groups = set(p.pattern.regex.groupindex)
            if isinstance(p, URLResolver):
                ns = ":".join(filter(None, [namespace, p.namespace]))
                walk(p.url_patterns, ns, params | groups, prefix + str(p.pattern))
            elif isinstance(p, URLPattern):
                if p.name is None:  # e.g. the admin's <id>/ → <id>/change/ redirect
                    unnamed.append((prefix + str(p.pattern), frozenset(params | groups)))
                    continue
                name = f"{namespace}:{p.name}" if namespace else p.name
                if p.pattern.regex.groups > len(groups):  # positional groups
                    if not name.endswith("_simple_history"):
                        raise AssertionError(f"positional groups in {prefix}{p.pattern}")
                    groups = {"object_id", "version_id"}
                found.append((name, frozenset(params | groups), prefix + str(p.pattern)))

    walk(get_resolver().url_patterns, "", frozenset(), "")
    return sorted(set(found)), unnamed


@dataclass
class World:
    ids: dict
    objects: dict = field(default_factory=dict)
    secrets: tuple = (SECRET, SECRET_NUMBER, "987,654")


def build_world(p) -> World:
    """B's rows, each carrying a secret marker."""
    quota = Quota.objects.get(indicator=p.indicator_b, district=p.district_b)
    quota.value = Decimal(SECRET_NUMBER)
    quota.save()
    report = ProgressReport.objects.create(
        indicator=p.indicator_b, district=p.district_b, month=date(2024, 6, 1), value=7,
        note=f"{SECRET}-进度",
    )  # fmt: skip
    milestone = MilestoneFactory(
        indicator=p.indicator_b, kind=Milestone.Kind.QUALITATIVE, text="确定点位"
    )
    completion = MilestoneCompletion.objects.create(
        milestone=milestone, district=p.district_b, done=True, done_on=date(2024, 6, 3),
        note=f"{SECRET}-节点",
    )  # fmt: skip
    alert = LagAlert.objects.create(
        indicator=p.indicator_b, district=p.district_b, month=date(2024, 6, 1),
        kind=LagAlert.Kind.LAG, severity=LagAlert.Severity.RED, message=f"{SECRET}-预警",
    )  # fmt: skip
    evaluation = LagEvaluation.objects.create(
        indicator=p.indicator_b, district=p.district_b, month=date(2024, 6, 1),
        status="behind", quota=Decimal(SECRET_NUMBER), expected=Decimal(SECRET_NUMBER),
    )  # fmt: skip
    contact = Contact.objects.create(
        name=f"{SECRET}-联系人", role="district", district=p.district_b, email="b@example.com"
    )
    notification = Notification.objects.create(
        contact=contact, month=date(2024, 6, 1), run_number=1, subject=f"{SECRET}-通知",
        body=SECRET,
    )  # fmt: skip
    delivery = Delivery.objects.create(
        notification=notification, channel="email", address="b@example.com",
        last_error=f"{SECRET}-发送",
    )  # fmt: skip
    profile = UserProfile.objects.get(user=p.district_b_user)
    profile.phone = f"{SECRET}-电话"
    profile.save()
    lock = AccessAttempt.objects.create(
        username=f"{SECRET}-账号", ip_address="10.6.6.6", user_agent="x", get_data="",
        post_data="", http_accept="", path_info="/admin/login/", failures_since_start=1,
    )  # fmt: skip
    token, _ = AuthToken.objects.create(user=p.district_b_user)
    item = SupervisionItem.objects.create(  # 挂牌督办 (issue 32), 交办'd to 萧山区
        indicator=p.indicator_b, district=p.district_b, month=date(2024, 6, 1),
        deadline=date(2024, 8, 31), note=f"{SECRET}-督办",
    )  # fmt: skip
    SupervisionEvent.objects.create(
        item=item, action="assign", new_state="assigned", month=date(2024, 7, 1),
        why=f"{SECRET}-交办",
    )  # fmt: skip
    objects = {
        "quota": quota, "progressreport": report, "milestone": milestone,
        "milestonecompletion": completion, "lagalert": alert, "lagevaluation": evaluation,
        "contact": contact, "notification": notification, "delivery": delivery,
        "userprofile": profile, "accessattempt": lock, "indicator": p.indicator_b,
        "project": p.project_b, "district": p.district_b, "agency": p.agency_b,
        "category": p.project_b.category, "planyear": p.project_b.plan_year,
        "user": p.district_b_user, "authtoken": token, "supervisionitem": item,
    }  # fmt: skip
    return World(ids={"token_key": token.token_key}, objects=objects)


def add_leaders(p):
    """市领导, 分管市领导 王明 (project A only) and 民政局's 分管领导 (agency A) as personas."""
    p.project_a.city_leader = "王明"
    p.project_a.save()
    p.leader = make_user("shilingdao", Role.LEADER)
    p.city_leader = make_user("wangming", Role.CITY_LEADER, leader_name="王明")
    p.agency_leader = make_user("minzheng_fg", Role.AGENCY_LEADER, agency=p.agency_a)


def fingerprint(p):
    """Everything of B's that a leak could change."""
    rows = []
    for qs in (
        Quota.objects.filter(indicator=p.indicator_b, district=p.district_b),
        ProgressReport.objects.filter(district=p.district_b),
        MilestoneCompletion.objects.filter(district=p.district_b),
        LagAlert.objects.filter(district=p.district_b),
        Contact.objects.filter(district=p.district_b),
        Delivery.objects.all(),
        UserProfile.objects.filter(user=p.district_b_user),
        AccessAttempt.objects.filter(username__startswith=SECRET),  # not the probes' own
        AuthToken.objects.filter(user=p.district_b_user),
        SupervisionItem.objects.filter(district=p.district_b),
        SupervisionEvent.objects.filter(item__district=p.district_b),
    ):
        rows.append(sorted(map(repr, qs.values())))
    rows.append(ProgressReport.history.filter(district=p.district_b).count())
    rows.append(LagAlert.history.filter(district=p.district_b).count())
    return rows


def model_for(name: str) -> str | None:
    """'admin:tracker_progressreport_change' → 'progressreport'; 'api:alert-detail' → …"""
    if name.startswith("admin:"):
        for model in admin.site._registry:
            prefix = f"admin:{model._meta.app_label}_{model._meta.model_name}_"
            if name.startswith(prefix):
                return model._meta.model_name
        return None
    api = {"progress": "progressreport", "alert": "lagalert", "quota": "quota",
           "project": "project", "indicator": "indicator", "district": "district",
           "agency": "agency", "category": "category", "planyear": "planyear",
           "authtoken": "authtoken", "supervision-item": "supervisionitem"}  # fmt: skip
    base = name.removeprefix("api:").rsplit("-", 1)[0]
    return api.get(base)


def fill_route(route, world, p):
    """An unnamed pattern: substitute ``<conv:name>`` in its route."""
    import re

    if route == "admin/(?P<url>.*)$":  # the admin's catch-all (unknown admin URLs)
        return f"/admin/tracker/progressreport/{world.objects['progressreport'].pk}/x/"
    parts = route.split("/")
    obj = world.objects.get(parts[2] if len(parts) > 3 else "")
    path = re.sub(r"<(?:\w+:)?object_id>", str(obj.pk if obj else 1), route)
    assert "<" not in path, route
    return "/" + path


def fill(name, params, world, p):
    obj = world.objects.get(model_for(name) or "")
    values = {
        "object_id": obj.pk if obj is not None else world.objects["progressreport"].pk,
        "pk": obj.pk if obj is not None else 1,
        "token_key": world.ids["token_key"],
        "code": p.district_b.code,
        "indicator_id": p.indicator_b.pk,
        "district_id": p.district_b.pk,
        "seq": p.project_b.seq,
        "month": "2024-06",
        "format": "json",
        "app_label": "tracker",
        "content_type_id": 1,
        "id": p.district_b_user.pk,
    }
    kwargs = {}
    positional = name.endswith("_simple_history")
    for param in sorted(params):
        if param == "version_id":
            target = obj if obj is not None and hasattr(obj, "history") else None
            target = target or world.objects["progressreport"]
            kwargs[param] = target.history.order_by("-history_id").first().history_id
        elif param in values:
            kwargs[param] = values[param]
        else:
            kwargs[param] = "1"
    if positional:
        return reverse(name, args=[kwargs["object_id"], kwargs["version_id"]])
    return reverse(name, kwargs=kwargs)


def bodies(name, world, p):
    """Form bodies for a write: the fields of every tracker form, aimed at B."""
    form = {"post": "yes", "indicator": p.indicator_b.pk, "district": p.district_b.pk,
            "milestone": world.objects["milestone"].pk, "month": "2024-05", "value": "1",
            "note": "泄露", "done": "on", "done_on": "2024-05-31", "expected_version": "1",
            "acknowledgement_note": "泄露", "name": "泄露", "role": "district",
            "email": "leak@example.com", "is_active": "on", "username": "x", "password": "y",
            "phone": "泄露", "failures_since_start": "0", f"value-{p.district_b.pk}": "3",
            f"note-{p.district_b.pk}": "泄露", f"done-{p.district_b.pk}": "on",
            f"date-{p.district_b.pk}": "2024-05-31"}  # fmt: skip
    if not name.endswith("_changelist"):
        return [form]
    model = next(
        (m for m in admin.site._registry if name == f"admin:{m._meta.app_label}_"
         f"{m._meta.model_name}_changelist"), None,
    )  # fmt: skip
    if model is None:
        return [form]
    obj = world.objects.get(model._meta.model_name)
    selected = [obj.pk] if obj is not None else []
    actions = list(admin.site._registry[model].get_actions(_SuperRequest())) or ["delete_selected"]
    return [{**form, "action": a, "_selected_action": selected, "index": "0"} for a in actions]


class _SuperRequest:
    """get_actions needs a request; list every action any user could have."""

    class user:
        is_superuser = is_active = is_authenticated = is_staff = True
        pk = 0

        @staticmethod
        def has_perm(*args):
            return True

    GET: dict = {}
    POST: dict = {}


def api_body(world, p):
    return {"indicator": p.indicator_b.pk, "district": p.district_b.pk, "month": "2024-05",
            "value": "1", "note": "泄露", "version": 1, "rows": [
                {"district": p.district_b.pk, "value": "1"}]}  # fmt: skip


@dataclass
class Tally:
    requests: int = 0
    leaks: list = field(default_factory=list)
    errors: list = field(default_factory=list)


def _login(client, who, p):
    if who not in ("anonymous", "anonymous_public"):
        client.force_login(getattr(p, who))


def test_urlconf_permission_matrix(personas, settings, capsys, monkeypatch):
    p = personas
    monkeypatch.setenv("TRACKER_CHROMIUM", "/nonexistent/chromium")  # PDF: 503, not a print
    with time_machine.travel(date(2024, 7, 20), tick=False):
        add_leaders(p)
        world = build_world(p)
        patterns, unnamed = enumerate_urls()
        tally = Tally()
        counter = itertools.count()
        targets_by_name = [(n, fill(n, ps, world, p)) for n, ps, _ in patterns] + [
            (route, fill_route(route, world, p)) for route, _ in unnamed
        ]
        # Every probe runs in a savepoint that is rolled back, so B's rows must read the
        # same before each write as at the start: taken once, compared after every write
        # (a change that outlived its rollback then shows on every later write too).
        before = fingerprint(p)
        for who in PERSONAS:
            settings.TRACKER = {**settings.TRACKER, "PUBLIC_READ_ONLY": who == "anonymous_public"}
            checked = who not in ALLOWED_TO_SEE_B
            client = Client(raise_request_exception=False)
            _login(client, who, p)
            for name, url in targets_by_name:
                query = f"?indicator={p.indicator_b.pk}&district={p.district_b.pk}&month=2024-06"
                api = url.startswith("/api/")
                for method in METHODS:
                    targets = [url, url + query] if method == "GET" else [url + query]
                    if method == "GET":
                        payloads = [None]
                    elif api:
                        payloads = [json.dumps(api_body(world, p))]
                    else:
                        payloads = bodies(name, world, p)
                    for target, payload in itertools.product(targets, payloads):
                        n = next(counter)  # a new address each time: no throttle interferes
                        client.defaults["REMOTE_ADDR"] = f"10.1.{n // 250}.{n % 250 + 1}"
                        with transaction.atomic():
                            if method == "GET":
                                response = client.get(target)
                            elif api:
                                response = client.generic(
                                    method, target, payload, content_type="application/json"
                                )
                            elif method == "POST":
                                response = client.post(target, payload)
                            else:
                                response = client.generic(method, target)
                            after = fingerprint(p) if method != "GET" and checked else before
                            transaction.set_rollback(True)
                        tally.requests += 1
                        if "logout" in name:  # logged out by the probe: log in again
                            _login(client, who, p)
                        where = (who, method, target, payload and str(payload)[:60])
                        # 503 is the PDF's designed answer without Chromium (patched away above)
                        if response.status_code >= 500 and response.status_code != 503:
                            tally.errors.append((*where, response.status_code))
                        if not checked:
                            continue
                        body = b"".join(getattr(response, "streaming_content", [])) if getattr(
                            response, "streaming", False) else response.content  # fmt: skip
                        text = body.decode("utf-8", "replace")
                        if any(s in text for s in world.secrets) or (
                            world.ids["token_key"] in text
                        ):
                            tally.leaks.append((*where, "read", response.status_code))
                        if before != after:
                            tally.leaks.append((*where, "write", response.status_code))
    counts = {
        "patterns": len(patterns) + len(unnamed),
        "personas": len(PERSONAS),
        "methods": len(METHODS),
        "requests": tally.requests,
        "leaks": len(tally.leaks),
        "server_errors": len(tally.errors),
    }
    with capsys.disabled():
        print("\npermission matrix:", json.dumps(counts))
        for line in tally.leaks + tally.errors:
            print("  ", line)
    assert tally.errors == [], tally.errors[:20]
    assert tally.leaks == [], tally.leaks[:20]
