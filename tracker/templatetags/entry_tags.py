"""Links to 本月填报 (``tracker.dashboard.entry``) from every page.

- ``{% reporting_now %}``: the header's 「本月填报 · 2024年11月 · 还剩 3 天」 link (users
  with a role), the month being reported of the current plan (``calendar``); for a
  district, 「退回 N」 when figures were returned to it (issue 30).
- ``{% entry_href indicator district_id status month %}``: the entry page at that cell
  (``…/report/2024-11/#c-<indicator>-<district>``) when the viewer may enter it, else "".
  A 未按时填报 cell links to its own month (that report is missing); any other to the
  month being reported (the figure that brings it back on track).
- ``{% cell_href indicator district_id status month %}``: a matrix cell's link — the entry
  page for a red, 逾期 or 未按时填报 cell the viewer may enter, else the cell page.
"""

from __future__ import annotations

from functools import lru_cache
from types import SimpleNamespace

from django import template
from django.conf import settings
from django.urls import get_script_prefix, get_urlconf, reverse

from tracker.calendar import days_left, reporting_month
from tracker.choices import LagStatus
from tracker.months import clamp_to_year, format_month
from tracker.plans.reference import District
from tracker.plans.selection import current_plan
from tracker.review.queries import returned_count

register = template.Library()

FIX_HERE = {LagStatus.SERIOUSLY_BEHIND, LagStatus.OVERDUE, LagStatus.NOT_REPORTED}


def _scope(context):
    scope = context.get("scope")
    return scope if scope is not None and scope.role is not None else None


@register.inclusion_tag("dashboard/_reporting_now.html", takes_context=True)
def reporting_now(context):
    if _scope(context) is None:
        return {"show": False}
    request = context.get("request")
    cached = getattr(request, "_reporting_now", None)
    if cached is None:
        plan = current_plan()
        cached = {"show": plan is not None}
        if plan is not None:
            month = reporting_month(plan)
            cached.update(month=month, days=days_left(month))
        scope = _scope(context)
        if scope.is_district:  # issue 30: the figures returned to it, counted in the header
            cached["returned"] = returned_count(context.get("viewer"))
        if request is not None:
            request._reporting_now = cached
    return {**cached, "here": context.get("here")}


def _district_code(context, district) -> str:
    """A district's code, from the object itself, the matrix on the page, or one query
    per request."""
    code = getattr(district, "code", None)
    if code:
        return code
    request = context.get("request")
    codes = getattr(request, "_entry_district_codes", None)
    if codes is None:
        matrix = context.get("matrix")
        if matrix is not None:
            codes = {d.pk: d.code for d in matrix.districts}
        else:
            codes = dict(District.objects.values_list("pk", "code"))
        if request is not None:
            request._entry_district_codes = codes
    return codes.get(district, "")


@register.simple_tag(takes_context=True)
def entry_href(context, indicator, district, status=None, month=None) -> str:
    """``district``: a District or its id."""
    scope = _scope(context)
    if scope is None or indicator is None or month is None:
        return ""
    district_id = getattr(district, "pk", district)
    if not scope.can_report(indicator, SimpleNamespace(pk=district_id)):
        return ""
    reporting = clamp_to_year(reporting_month(), month.year)
    target = month if status == LagStatus.NOT_REPORTED and month <= reporting else reporting
    url = _path("dashboard:report", format_month(target))
    if scope.is_supervision:
        url += f"?district={_district_code(context, district)}"
    return f"{url}#c-{indicator.pk}-{district_id}"


@lru_cache(maxsize=16384)
def _cached_path(urlconf, prefix, name: str, *args) -> str:
    """``reverse(name, args)`` once per URLconf, script prefix and arguments: the matrix
    links ~1 000 cells a page (a cell page each, 本月填报 for the red ones)."""
    return reverse(name, args=args, urlconf=urlconf)


def _path(name: str, *args) -> str:
    # the URLconf in effect: a request's own, else ROOT_URLCONF (which tests may override)
    urlconf = get_urlconf() or settings.ROOT_URLCONF
    return _cached_path(urlconf, get_script_prefix(), name, *args)


@register.simple_tag(takes_context=True)
def cell_href(context, indicator, district_id, status, month) -> str:
    if status in FIX_HERE:
        href = entry_href(context, indicator, district_id, status, month)
        if href:
            return href
    url = _path("dashboard:cell", indicator.pk, district_id)
    plan_query = context.get("plan_query") or ""  # "&plan=<id>" where a year has several
    return f"{url}?month={format_month(month)}{plan_query}" if month else url


@register.simple_tag(takes_context=True)
def fix_href(context, line, always=False) -> str:
    """A list row's 「去填报」 link: for a red, 逾期 or 未按时填报 line (any line with
    ``always``, as in 我的待办) the viewer may enter; else ""."""
    if not always and line.status not in FIX_HERE:
        return ""
    return entry_href(context, line.indicator, line.district, line.status, line.month)
