"""Plan-integrity checks: does the loaded plan agree with itself?

The published tables have real inconsistencies; a check that finds one the
fixture has examined and explained (its ``acknowledged`` list, stored on
``PlanYear.acknowledged_findings``) reports it as acknowledged, so the check
passes on the plan as published but fails on anything new.

Checks:
- ``quota_sum``: district quotas of an additive (cumulative, district-split)
  target do not add up to the annual target;
- ``missing_quotas``: a district-split target with no quota at all;
- ``quota_level``: a rate quota above 100% or different from the city target;
- ``milestone_exceeds_target``: a checkpoint (or the sum of monthly amounts)
  above the annual target;
- ``milestone_backwards``: a later checkpoint lower than an earlier one;
- ``milestone_after_deadline``: a milestone dated after 预计完成时间 (its target's own
  deadline when the plan gives one, else the project's);
- ``deadline_assumed``: the plan printed no 预计完成时间 for a project, so it was loaded
  with the year end (``Project.deadline_assumed``): someone must confirm or correct it
  (acknowledge it once confirmed, like any finding).
"""

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from django.db import models
from django.db.models import Count, Sum

from tracker.formats import plain
from tracker.months import date_label, format_month, month_end_label
from tracker.plans.models import Indicator, Milestone, Project, Quota
from tracker.plans.reference import PlanYear


class Check(models.TextChoices):
    QUOTA_SUM = "quota_sum", "分解任务合计与年度目标不符"
    MISSING_QUOTAS = "missing_quotas", "缺少分解任务"
    QUOTA_LEVEL = "quota_level", "比率类分解任务有误"
    MILESTONE_EXCEEDS = "milestone_exceeds_target", "进度节点超过年度目标"
    MILESTONE_BACKWARDS = "milestone_backwards", "进度节点倒退"
    MILESTONE_AFTER_DEADLINE = "milestone_after_deadline", "进度节点晚于预计完成时间"
    DEADLINE_ASSUMED = "deadline_assumed", "预计完成时间系推定"


@dataclass(frozen=True)
class Finding:
    check: str
    seq: int
    indicator: int | None
    message: str
    acknowledged: bool = False
    reason: str = ""

    def __str__(self):
        mark = "已确认" if self.acknowledged else "问题"
        tail = f"（已确认：{self.reason}）" if self.acknowledged and self.reason else ""
        return f"[{mark}] 序号{self.seq}：{self.message}{tail}"


def check_plan(plan_year: PlanYear) -> list[Finding]:
    """All findings for one plan year, in 序号 order. Five queries whatever the size."""
    indicators = list(
        Indicator.objects.filter(project__plan_year=plan_year)
        .select_related("project")
        .annotate(quota_total=Sum("quotas__value"), quota_count=Count("quotas"))
        .order_by("project__seq", "order")
    )
    level_quotas = defaultdict(list)
    for q in Quota.objects.filter(
        indicator__project__plan_year=plan_year, indicator__kind=Indicator.Kind.LEVEL
    ).select_related("district"):
        level_quotas[q.indicator_id].append(q)
    milestones = list(
        Milestone.objects.filter(project__plan_year=plan_year)
        .select_related("project", "indicator")
        .order_by("project__seq", "due_date", "order")
    )
    findings: list[Finding] = []
    for ind in indicators:
        findings += _quota_findings(ind, level_quotas.get(ind.pk, []))
    by_indicator = defaultdict(list)
    for m in milestones:
        if m.indicator_id:
            by_indicator[m.indicator_id].append(m)
        deadline = (m.indicator.deadline if m.indicator_id else None) or m.project.deadline
        if m.due_date > deadline:
            findings.append(
                Finding(
                    Check.MILESTONE_AFTER_DEADLINE,
                    m.project.seq,
                    m.indicator.order if m.indicator_id else None,
                    f"进度节点「{m.text}」日期 {m.due_date:%Y-%m-%d} 晚于预计完成时间 "
                    f"{month_end_label(deadline)}",
                )
            )
    for ind in indicators:
        findings += _milestone_findings(ind, by_indicator.get(ind.pk, []))
    for seq, deadline in (
        Project.objects.filter(plan_year=plan_year, deadline_assumed=True)
        .order_by("seq")
        .values_list("seq", "deadline")
    ):
        findings.append(
            Finding(
                Check.DEADLINE_ASSUMED,
                seq,
                None,
                f"原文未写预计完成时间，已按 {date_label(deadline)} 载入；"
                "请核对原文后改正（load_plan）或确认（acknowledged）",
            )
        )
    return _acknowledge(findings, plan_year.acknowledged_findings or [])


