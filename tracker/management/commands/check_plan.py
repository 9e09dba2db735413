from django.core.management.base import BaseCommand, CommandError

from tracker.plans.integrity import check_plan, unacknowledged
from tracker.plans.loader import PlanFileError
from tracker.plans.selection import command_plan


class Command(BaseCommand):
    help = "检查计划的完整性：分解任务合计、进度节点是否超目标或倒退、节点是否晚于预计完成时间。"

    def add_arguments(self, parser):
        parser.add_argument("year", type=int)
        parser.add_argument("--issuer", help="发布机关（同一年度有多个计划时必填）")
        parser.add_argument("--plan", help="计划编号（同一年度有多个计划时，可代替 --issuer）")

    def handle(self, *args, year, issuer=None, plan=None, **options):
        try:
            plan_year = command_plan(year, issuer, plan)
        except PlanFileError as exc:
            raise CommandError(str(exc)) from exc
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
