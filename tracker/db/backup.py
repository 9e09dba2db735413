"""Backup and restore: the database, the uploaded files and the embedded secret key.

A copy of ``db.sqlite3`` taken while the tracker runs misses what is still in its WAL
file, so SQLite is copied with its own online backup API (consistent, every acknowledged
write included). PostgreSQL is dumped with ``pg_dump --format=custom``. The files the
database points at (``MEDIA_ROOT``: 佐证材料; the issued notices) and the embedded demo's
``var/secret_key`` go beside it, with a ``manifest.json`` of row counts that a restore
checks. ``manage.py backup`` and ``manage.py restore`` call these; docs/operations.md
says when.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import connections
from django.utils import timezone

from tracker import conf

DATABASE_SQLITE = "database.sqlite3"
DATABASE_PG = "database.pgdump"
FILES = "files.tar.gz"
SECRET = "secret_key"
MANIFEST = "manifest.json"


class BackupError(Exception):
    """A backup or restore that cannot go on; the message is for the operator (Chinese)."""


@dataclass(frozen=True)
class Folders:
    """Where the files a backup keeps live, each stored under its name in the archive."""

    media: Path
    notices: Path
    secret_key: Path

    @classmethod
    def configured(cls) -> Folders:
        var = Path(settings.VAR_DIR)
        notices = Path(conf.NOTICE_PDF_DIR or var / "notices")
        return cls(Path(settings.MEDIA_ROOT), notices, Path(settings.SECRET_KEY_FILE))


def table_counts(alias: str = "default") -> dict[str, int]:
    """Rows per table: what the manifest records and a restore compares."""
    connection = connections[alias]
    with connection.cursor() as cursor:
        tables = sorted(connection.introspection.table_names(cursor))
        counts = {}
        for table in tables:
            cursor.execute(f"SELECT COUNT(*) FROM {connection.ops.quote_name(table)}")
            counts[table] = cursor.fetchone()[0]
    return counts


def _pg(program: str, db: dict, *args: str) -> None:
    """Run ``pg_dump``/``pg_restore`` against ``db`` (a ``DATABASES`` entry). The password
    goes in the child's environment only (``PGPASSWORD``), never in its arguments."""
    path = shutil.which(program)
    if path is None:
        raise BackupError(
            f"找不到 {program}：请安装 PostgreSQL 客户端（Debian：postgresql-client）"
        )
    connect = ["--dbname", db["NAME"]]
    for option, key in (("--host", "HOST"), ("--port", "PORT"), ("--username", "USER")):
        if db.get(key):
            connect += [option, str(db[key])]
    env = {"PGPASSWORD": db["PASSWORD"]} if db.get("PASSWORD") else {}
    result = subprocess.run([path, *args, *connect], env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise BackupError(f"{program} 失败：{result.stderr.strip()[-500:]}")


def backup(destination: Path, *, alias: str = "default", folders: Folders | None = None) -> Path:
    """Write a new backup folder inside ``destination`` and return it. Safe while web,
    worker and beat run."""
    folders = folders or Folders.configured()
    connection = connections[alias]
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
    target = Path(destination) / f"tracker-backup-{stamp}"
    suffix = 1
    while target.exists():
        suffix += 1
        target = Path(destination) / f"tracker-backup-{stamp}-{suffix}"
    target.mkdir(parents=True)
    counts = table_counts(alias)  # before the copy: a restore must have at least these
    if connection.vendor == "sqlite":
        connection.ensure_connection()
        copy = sqlite3.connect(target / DATABASE_SQLITE)
        try:
            connection.connection.backup(copy)
        finally:
            copy.close()
        database = DATABASE_SQLITE
    elif connection.vendor == "postgresql":
        dump = str(target / DATABASE_PG)
        _pg("pg_dump", connection.settings_dict, "--format=custom", "--no-owner", "--file", dump)
        database = DATABASE_PG
    else:
        raise BackupError(f"不支持备份 {connection.vendor} 数据库")
    with tarfile.open(target / FILES, "w:gz") as archive:
        for name, folder in (("media", folders.media), ("notices", folders.notices)):
            if folder.is_dir():
                archive.add(folder, arcname=name)
    if folders.secret_key.is_file():
        shutil.copy2(folders.secret_key, target / SECRET)
        os.chmod(target / SECRET, 0o600)
    manifest = {
        "created_at": timezone.now().isoformat(),
        "vendor": connection.vendor,
        "database": database,
        "tables": counts,
    }
    (target / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=1))
    return target


def read_manifest(source: Path) -> dict:
    try:
        return json.loads((Path(source) / MANIFEST).read_text())
    except FileNotFoundError as exc:
        raise BackupError(f"「{source}」不是备份目录：缺少 {MANIFEST}") from exc


def restore_database(source: Path, db: dict) -> None:
    """Restore the backup's database into the database ``db`` (a ``DATABASES`` entry).
    Every process using it must be stopped first."""
    manifest = read_manifest(source)
    engine = db["ENGINE"].rsplit(".", 1)[-1]
    vendor = {"sqlite3": "sqlite", "postgresql": "postgresql"}.get(engine, engine)
    if vendor != manifest["vendor"]:
        raise BackupError(f"备份来自 {manifest['vendor']} 数据库，不能恢复到 {vendor} 数据库")
    if vendor == "sqlite":
        source_db = sqlite3.connect(Path(source) / DATABASE_SQLITE)
        target_db = sqlite3.connect(db["NAME"])
        try:
            source_db.backup(target_db)
        finally:
            source_db.close()
            target_db.close()
    else:
        options = ["--clean", "--if-exists", "--no-owner", "--single-transaction"]
        _pg("pg_restore", db, *options, str(Path(source) / DATABASE_PG))


def restore_files(source: Path, folders: Folders | None = None) -> None:
    """Put the backup's uploaded files, notices and secret key back in place."""
    folders = folders or Folders.configured()
    places = {"media": folders.media, "notices": folders.notices}
    with tarfile.open(Path(source) / FILES, "r:gz") as archive:
        for member in archive.getmembers():
            top, _, rest = member.name.partition("/")
            if top not in places or not rest:
                continue
            member.name = rest
            archive.extract(member, places[top], filter="data")
    secret = Path(source) / SECRET
    if secret.is_file():
        folders.secret_key.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(secret, folders.secret_key)
        os.chmod(folders.secret_key, 0o600)


def verify(source: Path, alias: str = "default") -> list[str]:
    """Tables with fewer rows than the backup recorded (empty: the restore is whole)."""
    expected = read_manifest(source)["tables"]
    found = table_counts(alias)
    return [
        f"{table}：备份 {rows} 行，现有 {found.get(table, 0)} 行"
        for table, rows in expected.items()
        if found.get(table, 0) < rows
    ]
