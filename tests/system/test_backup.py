"""Backup and restore (docs/operations.md): the database on SQLite and on PostgreSQL, the
佐证材料 files and the secret key come back whole; a file lost anyway is a clear 404."""

import sqlite3
from datetime import date

import psycopg
import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from tracker.db.backup import Folders, backup, read_manifest, restore_database, restore_files
from tracker.progress.models import ProgressReport
from tracker.progress.writes import Entry, submit
from tracker.review import attachments
from tracker.review.models import Attachment

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def attached(personas, media):
    """上城区's June figure for 新增老年助餐服务点, with its 验收单.pdf."""
    p = personas
    entry = Entry(indicator_id=p.indicator_a.pk, district_id=p.district_a.pk, month="2024-06",
                  value=10)  # fmt: skip
    report = submit(p.district_a_user, [entry], today=date(2024, 7, 20)).created[0]
    return p, attachments.attach(p.district_a_user, report, name="验收单.pdf", content=PDF)


def restored_counts(folder, tmp_path) -> dict[str, int]:
    """Restore the backup into a new, empty database and count its rows per table."""
    if connection.vendor == "sqlite":
        target = tmp_path / "restored.sqlite3"
        restore_database(folder, {"ENGINE": "django.db.backends.sqlite3", "NAME": str(target)})
        with sqlite3.connect(target) as db:
            names = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
            return {n: db.execute(f'SELECT COUNT(*) FROM "{n}"').fetchone()[0] for n in names}
    settings = dict(connection.settings_dict)
    name = f"{settings['NAME']}_restored"
    server = f"host={settings['HOST']} port={settings['PORT'] or 5432} user={settings['USER']}"
    with psycopg.connect(f"{server} dbname=postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        restore_database(folder, {**settings, "NAME": name})
        with psycopg.connect(f"{server} dbname={name}") as db:
            tables = db.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            ).fetchall()
            return {t: db.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0] for (t,) in tables}
    finally:
        with psycopg.connect(f"{server} dbname=postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_round_trip_keeps_every_row_file_and_the_secret(transactional_db, attached, tmp_path):
    _p, item = attached
    folders = Folders(tmp_path / "media", tmp_path / "notices", tmp_path / "var" / "secret_key")
    folders.notices.mkdir()
    (folders.notices / "2024-06-通报.pdf").write_bytes(b"%PDF-1.4 notice")
    folders.secret_key.parent.mkdir()
    folders.secret_key.write_text("s" * 20 + "-the-site-key-" + "t" * 20)

    folder = backup(tmp_path / "backups", folders=folders)

    manifest = read_manifest(folder)
    assert manifest["vendor"] == connection.vendor
    assert manifest["tables"]["tracker_progressreport"] == 1
    assert manifest["tables"]["tracker_attachment"] == 1
    counts = restored_counts(folder, tmp_path)
    assert {t: counts.get(t) for t in manifest["tables"]} == manifest["tables"]

    # The machine is lost: files and key gone. Restoring brings back the same bytes.
    stored = folders.media / item.file.name
    for path in (stored, folders.notices / "2024-06-通报.pdf", folders.secret_key):
        path.unlink()
    restore_files(folder, folders)
    assert stored.read_bytes() == PDF
    assert (folders.notices / "2024-06-通报.pdf").read_bytes() == b"%PDF-1.4 notice"
    assert folders.secret_key.read_text().endswith("t" * 20)
    assert ProgressReport.objects.count() == 1 and Attachment.objects.count() == 1


def test_missing_attachment_file_is_a_clear_404(attached, media):
    p, item = attached
    (media / item.file.name).unlink()  # a database restored without its files
    client = APIClient()
    client.force_authenticate(p.district_a_user)
    response = client.get(f"/api/v1/attachments/{item.pk}/download/")
    assert response.status_code == 404
    assert "文件已不在服务器上" in response.json()["detail"]
    page = Client()  # the page's 打开 link: the same answer
    page.force_login(p.district_a_user)
    response = page.get(reverse("dashboard:attachment", args=[item.pk]))
    assert response.status_code == 404
