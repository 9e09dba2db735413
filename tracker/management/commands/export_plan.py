from django.core.management.base import BaseCommand, CommandError

from tracker.models import PlanYear
from tracker.services.plan_export import export_plan_csv


class Command(BaseCommand):
    help = "把已载入的计划导出为 quotas.csv 和 milestones.csv，便于与公报原文逐项核对。"

    def add_arguments(self, parser):
        parser.add_argument("year", type=int)
        parser.add_argument("--csv", dest="directory", required=True, help="输出目录")

    def handle(self, *args, year, directory, **options):
        plan_year = PlanYear.objects.filter(year=year).first()
        if plan_year is None:
            raise CommandError(f"尚未载入 {year} 年度计划")
        for path in export_plan_csv(plan_year, directory):
            self.stdout.write(f"已写入 {path}")
