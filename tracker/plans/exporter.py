"""Write a loaded plan out: CSV to diff against the publication, or the two
published tables as a workbook (``export_plan --xlsx``) that ``import_plan`` reads
back.

``quotas.csv``: seq, indicator, label, unit, district, quota, new, upgrade — one
row per printed quota cell, in the plan's own column order; amounts in the
indicator's base unit (「15万平方米」→ 150000); ``new``/``upgrade`` only for split
cells like 「5(4)个」; a quota shared by a merged column names all its units
(「海曙区、江东区、江北区」).

``targets.csv``: seq, indicator, label, unit, kind, scope, target, target_text,
deadline, note — one row per quantified target, *including* city-wide targets
(「不分解区、县(市)目标任务」) and qualitative ones, which have no quota rows.

``milestones.csv``: seq, indicator, month, kind, value, expected, text — one row
per milestone and target; ``value`` is the amount as published (「不少于100个」,
「50%」, 「6万人」), ``expected`` the city-wide cumulative amount it means
(percentages turned into amounts, levels kept as levels, monthly amounts per
month); qualitative, stage and pace rows have an empty ``expected`` and
qualitative ones an empty ``value``. ``indicator`` is empty for a project-wide
qualitative milestone.
"""

import csv
from pathlib import Path

from tracker.formats import plain
from tracker.months import format_month, month_end, short_month_end_label
from tracker.plans.models import Indicator, Milestone, Project, Quota
from tracker.plans.published_tables import (
    DEFAULT_GROUP_HEADER,
    BreakdownRow,
    PublishedTables,
    ResponsibilityRow,
    write_workbook,
)
from tracker.plans.reference import PlanYear

QUOTA_COLUMNS = ["seq", "indicator", "label", "unit", "district", "quota", "new", "upgrade"]
TARGET_COLUMNS = [
    "seq", "indicator", "label", "unit", "kind", "scope",
    "target", "target_text", "deadline", "note",
]  # fmt: skip
MILESTONE_COLUMNS = ["seq", "indicator", "month", "kind", "value", "expected", "text"]
BREAKDOWN_NAME_PREFIX = "附件2 单列为："


def quota_rows(plan_year: PlanYear):
    order = plan_year.column_order()
    quotas = sorted(
        Quota.objects.filter(indicator__project__plan_year=plan_year)
        .select_related("indicator__project", "district")
        .prefetch_related("shared_with"),
        key=lambda q: (
            q.indicator.project.seq,
            q.indicator.order,
            order.get(q.district_id, 10_000 + q.district.order),
        ),
    )
    for q in quotas:
        ind = q.indicator
        units = [q.district, *sorted(q.shared_with.all(), key=lambda d: order.get(d.pk, 0))]
        yield {
            "seq": ind.project.seq,
            "indicator": ind.order,
            "label": ind.label,
            "unit": ind.unit,
            "district": "、".join(d.name for d in units),
            "quota": plain(q.value),
            "new": plain(q.new_value),
            "upgrade": plain(q.upgrade_value),
        }


def target_rows(plan_year: PlanYear):
    indicators = Indicator.objects.filter(project__plan_year=plan_year).select_related("project")
    for ind in indicators.order_by("project__seq", "order"):
        yield {
            "seq": ind.project.seq,
            "indicator": ind.order,
            "label": ind.label,
            "unit": ind.unit,
            "kind": ind.kind,
            "scope": ind.scope,
            "target": plain(ind.target_value),
            "target_text": ind.target_text,
            "deadline": f"{ind.due:%Y-%m-%d}",
            "note": ind.breakdown_note,
        }


def milestone_rows(plan_year: PlanYear):
    milestones = (
        Milestone.objects.filter(project__plan_year=plan_year)
        .select_related("project", "indicator")
        .order_by("project__seq", "order")
    )
    for m in milestones:
        yield {
            "seq": m.project.seq,
            "indicator": m.indicator.order if m.indicator_id else "",
            "month": f"{format_month(m.due_date)}",
            "kind": m.kind,
            "value": m.value_text if m.kind != Milestone.Kind.QUALITATIVE else "",
            "expected": plain(m.expected),
            "text": m.text,
        }


def export_plan_csv(plan_year: PlanYear, directory) -> list[Path]:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, columns, rows in (
        ("quotas.csv", QUOTA_COLUMNS, quota_rows(plan_year)),
        ("targets.csv", TARGET_COLUMNS, target_rows(plan_year)),
        ("milestones.csv", MILESTONE_COLUMNS, milestone_rows(plan_year)),
    ):
        path = directory / name
        with path.open("w", encoding="utf-8", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)
        written.append(path)
    return written


# --- the published layout -----------------------------------------------------------


