"""Dashboard pages: thin views over the read models in ``tracker.selectors``.

Every page reads through the same scoping as the admin and API (``for_user``, via the
selectors). Anonymous visitors are sent to the login page (``/accounts/login/``),
except that with ``conf.PUBLIC_READ_ONLY`` the public parts (overview, ranking and
the monthly notice with its downloads) are readable city-wide without logging in; the
matrix, cells, scorecards, project pages and "my work" always need a user with a role.

The month shown is ``?month=YYYY-MM`` or, by default, the latest month with statuses of
the plan shown; the plan is picked by ``?plan=<id>`` or ``?issuer=`` where a year has
several (``tracker.plans.selection``).

The notice's files (xlsx, PDF via WeasyPrint, cached per month) come from
``tracker.reporting.notice_files``; a month outside the plan's checked months is a 404.
Once a month's notice is 印发, its page, PDF and xlsx are the stored ones
(``tracker.reporting.issued``), whatever is corrected later.
"""

from __future__ import annotations

import json
from datetime import date
from functools import wraps
from urllib.parse import quote

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpResponse, HttpResponsePermanentRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.templatetags.static import static
from django.urls import reverse

from tracker import conf
from tracker.accounts.permissions import scope_for
from tracker.dashboard import lists
from tracker.monitoring.stored import evaluated_at_by_month, evaluated_text, latest_month
from tracker.months import format_month, month_label, short_month_label
from tracker.plans.models import Project
from tracker.plans.reference import Category, District
from tracker.plans.selection import PlanChoice, choose_plan, month_and_plan, plan_month
from tracker.reporting import list_files
from tracker.reporting.alerts import missed_milestones
from tracker.reporting.cell import cell_detail
from tracker.reporting.issued import issued_for
from tracker.reporting.matrix import matrix as read_matrix
from tracker.reporting.notice import notice as read_notice
from tracker.reporting.notice import notice_context_defaults
from tracker.reporting.notice_files import notice_pdf as notice_pdf_file
from tracker.reporting.notice_files import notice_workbook
from tracker.reporting.overview import overview as read_overview
from tracker.reporting.ranking import agency_ranking as read_agency_ranking
from tracker.reporting.ranking import ranking as read_ranking
from tracker.reporting.scorecard import district_scorecard
from tracker.review.attachments import cell_evidence
from tracker.review.explanations import cell_explain_context


def favicon(request):
    """``/favicon.ico``, which browsers ask for on pages without an icon link (the admin's,
    Swagger UI's): a permanent redirect to the static icon (its hashed name)."""
    return HttpResponsePermanentRedirect(static("tracker/favicon.svg"))


def public_mode() -> bool:
    return conf.PUBLIC_READ_ONLY


SAFE = ("GET", "HEAD", "OPTIONS")


