"""我的待办: first what is not yet reported for the month being reported, then lag.

- 未填报: the cells due for the month being reported (``calendar`` /
  ``progress.due``) in the user's scope that have no report, each linking to 本月填报 at
  that cell.
- 滞后: the stored statuses of the month shown (``read_my_work``), worst first, each
  with a 「去填报」 link where the user may enter it.
- ``?q=`` searches indicator, project, district and lead agency; ``?show=`` narrows to
  未填报 (``unfiled``), 红 (``red``), 黄 (``yellow``), 未按时填报 (``grey``) or 有逾期风险
  (``risk``); ``?format=xlsx`` / ``?format=csv`` downloads exactly the rows shown (the one list
  export of ``dashboard.lists``, formula-safe).
"""

from __future__ import annotations

from django.shortcuts import render
from django.urls import reverse

from tracker import formats as fmt
from tracker.accounts.permissions import scope_for
from tracker.calendar import days_left, deadline_label, reporting_month
from tracker.choices import LagStatus, status_counts
from tracker.dashboard import lists
from tracker.dashboard.views import _context, _month, page
from tracker.formats import show_amount
from tracker.months import format_month, month_label
from tracker.plans.selection import current_plan
from tracker.reporting import list_files
from tracker.reporting.alerts import missed_milestones
from tracker.reporting.my_work import my_work as read_my_work
from tracker.reporting.my_work import unfiled_work
from tracker.review import queries as review_selectors

SHOW = {
    "unfiled": "未填报",
    "red": "红或逾期未完成",
    "yellow": "黄",
    "grey": "未按时填报",
    "risk": "有逾期风险",
}
LAG_FILTER = {
    "red": lambda e: e.status in (LagStatus.SERIOUSLY_BEHIND, LagStatus.OVERDUE),
    "yellow": lambda e: e.status == LagStatus.BEHIND,
    "grey": lambda e: e.status == LagStatus.NOT_REPORTED,
    "risk": lambda e: e.at_risk,
}


def _matches(q: str, line) -> bool:
    if not q:
        return True
    hay = " ".join(
        (
            line.label,
            line.indicator.project.name,
            str(line.project_seq),
            line.district.name,
            line.lead_agency,
        )
    )
    return all(word in hay for word in q.split())


def _entry_url(request, line) -> str:
    url = reverse("dashboard:report", args=[format_month(line.month)])
    if scope_for(request.viewer).is_supervision:
        url += f"?district={line.district.code}"
    return f"{url}#c-{line.indicator_id}-{line.district_id}"


class _ReturnedLine:
    """A returned cell, or a missed milestone's alert, as the search matches it."""

    def __init__(self, cell):
        self.label, self.project_seq = cell.indicator.label, cell.indicator.project.seq
        self.indicator, self.district = cell.indicator, cell.district
        self.lead_agency = cell.indicator.project.lead_agency.name


@page()
def my_work(request):
    month = _month(request)
    q = request.GET.get("q", "").strip()
    show = request.GET.get("show", "")
    show = show if show in SHOW else ""
    plan = current_plan()
    due_month = reporting_month(plan) if plan else None
    unfiled = unfiled_work(request.viewer, due_month) if due_month else []
    rows = read_my_work(request.viewer, month) if month else []
    # issue 30: returned figures first, then missed qualitative milestones (red)
    returned = review_selectors.returned_cells(request.viewer)
    missed = missed_milestones(request.viewer, month) if month else []
    counts = status_counts(e.status for e in rows)
    totals = {
        "unfiled": len(unfiled),
        "returned": len(returned),
        "milestones": len(missed),
        "red": counts["seriously_behind"] + counts["overdue"],
        "yellow": counts["behind"],
        "grey": counts["not_reported"],
        "risk": sum(1 for e in rows if e.at_risk),
    }
    unfiled_shown = [u for u in unfiled if _matches(q, u)] if show in ("", "unfiled") else []
    rows_shown = [e for e in rows if _matches(q, e)] if show != "unfiled" else []
    if show in LAG_FILTER:
        rows_shown = [e for e in rows_shown if LAG_FILTER[show](e)]
    for u in unfiled_shown:
        u.entry_url = _entry_url(request, u)
    returned_shown = [c for c in returned if _matches(q, _ReturnedLine(c))] if not show else []
    missed_shown = (
        [a for a in missed if _matches(q, _ReturnedLine(a))] if show in ("", "red") else []
    )
    stamp = format_month(due_month or month) if (due_month or month) else "无"
    table = list_files.Table(
        "我的待办", HEADER, _table(unfiled_shown, rows_shown, returned_shown, missed_shown)
    )
    download = lists.export(request, table, f"我的待办_{stamp}")
    if download is not None:
        return download
    query = request.GET.copy()
    query.pop("format", None)
    return render(
        request,
        "dashboard/my_work.html",
        _context(
            request,
            month,
            rows=rows_shown,
            unfiled=unfiled_shown,
            returned=returned_shown,
            missed_milestones=missed_shown,
            totals=totals,
            due_month=due_month,
            due_label=deadline_label(due_month) if due_month else "",
            due_days=days_left(due_month) if due_month else None,
            search=q,
            show=show,
            show_choices=SHOW.items(),
            export_query=query.urlencode(),
            red=counts["seriously_behind"],
            overdue=counts["overdue"],
            yellow=counts["behind"],
            grey=counts["not_reported"],
            risk=totals["risk"],
        ),
    )


HEADER = ["类型", "月份", "序号", "指标", "区、县(市)", "牵头单位", "状态", "任务数", "序时应达",
          "累计完成", "完成率"]  # fmt: skip


def _table(unfiled, rows, returned=(), missed=()) -> list[list]:
    out = []
    for c in returned:  # issue 30: first, as on the page
        project = c.indicator.project
        where = [month_label(c.month), project.seq, c.indicator.label, c.district.name,
                 project.lead_agency.name]  # fmt: skip
        out.append(["被退回", *where, f"退回：{c.reason}", "", "", "", ""])
    for a in missed:
        project = a.indicator.project
        where = [month_label(a.month), project.seq, project.name, a.district.name,
                 project.lead_agency.name]  # fmt: skip
        out.append(["节点未完成", *where, f"红：{a.message}", "", "", "", ""])
    for u in unfiled:
        quota = show_amount(u.indicator, u.quota)
        where = [month_label(u.month), u.project_seq, u.label, u.district.name, u.lead_agency]
        out.append(["未填报", *where, u.state_label, quota, "", "", ""])
    for e in rows:
        where = [month_label(e.month), e.project_seq, e.label, e.district.name, e.lead_agency]
        status = e.status_label + ("（有逾期风险）" if e.at_risk else "")
        figures = [e.show(e.quota), e.show(e.expected), e.show(e.actual)]
        out.append(["滞后", *where, status, *figures, fmt.percent(e.completion_pct)])
    return out
