"""``python manage.py check_lag --month 2024-06 [--dry-run] [--issuer 西湖区人民政府]``: the lag
check by hand. The check covers every plan of the month's year (as the scheduled task
does); ``--issuer`` picks the plan whose indicators the table lists.

The same service the scheduled task calls (``tracker.monitoring.checks``); prints a summary
table per indicator and what happened to alerts and notifications.
"""

import unicodedata
from datetime import datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from tracker.choices import LagStatus
from tracker.formats import number
from tracker.monitoring.checks import run_due_checks, run_lag_check, run_milestone_check
from tracker.months import format_month, month_label, parse_month
from tracker.plans.loader import PlanFileError
from tracker.plans.reference import DEFAULT_ISSUER, PlanYear
from tracker.plans.selection import command_plan

COLUMNS = [
    ("序号", 4),
    ("量化目标", 26),
    ("全市应达", 12),
    ("累计完成", 12),
    ("封顶完成", 12),
    ("正常", 4),
    ("黄", 4),
    ("红", 4),
    ("逾期", 4),
    ("未报", 4),
    ("未到", 4),
    ("风险", 4),
]
STATUS_COLUMNS = (
    LagStatus.ON_TRACK,
    LagStatus.BEHIND,
    LagStatus.SERIOUSLY_BEHIND,
    LagStatus.OVERDUE,
    LagStatus.NOT_REPORTED,
    LagStatus.NOT_DUE,
)


def width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def cell(text, size: int) -> str:
    text = str(text)
    while width(text) > size:
        text = text[:-2] + "…"
    return text + " " * (size - width(text))


class Command(BaseCommand):
    help = "按月检查各区、县(市)进度是否滞后，生成预警并通知相关单位（与定时任务相同）。"

    def add_arguments(self, parser):
        parser.add_argument("--month", required=True, help="检查的月份，YYYY-MM，例如 2024-06")
        parser.add_argument("--dry-run", action="store_true", help="只评估并显示结果，不写入")
        parser.add_argument(
            "--as-of",
            help="数据截至时间（回放历史），如 2024-07-06T09:00；默认现在",
        )
        parser.add_argument(
            "--catch-up",
            action="store_true",
            help="同时补做该年度此前未检查或数据有更正的月份",
        )
        parser.add_argument("--milestones", action="store_true", help="同时检查定性进度节点")
        parser.add_argument("--plan", help="只列出该编号的计划（同一年度有多个计划时）")
        parser.add_argument(
            "--issuer",
            help="只列出该发布机关的计划（同一年度有多个计划时，如 西湖区人民政府）；"
            "检查本身覆盖该年度的全部计划",
        )

    def handle(
        self, *args, month, dry_run, as_of, catch_up, milestones, issuer=None, plan=None, **options
    ):
        try:
            month = parse_month(month)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        as_of_dt = self._as_of(as_of)
        if not PlanYear.objects.filter(year=month.year).exists():
            raise CommandError(f"尚未载入 {month.year} 年度计划，无法检查 {format_month(month)}")
        self.plan = None
        if issuer or plan:
            try:
                self.plan = command_plan(month.year, issuer, plan)
            except PlanFileError as exc:
                raise CommandError("；".join(exc.problems)) from exc

        if catch_up and not dry_run:
            earlier = [r for r in run_due_checks(month, as_of=as_of_dt) if r.month < month]
            for r in earlier:
                self.stdout.write(f"已补做 {format_month(r.month)}：{r.changes.counts()}")
        result = run_lag_check(month, as_of=as_of_dt, dry_run=dry_run)
        self._table(result)
        if milestones and not dry_run:
            checked = run_milestone_check(month, as_of=as_of_dt)
            if checked is None:
                self.stdout.write(f"{month.month}月计划中没有进度节点，未做节点检查")
            else:
                self.stdout.write(
                    f"节点检查：{self._counts(checked.changes.counts())}；"
                    f"通知 {len(checked.notifications)} 份"
                )

    def _as_of(self, text):
        if not text:
            return None
        try:
            value = datetime.fromisoformat(text)
        except ValueError as exc:
            raise CommandError(
                f"--as-of 应为日期时间，如 2024-07-06T09:00，收到「{text}」"
            ) from exc
        return timezone.make_aware(value) if timezone.is_naive(value) else value

    @staticmethod
    def _counts(counts: dict) -> str:
        return "，".join(f"{k} {v}" for k, v in counts.items())

    def _table(self, result):
        ev = result.evaluation
        as_of = timezone.localtime(ev.as_of)
        deadline = timezone.localtime(ev.deadline)
        mode = "（试运行，未写入）" if result.dry_run else f"（第 {result.run_number} 次）"
        self.stdout.write(
            f"{month_label(ev.month)}进度检查{mode}\n"
            f"数据截至 {as_of:%Y-%m-%d %H:%M}；填报截止 {deadline:%Y-%m-%d}"
        )
        self.stdout.write(" ".join(cell(name, size) for name, size in COLUMNS))
        # One block per plan (the city's first), never two plans' rows interleaved.
        plans = {p.pk: p for p in PlanYear.objects.filter(pk__in={
            p.plan_year_id for p in ev.plans.values()})}  # fmt: skip
        order = sorted(plans.values(), key=lambda p: (p.issuer != DEFAULT_ISSUER, p.pk))
        rank = {p.pk: n for n, p in enumerate(order)}
        heading = None
        rows = sorted(
            ev.plans.items(),
            key=lambda kv: (rank.get(kv[1].plan_year_id, 0), kv[1].project_seq or 0),
        )
        for indicator_id, plan in rows:
            city = ev.city.get(indicator_id)
            if city is None or (self.plan is not None and plan.plan_year_id != self.plan.pk):
                continue
            if plan.plan_year_id != heading and (self.plan is not None or len(plans) > 1):
                heading = plan.plan_year_id
                shown = plans[heading]
                self.stdout.write(f"计划：{shown}（{shown.issuer}，编号 {shown.pk}）")
            at_risk = sum(1 for c in ev.cells if c.indicator_id == indicator_id and c.at_risk)
            row = [
                plan.project_seq,
                plan.label,
                number(city.expected),
                number(city.actual),
                number(city.actual_capped),
                *(city.counts.get(s, 0) for s in STATUS_COLUMNS),
                at_risk,
            ]
            self.stdout.write(
                " ".join(cell(v, size) for v, (_n, size) in zip(row, COLUMNS, strict=True))
            )
        totals = ev.status_counts()
        self.stdout.write(
            "合计："
            + "，".join(f"{s.label} {totals.get(s, 0)}" for s in STATUS_COLUMNS)
            + f"，风险 {sum(1 for c in ev.cells if c.at_risk)}"
        )
        if result.dry_run:
            self.stdout.write(f"将产生预警 {len(result.changes.created)} 条")
        else:
            self.stdout.write(
                f"预警：{self._counts(result.changes.counts())}；"
                f"通知 {len(result.notifications)} 份"
            )
