from django.core.management.base import BaseCommand, CommandError

from tracker.plans.published_tables import TableError, parse_gazette_text, write_workbook


class Command(BaseCommand):
    help = (
        "把公报正文（制表符分隔的文本）中的附件1 责任清单、附件2 任务分解表按原样写成工作簿，"
        "例如 fixtures/plan_2024_published.xlsx（合并单元格、分页重复表头、原文单元格照印）。"
    )

    def add_arguments(self, parser):
        parser.add_argument("text", help="公报正文文本文件（UTF-8）")
        parser.add_argument("output", help="输出的 .xlsx 路径")

    def handle(self, *args, text, output, **options):
        try:
            with open(text, encoding="utf-8") as fh:
                tables = parse_gazette_text(fh.read())
        except (OSError, UnicodeDecodeError, TableError) as exc:
            raise CommandError(f"无法读取公报正文 {text}：{exc}") from exc
        path = write_workbook(tables, output)
        self.stdout.write(
            f"已写入 {path}：责任清单 {len(tables.responsibility)} 行，"
            f"任务分解表 {len(tables.breakdown)} 行，{len(tables.labels)} 列"
        )
