from django.core.management.base import BaseCommand, CommandError

from tracker.plans.integrity import check_plan, unacknowledged
from tracker.plans.loader import PlanFileError, load_plan


class Command(BaseCommand):
    help = (
        "载入（或就地更新）一个民生实事计划文件，例如 fixtures/plan_2024.yaml；"
        "计划以发布机关 + 年度区分，重复载入不产生变化。"
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="计划文件（YAML）路径")
        parser.add_argument(
            "--reorder",
            action="store_true",
            help="允许重新载入已有计划时调整列序（默认拒绝，以免列对调让数字移到别的单位）",
        )

    def handle(self, *args, path, reorder, **options):
        try:
            summary = load_plan(path, reorder=reorder)
        except PlanFileError as exc:
            raise CommandError(str(exc)) from exc
        plan_year = summary.plan_year
        self.stdout.write(f"{plan_year}：{summary.describe()}")
        for warning in summary.warnings:
            self.stdout.write(self.style.WARNING(f"请核对：{warning}"))
        findings = check_plan(plan_year)
        problems = unacknowledged(findings)
        acknowledged = len(findings) - len(problems)
        self.stdout.write(
            f"完整性检查：{len(problems)} 个问题，{acknowledged} 个已确认的原文不一致"
            "（详见 python manage.py check_plan）"
        )
