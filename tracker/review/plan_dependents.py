"""Tells the plan loader's preview what review stores on a plan's cells (see
``tracker.plans.dependents``): explanations and attachments."""

from django.db.models import Count

from tracker.plans.dependents import Dependent, register
from tracker.review.models import Attachment, Explanation


def _explanations(indicator_ids):
    rows = (
        Explanation.objects.filter(indicator_id__in=indicator_ids)
        .values("indicator_id", "district_id")
        .annotate(n=Count("pk"))
    )
    return {(r["indicator_id"], r["district_id"]): r["n"] for r in rows}


def _attachments(indicator_ids):
    rows = (
        Attachment.objects.filter(report__indicator_id__in=indicator_ids)
        .values("report__indicator_id", "report__district_id")
        .annotate(n=Count("pk"))
    )
    return {(r["report__indicator_id"], r["report__district_id"]): r["n"] for r in rows}


def connect() -> None:
    register(Dependent("原因说明", cells=_explanations))
    register(Dependent("佐证材料", cells=_attachments))
