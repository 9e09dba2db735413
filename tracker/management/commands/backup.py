from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from tracker.db.backup import BackupError, backup


class Command(BaseCommand):
    help = (
        "备份数据库（SQLite 在线备份或 pg_dump）、佐证材料、已印发通报和内置密钥到一个新目录；"
        "运行中即可备份。"
    )

    def add_arguments(self, parser):
        parser.add_argument("--to", help="备份放在哪个目录下（默认 var/backups）")

    def handle(self, *args, to=None, **options):
        destination = Path(to) if to else Path(settings.VAR_DIR) / "backups"
        try:
            folder = backup(destination)
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(f"已备份到 {folder}"))
