"""Tells the plan loader's preview what progress stores on a plan (see
``tracker.plans.dependents``): reports and reviews by cell, completions by milestone."""

from django.db.models import Count

from tracker.plans.dependents import Dependent, register
from tracker.progress.models import CellReview, MilestoneCompletion, ProgressReport


def _by_cell(model):
    def count(indicator_ids):
        rows = (
            model.objects.filter(indicator_id__in=indicator_ids)
            .values("indicator_id", "district_id")
            .annotate(n=Count("pk"))
        )
        return {(r["indicator_id"], r["district_id"]): r["n"] for r in rows}

    return count


def _completions(milestone_ids):
    rows = (
        MilestoneCompletion.objects.filter(milestone_id__in=milestone_ids)
        .values("milestone_id")
        .annotate(n=Count("pk"))
    )
    return {r["milestone_id"]: r["n"] for r in rows}


def connect() -> None:
    register(Dependent("进度填报", cells=_by_cell(ProgressReport)))
    register(Dependent("审核", cells=_by_cell(CellReview)))
    register(Dependent("节点完成", milestones=_completions))
