"""Who is told, and what: recipients, digests and their deliveries.

- ``Contact``: who is told (a lead agency's, a district's or the supervision office's
  mailbox and/or webhook).
- ``Notification``: one digest per recipient per run, recorded before it is sent, with
  the news only (episodes opened, escalated, resolved since the last digest);
  ``Delivery``: one per channel, claimed with a compare-and-set before sending.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from simple_history.models import HistoricalRecords

from tracker.accounts.models import OFFICE_ROLES, Role
from tracker.accounts.querysets import ScopedQuerySet
from tracker.monitoring.models import LagAlert
from tracker.notifications.channels import webhook_url_problem
from tracker.plans.reference import Agency, District


class WebhookFormat(models.TextChoices):
    JSON = "json", "通用 JSON"
    DINGTALK = "dingtalk", "钉钉/浙政钉机器人"
    WECOM = "wecom", "企业微信机器人"


class Contact(models.Model):
    """A recipient of alert digests: a mailbox and/or a webhook of an office."""

    name = models.CharField("名称", max_length=100)
    role = models.CharField(
        "类别", max_length=20, choices=[(r.value, r.label) for r in OFFICE_ROLES]
    )  # leaders read; offices are told
    agency = models.ForeignKey(
        Agency,
        on_delete=models.PROTECT,
        related_name="contacts",
        null=True,
        blank=True,
        verbose_name="单位",
    )
    district = models.ForeignKey(
        District,
        on_delete=models.PROTECT,
        related_name="contacts",
        null=True,
        blank=True,
        verbose_name="区、县(市)",
    )
    email = models.EmailField("电子邮箱", blank=True)
    webhook_url = models.URLField("Webhook 地址", blank=True, max_length=500)
    webhook_format = models.CharField(
        "Webhook 格式",
        max_length=20,
        choices=WebhookFormat.choices,
        default=WebhookFormat.JSON,
        help_text="通用 JSON，或钉钉/浙政钉、企业微信群机器人（Markdown 消息）",
    )
    is_active = models.BooleanField("启用", default=True)
    history = HistoricalRecords()

    scope_agency_path = "agency"
    scope_district_path = "district"

    objects = ScopedQuerySet.as_manager()

    class Meta:
        ordering = ["role", "name"]
        verbose_name = "预警接收人"
        verbose_name_plural = "预警接收人"
        constraints = [
            models.CheckConstraint(
                name="contact_role_matches_owner",
                condition=(
                    models.Q(role="supervision", agency__isnull=True, district__isnull=True)
                    | models.Q(role="agency", agency__isnull=False, district__isnull=True)
                    | models.Q(role="district", agency__isnull=True, district__isnull=False)
                ),
            ),
            models.CheckConstraint(
                name="contact_has_channel",
                condition=~models.Q(email="", webhook_url=""),
            ),
        ]

    def __str__(self):
        return self.name

    def clean(self):
        if self.role == Role.AGENCY and not self.agency_id:
            raise ValidationError({"agency": "牵头单位接收人必须选择单位"})
        if self.role == Role.DISTRICT and not self.district_id:
            raise ValidationError({"district": "区、县(市)接收人必须选择区、县(市)"})
        if self.role != Role.AGENCY and self.agency_id:
            raise ValidationError({"agency": "只有牵头单位接收人才能选择单位"})
        if self.role != Role.DISTRICT and self.district_id:
            raise ValidationError({"district": "只有区、县(市)接收人才能选择区、县(市)"})
        if not self.email and not self.webhook_url:
            raise ValidationError("请至少填写电子邮箱或 Webhook 地址之一")
        # the allow list depends on who edits: the admin form checks it with the user
        problem = webhook_url_problem(self.webhook_url, any_host=True)
        if problem:
            raise ValidationError({"webhook_url": problem})


class Notification(models.Model):
    """One digest for one recipient from one run, recorded before anything is sent."""

    contact = models.ForeignKey(
        Contact, on_delete=models.PROTECT, related_name="notifications", verbose_name="接收人"
    )
    month = models.DateField("月份")
    run_number = models.PositiveIntegerField("检查批次")
    subject = models.CharField("标题", max_length=200)
    body = models.TextField("正文")
    payload = models.JSONField("Webhook 内容", default=dict)
    alerts = models.ManyToManyField(
        LagAlert, related_name="notifications", blank=True, verbose_name="所含预警（有变化的）"
    )
    open_count = models.PositiveIntegerField("仍未解除", default=0)
    created_at = models.DateTimeField("生成时间", default=timezone.now)
    review = models.ForeignKey(
        "tracker.CellReview",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="notifications",
        verbose_name="退回的审核",
        help_text="审核退回通知（其检查批次为该格第几次退回）；预警摘要为空",
    )
    # named, not imported: 挂牌督办 (tracker.supervision) sits above notifications
    supervision_item = models.ForeignKey(
        "tracker.SupervisionItem",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="notifications",
        verbose_name="督办事项",
        help_text="督办到期提醒或逾期督促（检查批次：第 n 轮提醒为 2n-1，督促为 2n）",
    )

    scope_agency_path = "contact__agency"
    scope_district_path = "contact__district"

    objects = ScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "预警通知"
        verbose_name_plural = "预警通知"
        constraints = [
            models.UniqueConstraint(
                fields=["contact", "month", "run_number"],
                condition=models.Q(review__isnull=True, supervision_item__isnull=True),
                name="notification_one_per_run",
            ),
            models.UniqueConstraint(
                fields=["contact", "supervision_item", "run_number"],
                condition=models.Q(supervision_item__isnull=False),
                name="notification_one_per_supervision_news",
            ),
            models.UniqueConstraint(
                fields=["contact", "review", "run_number"],
                condition=models.Q(review__isnull=False),
                name="notification_one_per_return",
            ),
        ]

    def __str__(self):
        return f"{self.contact} · {self.subject}"


class Delivery(models.Model):
    """Sending one notification on one channel; claimed before sending so it goes out once."""

    class Channel(models.TextChoices):
        EMAIL = "email", "电子邮件"
        WEBHOOK = "webhook", "Webhook"

    class Status(models.TextChoices):
        PENDING = "pending", "待发送"
        SENDING = "sending", "发送中"
        SENT = "sent", "已发送"
        RETRYING = "retrying", "失败，等待重试"
        FAILED = "failed", "失败，已停止重试"
        UNKNOWN = "unknown", "结果不明，待核实"

    #: a person must look at these (health, 督查室's header, the admin's resend)
    NEEDS_A_PERSON = (Status.FAILED, Status.UNKNOWN)

    notification = models.ForeignKey(
        Notification, on_delete=models.CASCADE, related_name="deliveries", verbose_name="通知"
    )
    channel = models.CharField("渠道", max_length=10, choices=Channel.choices)
    address = models.CharField("地址", max_length=500)
    status = models.CharField("状态", max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField("尝试次数", default=0)
    next_attempt_at = models.DateTimeField("下次尝试时间", default=timezone.now)
    claimed_at = models.DateTimeField("领取时间", null=True, blank=True)
    first_attempt_at = models.DateTimeField(
        "首次尝试时间", null=True, blank=True, help_text="重试期限从此时起算；重新发送时清空"
    )
    request_sent_at = models.DateTimeField(
        "本次请求发出时间",
        null=True,
        blank=True,
        help_text="本次尝试已把请求（或邮件正文）交给对方服务器的时间；发送进程中断时据此判断能否自动重发",
    )
    sent_at = models.DateTimeField("发送时间", null=True, blank=True)
    last_error = models.TextField("最近错误", blank=True, help_text="成功后仍保留，便于排查")
    last_error_at = models.DateTimeField("最近错误时间", null=True, blank=True)

    scope_agency_path = "notification__contact__agency"
    scope_district_path = "notification__contact__district"

    objects = ScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-next_attempt_at"]
        verbose_name = "通知发送"
        verbose_name_plural = "通知发送"
        constraints = [
            models.UniqueConstraint(
                fields=["notification", "channel"], name="delivery_one_per_channel"
            ),
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"])]

    def __str__(self):
        return f"{self.get_channel_display()} → {self.address}（{self.get_status_display()}）"
