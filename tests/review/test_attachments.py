"""佐证材料: accepted by content, downloadable only by those who see the report, and
refused files (wrong content, too big, a path for a name) leave nothing stored."""

import io
import zipfile
from datetime import date
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from tracker.progress.writes import Entry, submit
from tracker.review import attachments
from tracker.review import workflow as review
from tracker.review.models import Attachment

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 64


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def filed(personas, media):
    """上城区's June figure for 新增老年助餐服务点 (led by 市民政局)."""
    p = personas
    entry = Entry(indicator_id=p.indicator_a.pk, district_id=p.district_a.pk, month="2024-06",
                  value=10)  # fmt: skip
    return p, submit(p.district_a_user, [entry], today=date(2024, 7, 20)).created[0]


def client(user) -> APIClient:
    c = APIClient()
    c.force_authenticate(user)
    return c


def upload(user, report, name, data, **extra):
    body = {"report": report.pk, "file": SimpleUploadedFile("upload.bin", data), **extra}
    if name is not None:
        body["name"] = name
    return client(user).post("/api/v1/attachments/", body, format="multipart")


def stored(media: Path) -> list[Path]:
    return [f for f in media.rglob("*") if f.is_file()] if media.exists() else []


def test_pdf_accepted_and_downloadable_by_the_right_users_only(filed, media):
    p, report = filed
    response = upload(p.district_a_user, report, "验收单（6月）.pdf", PDF)
    assert response.status_code == 201, response.content
    item = Attachment.objects.get()
    # NFKC-normalised (full-width brackets become ASCII; a full-width ／ could not hide a path)
    assert (item.original_name, item.kind, item.size) == ("验收单(6月).pdf", "pdf", len(PDF))
    [path] = stored(media)
    assert path.read_bytes() == PDF and "验收单" not in str(path)  # random stored name

    url = f"/api/v1/attachments/{item.pk}/download/"
    for user in (p.district_a_user, p.agency_a_user, p.supervisor):
        got = client(user).get(url)
        assert got.status_code == 200, user
        assert b"".join(got.streaming_content) == PDF
        assert "attachment" in got["Content-Disposition"]
    for user in (p.district_b_user, p.agency_b_user):
        assert client(user).get(url).status_code == 404
    assert client(p.outsider).get(url).status_code == 403
    assert APIClient().get(url).status_code in (401, 403)


def test_other_district_cannot_attach(filed, media):
    p, report = filed
    response = upload(p.district_b_user, report, "a.pdf", PDF)
    assert response.status_code == 400
    assert not Attachment.objects.exists() and stored(media) == []


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("setup.pdf", EXE, "不是 PDF、JPG、PNG、XLSX 或 DOCX"),
        ("photo.png", PDF, "内容与扩展名不符"),
        ("../../config/settings.pdf", PDF, "不合法"),
        ("..\\..\\evil.pdf", PDF, "不合法"),
        ("..／..／evil.pdf", PDF, "不合法"),
        ("run.exe", EXE, "只接受 PDF"),
    ],
)
def test_refused_files_leave_nothing_stored(filed, media, name, data, message):
    p, report = filed
    response = upload(p.district_a_user, report, name, data)
    assert response.status_code == 400
    assert message in response.json()["detail"]
    assert not Attachment.objects.exists() and Attachment.history.count() == 0
    assert stored(media) == []


def test_oversized_file_refused(filed, media, settings):
    p, report = filed
    settings.TRACKER = {**settings.TRACKER, "ATTACHMENT_MAX_BYTES": 1024}
    response = upload(p.district_a_user, report, "big.pdf", PDF + b"0" * 1024)
    assert response.status_code == 400 and "超过大小限制" in response.json()["detail"]
    assert not Attachment.objects.exists() and stored(media) == []


def test_default_size_limit_is_ten_megabytes():
    assert attachments.max_attachment_bytes() == 10 * 1024 * 1024


def office_file(member: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr(member, "<x/>")
    return buffer.getvalue()


def test_office_and_image_files_are_recognised_by_content():
    assert attachments.sniff(office_file("xl/workbook.xml")) == "xlsx"
    assert attachments.sniff(office_file("word/document.xml")) == "docx"
    assert attachments.sniff(b"PK\x03\x04 not really a zip") is None
    assert attachments.sniff(b"\x89PNG\r\n\x1a\n....") == "png"
    assert attachments.sniff(b"\xff\xd8\xff\xe0....") == "jpg"


def test_removed_attachment_stays_in_history(filed, media):
    p, report = filed
    item = attachments.attach(p.district_a_user, report, name="台账.xlsx",
                         content=office_file("xl/workbook.xml"))  # fmt: skip
    with pytest.raises(review.ReviewRejected):
        attachments.remove_attachment(p.agency_b_user, item)
    assert client(p.district_a_user).delete(f"/api/v1/attachments/{item.pk}/").status_code == 204
    assert not Attachment.objects.exists()
    last = Attachment.history.order_by("-history_date").first()
    assert (last.history_type, last.original_name, last.history_user) == (
        "-", "台账.xlsx", p.district_a_user,
    )  # fmt: skip
    assert len(stored(media)) == 1  # the file itself is kept for the history
