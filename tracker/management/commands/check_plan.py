from django.core.management.base import BaseCommand, CommandError

from tracker.models import PlanYear
from tracker.services.plan_integrity import check_plan, unacknowledged


class Command(BaseCommand):
    help = "检查计划的完整性：分解任务合计、进度节点是否超目标或倒退、节点是否晚于预计完成时间。"

    def add_arguments(self, parser):
        parser.add_argument("year", type=int)

    def handle(self, *args, year, **options):
        plan_year = PlanYear.objects.filter(year=year).first()
        if plan_year is None:
            raise CommandError(f"尚未载入 {year} 年度计划")
        findings = check_plan(plan_year)
        for finding in findings:
            self.stdout.write(str(finding))
        problems = unacknowledged(findings)
        if problems:
            raise CommandError(f"{year}年计划完整性检查未通过：{len(problems)} 个问题")
        self.stdout.write(
            self.style.SUCCESS(
                f"{year}年计划完整性检查通过（{len(findings)} 个已确认的原文不一致）"
            )
        )
