"""One number format, round trip (issue 28): every number the API gives for the simulated
year is a plain decimal string and goes back in unchanged.

- progress: every row read by GET is written back as read (``progress/bulk/`` for every
  row, a PATCH for every distinct value text): 200, and nothing changes (values, versions,
  history);
- quotas (read-only in the API) and the summaries' numbers (read-only): each parses back to
  the very Decimal that is stored (``Quota``, ``LagEvaluation``).
"""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import date
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from tests.dashboard_helpers import simulated_year
from tracker.monitoring.models import LagEvaluation
from tracker.monitoring.stored import evaluated_months
from tracker.months import format_month
from tracker.plans.models import Quota
from tracker.plans.reference import District
from tracker.progress.models import ProgressReport
from tracker.ratios import pct

ROW_FIELDS = ("district", "value", "note", "is_correction", "correction_reason", "version")
PLAIN = re.compile(r"^-?(0|[1-9]\d*)(\.\d*[1-9])?$")  # no exponent, no trailing zeros


@pytest.fixture(scope="module")
def year(django_db_setup, django_db_blocker, plan_2024_data):
    yield from simulated_year(django_db_blocker, plan_2024_data, through=date(2024, 12, 1))


@pytest.fixture
def api(year):
    client = APIClient()
    client.force_authenticate(year.supervisor)
    return client


def _all(api, url, **params):
    rows, page = [], 1
    while True:
        response = api.get(url, {**params, "page": page, "page_size": 500})
        assert response.status_code == 200, response.content[:500]
        body = response.json()
        rows += body["results"]
        if not body["next"]:
            return rows
        page += 1


def _plain(text) -> Decimal:
    assert isinstance(text, str) and PLAIN.match(text), text
    return Decimal(text)


def _progress_state():
    return (
        sorted(ProgressReport.objects.values_list("pk", "value", "version", "reported_at")),
        ProgressReport.history.count(),
    )


def test_every_progress_value_goes_back_unchanged(year, db, api):
    rows = _all(api, "/api/v1/progress/", year=2024)
    stored = dict(ProgressReport.objects.values_list("pk", "value"))
    assert len(rows) == len(stored) > 5000
    for row in rows:
        assert _plain(row["value"]) == stored[row["id"]]
    assert any(r["value"].endswith("0") and "." not in r["value"] for r in rows)  # 「20」
    before = _progress_state()

    by_cell_month = defaultdict(list)
    for row in rows:
        by_cell_month[(row["indicator"], row["month"])].append(row)
    for (indicator, month), group in by_cell_month.items():
        response = api.post(
            "/api/v1/progress/bulk/",
            {
                "indicator": indicator,
                "month": month,
                "rows": [{k: r[k] for k in ROW_FIELDS} for r in group],
            },
            format="json",
        )
        assert response.status_code == 200, (indicator, month, response.content[:500])
        body = response.json()
        assert (body["created"], body["updated"], body["unchanged"]) == (0, 0, len(group))

    one_per_text = {r["value"]: r for r in rows}.values()
    for row in one_per_text:
        response = api.patch(
            f"/api/v1/progress/{row['id']}/",
            {"value": row["value"], "version": row["version"]},
            format="json",
        )
        assert response.status_code == 200, (row, response.content[:500])
        assert response.json()["value"] == row["value"]
        assert response.json()["version"] == row["version"]
    assert _progress_state() == before  # nothing changed: values, versions, history


def test_every_quota_parses_back_to_the_stored_value(year, db, api):
    rows = _all(api, "/api/v1/quotas/", year=2024)
    stored = {q.pk: q for q in Quota.objects.filter(indicator__project__plan_year=year.plan_year)}
    assert len(rows) == len(stored)
    for row in rows:
        quota = stored[row["id"]]
        for name in ("value", "new_value", "upgrade_value"):
            if getattr(quota, name) is None:
                assert row[name] is None
            else:
                assert _plain(row[name]) == getattr(quota, name), (row, name)
    assert "8" in {r["value"] for r in rows}  # never 「8.0000」


SCORECARD_NUMBERS = ("quota", "expected", "actual", "completion_pct", "gap_points", "forecast",
                     "needed_pace")  # fmt: skip


def test_every_summary_number_parses_back_to_the_stored_evaluation(year, db, api):
    stored = {
        (e.month, e.indicator_id, e.district_id): e
        for e in LagEvaluation.objects.filter(indicator__project__plan_year=year.plan_year)
    }
    months = evaluated_months(None, year.plan_year)
    checked = 0
    for month in months:
        for district in District.objects.order_by("order"):
            response = api.get(
                f"/api/v1/summary/districts/{district.code}/", {"month": format_month(month)}
            )
            assert response.status_code == 200
            for line in response.json()["indicators"]:
                evaluation = stored[(month, line["indicator"], district.pk)]
                for name in SCORECARD_NUMBERS:
                    value = getattr(evaluation, name)
                    if value is None:
                        assert line[name] is None, (name, line)
                    else:
                        assert _plain(line[name]) == value, (name, line, value)
                        checked += 1
        overview = api.get("/api/v1/summary/overview/", {"month": format_month(month)}).json()
        for category in overview["categories"]:
            for project in category["projects"]:
                for number in _numbers(project, "indicators"):
                    _plain(number)
        for row in api.get("/api/v1/summary/ranking/", {"month": format_month(month)}).json():
            if row["share_pct"] is not None:
                _plain(row["share_pct"])
        agencies = api.get("/api/v1/summary/agency-ranking/", {"month": format_month(month)})
        for row in agencies.json():  # 部门晾晒: the share is on_track ÷ due, as stored
            share = row["share_pct"]
            if share is not None:
                assert _plain(share) == pct(Decimal(row["on_track"]), Decimal(row["due"]))
    assert checked > 10000
    indicator = next(iter(stored.values())).indicator_id
    trajectory = api.get(f"/api/v1/indicators/{indicator}/trajectory/").json()
    for point in trajectory["points"]:
        for name in ("expected", "actual"):
            if point[name] is not None:
                _plain(point[name])


def _numbers(node, children):
    """Every decimal string of a summary node and its children (``*_pct``)."""
    for key, value in node.items():
        if key.endswith("_pct") and value is not None:
            yield value
    for child in node.get(children, []):
        yield from _numbers(child, "")
