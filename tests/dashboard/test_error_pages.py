"""Errors a user meets are in Chinese: 403/404/500 pages in the dashboard's look (dashboard
and admin), ``{"detail": "…"}`` in Chinese from the API (not found, parse error, CSRF)."""

import json

import pytest
from django.test import Client, RequestFactory
from rest_framework.test import APIClient

from tracker.api.errors import CSRF_FAILED, PARSE_ERROR
from tracker.dashboard.errors import server_error

STYLESHEET = 'href="/static/tracker/dashboard.css"'


def page(response) -> str:
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assert STYLESHEET in html and 'class="topbar"' in html  # the dashboard's look
    return html


def test_dashboard_404_is_a_chinese_page(personas, client):
    client.force_login(personas.supervisor)
    response = client.get("/projects/9999/")
    assert response.status_code == 404
    assert "页面不存在" in page(response)
    assert "Not Found" not in response.content.decode()


def test_admin_404_and_403_use_the_same_pages(personas, client):
    client.force_login(personas.district_a_user)
    missing = client.get("/admin/no-such-page/")
    assert missing.status_code == 404 and "页面不存在" in page(missing)
    forbidden = client.get("/admin/tracker/project/add/")  # only 督查室 edits the plan
    assert forbidden.status_code == 403
    assert "无权访问" in page(forbidden)
    assert "403 Forbidden" not in forbidden.content.decode()


def test_500_page_needs_no_database_or_context():
    response = server_error(RequestFactory().get("/matrix/"))
    assert response.status_code == 500
    assert "系统出错" in page(response)


def test_csrf_failure_page_says_what_to_do(personas):
    client = Client(enforce_csrf_checks=True)
    response = client.post("/accounts/login/", {"username": "duchashi", "password": "x"})
    assert response.status_code == 403
    assert "页面已过期，请刷新后重试" in page(response)


def test_api_not_found_is_chinese_json(personas):
    client = APIClient()
    client.force_authenticate(personas.supervisor)
    for url in ("/api/v1/projects/999999/", "/api/v1/no-such-endpoint/"):
        response = client.get(url)
        assert response.status_code == 404, url
        assert response.json() == {"detail": "未找到。"}, url


def test_api_parse_error_is_chinese(personas):
    client = APIClient()
    client.force_authenticate(personas.supervisor)
    response = client.post(
        "/api/v1/progress/", data='{"indicator": 1,', content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json() == {"detail": PARSE_ERROR}


def test_api_csrf_refusal_is_chinese(personas):
    """A browser session writing without the CSRF token is refused, in Chinese."""
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(personas.supervisor)
    response = client.post(
        "/api/v1/progress/", data=json.dumps({}), content_type="application/json"
    )
    assert response.status_code == 403
    assert response.json() == {"detail": CSRF_FAILED}
    assert "CSRF Failed" not in response.content.decode()


@pytest.mark.parametrize("url", ["/api/v1/progress/", "/api/v1/summary/ranking/"])
def test_api_asks_anonymous_callers_to_log_in_in_chinese(db, url):
    response = APIClient().get(url)
    assert response.status_code == 401
    assert response.json()["detail"] == "身份认证信息未提供。"


def test_a_month_no_plan_covers_is_a_404(personas, client):
    """The dashboard reads the month's plans once (the plan picker) and answers a month
    of a year without a plan, or no month at all, with its Chinese 404 page, not a 500."""
    from tracker.plans.reference import PlanYear

    PlanYear.objects.get_or_create(year=2024, defaults={"title": "2024"})
    client.force_login(personas.supervisor)
    for url in ("/?month=2031-05", "/matrix/?month=0001-01", "/ranking/?month=9999-12"):
        response = client.get(url)
        assert response.status_code == 404, url
        assert "页面不存在" in page(response), url
    assert client.get("/?month=2031-13").status_code == 404


def test_pages_carry_the_icon_and_favicon_ico_redirects_to_it(personas, client):
    """No 404 in the browser console for the icon: the dashboard and error pages link it,
    and /favicon.ico (asked for by pages without a link, the admin's) redirects to it."""
    client.force_login(personas.supervisor)
    for url in ("/", "/no-such-page/"):
        assert 'rel="icon"' in client.get(url).content.decode(), url
    response = client.get("/favicon.ico")
    assert response.status_code == 301 and response["Location"].endswith(".svg")


def test_swagger_ui_has_no_inline_style_the_csp_refuses(personas, client):
    client.force_login(personas.supervisor)
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "<style" not in html and "swagger.css" in html and 'rel="icon"' in html
