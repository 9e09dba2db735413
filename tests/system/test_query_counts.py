"""Every dashboard page and API read endpoint takes a number of queries that does not
grow with the plan: the same count on a 3-district, 5-project plan and on the published
2024 plan (14 districts × 48 projects), each with a simulated year to September.

Derived from the URLconf: a new GET route fails ``test_every_route_is_covered`` until it
is given its arguments below or listed as not a read."""

from contextlib import contextmanager
from datetime import UTC, date, datetime

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from rest_framework.test import APIClient

from tests.factories import make_user
from tracker.accounts.models import Role
from tracker.demo.simulation import SERIOUS_LAGGARD, simulate_year
from tracker.monitoring.models import LagAlert, LagEvaluation
from tracker.plans.loader import load_plan
from tracker.plans.models import Indicator, Project, Quota
from tracker.plans.reference import Agency, Category, District, PlanColumn, PlanYear
from tracker.progress.models import CellReview, MonthState, MonthSubmission, ProgressReport
from tracker.review.models import Attachment, Explanation
from tracker.supervision.models import SupervisionEvent, SupervisionItem

SEPT = "2024-09"
pytestmark = pytest.mark.django_db  # (the data itself is built once, in ``counts``)
NOT_READS = {  # writes, auth, and routes that are not pages or data
    "api:progress-bulk", "api:alert-acknowledge", "api:submission-submit",
    "api:submission-relock", "api:submission-unlock", "api:review-approve",
    "api:review-relock", "api:review-send-back", "api:review-unlock", "api:token",
    "api:authtoken-detail", "api:health", "api:schema", "api:docs", "api:api-root",
    "dashboard:login", "dashboard:logout",
    "dashboard:notice_pdf",  # the PDF is rendered once and cached (its own test)
    "dashboard:explain_cell", "dashboard:review_act",  # POST only
    # issue 30: POST only, and the file behind an attachment (its download needs a file)
    "api:review-bulk-approve", "api:review-bulk-return", "dashboard:review_bulk",
    "dashboard:attachment_add", "dashboard:attachment_remove", "dashboard:attachment",
    "favicon",  # a redirect to the static icon, no query
    # issue 32: 挂牌督办 steps (POST only); the file behind a 反馈 (needs a stored file)
    "api:supervision-item-assign", "api:supervision-item-feedback",
    "api:supervision-item-close", "api:supervision-item-keep-open",
    "dashboard:supervision_attachment",
}  # fmt: skip
DETAIL = {  # route name → the model whose first row fills ``pk``
    "api:planyear-detail": PlanYear, "api:category-detail": Category,
    "api:agency-detail": Agency, "api:district-detail": District,
    "api:project-detail": Project, "api:indicator-detail": Indicator,
    "api:indicator-trajectory": Indicator, "api:quota-detail": Quota,
    "api:progress-detail": ProgressReport, "api:alert-detail": LagAlert,
    "api:explanation-detail": Explanation, "api:submission-detail": MonthSubmission,
    "api:review-detail": "review", "api:attachment-detail": Attachment,
    "api:attachment-download": Attachment,
    "api:supervision-item-detail": SupervisionItem,
}  # fmt: skip


def routes():
    def walk(patterns, ns=""):
        for p in patterns:
            if isinstance(p, URLResolver):
                if str(p.pattern).startswith("admin/"):
                    continue
                yield from walk(p.url_patterns, ns + (f"{p.namespace}:" if p.namespace else ""))
            elif isinstance(p, URLPattern) and p.name:
                yield ns + p.name

    return sorted(set(walk(get_resolver().url_patterns)) - NOT_READS)


def url_for(name: str) -> str | None:
    """A concrete URL of route ``name`` on the current data (None: no such object)."""
    if name in DETAIL:
        model = DETAIL[name]
        if model == "review":
            from tracker.progress.models import CellReview as model
        pk = model.objects.order_by("pk").values_list("pk", flat=True).first()
        return None if pk is None else reverse(name, kwargs={"pk": pk})
    if name == "dashboard:cell":
        e = LagEvaluation.objects.filter(month="2024-09-01").order_by("pk").first()
        return reverse(name, kwargs={"indicator_id": e.indicator_id, "district_id": e.district_id})
    if name in ("dashboard:district", "api:summary-district"):
        e = LagEvaluation.objects.filter(district__kind=District.Kind.DISTRICT).first()
        return reverse(name, kwargs={"code": e.district.code})  # a district with statuses
    if name == "dashboard:project":
        return reverse(name, kwargs={"seq": 1})
    if name in ("dashboard:notice", "dashboard:notice_xlsx", "dashboard:report",
                "dashboard:report_xlsx", "dashboard:report_upload"):  # fmt: skip
        return reverse(name, kwargs={"month": SEPT})
    if name == "dashboard:review_indicator":  # issue 30: the cell under review's indicator
        cell = CellReview.objects.order_by("pk").first()
        return reverse(name, kwargs={"indicator_id": cell.indicator_id, "month": SEPT})
    if name == "dashboard:supervision_item":
        return reverse(name, kwargs={"pk": SupervisionItem.objects.order_by("pk").first().pk})
    if name == "dashboard:supervision_assign":  # 交办 form of the red cell
        e = LagEvaluation.objects.filter(month="2024-09-01").order_by("pk").first()
        return reverse(name) + f"?indicator={e.indicator_id}&district={e.district_id}&month={SEPT}"
    if name == "dashboard:review_month":
        e = LagEvaluation.objects.filter(district__kind=District.Kind.DISTRICT).first()
        return reverse(name, kwargs={"code": e.district.code, "month": SEPT})
    query = "?month=2024-09" if name.startswith("dashboard:") or "summary" in name else ""
    return reverse(name) + query


