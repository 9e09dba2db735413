from django.core.management.base import BaseCommand, CommandError

from tracker.services.plan_integrity import check_plan, unacknowledged
from tracker.services.plan_loader import PlanFileError, load_plan


class Command(BaseCommand):
    help = (
        "载入（或就地更新）一个年度的民生实事计划文件，例如 fixtures/plan_2024.yaml；"
        "重复载入不产生变化。"
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="计划文件（YAML）路径")

    def handle(self, *args, path, **options):
        try:
            summary = load_plan(path)
        except PlanFileError as exc:
            raise CommandError(str(exc)) from exc
        plan_year = summary.plan_year
        self.stdout.write(f"{plan_year.year}年计划：{summary.describe()}")
        findings = check_plan(plan_year)
        problems = unacknowledged(findings)
        acknowledged = len(findings) - len(problems)
        self.stdout.write(
            f"完整性检查：{len(problems)} 个问题，{acknowledged} 个已确认的原文不一致"
            "（详见 python manage.py check_plan）"
        )
