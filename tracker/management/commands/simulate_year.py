"""``python manage.py simulate_year 2024 [--issuer 西湖区人民政府] [--seed N] [--through 2024-09]``:
a demo year of one plan.

See ``tracker.demo.simulation`` for what is simulated (淳安县 and 临安区 lag by
design, 建德市 reports late in April and July) and how.
"""

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from tracker.demo.simulation import SimulationError, simulate_year, work_units
from tracker.months import parse_month
from tracker.plans.loader import PlanFileError
from tracker.plans.selection import command_plan


class Command(BaseCommand):
    help = "模拟一年的月度进度（确定性，可指定随机种子），并逐月运行进度检查以生成预警"

    def add_arguments(self, parser):
        parser.add_argument("year", type=int, help="计划年度，例如 2024")
        parser.add_argument("--seed", type=int, default=2024, help="随机种子（默认 2024）")
        parser.add_argument(
            "--through", help="模拟到哪个月（YYYY-MM）；默认12月，当年则为已过填报截止日的最近月份"
        )
        parser.add_argument("--force", action="store_true", help="覆盖人工填报的数据")
        parser.add_argument(
            "--issuer", help="发布机关（同一年度有多个计划时指定，如 西湖区人民政府）；默认市政府"
        )
        parser.add_argument("--quiet", action="store_true", help="不显示进度条")
        parser.add_argument("--plan", help="计划编号（同一年度有多个计划时，可代替 --issuer）")

    def handle(self, *args, year, seed, through, force, quiet, issuer=None, plan=None, **options):
        try:
            month = parse_month(through) if through else None
            if plan:
                issuer = command_plan(year, issuer, plan).issuer
        except (ValueError, PlanFileError) as exc:
            raise CommandError(str(exc)) from exc
        bar = tqdm(total=work_units(year, month), disable=quiet, desc="模拟", unit="步")

        def step(label, n=1):
            bar.set_description(label)
            bar.update(n)

        try:
            result = simulate_year(
                year, seed=seed, through=month, force=force, progress=step, issuer=issuer
            )
        except SimulationError as exc:
            raise CommandError(str(exc)) from exc
        finally:
            bar.close()
        self.stdout.write(
            f"{year}年模拟完成：填报 {result.reports} 条（更正 {result.corrections} 条），"
            f"节点完成 {result.completions} 条，检查 {result.months_checked} 个月，"
            f"预警 {result.alerts} 条"
        )
