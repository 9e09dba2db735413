"""What people add to a figure: lag explanations and evidence (issue 15).

A figure's own state (submitted, reviewed, locked) is ``tracker.progress.models``.

- ``Explanation``: 原因说明 / 整改措施 / 计划追赶完成时间 for one cell (indicator ×
  district × month), written by the district (the lead agency for city-level ones).
- ``Attachment``: 佐证材料 on a progress report, stored through Django's storage API.

The rules live in ``tracker.review.workflow``; every model keeps its history.
"""

from django.conf import settings
from django.core.files.storage import storages
from django.db import models
from simple_history.models import HistoricalRecords

from tracker import conf
from tracker.accounts.querysets import ScopedQuerySet
from tracker.months import format_month
from tracker.plans.models import Indicator
from tracker.plans.reference import District
from tracker.progress.models import ProgressReport


class Explanation(models.Model):
    """Why a cell lags and what the district will do about it (说明原因、提出整改措施)."""

    indicator = models.ForeignKey(
        Indicator, on_delete=models.PROTECT, related_name="explanations", verbose_name="量化目标"
    )
    district = models.ForeignKey(
        District, on_delete=models.PROTECT, related_name="explanations", verbose_name="区、县(市)"
    )
    month = models.DateField("月份", help_text="该月第一天")
    reason = models.TextField("原因说明")
    measures = models.TextField("整改措施")
    catch_up_by = models.DateField("计划追赶完成时间")
    written_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="lag_explanations",
        verbose_name="填写人",
    )
    written_at = models.DateTimeField("填写时间", auto_now=True)
    history = HistoricalRecords()

    scope_agency_path = "indicator__project__lead_agency"
    scope_district_path = "district"

    objects = ScopedQuerySet.as_manager()

    class Meta:
        ordering = ["month", "indicator", "district__order"]
        verbose_name = "滞后原因说明"
        verbose_name_plural = "滞后原因说明"
        constraints = [
            models.UniqueConstraint(
                fields=["indicator", "district", "month"], name="explanation_unique_cell"
            ),
        ]

    def __str__(self):
        return f"{self.indicator} · {self.district} · {format_month(self.month)}"


def attachment_storage():
    """The storage alias ``conf.ATTACHMENT_STORAGE`` (default: ``"default"``)."""
    return storages[conf.ATTACHMENT_STORAGE]


def attachment_path(instance, filename):
    """The service passes a random ``attachments/<year>/<month>/<uuid>.<ext>`` name;
    the uploaded name is never used as a path (it is kept in ``original_name``)."""
    return filename


class AttachmentKind(models.TextChoices):
    PDF = "pdf", "PDF"
    JPG = "jpg", "JPG 图片"
    PNG = "png", "PNG 图片"
    XLSX = "xlsx", "Excel 表格"
    DOCX = "docx", "Word 文档"


class Attachment(models.Model):
    """佐证材料 for a progress report. Removing one deletes the row (history keeps it)
    but never the stored file, so the history still points at it."""

    report = models.ForeignKey(
        ProgressReport,
        on_delete=models.CASCADE,
        related_name="attachments",
        verbose_name="进度填报",
    )
    file = models.FileField("文件", upload_to=attachment_path, storage=attachment_storage)
    original_name = models.CharField("文件名", max_length=200)
    kind = models.CharField("类型", max_length=10, choices=AttachmentKind.choices)
    size = models.PositiveIntegerField("大小（字节）")
    sha256 = models.CharField("SHA-256", max_length=64)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="attachments",
        verbose_name="上传人",
    )
    uploaded_at = models.DateTimeField("上传时间", auto_now_add=True)
    history = HistoricalRecords()

    scope_agency_path = "report__indicator__project__lead_agency"
    scope_district_path = "report__district"

    objects = ScopedQuerySet.as_manager()

    class Meta:
        ordering = ["report", "uploaded_at"]
        verbose_name = "佐证材料"
        verbose_name_plural = "佐证材料"

    def __str__(self):
        return self.original_name
