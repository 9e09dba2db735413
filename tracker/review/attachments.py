"""佐证材料 (evidence) on a progress report: PDF, JPG, PNG, XLSX or DOCX, checked by
content, size limit ``ATTACHMENT_MAX_BYTES``, stored under a random name; removing keeps
the file and the history row. Who may: ``tracker.review.workflow.allow`` (attach); when:
``tracker.progress.lifecycle`` (never on an approved or locked figure)."""

from __future__ import annotations

import hashlib
import io
import unicodedata
import uuid
import zipfile
from dataclasses import dataclass

from django.core.files.base import ContentFile
from django.db import transaction
from django.http import Http404

from tracker import conf
from tracker.accounts.permissions import Action as P
from tracker.accounts.permissions import restrict
from tracker.progress import lifecycle
from tracker.progress.models import ProgressReport
from tracker.review.models import Attachment, AttachmentKind
from tracker.review.workflow import Action, ReviewRejected, allow, ask, stamp_history

EXTENSIONS = {
    "pdf": AttachmentKind.PDF,
    "jpg": AttachmentKind.JPG,
    "jpeg": AttachmentKind.JPG,
    "png": AttachmentKind.PNG,
    "xlsx": AttachmentKind.XLSX,
    "docx": AttachmentKind.DOCX,
}
ZIP_MEMBERS = {
    AttachmentKind.XLSX: "xl/workbook.xml",
    AttachmentKind.DOCX: "word/document.xml",
}


def max_attachment_bytes() -> int:
    return conf.ATTACHMENT_MAX_BYTES


def clean_name(name: str) -> tuple[str, str]:
    """(the name to show, its kind by extension); refuse paths and odd characters."""
    name = unicodedata.normalize("NFKC", (name or "").strip())
    if not name:
        raise ReviewRejected("请提供文件名")
    if (
        "/" in name
        or "\\" in name
        or ".." in name
        or name.startswith(".")
        or any(unicodedata.category(ch).startswith("C") for ch in name)
    ):
        raise ReviewRejected(f"文件名「{name[:60]}」不合法：不能包含路径、「..」或控制字符")
    if len(name) > 150:
        raise ReviewRejected("文件名过长（最多 150 个字符）")
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if ext not in EXTENSIONS:
        raise ReviewRejected("只接受 PDF、JPG、PNG、XLSX、DOCX 格式的佐证材料")
    return name, EXTENSIONS[ext]


def sniff(data: bytes) -> str | None:
    """The kind of file ``data`` is, judged by its content (magic bytes, zip members)."""
    if data.startswith(b"%PDF-"):
        return AttachmentKind.PDF
    if data.startswith(b"\xff\xd8\xff"):
        return AttachmentKind.JPG
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return AttachmentKind.PNG
    if data.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                members = set(archive.namelist())
        except (zipfile.BadZipFile, ValueError):
            return None
        if "[Content_Types].xml" in members:
            for kind, member in ZIP_MEMBERS.items():
                if member in members:
                    return kind
    return None


def _read(content) -> bytes:
    limit = max_attachment_bytes()
    if isinstance(content, bytes):
        data = content
    else:
        if getattr(content, "size", None) is not None and content.size > limit:
            data = b"x" * (limit + 1)  # refused below without reading a huge upload
        else:
            data = content.read(limit + 1)
    if len(data) > limit:
        raise ReviewRejected(f"文件超过大小限制（最大 {limit // (1024 * 1024) or 1} MB）")
    if not data:
        raise ReviewRejected("文件为空")
    return data


def checked_file(name: str, content) -> tuple[str, str, bytes]:
    """(name to show, kind, bytes) of an upload that passes every check (name, size,
    content matching the extension); ``ReviewRejected`` otherwise. Also used for the
    佐证材料 of a 挂牌督办 整改反馈 (``tracker.supervision``)."""
    shown, by_name = clean_name(name)
    data = _read(content)
    kind = sniff(data)
    if kind is None:
        raise ReviewRejected(f"「{shown}」的内容不是 PDF、JPG、PNG、XLSX 或 DOCX 文件")
    if kind != by_name:
        raise ReviewRejected(f"「{shown}」的内容与扩展名不符（实际为 {kind.upper()}）")
    return shown, kind, data


