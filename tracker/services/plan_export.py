"""Write the loaded plan as CSV so anyone can diff it against the publication.

``quotas.csv``: seq, indicator, label, unit, district, quota, new, upgrade — one
row per printed quota cell; amounts in the indicator's base unit (「15万平方米」
→ 150000); ``new``/``upgrade`` only for split cells like 「5(4)个」.

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

from tracker.models import Milestone, PlanYear, Quota

from .numbers import plain

QUOTA_COLUMNS = ["seq", "indicator", "label", "unit", "district", "quota", "new", "upgrade"]
MILESTONE_COLUMNS = ["seq", "indicator", "month", "kind", "value", "expected", "text"]


def quota_rows(plan_year: PlanYear):
    quotas = (
        Quota.objects.filter(indicator__project__plan_year=plan_year)
        .select_related("indicator__project", "district")
        .order_by("indicator__project__seq", "indicator__order", "district__order")
    )
    for q in quotas:
        ind = q.indicator
        yield {
            "seq": ind.project.seq,
            "indicator": ind.order,
            "label": ind.label,
            "unit": ind.unit,
            "district": q.district.name,
            "quota": plain(q.value),
            "new": plain(q.new_value),
            "upgrade": plain(q.upgrade_value),
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
            "month": f"{m.due_date:%Y-%m}",
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
        ("milestones.csv", MILESTONE_COLUMNS, milestone_rows(plan_year)),
    ):
        path = directory / name
        with path.open("w", encoding="utf-8", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)
        written.append(path)
    return written
