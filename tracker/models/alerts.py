"""The lag engine's records: monthly statuses, alerts, recipients and their notifications.

- ``LagRun``: one row per month checked; the lock that serialises concurrent checks of
  a month and the log of when it last ran (catch-up of missed runs reads it).
- ``LagEvaluation``: the status of every (indicator, district, month), rewritten in one
  statement by each run (derived data: no history).
- ``LagAlert``: one row per (indicator, district, month, kind); its lifecycle is
  open → acknowledged → escalated → resolved (or superseded when a corrected figure
  invalidates it). History is kept.
- ``Contact``: who is told (a lead agency's, a district's or the supervision office's
  mailbox and/or webhook).
- ``Notification``: one digest per recipient per run, recorded before it is sent;
  ``Delivery``: one per channel, claimed with a compare-and-set before sending.
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from simple_history.models import HistoricalRecords

from tracker.choices import PROBLEM_STATUSES, LagStatus  # noqa: F401  (re-exported)

from .people import Role
from .plan import Indicator
from .reference import Agency, District
from .scoping import ScopedQuerySet


class LagRun(models.Model):
    """The check of one month: lock row and log (``run_count`` numbers the runs)."""

    month = models.DateField("月份", unique=True, help_text="该月第一天")
    run_count = models.PositiveIntegerField("运行次数", default=0)
    started_at = models.DateTimeField("最近开始", null=True, blank=True)
    completed_at = models.DateTimeField("最近完成（进度检查）", null=True, blank=True)
    milestones_checked_at = models.DateTimeField("最近完成（节点检查）", null=True, blank=True)
    as_of = models.DateTimeField("数据截至", null=True, blank=True)
    summary = models.JSONField("结果摘要", default=dict, blank=True)

    class Meta:
        ordering = ["-month"]
        verbose_name = "预警检查记录"
        verbose_name_plural = "预警检查记录"

    def __str__(self):
        return f"{self.month:%Y-%m} 第{self.run_count}次"


class LagEvaluation(models.Model):
    """Where one district stands on one indicator at the end of a month.

    ``gap_points`` is how far behind pace the district is: for cumulative targets the
    expected minus the actual share of its quota, in percentage points (落后序时进度
    X 个百分点); for rates the expected minus the actual level, in points.
    """

    indicator = models.ForeignKey(
        Indicator, on_delete=models.CASCADE, related_name="lag_evaluations", verbose_name="量化目标"
    )
    district = models.ForeignKey(
        District,
        on_delete=models.PROTECT,
        related_name="lag_evaluations",
        verbose_name="区、县(市)",
    )
    month = models.DateField("月份", help_text="该月第一天")
    status = models.CharField("状态", max_length=20, choices=LagStatus.choices)
    quota = models.DecimalField("任务数", max_digits=16, decimal_places=4)
    expected = models.DecimalField(
        "序时应达", max_digits=16, decimal_places=4, null=True, blank=True
    )
    actual = models.DecimalField("累计完成", max_digits=16, decimal_places=4, null=True, blank=True)
    reported_month = models.DateField("所用填报月份", null=True, blank=True)
    on_time = models.BooleanField("按时填报", default=False)
    gap_points = models.DecimalField(
        "落后百分点", max_digits=12, decimal_places=2, null=True, blank=True
    )
    completion_pct = models.DecimalField(
        "完成率(%)", max_digits=12, decimal_places=2, null=True, blank=True
    )
    pace_pct = models.DecimalField(
        "序时进度(%)", max_digits=12, decimal_places=2, null=True, blank=True
    )
    is_checkpoint = models.BooleanField("节点月", default=False)
    forecast = models.DecimalField(
        "预计完成时间可达", max_digits=16, decimal_places=4, null=True, blank=True
    )
    needed_pace = models.DecimalField(
        "此后每月需完成", max_digits=16, decimal_places=4, null=True, blank=True
    )
    at_risk = models.BooleanField("存在逾期风险", default=False)
    streak = models.PositiveSmallIntegerField("连续滞后月数", default=0)
    run_number = models.PositiveIntegerField("检查批次", default=0)
    evaluated_at = models.DateTimeField("评估时间", default=timezone.now)

    scope_agency_path = "indicator__project__lead_agency"
    scope_district_path = "district"

    objects = ScopedQuerySet.as_manager()

    class Meta:
        ordering = ["month", "indicator", "district__order"]
        verbose_name = "进度评估"
        verbose_name_plural = "进度评估"
        constraints = [
            models.UniqueConstraint(
                fields=["indicator", "district", "month"], name="lag_evaluation_unique_cell"
            ),
        ]
        indexes = [models.Index(fields=["month", "status"])]

    def __str__(self):
        return f"{self.indicator_id}·{self.district_id}·{self.month:%Y-%m} {self.status}"


class LagAlert(models.Model):
    class Kind(models.TextChoices):
        LAG = "lag", "进度滞后"
        NOT_REPORTED = "not_reported", "未按时填报"
        AT_RISK = "at_risk", "预计难以按期完成"
        MILESTONE = "milestone", "节点未完成"

    class Severity(models.TextChoices):
        INFO = "info", "提示"
        YELLOW = "yellow", "黄色"
        RED = "red", "红色"

    class Status(models.TextChoices):
        OPEN = "open", "待处理"
        ACKNOWLEDGED = "acknowledged", "已确认"
        ESCALATED = "escalated", "已升级"
        RESOLVED = "resolved", "已解除"
        SUPERSEDED = "superseded", "已撤销（数据更正）"

    class Level(models.IntegerChoices):
        DISTRICT = 0, "区、县(市)"
        AGENCY = 1, "牵头单位"
        SUPERVISION = 2, "市政府督查室"

    ACTIVE = (Status.OPEN, Status.ACKNOWLEDGED, Status.ESCALATED)
    SEVERITY_RANK = {Severity.INFO: 0, Severity.YELLOW: 1, Severity.RED: 2}

    indicator = models.ForeignKey(
        Indicator, on_delete=models.CASCADE, related_name="lag_alerts", verbose_name="量化目标"
    )
    district = models.ForeignKey(
        District, on_delete=models.PROTECT, related_name="lag_alerts", verbose_name="区、县(市)"
    )
    month = models.DateField("月份", help_text="该月第一天")
    kind = models.CharField("类型", max_length=20, choices=Kind.choices)
    severity = models.CharField("等级", max_length=10, choices=Severity.choices)
    status = models.CharField("状态", max_length=20, choices=Status.choices, default=Status.OPEN)
    level = models.PositiveSmallIntegerField(
        "督办层级", choices=Level.choices, default=Level.DISTRICT
    )
    supervised = models.BooleanField("挂牌督办", default=False)
    streak = models.PositiveSmallIntegerField("连续滞后月数", default=1)
    quota = models.DecimalField("任务数", max_digits=16, decimal_places=4, null=True, blank=True)
    expected = models.DecimalField(
        "序时应达", max_digits=16, decimal_places=4, null=True, blank=True
    )
    actual = models.DecimalField("累计完成", max_digits=16, decimal_places=4, null=True, blank=True)
    gap_points = models.DecimalField(
        "落后百分点", max_digits=12, decimal_places=2, null=True, blank=True
    )
    forecast = models.DecimalField(
        "预计可达", max_digits=16, decimal_places=4, null=True, blank=True
    )
    message = models.TextField("说明")
    revision = models.PositiveIntegerField(
        "版本", default=1, help_text="新建、升级、加重或重新打开时加一"
    )
    notified_revision = models.PositiveIntegerField("已通知版本", default=0)
    created_at = models.DateTimeField("首次预警时间", default=timezone.now)
    updated_at = models.DateTimeField("最近评估时间", default=timezone.now)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="acknowledged_lag_alerts",
        verbose_name="确认人",
    )
    acknowledged_at = models.DateTimeField("确认时间", null=True, blank=True)
    acknowledgement_note = models.TextField("确认说明", blank=True)
    closed_at = models.DateTimeField("解除/撤销时间", null=True, blank=True)
    closed_in_month = models.DateField(
        "解除依据月份", null=True, blank=True, help_text="追上进度的月份，或重新评估的月份"
    )
    history = HistoricalRecords()

    scope_agency_path = "indicator__project__lead_agency"
    scope_district_path = "district"

    objects = ScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-month", "indicator", "district__order", "kind"]
        verbose_name = "进度预警"
        verbose_name_plural = "进度预警"
        constraints = [
            models.UniqueConstraint(
                fields=["indicator", "district", "month", "kind"], name="lag_alert_unique_key"
            ),
        ]
        indexes = [models.Index(fields=["status", "month"])]

    def __str__(self):
        return f"{self.month:%Y-%m} {self.get_kind_display()} {self.message[:40]}"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE

    def acknowledge(self, user, note: str = "") -> None:
        """A responsible person has seen the alert (an escalated one stays escalated)."""
        if not self.is_active:
            raise ValidationError("该预警已解除或已撤销，无需确认")
        if self.status == self.Status.OPEN:
            self.status = self.Status.ACKNOWLEDGED
        self.acknowledged_by = user
        self.acknowledged_at = timezone.now()
        self.acknowledgement_note = note
        self._history_user = user
        self.save(
            update_fields=["status", "acknowledged_by", "acknowledged_at", "acknowledgement_note"]
        )


class Contact(models.Model):
    """A recipient of alert digests: a mailbox and/or a webhook of an office."""

    name = models.CharField("名称", max_length=100)
    role = models.CharField("类别", max_length=20, choices=Role.choices)
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
        LagAlert, related_name="notifications", blank=True, verbose_name="所含预警"
    )
    created_at = models.DateTimeField("生成时间", default=timezone.now)

    scope_agency_path = "contact__agency"
    scope_district_path = "contact__district"

    objects = ScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "预警通知"
        verbose_name_plural = "预警通知"
        constraints = [
            models.UniqueConstraint(
                fields=["contact", "month", "run_number"], name="notification_one_per_run"
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

    notification = models.ForeignKey(
        Notification, on_delete=models.CASCADE, related_name="deliveries", verbose_name="通知"
    )
    channel = models.CharField("渠道", max_length=10, choices=Channel.choices)
    address = models.CharField("地址", max_length=500)
    status = models.CharField("状态", max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField("尝试次数", default=0)
    next_attempt_at = models.DateTimeField("下次尝试时间", default=timezone.now)
    claimed_at = models.DateTimeField("领取时间", null=True, blank=True)
    sent_at = models.DateTimeField("发送时间", null=True, blank=True)
    last_error = models.TextField("最近错误", blank=True)

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