@contextmanager
def dataset(django_db_blocker, plan_data, *, districts=None, projects=None):
    """The plan (trimmed to ``districts`` and ``projects`` when given) with a simulated
    year to September, rolled back afterwards."""
    with django_db_blocker.unblock():
        atomic = transaction.atomic()
        atomic.__enter__()
        try:
            plan_year = load_plan(plan_data).plan_year
            if districts:
                lagging = District.objects.get(name=SERIOUS_LAGGARD)  # so problems exist
                first = District.objects.exclude(pk=lagging.pk).order_by("order")
                keep = [lagging.pk, *first[: districts - 1].values_list("pk", flat=True)]
                Quota.objects.exclude(district__in=keep).delete()
                PlanColumn.objects.exclude(district__in=keep).delete()
                District.objects.exclude(pk__in=keep).delete()
            if projects:
                Project.objects.filter(plan_year=plan_year, seq__gt=projects).delete()
            simulate_year(2024, seed=7, through=date(2024, 9, 1))
            _review_rows()
            yield make_user("dcs", Role.SUPERVISION)
        finally:
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)


def _review_rows():
    """An explanation, a submitted month and a cell under review, so their detail routes
    are measured too (the simulated year has none). Attachments stay skipped: their
    download needs a stored file."""
    red = LagEvaluation.objects.filter(month="2024-09-01", status="seriously_behind").first()
    red = red or LagEvaluation.objects.filter(month="2024-09-01").first()
    sept = date(2024, 9, 1)
    Explanation.objects.create(
        indicator_id=red.indicator_id, district_id=red.district_id, month=sept,
        reason="原因", measures="措施", catch_up_by=date(2024, 11, 30),
    )  # fmt: skip
    submission = MonthSubmission.objects.create(
        district_id=red.district_id, month=sept, state=MonthState.SUBMITTED
    )
    CellReview.objects.create(
        submission=submission, indicator_id=red.indicator_id, district_id=red.district_id,
        month=sept,
    )  # fmt: skip
    item = SupervisionItem.objects.create(  # 挂牌督办 (issue 32), 交办'd in September
        indicator_id=red.indicator_id, district_id=red.district_id, month=sept,
        deadline=date(2024, 10, 31), assigned_at=datetime(2024, 9, 20, tzinfo=UTC),
    )  # fmt: skip
    SupervisionEvent.objects.create(
        item=item, action="assign", new_state="assigned", month=sept, why="交办",
        at=datetime(2024, 9, 20, tzinfo=UTC),
    )  # fmt: skip


def measure(user) -> dict[str, int]:
    api = APIClient()
    api.force_authenticate(user)
    from django.test import Client

    page = Client()
    page.force_login(user)
    counts = {}
    for name in routes():
        url = url_for(name)
        if url is None:
            continue
        client = api if name.startswith("api:") else page
        client.get(url)  # warm: sessions, content types and the like are cached after
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(url)
        # to the month's notice, to the month being reported
        expected = 302 if name in ("dashboard:notice_latest", "dashboard:report_current") else 200
        assert response.status_code == expected, (name, url, response.status_code)
        counts[name] = len(ctx.captured_queries)
    return counts


@pytest.fixture(scope="module")
def counts(django_db_setup, django_db_blocker, plan_2024_data):
    small_plan = dataset(django_db_blocker, plan_2024_data, districts=3, projects=5)
    with small_plan as user, django_db_blocker.unblock():
        small = measure(user)
        small_size = LagEvaluation.objects.count()
    with dataset(django_db_blocker, plan_2024_data) as user, django_db_blocker.unblock():
        large = measure(user)
        large_size = LagEvaluation.objects.count()
    assert large_size > 10 * small_size  # the plans really differ in size
    return small, large


def test_every_route_is_covered(counts):
    _small, large = counts
    missing = [n for n in routes() if n not in large and n not in DETAIL]
    assert not missing, f"routes without arguments in this test: {missing}"


@pytest.mark.parametrize("name", routes())
def test_queries_do_not_grow_with_the_plan(counts, name):
    small, large = counts
    if name not in large:
        pytest.skip(f"{name}: no such object in the simulated year")
    assert large[name] == small[name], f"{name}: {small[name]} → {large[name]} queries"
    # the cell page and the month workbook take 21; the notice (page and xlsx) 35 since
    # issue 32: 部门晾晒 and the month's 未报 from its one home (``month_tally``, 7), the
    # 挂牌督办 items then and now (3)
    assert large[name] <= (35 if name.startswith("dashboard:notice") else 24)