def published_tables(plan_year: PlanYear) -> PublishedTables:
    """The plan as the gazette prints it (附件1 and 附件2), cell texts as published."""
    columns = list(
        plan_year.columns.select_related("district")
        .prefetch_related("merged_units")
        .order_by("order")
    )
    city = []
    for c in columns:
        if c.district.kind != "city" or len(city) != columns.index(c):
            break
        city.append(c)
    units = columns[len(city) :]
    tables = PublishedTables(
        responsibility_title=f"{plan_year.title}责任清单",
        breakdown_title=f"{plan_year.title}任务分解表",
        city_labels=[c.label for c in city],
        unit_labels=[c.label for c in units],
        group_header=DEFAULT_GROUP_HEADER,
    )
    projects = (
        Project.objects.filter(plan_year=plan_year)
        .select_related("category", "lead_agency")
        .prefetch_related("co_lead_agencies", "indicators__quotas", "milestones")
        .order_by("seq")
    )
    for p in projects:
        leads = [p.lead_agency.name, *sorted(a.name for a in p.co_lead_agencies.all())]
        deadline = "" if p.deadline_assumed else short_month_end_label(p.deadline)
        tables.responsibility.append(
            ResponsibilityRow(
                [
                    str(p.category.order),
                    p.category.name,
                    p.name,
                    p.city_leader,
                    "、".join(leads),
                    p.lead_agency_leader,
                    p.cooperating_text,
                    deadline,
                    p.work_plan,
                ]
            )
        )
        for i, ind in enumerate(p.indicators.all()):
            note_lines = ind.breakdown_note.splitlines()
            own_name = next(
                (
                    n[len(BREAKDOWN_NAME_PREFIX) :]
                    for n in note_lines
                    if n.startswith(BREAKDOWN_NAME_PREFIX)
                ),
                "",
            )
            note = "\n".join(n for n in note_lines if not n.startswith(BREAKDOWN_NAME_PREFIX))
            name = (p.name_in_breakdown or p.name) if i == 0 else own_name
            row = BreakdownRow(
                str(p.seq) if i == 0 else "",
                name,
                ind.target_text or "—",
                leads[0] if i == 0 else "",
                [],
            )
            if ind.scope == Indicator.Scope.CITY or ind.kind == Indicator.Kind.QUALITATIVE:
                if note:
                    row.note = note
                else:
                    row.cells = ["—"] * len(columns)
            else:
                by_unit = {
                    q.district_id: q.published_text or plain(q.value) for q in ind.quotas.all()
                }
                row.cells = [by_unit.get(c.district_id, "—") for c in columns]
            tables.breakdown.append(row)
    tables.metadata = plan_metadata(plan_year, projects, columns)
    return tables


def export_plan_xlsx(plan_year: PlanYear, path) -> Path:
    return write_workbook(published_tables(plan_year), path)


# --- what the printed tables cannot carry (the hidden sheet) ------------------------


def _due_text(day) -> str:
    """``YYYY-MM`` for a month end (as plan files write it), else ``YYYY-MM-DD``."""
    return format_month(day) if day == month_end(day) else f"{day:%Y-%m-%d}"


def project_key(project) -> str:
    """The project's stable key: the stored one once plans keep keys, else ``P<seq>``."""
    return getattr(project, "key", "") or f"P{project.seq}"


def _indicator_meta(key, ind) -> dict:
    out = {
        "key": getattr(ind, "key", "") or f"{key}-T{ind.order}",
        "label": ind.label,
        "unit": ind.unit,
        "kind": ind.kind,
        "scope": ind.scope,
    }
    if getattr(ind, "direction", "") == "ceiling":
        out["direction"] = "ceiling"
    if ind.deadline:
        out["deadline"] = _due_text(ind.deadline)
    return out


def _milestones_meta(key, milestones, unit_of) -> list[dict]:
    """The project's milestones in plan-file form: one entry per sentence (the loader's
    ``order // 100``), its numeric rows as ``targets`` with the value in base units."""
    entries: dict = {}
    for m in sorted(milestones, key=lambda m: m.order):
        group = (m.order // 100, m.due_date, m.text)
        entry = entries.get(group)
        if entry is None:
            stored = getattr(m, "key", "")
            entry = entries[group] = {
                "key": stored or f"{key}-M{len(entries) + 1}",
                "due": _due_text(m.due_date),
                "text": m.text,
            }
        ind_order = unit_of[m.indicator_id][0] if m.indicator_id else None
        if m.kind == Milestone.Kind.QUALITATIVE:
            if ind_order is not None:
                entry["indicator"] = ind_order
            continue
        percent = m.kind in (Milestone.Kind.PERCENT, Milestone.Kind.LEVEL) or (
            m.value_text.endswith("%")
        )
        value = f"{plain(m.value)}{'%' if percent else unit_of[m.indicator_id][1]}"
        target = {"indicator": ind_order, "kind": m.kind, "value": value}
        if m.value_text and m.value_text != value:
            target["published"] = m.value_text
        entry.setdefault("targets", []).append(target)
    return list(entries.values())


def plan_metadata(plan_year: PlanYear, projects, columns) -> dict:
    """Everything ``load_plan`` needs that the two printed tables do not show: keys, unit
    codes and merged columns, scopes, directions, target deadlines, the reviewed milestones
    and the plan's own fields, so export → import → load gives the same plan back."""
    districts = []
    for c in columns:
        d = c.district
        entry = {"code": d.code, "name": d.name, "kind": d.kind}
        if c.label and c.label != d.name:
            entry["label"] = c.label
        merged = sorted(c.merged_units.all(), key=lambda u: u.order)
        if merged:
            entry["merged"] = [{"code": u.code, "name": u.name, "kind": u.kind} for u in merged]
        districts.append(entry)
    plan = {
        "issuer": plan_year.issuer,
        "year": plan_year.year,
        "format_version": plan_year.format_version,
        "document_number": plan_year.document_number,
        "source": plan_year.source,
        "published_on": f"{plan_year.published_on:%Y-%m-%d}" if plan_year.published_on else "",
        "notes": plan_year.notes,
        "acknowledged": list(plan_year.acknowledged_findings or []),
        "districts": districts,
    }
    out = []
    for p in projects:
        key = project_key(p)
        indicators = list(p.indicators.all())
        unit_of = {i.pk: (i.order, i.unit) for i in indicators}
        out.append(
            {
                "key": key,
                "seq": p.seq,
                "deadline_assumed": p.deadline_assumed,
                "notes": p.notes,
                "work_plan": p.work_plan,
                "indicators": [_indicator_meta(key, i) for i in indicators],
                "milestones": _milestones_meta(key, p.milestones.all(), unit_of),
            }
        )
    return {"plan": plan, "projects": out}