def page(public: bool = False):
    """Require a user with a role (a leader: reads only, any other method is a 403).
    ``public`` pages also serve visitors without one in published read-only mode;
    ``request.viewer`` is then None (the city-wide view)."""

    def decorate(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            user = request.user
            has_role = user.is_authenticated and scope_for(user).role is not None
            if has_role and scope_for(user).is_leader and request.method not in SAFE:
                return render(request, "dashboard/read_only.html", status=403)
            if has_role:
                request.viewer = user
            elif public and public_mode():
                request.viewer = None
            elif user.is_authenticated:
                return render(request, "dashboard/no_role.html", status=403)
            else:
                return redirect_to_login(request.get_full_path(), reverse(settings.LOGIN_URL))
            return view(request, *args, **kwargs)

        return wrapper

    return decorate


def _month(request) -> date | None:
    """The month shown, and (on ``request.plan_choice``) the plan shown (``plans``)."""
    try:
        month, choice = month_and_plan(request.GET)
    except ValueError as exc:
        raise Http404(str(exc)) from exc
    request.plan_choice = choice
    if month is None:
        month = latest_month(request.viewer, choice.plan)
    return month


def _plan(request):
    choice = getattr(request, "plan_choice", None)
    return choice.plan if choice else None


def _nav_query(month, choice: PlanChoice) -> str:
    """The query string the page links carry: the month shown and the picked plan."""
    parts = ([f"month={format_month(month)}"] if month else []) + (
        [choice.query.lstrip("&")] if choice.query else []
    )
    return "?" + "&".join(parts) if parts else ""


def _context(request, month, **extra):
    choice = getattr(request, "plan_choice", None) or PlanChoice(None)
    evaluated = evaluated_at_by_month(request.viewer, choice.plan)
    months = list(evaluated)
    if month and month not in months:
        months = sorted([*months, month])
    return {
        "evaluated_text": evaluated_text(evaluated.get(month)),
        "month": month,
        "month_text": format_month(month) if month else "",
        "month_label": month_label(month) if month else "",
        "months": [(format_month(m), month_label(m)) for m in reversed(months)],
        "viewer": request.viewer,
        "scope": scope_for(request.viewer) if request.viewer else None,
        "public_mode": public_mode(),
        "deadline_day": conf.REPORTING_DEADLINE_DAY,
        "plan": choice.plan,
        "plan_choice": choice,
        "plan_query": choice.query,  # 「&plan=N」 when the year has several plans
        "nav_query": _nav_query(month, choice),
        **extra,
    }


@page(public=True)
def overview(request):
    month = _month(request)
    data = read_overview(request.viewer, month, plan=_plan(request)) if month else None
    return render(request, "dashboard/overview.html", _context(request, month, overview=data))


@page()
def matrix(request):
    month = _month(request)
    category_id = request.GET.get("category") or None
    problems = request.GET.get("problems") == "1"
    data = None
    if month:
        data = read_matrix(
            request.viewer,
            month,
            category_id=int(category_id) if category_id and category_id.isdigit() else None,
            problems_only=problems,
            plan=_plan(request),
        )
    categories = []
    if month:
        categories = Category.objects.filter(plan_year__year=month.year)
        if _plan(request) is not None:
            categories = categories.filter(plan_year=_plan(request))
    # search, filters and export (issue 14): applied to what the selector returned
    filters = lists.ListFilters.from_request(request)
    all_districts = data.districts if data else []
    all_projects = (
        sorted({r.indicator.project.seq: r.indicator.project for r in data.rows}.items())
        if data
        else []
    )
    data = lists.filter_matrix(data, filters)
    if data is not None:
        title = f"区县×指标 截至{month_label(month)}底"
        download = lists.export(request, list_files.matrix_table(data, title), title)
        if download is not None:
            return download
    missed = missed_milestones(request.viewer, month, _plan(request)) if month else []
    return render(
        request,
        "dashboard/matrix.html",
        _context(
            request,
            month,
            matrix=data,
            missed_milestones=missed,
            categories=list(categories),
            category_id=int(category_id) if category_id and category_id.isdigit() else None,
            problems=problems,
            filters=filters,
            filter_districts=all_districts,
            filter_projects=[p for _, p in all_projects],
            status_choices=lists.STATUS_CHOICES,
        ),
    )


@page()
def cell(request, indicator_id: int, district_id: int):
    detail = cell_detail(request.viewer, indicator_id, district_id)
    if detail is None:
        raise Http404("不存在或不在您的职责范围内")
    month = _month(request)
    chart = detail.chart()
    if month:
        chart["highlight"] = short_month_label(month)
    current = next((e for e in detail.evaluations if e.month == month), None)
    if current is None and detail.evaluations:
        current = detail.evaluations[-1]
    explain = cell_explain_context(request.viewer, detail, current)  # issue 15
    evidence = cell_evidence(request.viewer, detail)  # issue 30
    return render(
        request,
        "dashboard/cell.html",
        _context(
            request,
            month,
            detail=detail,
            current=current,
            chart=json.dumps(chart, ensure_ascii=False),
            evidence=evidence,
            evaluated_text=evaluated_text(current.evaluated_at if current else None),
            **explain,
        ),
    )


@page(public=True)
def ranking(request):
    month = _month(request)
    plan = _plan(request)
    rows = read_ranking(month, request.viewer, plan=plan) if month else []
    agency_rows = read_agency_ranking(month, request.viewer, plan=plan) if month else []
    filters = lists.ListFilters.from_request(request)
    rows = lists.filter_ranking(rows, filters)
    if month:
        title = f"晾晒排名 截至{month_label(month)}底"
        download = lists.export(request, list_files.ranking_table(rows, title), title)
        if download is not None:
            return download
    return render(
        request,
        "dashboard/ranking.html",
        _context(request, month, rows=rows, agency_rows=agency_rows, filters=filters),
    )


@page()
def district(request, code: str):
    district = get_object_or_404(District, code=code)
    scope = scope_for(request.viewer)
    if scope.is_district and scope.district_id != district.pk:
        raise Http404("不在您的职责范围内")
    month = _month(request)
    card = (
        district_scorecard(request.viewer, district, month, plan=_plan(request)) if month else None
    )
    filters = lists.ListFilters.from_request(request)
    shown = lists.filter_lines(card.lines, filters) if card else []
    if card:
        title = f"{district.name} 截至{month_label(month)}底"
        download = lists.export(request, list_files.evaluations_table(shown, title), title)
        if download is not None:
            return download
    projects = {e.indicator.project.seq: e.indicator.project for e in card} if card else {}
    return render(
        request,
        "dashboard/district.html",
        _context(
            request,
            month,
            district=district,
            card=card,
            lines=shown,
            problems=[e for e in card.problems if id(e) in {id(x) for x in shown}] if card else [],
            filters=filters,
            filter_projects=[projects[k] for k in sorted(projects)],
            status_choices=lists.STATUS_CHOICES,
        ),
    )


@page()
def project(request, seq: int):
    month = _month(request)
    plan = _plan(request)
    year = month.year if month else None
    where = {"plan_year": plan} if plan is not None else {"plan_year__year": year}
    project = get_object_or_404(
        Project.objects.for_user(request.viewer).select_related("lead_agency", "category"),
        seq=seq,
        **where,
    )
    data = read_matrix(request.viewer, month, project_id=project.pk) if month else None
    return render(
        request, "dashboard/project.html", _context(request, month, project=project, matrix=data)
    )


def _notice_month(text: str) -> date:
    try:
        return plan_month(text)
    except ValueError as exc:
        raise Http404(str(exc)) from exc


@page(public=True)
def notice_latest(request):
    """``/notice/`` (and the month picker's ``?month=``): the chosen or latest notice."""
    month = _month(request)
    if month is None:
        return render(request, "dashboard/notice.html", _context(request, None, notice=None))
    return _with_plan(request, redirect("dashboard:notice", format_month(month)))


def _with_plan(request, response):
    """Keep the picked plan on a redirect (a year with several plans)."""
    query = request.plan_choice.query
    if query:
        response["Location"] += "?" + query.lstrip("&")
    return response


def _notice_plan(request, month: date):
    request.plan_choice = choose_plan(request.GET, month)
    return request.plan_choice.plan


def _notice_or_404(month: date, plan=None):
    data = read_notice(month, plan)
    if data is None:
        raise Http404(f"{month_label(month)}不在计划的已检查月份内，没有通报")
    return data


@page(public=True)
def notice(request, month: str):
    if request.GET.get("month") and request.GET["month"] != month:
        target = _notice_month(request.GET["month"])
        _notice_plan(request, target)
        return _with_plan(request, redirect("dashboard:notice", format_month(target)))
    month = _notice_month(month)
    plan = _notice_plan(request, month)
    record = issued_for(month, plan)
    if record is not None:  # the notice as it went out (``reporting.issued``)
        return render(
            request,
            "dashboard/notice.html",
            _context(
                request,
                month,
                issued_body=record.body_html,
                notice_title=record.snapshot["context"]["notice"]["title"],
            ),
        )
    data = _notice_or_404(month, plan)
    return render(
        request,
        "dashboard/notice.html",
        _context(
            request, month, notice=data, notice_title=data.title,
            to_assign=_to_assign(request, data), **notice_context_defaults(),
        ),
    )  # fmt: skip


def _to_assign(request, data) -> list | None:
    """督查室 only: the notice's 挂牌督办建议 with today's open item of each cell (交办
    from here, or open the item). Not part of the notice itself (never in the PDF)."""
    if request.viewer is None or not scope_for(request.viewer).is_supervision:
        return None
    found = data.open_items
    return [(x, found.get((x.indicator_id, x.district_id))) for x in data.candidates]


def _download(content: bytes, content_type: str, name: str) -> HttpResponse:
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(name)}"
    return response


@page(public=True)
def notice_xlsx(request, month: str):
    """The notice as a workbook (``tracker.reporting.notice_files``)."""
    month = _notice_month(month)
    plan = _notice_plan(request, month)
    record = issued_for(month, plan)
    content = (
        bytes(record.xlsx) if record is not None else notice_workbook(_notice_or_404(month, plan))
    )
    return _download(
        content,
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        f"晾晒通报_{format_month(month)}.xlsx",
    )


@page(public=True)
def notice_pdf(request, month: str):
    """The notice as a PDF, rendered once per month and data
    (``tracker.reporting.notice_files``)."""
    month = _notice_month(month)
    plan = _notice_plan(request, month)
    record = issued_for(month, plan)
    if record is not None:
        return _download(
            bytes(record.pdf), "application/pdf", f"晾晒通报_{format_month(month)}.pdf"
        )
    result = notice_pdf_file(month, plan if request.plan_choice.many else None)
    if result is None:
        raise Http404(f"{month_label(month)}不在计划的已检查月份内，没有通报")
    pdf, _cached = result
    return _download(pdf, "application/pdf", f"晾晒通报_{format_month(month)}.pdf")
