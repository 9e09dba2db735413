"""The admin permission matrix: five personas × eight actions on progress and plan data.

One progress row R (上城区 on 民政局's indicator) and one quota Q (the same cell of the
plan). ✓ = allowed and R/Q is there; everything else must be refused, whether through
the page, a crafted POST, a foreign-key choice or a file.
"""

import io
from datetime import date
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse
from openpyxl import load_workbook

from tracker.plans.models import Quota
from tracker.progress.models import ProgressReport
from tracker.progress.workbooks import export_breakdown, export_template

SUP, AG_A, AG_B = "supervisor", "agency_a_user", "agency_b_user"
DI_A, DI_B = "district_a_user", "district_b_user"
PERSONAS = (SUP, AG_A, AG_B, DI_A, DI_B)

# Who may do what on R (progress of indicator_a in 上城区).
PROGRESS = {
    "list": {SUP, AG_A, DI_A},
    "view": {SUP, AG_A, DI_A},
    "add": {SUP, AG_A, DI_B},  # a new row for 萧山区 on indicator_a
    "change": {SUP, AG_A, DI_A},
    "delete": {SUP},
    "history": {SUP, AG_A, DI_A},
    "export": {SUP, AG_A, DI_A},
    "import": {SUP, AG_A, DI_A},
}
# Who may do what on Q (the quota of indicator_a for 上城区).
PLAN = {
    "list": {SUP, AG_A, DI_A},
    "view": {SUP, AG_A, DI_A},
    "add": {SUP},
    "change": {SUP},
    "delete": {SUP},
    "history": {SUP, AG_A, DI_A},
    "export": {SUP, AG_A, DI_A},
}


@pytest.fixture
def world(personas):
    with time_machine.travel(date(2024, 7, 20), tick=False):
        p = personas
        report = ProgressReport.objects.create(
            indicator=p.indicator_a, district=p.district_a, month=date(2024, 6, 1), value=10
        )
        quota = Quota.objects.get(indicator=p.indicator_a, district=p.district_a)
        yield p, report, quota


def refused(response) -> bool:
    """Admin refusals: 403 (may see, may not act) or 404 (out of scope: as good as
    missing). A redirect is never counted as a refusal: it could be a success."""
    return response.status_code in (403, 404)


@pytest.mark.parametrize("action", PROGRESS)
@pytest.mark.parametrize("who", PERSONAS)
def test_progress_matrix(world, client, who, action):
    p, report, _ = world
    user = getattr(p, who)
    client.force_login(user)
    allowed = who in PROGRESS[action]
    a = "admin:tracker_progressreport"

    if action == "list":
        listed = client.get(reverse(f"{a}_changelist")).context["cl"].result_list
        assert (report in listed) is allowed
    elif action == "view":
        response = client.get(reverse(f"{a}_change", args=[report.pk]))
        assert response.status_code == 200 if allowed else refused(response)
    elif action == "add":
        form = {"indicator": p.indicator_a.pk, "district": p.district_b.pk, "month": "2024-07",
                "value": "3", "expected_version": "0"}  # fmt: skip
        client.post(reverse(f"{a}_add"), form)
        assert ProgressReport.objects.filter(district=p.district_b).exists() is allowed
    elif action == "change":
        form = {"indicator": p.indicator_a.pk, "district": p.district_a.pk, "month": "2024-06",
                "value": "12", "expected_version": "1"}  # fmt: skip
        client.post(reverse(f"{a}_change", args=[report.pk]), form)
        report.refresh_from_db()
        assert (report.value == Decimal(12)) is allowed
    elif action == "delete":
        response = client.post(reverse(f"{a}_delete", args=[report.pk]), {"post": "yes"})
        assert (not ProgressReport.objects.filter(pk=report.pk).exists()) is allowed
        if allowed:
            assert response["Location"] == reverse(f"{a}_changelist")
        else:
            assert refused(response)
    elif action == "history":
        response = client.get(reverse(f"{a}_history", args=[report.pk]))
        assert response.status_code == 200 if allowed else refused(response)
    elif action == "export":
        sheet = load_workbook(io.BytesIO(export_template(user, p.indicator_a, date(2024, 6, 1))))[
            "填报"
        ]
        codes = [row[0].value for row in sheet.iter_rows(min_row=4)]
        assert ("shangcheng" in codes) is allowed
    elif action == "import":
        data = export_template(p.supervisor, p.indicator_a, date(2024, 6, 1))
        wb = load_workbook(io.BytesIO(data))
        wb["填报"]["E4"] = 15  # 上城区's row only
        out = io.BytesIO()
        wb.save(out)
        out.name = "t.xlsx"
        out.seek(0)
        client.post(reverse(f"{a}_import"), {"file": out})
        report.refresh_from_db()
        assert (report.value == Decimal(15)) is allowed


