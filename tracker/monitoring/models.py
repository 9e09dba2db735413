"""The lag engine's records: monthly statuses and alert episodes.

- ``LagRun``: one row per month checked; the lock that serialises concurrent checks of
  a month and the log of when it last ran (catch-up of missed runs reads it).
- ``LagEvaluation``: the status of every (indicator, district, month), rewritten in one
  statement by each run (derived data: no history).
- ``LagAlert``: an alert *episode* per (indicator, district, kind): open (→ acknowledged)
  → escalated → resolved, or superseded when a corrected figure removes its cause; at
  most one open episode per key. Each status change is a ``LagAlertFlip``. History is
  kept.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from simple_history.models import HistoricalRecords

from tracker.accounts.querysets import ScopedQuerySet
from tracker.choices import LagStatus
from tracker.months import format_month
from tracker.plans.models import Indicator
from tracker.plans.reference import District


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
        return f"{format_month(self.month)} 第{self.run_count}次"


class LagEvaluation(models.Model):
    """Where one district stands on one indicator at the end of a month.

    ``gap_points`` is how far behind pace the district is: for cumulative targets the
    expected minus the actual share of its quota, in percentage points (落后序时进度
    X 个百分点); for rates the expected minus the actual level, in points.
    """

    # No index of its own: the unique (indicator, district, month) one leads with it.
    indicator = models.ForeignKey(
        Indicator,
        on_delete=models.CASCADE,
        related_name="lag_evaluations",
        verbose_name="量化目标",
        db_index=False,
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
        return f"{self.indicator_id}·{self.district_id}·{format_month(self.month)} {self.status}"


class LagAlertQuerySet(ScopedQuerySet):
    """Reads of episodes for pages, the API and the digests."""

    def active(self):
        """Episodes open now (待处理, 已确认, 已升级)."""
        return self.filter(status__in=LagAlert.ACTIVE)

    def open_as_of(self, month):
        """Episodes open at the end of ``month``: opened in that year by then and not
        closed by then (resolved later counts as open then); superseded ones never
        count. One row per cell and kind, so counts are cells, not months."""
        return (
            self.filter(
                month__lte=month, month__gte=month.replace(month=1), kind__in=LagAlert.COUNTED
            )
            .exclude(status=LagAlert.Status.SUPERSEDED)
            .filter(models.Q(closed_in_month__isnull=True) | models.Q(closed_in_month__gt=month))
        )

    def with_news(self):
        """Episodes whose current state differs from what recipients were last told:
        opened (or reopened) and not announced as open, escalated above the announced
        level, or closed after being announced open. 提示 (info) episodes are never mailed."""
        told_open = models.Q(notified_state=LagAlert.Told.OPEN)
        active = models.Q(status__in=LagAlert.ACTIVE)
        return self.exclude(severity=LagAlert.Severity.INFO).filter(
            (active & ~told_open)  # never told, or told closed and reopened since
            | (active & told_open & models.Q(level__gt=models.F("notified_level")))
            | (~active & told_open)
        )

    def for_cell(self, indicator, district):
        """A cell page's alert history, newest first; ``flips`` prefetched."""
        return (
            self.filter(indicator=indicator, district=district)
            .prefetch_related("flips")
            .order_by("-month", "kind", "-pk")
        )


