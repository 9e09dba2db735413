"""Every plan admin page answers (200 or 302, never 500), derived from the admin site's
registered plan models; odd query strings (``?district=xiaoshan``) included."""

from datetime import date
from decimal import Decimal

import pytest
from django.contrib import admin
from django.urls import reverse

from tests.factories import make_user
from tracker.accounts.models import Role
from tracker.plans.models import Quota
from tracker.plans.reference import District
from tracker.plans.signals import plan_changed
from tracker.progress.models import ProgressReport

PLAN_MODULES = ("tracker.plans.models", "tracker.plans.reference")


def plan_admins():
    return sorted(
        (m for m in admin.site._registry if m.__module__ in PLAN_MODULES),
        key=lambda m: m._meta.model_name,
    )


def test_the_plan_models_are_registered():
    names = {m._meta.model_name for m in plan_admins()}
    assert {"planyear", "project", "indicator", "quota", "milestone"} <= names


@pytest.mark.parametrize("model", plan_admins(), ids=lambda m: m._meta.model_name)
def test_every_page_of_a_plan_model_answers(client, plan_2024, model):
    client.force_login(make_user("duchashi", Role.SUPERVISION))
    name = f"admin:tracker_{model._meta.model_name}"
    obj = model._default_manager.order_by("pk").first()
    urls = [
        reverse(f"{name}_changelist"),
        reverse(f"{name}_changelist") + "?q=区&o=1",
        reverse(f"{name}_add"),
        # initial values from the query string, as links and people type them
        reverse(f"{name}_add") + "?district=xiaoshan&indicator=abc&project=x&plan=1&plan_year=y",
        reverse(f"{name}_add") + "?district=1&indicator=999999",
    ]
    if obj is not None:
        urls += [
            reverse(f"{name}_change", args=[obj.pk]),
            reverse(f"{name}_history", args=[obj.pk]),
            reverse(f"{name}_delete", args=[obj.pk]),
        ]
        version = obj.history.order_by("history_id").first() if hasattr(obj, "history") else None
        if version is not None:
            urls.append(reverse(f"{name}_simple_history", args=[obj.pk, version.history_id]))
    for url in urls:
        response = client.get(url)
        assert response.status_code in (200, 302), (url, response.status_code)


@pytest.fixture
def supervisor(client, plan_2024):
    user = make_user("duchashi", Role.SUPERVISION)
    client.force_login(user)
    return user


def _quota_with_reports(n=2):
    quota = Quota.objects.select_related("indicator", "district").get(
        indicator__project__seq=1, district__code="xiaoshan"
    )
    for month in range(1, n + 1):
        ProgressReport.objects.create(
            indicator=quota.indicator, district=quota.district, month=date(2024, month, 1),
            value=Decimal(month),
        )  # fmt: skip
    return quota


def test_a_units_code_in_the_query_string_is_read_as_that_unit(client, supervisor):
    response = client.get(reverse("admin:tracker_quota_add") + "?district=xiaoshan")
    assert response.status_code == 200
    form = response.context["adminform"].form
    assert form.initial["district"] == District.objects.get(code="xiaoshan").pk


def test_deleting_a_quota_with_reports_shows_them_and_needs_a_reason(client, supervisor):
    quota = _quota_with_reports()
    url = reverse("admin:tracker_quota_delete", args=[quota.pk])
    page = client.get(url).content.decode()
    assert "已有 2 条月度填报" in page and "删除原因" in page
    heard = []

    def listener(sender, **kwargs):
        heard.append(kwargs)

    plan_changed.connect(listener)
    try:
        response = client.post(url, {"post": "yes"})
        assert response.status_code == 200
        assert "请填写删除原因" in response.content.decode()
        assert Quota.objects.filter(pk=quota.pk).exists() and not heard
        response = client.post(url, {"post": "yes", "change_reason": "萧山区任务并入市本级"})
        assert response.status_code == 302
    finally:
        plan_changed.disconnect(listener)
    assert not Quota.objects.filter(pk=quota.pk).exists()
    gone = Quota.history.get(id=quota.pk, history_type="-")
    assert (gone.history_user, gone.history_change_reason) == (supervisor, "萧山区任务并入市本级")
    assert heard[0]["plan"] == quota.indicator.project.plan_year
    assert heard[0]["indicator_ids"] == [quota.indicator_id]


def test_an_edit_needs_a_reason_and_keeps_it_with_the_user(client, supervisor):
    quota = Quota.objects.get(indicator__project__seq=1, district__code="xiaoshan")
    url = reverse("admin:tracker_quota_change", args=[quota.pk])
    form = {"indicator": quota.indicator_id, "district": quota.district_id, "value": "41",
            "published_text": "41 个"}  # fmt: skip
    response = client.post(url, form)
    assert response.status_code == 200 and "请填写修改原因" in response.content.decode()
    quota.refresh_from_db()
    assert quota.value == 40
    assert client.post(url, {**form, "change_reason": "区里更正为 41 个"}).status_code == 302
    latest = quota.history.latest()
    assert (latest.value, latest.history_user, latest.history_change_reason) == (
        Decimal(41), supervisor, "区里更正为 41 个",
    )  # fmt: skip


def test_a_quota_with_reports_cannot_be_deleted_inline(client, supervisor):
    quota = _quota_with_reports(1)
    indicator = quota.indicator
    url = reverse("admin:tracker_indicator_change", args=[indicator.pk])
    form = client.get(url).context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None}
    data["project"] = indicator.project_id
    quotas = list(
        Quota.objects.filter(indicator=indicator).order_by("pk").values_list("pk", flat=True)
    )
    prefix = "quotas"
    data.update({f"{prefix}-TOTAL_FORMS": len(quotas), f"{prefix}-INITIAL_FORMS": len(quotas),
                 f"{prefix}-MIN_NUM_FORMS": 0, f"{prefix}-MAX_NUM_FORMS": 1000,
                 "change_reason": "删去萧山区"})  # fmt: skip
    for n, pk in enumerate(quotas):
        q = Quota.objects.get(pk=pk)
        data.update({f"{prefix}-{n}-id": pk, f"{prefix}-{n}-indicator": indicator.pk,
                     f"{prefix}-{n}-district": q.district_id, f"{prefix}-{n}-value": q.value,
                     f"{prefix}-{n}-published_text": q.published_text})  # fmt: skip
        if pk == quota.pk:
            data[f"{prefix}-{n}-DELETE"] = "on"
    response = client.post(url, data)
    assert response.status_code == 200
    assert "已有 1 条月度填报，不能在此删除" in response.content.decode()
    assert Quota.objects.filter(pk=quota.pk).exists()
