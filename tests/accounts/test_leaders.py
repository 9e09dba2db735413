"""Leaders (issue 30): 市领导 reads everything, 分管市领导 and 牵头单位分管领导 their own
projects, all read-only. Derived from the URLconf like the permission matrix: a leader
reads every page and export the supervision office reads, and every write (every URL,
every method, every admin action) is refused and changes nothing. A user without a role
sees a page saying so, with a logout."""

from __future__ import annotations

import itertools
import json
from datetime import date

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext

from tests.accounts.test_permission_matrix import (
    METHODS,
    api_body,
    bodies,
    build_world,
    enumerate_urls,
    fill,
    fill_route,
)
from tests.factories import make_user
from tracker.accounts.models import Role, UserProfile
from tracker.accounts.permissions import Action, allowed, restrict, scope_for
from tracker.monitoring.models import LagEvaluation
from tracker.plans.models import Project
from tracker.progress.models import ProgressReport


@pytest.fixture
def leaders(personas):
    p = personas
    p.project_a.city_leader = "王明、李华"
    p.project_a.save()
    p.project_b.city_leader = "王明华"  # not 王明's: names match whole
    p.project_b.save()
    return {
        "leader": make_user("shilingdao", Role.LEADER),
        "city_leader": make_user("wangming", Role.CITY_LEADER, leader_name="王明"),
        "agency_leader": make_user("minzheng_fg", Role.AGENCY_LEADER, agency=p.agency_a),
    }


def test_each_leader_sees_its_own_projects_and_may_only_read(personas, leaders):
    p = personas
    for indicator in (p.indicator_a, p.indicator_b):
        ProgressReport.objects.create(indicator=indicator, district=p.district_b,
                                      month=date(2024, 6, 1), value=3)  # fmt: skip
    seen = {
        who: set(restrict(user, Action.VIEW, Project.objects.all()).values_list("seq", flat=True))
        for who, user in leaders.items()
    }
    assert seen == {"leader": {1, 2}, "city_leader": {1}, "agency_leader": {1}}
    reports = restrict(leaders["city_leader"], Action.VIEW, ProgressReport.objects.all())
    assert {r.indicator for r in reports} == {p.indicator_a}
    for user in leaders.values():
        assert allowed(user, Action.VIEW, ProgressReport)
        assert allowed(user, Action.EXPORT, LagEvaluation)
        for action in set(Action) - {Action.VIEW, Action.EXPORT}:
            assert not allowed(user, action, ProgressReport), action
            assert not restrict(user, action, ProgressReport.objects.all()).exists()
        scope = scope_for(user)
        assert scope.is_leader and not scope.can_report(p.indicator_a, p.district_a)


def test_leader_profiles_are_checked_like_the_other_roles(personas):
    user = make_user("someone")
    profile = UserProfile(user=user, role=Role.CITY_LEADER)
    with pytest.raises(ValidationError, match="分管市领导必须填写姓名"):
        profile.full_clean()
    profile = UserProfile(user=user, role=Role.AGENCY_LEADER)
    with pytest.raises(ValidationError, match="牵头单位分管领导必须选择所属单位"):
        profile.full_clean()
    profile = UserProfile(user=user, role=Role.LEADER, agency=personas.agency_a)
    with pytest.raises(ValidationError, match="只有牵头单位用户和牵头单位分管领导"):
        profile.full_clean()
    UserProfile.objects.create(user=user, role=Role.LEADER)
    assert user.groups.filter(name="市领导").exists()  # the role's group, view perms only
    assert not user.groups.get(name="市领导").permissions.exclude(codename__startswith="view_")


#: not writes to the tracker's data: logging in and out, one's own password and tokens
WRITE_ALLOWED = ("dashboard:logout", "dashboard:login", "admin:logout", "admin:login",
                 "admin:password_change", "api:token", "api:authtoken-")  # fmt: skip


def test_a_leader_reads_every_page_and_is_refused_every_write(personas, leaders, monkeypatch):
    """Every named URL of the admin, the API and the dashboard, filled with B's rows: 市领导
    gets what 督查室 gets on every GET (pages and exports alike, the supervision office's
    own tools excepted); no leader's write of any method changes anything."""
    p = personas
    monkeypatch.setenv("TRACKER_CHROMIUM", "/nonexistent/chromium")
    with time_machine.travel(date(2024, 7, 20), tick=False):
        world = build_world(p)
        patterns, unnamed = enumerate_urls()
        targets = [(n, fill(n, ps, world, p)) for n, ps, _ in patterns] + [
            (route, fill_route(route, world, p)) for route, _ in unnamed
        ]
        reads = {}
        for who, user in (("supervisor", p.supervisor), ("leader", leaders["leader"])):
            client = Client(raise_request_exception=False)
            client.force_login(user)
            for name, url in targets:
                if name.startswith("admin:") or "logout" in name:
                    continue
                reads[who, name] = client.get(url).status_code
        differ = sorted(
            (name, reads["supervisor", name], reads["leader", name])
            for (who, name) in reads
            if who == "leader" and reads["supervisor", name] != reads["leader", name]
        )
        # the only page a leader does not get is the upload form, which only writes
        assert differ == [("dashboard:report_upload", 200, 403)], differ
        pages = [n for (w, n), s in reads.items() if w == "leader" and s == 200]
        assert {"dashboard:overview", "dashboard:matrix", "dashboard:notice_xlsx",
                "dashboard:review_month", "dashboard:my_work"} <= set(pages)  # fmt: skip

        accepted = []
        counter = itertools.count()
        for who, user in leaders.items():
            client = Client(raise_request_exception=False)
            client.force_login(user)
            for name, url in targets:
                if name.startswith(WRITE_ALLOWED):
                    continue
                api = url.startswith("/api/")
                for method in METHODS[1:]:
                    payloads = [json.dumps(api_body(world, p))] if api else bodies(name, world, p)
                    for payload in payloads:
                        n = next(counter)
                        client.defaults["REMOTE_ADDR"] = f"10.2.{n // 250}.{n % 250 + 1}"
                        with transaction.atomic(), CaptureQueriesContext(connection) as queries:
                            if api:
                                response = client.generic(
                                    method, url, payload, content_type="application/json"
                                )
                            elif method == "POST":
                                response = client.post(url, payload)
                            else:
                                response = client.generic(method, url)
                            changed = [q["sql"][:80] for q in queries if _writes(q["sql"])]
                            transaction.set_rollback(True)
                        assert response.wsgi_request.user == user, (name, "logged out")
                        if changed or response.status_code >= 500:
                            accepted.append((who, method, url, response.status_code, changed))
        assert accepted == [], accepted[:20]


def _writes(sql: str) -> bool:
    """A statement that writes a tracker table or a user (attempted, even if rolled back)."""
    head = sql.lstrip().upper()[:200]
    if not head.startswith(("INSERT", "UPDATE", "DELETE")):
        return False
    return '"TRACKER_' in head or '"AUTH_' in head or '"KNOX_' in head


def test_a_user_without_a_role_is_told_so_and_can_log_out(personas, client):
    client.force_login(personas.outsider)
    response = client.get("/")
    html = response.content.decode()
    assert response.status_code == 403
    assert "尚未分配角色" in html and "outsider" in html
    assert "公开只读" not in html and 'id="no-role-logout"' in html
    response = client.post("/accounts/logout/")
    assert client.get("/").status_code == 302  # logged out: to the login page