def _quota_findings(ind, level_quotas) -> list[Finding]:
    seq, where = ind.project.seq, f"第{ind.order}个量化目标「{ind.label}」"
    out = []
    split = ind.scope == Indicator.Scope.DISTRICTS and ind.kind != Indicator.Kind.QUALITATIVE
    if split and not ind.quota_count:
        out.append(Finding(Check.MISSING_QUOTAS, seq, ind.order, f"{where}没有分解任务"))
    if (
        ind.is_additive
        and ind.quota_count
        and ind.target_value is not None
        and ind.quota_total != ind.target_value
    ):
        out.append(
            Finding(
                Check.QUOTA_SUM,
                seq,
                ind.order,
                f"{where}各区、县(市)分解任务合计 {plain(ind.quota_total)}{ind.unit}，"
                f"与年度目标 {plain(ind.target_value)}{ind.unit} 不符",
            )
        )
    for q in level_quotas:
        if q.value > 100 or (ind.target_value is not None and q.value != ind.target_value):
            out.append(
                Finding(
                    Check.QUOTA_LEVEL,
                    seq,
                    ind.order,
                    f"{where}{q.district.name}的分解目标 {plain(q.value)}% "
                    f"与全市目标 {plain(ind.target_value)}% 不一致或超过 100%",
                )
            )
    return out


def _milestone_findings(ind, milestones) -> list[Finding]:
    seq, where = ind.project.seq, f"第{ind.order}个量化目标「{ind.label}」"
    out = []
    target = ind.target_value
    monthly_total = Decimal(0)
    previous = None
    for m in milestones:
        if m.kind == Milestone.Kind.MONTHLY:
            monthly_total += m.value or 0
            continue
        if not m.is_checkpoint:
            continue
        expected = m.expected
        if target is not None and expected is not None and expected > target:
            out.append(
                Finding(
                    Check.MILESTONE_EXCEEDS,
                    seq,
                    ind.order,
                    f"{where}的进度节点「{m.text}」要求 {plain(expected)}{ind.unit}，"
                    f"超过年度目标 {plain(target)}{ind.unit}",
                )
            )
        if previous is not None and expected is not None and expected < previous[1]:
            out.append(
                Finding(
                    Check.MILESTONE_BACKWARDS,
                    seq,
                    ind.order,
                    f"{where}的进度节点「{m.text}」（{format_month(m.due_date)}，{plain(expected)}）"
                    f"低于之前的节点「{previous[0].text}」（{plain(previous[1])}）",
                )
            )
        if expected is not None:
            previous = (m, expected)
    if target is not None and monthly_total > target:
        out.append(
            Finding(
                Check.MILESTONE_EXCEEDS,
                seq,
                ind.order,
                f"{where}的每月完成量合计 {plain(monthly_total)}{ind.unit}，"
                f"超过年度目标 {plain(target)}{ind.unit}",
            )
        )
    return out


def _acknowledge(findings, acknowledged) -> list[Finding]:
    out = []
    for f in findings:
        match = next(
            (
                a
                for a in acknowledged
                if a.get("seq") == f.seq
                and a.get("check") == f.check
                and a.get("indicator") in (None, f.indicator)
            ),
            None,
        )
        if match:
            f = Finding(f.check, f.seq, f.indicator, f.message, True, match.get("reason", ""))
        out.append(f)
    return sorted(out, key=lambda f: (f.seq, f.indicator or 0, f.check))


def unacknowledged(findings) -> list[Finding]:
    return [f for f in findings if not f.acknowledged]
