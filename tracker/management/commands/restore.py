from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from tracker.db.backup import BackupError, restore_database, restore_files, verify


class Command(BaseCommand):
    help = (
        "从 manage.py backup 的备份目录恢复数据库、佐证材料、已印发通报和内置密钥。"
        "先停止 web、worker 和 beat；恢复会覆盖现有数据。"
    )

    def add_arguments(self, parser):
        parser.add_argument("folder", help="备份目录（tracker-backup-…）")
        parser.add_argument("--yes", action="store_true", help="确认覆盖现有数据库和文件（必填）")

    def handle(self, *args, folder, yes=False, **options):
        if not yes:
            raise CommandError("恢复会覆盖现有数据库和文件：确认已停止所有进程后加 --yes 再运行")
        source = Path(folder)
        try:
            connections["default"].close()
            restore_database(source, connections["default"].settings_dict)
            restore_files(source)
            missing = verify(source)
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        if missing:
            raise CommandError("恢复后数据行数少于备份：\n" + "\n".join(missing))
        self.stdout.write(self.style.SUCCESS(f"已从 {source} 恢复，行数与备份一致"))