class LagAlert(models.Model):
    """An alert episode: one (indicator, district, kind) from the month it became a
    problem until it recovers (resolved) or a correction removes its cause (superseded).

    ``month`` is the month it opened, ``last_month`` the latest month whose evaluation
    it reflects (its numbers, streak and message are that month's), ``closed_in_month``
    the month it was resolved or superseded in. Each status change is a ``LagAlertFlip``.
    ``notified_state`` / ``notified_level`` are what recipients were last told, so a
    digest carries news only (``LagAlert.objects.with_news()``).
    The transitions are the methods below; ``monitoring.checks`` calls them and saves.
    """

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

    class Told(models.TextChoices):
        NOTHING = "", "未通知"
        OPEN = "open", "已通知（未解除）"
        CLOSED = "closed", "已通知解除"

    ACTIVE = (Status.OPEN, Status.ACKNOWLEDGED, Status.ESCALATED)
    CLOSED = (Status.RESOLVED, Status.SUPERSEDED)
    #: kinds counted as a cell's problem (one open episode per problem cell); 提示 and
    #: milestone episodes are listed but not counted.
    COUNTED = (Kind.LAG, Kind.NOT_REPORTED, Kind.MILESTONE)
    SEVERITY_RANK = {Severity.INFO: 0, Severity.YELLOW: 1, Severity.RED: 2}

    # No index of its own: the (indicator, district, kind) one leads with it.
    indicator = models.ForeignKey(
        Indicator,
        on_delete=models.CASCADE,
        related_name="lag_alerts",
        verbose_name="量化目标",
        db_index=False,
    )
    district = models.ForeignKey(
        District, on_delete=models.PROTECT, related_name="lag_alerts", verbose_name="区、县(市)"
    )
    kind = models.CharField("类型", max_length=20, choices=Kind.choices)
    month = models.DateField("开始月份", help_text="成为问题的第一个月（该月第一天）")
    last_month = models.DateField("最近评估月份", help_text="数字和说明所依据的月份")
    severity = models.CharField("等级", max_length=10, choices=Severity.choices)
    status = models.CharField("状态", max_length=20, choices=Status.choices, default=Status.OPEN)
    level = models.PositiveSmallIntegerField(
        "督办层级", choices=Level.choices, default=Level.DISTRICT
    )
    # the alert engine's proposal (escalated to 督查室); 挂牌督办 itself is a
    # tracker.supervision item that 督查室 交办s
    supervised = models.BooleanField("建议挂牌督办", default=False)
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
    notified_state = models.CharField(
        "已通知状态", max_length=10, choices=Told.choices, default=Told.NOTHING, blank=True
    )
    notified_level = models.PositiveSmallIntegerField(
        "已通知督办层级", choices=Level.choices, default=Level.DISTRICT
    )
    notified_at = models.DateTimeField("最近通知时间", null=True, blank=True)
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
    # A check writes tens of thousands of history rows; they are read by alert (``id``)
    # and date only, so the copied foreign keys carry no index of their own.
    history = HistoricalRecords(no_db_index=["indicator", "district", "acknowledged_by"])

    scope_agency_path = "indicator__project__lead_agency"
    scope_district_path = "district"

    objects = LagAlertQuerySet.as_manager()

    class Meta:
        ordering = ["-month", "indicator", "district__order", "kind"]
        verbose_name = "进度预警"
        verbose_name_plural = "进度预警"
        constraints = [
            models.UniqueConstraint(
                fields=["indicator", "district", "kind"],
                condition=models.Q(status__in=("open", "acknowledged", "escalated")),
                name="lag_alert_one_open_episode",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "month"]),
            models.Index(fields=["indicator", "district", "kind"]),
        ]

    def __str__(self):
        return f"{format_month(self.month)}起 {self.get_kind_display()} {self.message[:40]}"

    def save(self, *args, **kwargs):
        if self.last_month is None:  # an episode made by hand starts and ends in a month
            self.last_month = self.month
        super().save(*args, **kwargs)

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE

    # --- lifecycle (the caller saves; each returns the flip to store, or None) ---------

    def _flip(self, month, to_status, why, now) -> LagAlertFlip | None:
        if to_status == self.status:
            return None
        flip = LagAlertFlip(
            alert=self, month=month, old_status=self.status, new_status=to_status,
            at=now, why=why,
        )  # fmt: skip
        self.status = to_status
        self.updated_at = now
        return flip

    @classmethod
    def open(cls, indicator_id, district_id, kind, month, *, now, why="", **numbers):
        """A new episode from ``month``; returns ``(episode, flip)``; escalated at once when
        ``numbers['level']`` says so (a streak that started before the first check)."""
        alert = cls(
            indicator_id=indicator_id, district_id=district_id, kind=kind, month=month,
            last_month=month, status=cls.Status.OPEN, created_at=now, updated_at=now,
        )  # fmt: skip
        flip = LagAlertFlip(
            alert=alert, month=month, old_status="", new_status=cls.Status.OPEN, at=now,
            why=why or "成为问题",
        )  # fmt: skip
        level = numbers.pop("level", cls.Level.DISTRICT)
        alert.update(month, now=now, **numbers)
        alert.level = level
        alert.supervised = level >= cls.Level.SUPERVISION
        if level > cls.Level.DISTRICT:
            flip.new_status = alert.status = cls.Status.ESCALATED
        return alert, flip

    def update(self, month, *, now, level=None, **numbers) -> LagAlertFlip | None:
        """The month's numbers (severity, streak, quota … message) and escalation:
        a higher ``level`` escalates (lead agency, then 督查室 with 挂牌督办); a lower
        one (a correction shortened the streak) lowers it silently."""
        for name, value in numbers.items():
            setattr(self, name, value)
        if month >= self.last_month:
            self.last_month = month
        flip = None
        if level is not None and level != self.level:
            rising = level > self.level
            self.level = level
            self.supervised = level >= self.Level.SUPERVISION
            if rising and self.is_active:
                why = "挂牌督办" if self.supervised else f"升级至{self.get_level_display()}"
                flip = self._flip(month, self.Status.ESCALATED, why, now)
                if flip is None:  # already escalated: record the climb anyway
                    flip = LagAlertFlip(
                        alert=self, month=month, old_status=self.status,
                        new_status=self.status, at=now, why=why,
                    )  # fmt: skip
        return flip

    def escalate(self, level, month, *, now) -> LagAlertFlip | None:
        """Raise the supervision level (to 督查室 means 挂牌督办)."""
        return self.update(month, now=now, level=max(level, self.level))

    def resolve(self, month, *, now, why="已追上进度") -> LagAlertFlip | None:
        """The cell recovered (or the milestone was done) in ``month``."""
        flip = self._flip(month, self.Status.RESOLVED, why, now)
        if flip:
            self.closed_at, self.closed_in_month = now, month
        return flip

    def supersede(self, month, *, now, why="数据更正后不再成立") -> LagAlertFlip | None:
        """A correction removed the episode's cause; it stays visible as 已撤销."""
        flip = self._flip(month, self.Status.SUPERSEDED, why, now)
        if flip:
            self.closed_at, self.closed_in_month = now, month
        return flip

    def reopen(self, month, *, now, why="重新评估后仍未追上") -> LagAlertFlip | None:
        """A re-evaluation found that the recovery did not happen after all."""
        target = self.Status.ESCALATED if self.level > self.Level.DISTRICT else self.Status.OPEN
        flip = self._flip(month, target, why, now)
        if flip:
            self.closed_at = self.closed_in_month = None
        return flip

    def mark_told(self, now) -> None:
        """Recipients now know the current state (the caller saves)."""
        self.notified_state = self.Told.OPEN if self.is_active else self.Told.CLOSED
        self.notified_level = self.level
        self.notified_at = now

    def news(self) -> str | None:
        """What a digest says about this episode now: 新增 / 升级 / 解除 / 撤销, or None."""
        if self.severity == self.Severity.INFO:
            return None
        if self.is_active:
            if self.notified_state != self.Told.OPEN:  # never told, or reopened
                return "opened"
            if self.notified_state == self.Told.OPEN and self.level > self.notified_level:
                return "escalated"
            return None
        if self.notified_state == self.Told.OPEN:
            return "resolved" if self.status == self.Status.RESOLVED else "superseded"
        return None

    def acknowledge(self, user, note: str = "") -> None:
        """A responsible person has seen the alert (an escalated one stays escalated)."""
        if not self.is_active:
            raise ValidationError("该预警已解除或已撤销，无需确认")
        now = timezone.now()
        flip = None
        if self.status == self.Status.OPEN:
            flip = self._flip(self.last_month, self.Status.ACKNOWLEDGED, "已确认", now)
        self.acknowledged_by = user
        self.acknowledged_at = now
        self.acknowledgement_note = note
        self._history_user = user
        self.save(
            update_fields=[
                "status", "acknowledged_by", "acknowledged_at", "acknowledgement_note",
                "updated_at",
            ]
        )  # fmt: skip
        if flip:
            flip.save()


class LagAlertFlip(models.Model):
    """One status change of an episode (like healthchecks' ``Flip``): in which month's
    evaluation, from what to what, when, and why."""

    alert = models.ForeignKey(
        LagAlert, on_delete=models.CASCADE, related_name="flips", verbose_name="预警"
    )
    month = models.DateField("依据月份")
    old_status = models.CharField("原状态", max_length=20, blank=True)
    new_status = models.CharField("新状态", max_length=20, choices=LagAlert.Status.choices)
    at = models.DateTimeField("时间", default=timezone.now)
    why = models.CharField("原因", max_length=200, blank=True)

    scope_agency_path = "alert__indicator__project__lead_agency"
    scope_district_path = "alert__district"

    objects = ScopedQuerySet.as_manager()

    class Meta:
        ordering = ["alert", "at", "pk"]
        verbose_name = "预警状态变化"
        verbose_name_plural = "预警状态变化"

    def __str__(self):
        return (
            f"{format_month(self.month)} {self.old_status or '—'} → {self.new_status}（{self.why}）"
        )
