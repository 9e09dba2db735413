from pathlib import Path

import yaml
from django.core.management.base import BaseCommand, CommandError

from tracker.plans.importer import Registry, guessed_issuer, guessed_year, import_tables
from tracker.plans.loader import PlanFileError, read_plan_file
from tracker.plans.published_tables import TableError, read_workbook
from tracker.plans.reference import DEFAULT_ISSUER


class Command(BaseCommand):
    help = (
        "从按公报版式排列的工作簿（「责任清单」「任务分解表」两张表）生成待审核的计划文件，"
        "并列出无法识别或推测的句子、单元格。审核修改后再用 load_plan 载入。"
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="工作簿 .xlsx")
        parser.add_argument("-o", "--output", help="计划文件输出路径（默认与工作簿同名 .yaml）")
        parser.add_argument("--year", type=int, help="年度（默认取表格标题中的年份）")
        parser.add_argument(
            "--issuer",
            help="发布机关（默认按表格标题的地名，如 杭州市人民政府；看不出时必须指定）",
        )
        parser.add_argument(
            "--reference", help="参考计划文件：沿用其中填报单位的代码、表头和单位别名"
        )

    def handle(self, *args, path, output=None, year=None, issuer=None, reference=None, **opts):
        try:
            tables = read_workbook(path)
        except (OSError, TableError, ValueError) as exc:
            raise CommandError(f"无法读取工作簿 {path}：{exc}") from exc
        year = year or guessed_year(tables)
        if year is None:
            raise CommandError("表格标题中没有年份，请用 --year 指定年度。")
        try:
            ref = read_plan_file(reference) if reference else None
        except PlanFileError as exc:
            raise CommandError(str(exc)) from exc
        issuer = (
            issuer
            or tables.metadata.get("plan", {}).get("issuer")
            or guessed_issuer(tables)
            or (ref and (ref.get("issuer") or DEFAULT_ISSUER))  # the reference plan's issuer
        )
        if not issuer:
            raise CommandError(
                f"表格标题「{tables.responsibility_title}」中看不出发布机关。"
                "请用 --issuer 指定，例如 --issuer 宁波市人民政府。"
            )
        registry = Registry.build(ref, issuer=issuer)
        result = import_tables(tables, year=year, registry=registry, issuer=issuer, check_load=True)
        out = Path(output or Path(path).with_suffix(".yaml"))
        header = "# 由 import_plan 生成，待审核。审核清单：\n" + "".join(
            f"# - {item}\n" for item in result.review
        )
        out.write_text(
            header + yaml.safe_dump(result.plan, allow_unicode=True, sort_keys=False, width=1000),
            encoding="utf-8",
        )
        self.stdout.write(
            f"已写入 {out}（{issuer} {year} 年，{len(result.plan['projects'])} 个项目）"
        )
        self.stdout.write(f"待审核 {len(result.review)} 项：")
        for item in result.review:
            self.stdout.write(f"  - {item}")