@pytest.mark.parametrize("action", PLAN)
@pytest.mark.parametrize("who", PERSONAS)
def test_plan_matrix(world, client, who, action):
    p, _, quota = world
    user = getattr(p, who)
    client.force_login(user)
    allowed = who in PLAN[action]
    q = "admin:tracker_quota"

    if action == "list":
        listed = client.get(reverse(f"{q}_changelist")).context["cl"].result_list
        assert (quota in listed) is allowed
    elif action == "view":
        response = client.get(reverse(f"{q}_change", args=[quota.pk]))
        assert (response.status_code == 200) is allowed
    elif action == "add":
        response = client.get(reverse(f"{q}_add"))
        assert (response.status_code == 200) is allowed
        client.post(reverse(f"{q}_add"), {"indicator": p.indicator_b.pk,
                                          "district": p.district_a.pk, "value": "1"})  # fmt: skip
        # indicator_b already has a quota for 上城区: even the supervisor cannot duplicate it.
        assert Quota.objects.filter(indicator=p.indicator_b).count() == 2
    elif action == "change":
        form = {
            "indicator": p.indicator_a.pk,
            "district": p.district_a.pk,
            "value": "99",
            "change_reason": "更正",
        }  # fmt: skip  (plan edits carry a reason: issue 29)
        client.post(reverse(f"{q}_change", args=[quota.pk]), form)
        quota.refresh_from_db()
        assert (quota.value == Decimal(99)) is allowed
    elif action == "delete":
        client.post(reverse(f"{q}_delete", args=[quota.pk]), {"post": "yes", "change_reason": "删"})
        assert (not Quota.objects.filter(pk=quota.pk).exists()) is allowed
    elif action == "history":
        response = client.get(reverse(f"{q}_history", args=[quota.pk]))
        assert (response.status_code == 200) is allowed
    elif action == "export":
        ws = load_workbook(
            io.BytesIO(export_breakdown(user, p.project_a.plan_year, date(2024, 6, 1)))
        )["任务分解表"]
        header = [c.value for c in ws[2]]
        rows = [
            r for r in ws.iter_rows(min_row=4, values_only=True) if r[2] == "新增老年助餐服务点"
        ]
        shown = bool(rows) and "上城区" in header and rows[0][header.index("上城区")] == 50
        assert shown is allowed


def test_quota_change_by_the_supervisor_is_kept_in_history(world, client):
    p, _, quota = world
    client.force_login(p.supervisor)
    form = {
        "indicator": p.indicator_a.pk,
        "district": p.district_a.pk,
        "value": "60",
        "change_reason": "更正",
    }  # fmt: skip  (a plan edit needs a reason: issue 29)
    client.post(reverse("admin:tracker_quota_change", args=[quota.pk]), form)
    latest = quota.history.order_by("-history_id").first()
    assert (latest.value, latest.history_user) == (Decimal(60), p.supervisor)
    assert latest.history_change_reason == "更正"


def test_foreign_key_choices_are_scoped(world, client):
    p, _, _ = world
    client.force_login(p.district_a_user)
    form = client.get(reverse("admin:tracker_progressreport_add")).context["adminform"].form
    assert list(form.fields["district"].queryset) == [p.district_a]
    client.force_login(p.agency_b_user)
    form = client.get(reverse("admin:tracker_progressreport_add")).context["adminform"].form
    assert list(form.fields["indicator"].queryset) == [p.indicator_b]


def test_anonymous_and_role_less_users_get_nothing(world, client):
    p, report, _ = world
    url = reverse("admin:tracker_progressreport_change", args=[report.pk])
    response = client.get(url)
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    client.force_login(p.outsider)
    assert client.get(url).status_code == 403  # staff without a role: no scope, nothing
    assert client.get(reverse("admin:tracker_progressreport_grid")).status_code == 403
