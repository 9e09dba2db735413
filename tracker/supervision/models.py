"""挂牌督办 as a process: one 督办事项 per cell (量化目标 × 区、县(市)), its state and
every step of it.

The rule that *proposes* items is ``tracker.reporting.notice.is_candidate`` (the
notice's 挂牌督办建议); proposals are not stored. An item exists from 督查室's 交办:

    已交办 ──(责任单位 整改反馈)──▶ 已反馈 ──(督查室 销号)──▶ 已销号
       ▲                              │
       └──────(督查室 继续督办：新期限)──┘

Every step is a ``SupervisionEvent`` (who, when, why; like ``LagAlertFlip``), and the item
keeps a simple-history trail. Reminders and escalations are events too, claimed on the
item (``reminded_round`` / ``escalated_round``) with a conditional UPDATE so each goes out
once. The service is ``tracker.supervision.process``.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from simple_history.models import HistoricalRecords

from tracker.accounts.querysets import ScopedQuerySet
from tracker.months import format_month
from tracker.plans.models import Indicator
from tracker.plans.reference import Agency, District
from tracker.review.models import AttachmentKind, attachment_path, attachment_storage


class State(models.TextChoices):
    ASSIGNED = "assigned", "已交办"
    REPORTED = "reported", "已反馈"
    CLOSED = "closed", "已销号"


OPEN_STATES = (State.ASSIGNED, State.REPORTED)


class SupervisionItem(models.Model):
    """One 挂牌督办 事项: a cell, the month whose notice proposed it, the responsible unit
    (the district, or the lead agency for a 市本级 cell), the deadline of the current
    round and its state."""

    indicator = models.ForeignKey(
        Indicator, on_delete=models.PROTECT, related_name="supervision_items",
        verbose_name="量化目标",
    )  # fmt: skip
    district = models.ForeignKey(
        District, on_delete=models.PROTECT, related_name="supervision_items",
        verbose_name="区、县(市)",
    )  # fmt: skip
    month = models.DateField("督办依据月份", help_text="提出挂牌督办建议的通报月份（该月第一天）")
    state = models.CharField("状态", max_length=10, choices=State.choices, default=State.ASSIGNED)
    responsible_agency = models.ForeignKey(
        Agency, on_delete=models.PROTECT, null=True, blank=True,
        related_name="supervision_items", verbose_name="责任单位（牵头单位）",
        help_text="市本级事项由牵头单位负责；为空时由区、县(市)负责",
    )  # fmt: skip
    deadline = models.DateField("整改期限")
    note = models.TextField("交办要求", blank=True)
    round = models.PositiveSmallIntegerField("督办轮次", default=1)
    assigned_at = models.DateTimeField("交办时间", default=timezone.now)
    assigned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
        related_name="+", verbose_name="交办人",
    )  # fmt: skip
    closed_at = models.DateTimeField("销号时间", null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
        related_name="+", verbose_name="销号人",
    )  # fmt: skip
    close_reason = models.TextField("销号理由", blank=True)
    # the claims of the reminder and the escalation of a round (``reminders``)
    reminded_round = models.PositiveSmallIntegerField("已提醒轮次", default=0)
    escalated_round = models.PositiveSmallIntegerField("已督促轮次", default=0)
    updated_at = models.DateTimeField("更新时间", default=timezone.now)
    history = HistoricalRecords()

    scope_agency_path = "indicator__project__lead_agency"
    scope_district_path = "district"

    objects = ScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-assigned_at", "pk"]
        verbose_name = "挂牌督办事项"
        verbose_name_plural = "挂牌督办事项"
        constraints = [
            models.UniqueConstraint(
                fields=["indicator", "district"],
                condition=models.Q(state__in=("assigned", "reported")),
                name="supervision_one_open_item_per_cell",
            ),
        ]
        indexes = [models.Index(fields=["state", "deadline"])]

    def __str__(self):
        state = self.get_state_display()
        return f"{format_month(self.month)} {self.district} {self.indicator}（{state}）"

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    @property
    def unit_name(self) -> str:
        """责任单位 as printed: the lead agency of a 市本级 item, else the district."""
        return self.responsible_agency.name if self.responsible_agency_id else self.district.name

    def is_overdue(self, today) -> bool:
        """Past its deadline with no 整改反馈 filed for this round."""
        return self.state == State.ASSIGNED and today > self.deadline


class SupervisionEvent(models.Model):
    """One step of an item: 交办, 整改反馈, 销号, 继续督办, and the system's 到期提醒 and
    逾期督促 (no user). ``month`` is the month the step happened in (local time), which is
    what a page for a past month reads (``supervision.asof``)."""

    class Action(models.TextChoices):
        ASSIGN = "assign", "交办"
        FEEDBACK = "feedback", "整改反馈"
        CLOSE = "close", "销号"
        KEEP_OPEN = "keep_open", "继续督办"
        REMIND = "remind", "到期提醒"
        ESCALATE = "escalate", "逾期督促"

    item = models.ForeignKey(
        SupervisionItem, on_delete=models.CASCADE, related_name="events", verbose_name="督办事项"
    )
    action = models.CharField("操作", max_length=10, choices=Action.choices)
    old_state = models.CharField("原状态", max_length=10, choices=State.choices, blank=True)
    new_state = models.CharField("新状态", max_length=10, choices=State.choices)
    round = models.PositiveSmallIntegerField("督办轮次", default=1)
    at = models.DateTimeField("时间", default=timezone.now)
    month = models.DateField("所在月份")
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
        related_name="+", verbose_name="操作人",
    )  # fmt: skip
    why = models.TextField("说明", blank=True, help_text="交办要求、反馈内容、销号或继续督办理由")
    deadline = models.DateField("整改期限", null=True, blank=True)

    scope_agency_path = "item__indicator__project__lead_agency"
    scope_district_path = "item__district"

    objects = ScopedQuerySet.as_manager()

    class Meta:
        ordering = ["item", "at", "pk"]
        verbose_name = "督办事项记录"
        verbose_name_plural = "督办事项记录"
        indexes = [models.Index(fields=["month", "action"])]

    def __str__(self):
        return f"{self.get_action_display()}（{self.why[:40]}）"

    @property
    def who(self) -> str:
        if self.by is None:
            return "系统"
        return self.by.get_full_name() or self.by.username


class SupervisionAttachment(models.Model):
    """佐证材料 of an 整改反馈: the same checks and storage as a report's
    (``tracker.review.attachments.checked_file``, ``attachment_storage``)."""

    item = models.ForeignKey(
        SupervisionItem, on_delete=models.CASCADE, related_name="attachments",
        verbose_name="督办事项",
    )  # fmt: skip
    event = models.ForeignKey(
        SupervisionEvent, on_delete=models.CASCADE, related_name="attachments",
        verbose_name="所属反馈",
    )  # fmt: skip
    file = models.FileField("文件", upload_to=attachment_path, storage=attachment_storage)
    original_name = models.CharField("文件名", max_length=200)
    kind = models.CharField("类型", max_length=10, choices=AttachmentKind.choices)
    size = models.PositiveIntegerField("大小（字节）")
    sha256 = models.CharField("SHA-256", max_length=64)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
        related_name="+", verbose_name="上传人",
    )  # fmt: skip
    uploaded_at = models.DateTimeField("上传时间", default=timezone.now)

    scope_agency_path = "item__indicator__project__lead_agency"
    scope_district_path = "item__district"

    objects = ScopedQuerySet.as_manager()

    class Meta:
        ordering = ["item", "uploaded_at", "pk"]
        verbose_name = "督办佐证材料"
        verbose_name_plural = "督办佐证材料"

    def __str__(self):
        return self.original_name
