from django.core.management.base import BaseCommand, CommandError

from tracker.plans.exporter import export_plan_csv, export_plan_xlsx
from tracker.plans.loader import PlanFileError
from tracker.plans.selection import command_plan


class Command(BaseCommand):
    help = (
        "导出已载入的计划：--csv 目录 写 quotas.csv、targets.csv、milestones.csv，"
        "便于与公报逐项核对；"
        "--xlsx 文件 按公报版式写「责任清单」「任务分解表」，可再用 import_plan 读回。"
    )

    def add_arguments(self, parser):
        parser.add_argument("year", type=int)
        parser.add_argument("--issuer", help="发布机关（同一年度有多个计划时必填）")
        parser.add_argument("--plan", help="计划编号（同一年度有多个计划时，可代替 --issuer）")
        parser.add_argument("--csv", dest="directory", help="CSV 输出目录")
        parser.add_argument("--xlsx", dest="workbook", help="按公报版式输出的 .xlsx 路径")

    def handle(self, *args, year, issuer=None, plan=None, directory=None, workbook=None, **options):
        if not directory and not workbook:
            raise CommandError("请指定 --csv 目录 或 --xlsx 文件（可同时指定）。")
        try:
            plan_year = command_plan(year, issuer, plan)
        except PlanFileError as exc:
            raise CommandError(str(exc)) from exc
        if directory:
            for path in export_plan_csv(plan_year, directory):
                self.stdout.write(f"已写入 {path}")
        if workbook:
            self.stdout.write(f"已写入 {export_plan_xlsx(plan_year, workbook)}")
