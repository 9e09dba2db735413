"""填报完整性 (completeness and timeliness): ``/completeness/``.

For 督查室 the whole city; a lead agency sees its projects' cells, a district its own row
(the service's scoping). ``?month=YYYY-MM`` shows one month, ``?view=year`` the plan's
months up to the month being reported as a district × month grid (and agency × month);
``?format=xlsx`` downloads exactly what is shown (``tracker.reporting.list_files``). The plan is the
current one (``selection.current_plan``) unless ``?plan=`` (one of several plans of a year)
or ``?year=`` names another; only that plan's cells are counted.
"""

from __future__ import annotations

from django.http import Http404
from django.shortcuts import render

from tracker.dashboard.views import _context, _download, page
from tracker.months import format_month, month_label
from tracker.reporting import completeness as service
from tracker.reporting import list_files as lists


def selection(request) -> service.Selection:
    try:
        return service.select(
            request.GET.get("year", ""),
            request.GET.get("month", ""),
            request.GET.get("view", ""),
            plan=request.GET.get("plan", "").strip(),
        )
    except ValueError as exc:
        raise Http404(str(exc)) from exc


@page()
def completeness(request):
    chosen = selection(request)
    plan, offered, month = chosen.plan, chosen.offered, chosen.month
    data = service.completeness(chosen.months, request.viewer, plan=plan)
    year_view = month is None
    if request.GET.get("format") == "xlsx":
        name = f"填报完整性_{plan.year}年" if year_view else f"填报完整性_{format_month(month)}"
        return _download(
            lists.workbook(lists.completeness_tables(data, year_view=year_view)),
            lists.XLSX,
            f"{name}.xlsx",
        )
    return render(
        request,
        "dashboard/completeness.html",
        _context(
            request,
            None,
            months=[],  # the page has its own plan-month choice; no header picker
            plan=plan,
            data=data,
            year_view=year_view,
            shown_month=month,
            shown_month_text=format_month(month) if month else "",
            offered=[(format_month(m), month_label(m)) for m in reversed(offered)],
            month_heads=[month_label(m) for m in data.months],
            district_grid=[(r, r.cells(data.months)) for r in data.districts],
            agency_grid=[(r, r.cells(data.months)) for r in data.agencies],
        ),
    )
