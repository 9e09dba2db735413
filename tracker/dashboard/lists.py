"""Search, filters and exports for the lists people work with (matrix, ranking, district).

The filters are read from the query string once (``ListFilters.from_request``) and applied
to what the selectors returned (no second evaluation): ``q`` searches the indicator, its
project (name or 序号) and lead agency, or a district's name on the ranking; ``district``
(code) narrows the matrix to that column; ``project`` (序号) and ``status`` (a
``LagStatus`` value) keep the rows concerned. ``?format=xlsx`` or ``?format=csv`` downloads
exactly the rows and columns shown (``tracker.reporting.list_files``). The header's month
picker keeps every other parameter, so a filter survives a change of month.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from urllib.parse import quote

from django.http import HttpResponse

from tracker.choices import LABEL, LagStatus
from tracker.plans.reference import Agency
from tracker.reporting import list_files as lists


@dataclass(frozen=True)
class ListFilters:
    q: str = ""
    district: str = ""
    project: int | None = None
    status: str = ""

    @classmethod
    def from_request(cls, request) -> ListFilters:
        get = request.GET
        project = get.get("project", "").strip()
        status = get.get("status", "")
        return cls(
            q=get.get("q", "").strip()[:50],
            district=get.get("district", "").strip(),
            project=int(project) if project.isdigit() else None,
            status=status if status in LABEL else "",
        )

    @property
    def active(self) -> bool:
        return bool(self.q or self.district or self.project or self.status)

    def matches_indicator(self, indicator, agency: str = "") -> bool:
        """``indicator`` (with ``project`` loaded) matches the project and the search;
        ``agency`` is the lead agency's name."""
        project = indicator.project
        if self.project is not None and project.seq != self.project:
            return False
        if self.q:
            return self.q in f"{project.seq} {indicator.label} {project.name} {agency}"
        return True


STATUS_CHOICES = [(value, label) for value, label in LagStatus.choices]


def filter_matrix(data, f: ListFilters):
    """The matrix with only the chosen district column and the rows that match."""
    if data is None or not f.active:
        return data
    agencies = {}
    if f.q:  # one query for the lead agencies' names
        ids = {r.indicator.project.lead_agency_id for r in data.rows}
        agencies = dict(Agency.objects.filter(pk__in=ids).values_list("pk", "name"))
    columns = list(range(len(data.districts)))
    if f.district:
        columns = [i for i, d in enumerate(data.districts) if d.code == f.district]
    rows = []
    for row in data.rows:
        if not f.matches_indicator(
            row.indicator, agencies.get(row.indicator.project.lead_agency_id, "")
        ):
            continue
        cells = [row.cells[i] for i in columns]
        if f.status and not any(c is not None and c.status == f.status for c in cells):
            continue
        if not any(c is not None for c in cells):
            continue
        rows.append(replace(row, cells=cells))
    return replace(data, districts=[data.districts[i] for i in columns], rows=rows)


def filter_lines(lines, f: ListFilters) -> list:
    """Evaluation lines (a district's scorecard) that match."""
    return [
        e
        for e in lines
        if f.matches_indicator(e.indicator, e.lead_agency)
        and (not f.status or e.status == f.status)
        and (not f.district or e.district.code == f.district)
    ]


def filter_ranking(rows, f: ListFilters) -> list:
    return [
        r
        for r in rows
        if (not f.q or f.q in r.district.name) and (not f.district or r.district.code == f.district)
    ]


def export(request, table: lists.Table, name: str) -> HttpResponse | None:
    """The download asked for by ``?format=xlsx|csv``, or None to render the page."""
    kind = request.GET.get("format", "")
    if kind == "xlsx":
        content, content_type, ext = lists.workbook([table]), lists.XLSX, "xlsx"
    elif kind == "csv":
        content, content_type, ext = lists.csv_bytes(table), lists.CSV, "csv"
    else:
        return None
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(f'{name}.{ext}')}"
    return response