def may_change_evidence(user, report: ProgressReport) -> None:
    """Who (``workflow.allow``) and when (the state machine: not on an approved or
    locked figure); raise ``ReviewRejected`` otherwise."""
    allow(user, Action.ATTACH, report=report)
    cell = lifecycle.cell_of(report.indicator_id, report.district_id, report.month)
    what = lifecycle.describe(report.district.name, report.indicator.label, report.month)
    ask(user, lifecycle.Do.EVIDENCE, cell, what)


def attach(user, report: ProgressReport, *, name: str, content) -> Attachment:
    """Store one 佐证材料 file on ``report``; refused files leave nothing behind."""
    may_change_evidence(user, report)
    shown, kind, data = checked_file(name, content)
    path = f"attachments/{report.month:%Y/%m}/{uuid.uuid4().hex}.{kind}"
    item = Attachment(
        report=report,
        original_name=shown,
        kind=kind,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        uploaded_by=user,
    )
    item.file.save(path, ContentFile(data), save=False)
    try:
        with transaction.atomic():
            stamp_history(item, user, "上传佐证材料").save()
    except Exception:
        item.file.storage.delete(item.file.name)
        raise
    return item


def open_stored(item: Attachment):
    """The stored file, open for reading (the API's download and the page's 打开). A file
    gone from the server (a database restored without its media folder) is a 404 with
    the reason, never a 500."""
    try:
        return item.file.open("rb")
    except FileNotFoundError as exc:
        raise Http404(
            f"佐证材料「{item.original_name}」的文件已不在服务器上（数据库恢复时未同时恢复"
            "文件目录？）。请联系管理员从备份恢复 media 目录。"
        ) from exc


def remove_attachment(user, attachment: Attachment, *, reason: str = "") -> None:
    """Delete the row (history keeps it, with who and why); the stored file stays."""
    may_change_evidence(user, attachment.report)
    stamp_history(attachment, user, reason.strip() or "删除佐证材料").delete()


@dataclass
class EvidenceRow:
    """One month's report of a cell and its files, for the cell page's 佐证材料."""

    report: ProgressReport
    month: object
    label: str
    attachments: list
    locked: bool  # read-only: locked, or the viewer may not change the report

    @property
    def key(self) -> str:
        return f"r{self.report.pk}"

    @property
    def anchor(self) -> str:
        return f"evidence-{self.report.pk}"


def cell_evidence(who, detail) -> list[EvidenceRow]:
    """The reports of a cell (``reporting.cell`` detail, newest first) with their files;
    the upload and remove controls show only where ``may_change_evidence`` would pass
    (not on frozen figures). 4
    queries."""
    ids = [r["id"] for r in detail.reports]
    if not ids:
        return []
    reports = restrict(who, P.VIEW, ProgressReport.objects.all()).in_bulk(ids)
    writable = set(
        restrict(who, P.CHANGE, ProgressReport.objects.all())
        .filter(pk__in=ids)
        .values_list("pk", flat=True)
    )
    files: dict[int, list[Attachment]] = {}
    for a in restrict(who, P.VIEW, Attachment.objects.all()).filter(report_id__in=ids):
        files.setdefault(a.report_id, []).append(a)
    locked = lifecycle.frozen_cells([detail.indicator.pk], [detail.district.pk])
    rows = []
    for pk in reversed(ids):
        report = reports.get(pk)
        if report is None:
            continue
        frozen = (report.indicator_id, report.district_id, report.month) in locked
        rows.append(
            EvidenceRow(
                report=report,
                month=report.month,
                label=detail.indicator.label,
                attachments=files.get(pk, []),
                locked=frozen or pk not in writable,
            )
        )
    return rows
