"""Monthly progress entered by lead agencies and districts, and the state of each figure.

- ``ProgressReport``: a district's cumulative value of an indicator as of a month end.
- ``MilestoneCompletion``: a district's completion of a qualitative milestone.
- ``MonthSubmission``: a district's month, 未上报 → 已上报 → 部分退回 / 已审核.
- ``CellReview``: the lead agency's verdict on one cell of a submitted month (待审核 /
  审核通过 / 退回 with a reason) and its lock (an approved month is locked; 督查室
  unlocks with a reason and relocks).

The state lives beside the figure because the one write path (``tracker.progress.writes``)
must refuse a frozen figure; the state machine that reads these rows is
``tracker.progress.lifecycle``, and the people's actions that move it (submit, approve,
return, unlock) are ``tracker.review.workflow``.
"""

from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords

from tracker.accounts.permissions import scope_for
from tracker.accounts.querysets import ScopedQuerySet
from tracker.formats import number
from tracker.months import format_month
from tracker.plans.models import Indicator, Milestone
from tracker.plans.reference import District


class ProgressReport(models.Model):
    """A district's cumulative value of one indicator as of a month end (进度填报).

    ``month`` is the first day of the month the figure is for. Rates are the level
    reached (e.g. 81 for 81%), counts the cumulative amount since the year began.
    """

    indicator = models.ForeignKey(
        Indicator, on_delete=models.PROTECT, related_name="reports", verbose_name="量化目标"
    )
    district = models.ForeignKey(
        District, on_delete=models.PROTECT, related_name="reports", verbose_name="区、县(市)"
    )
    month = models.DateField("月份", help_text="该月第一天，数值为截至月末的累计值")
    value = models.DecimalField("累计完成", max_digits=16, decimal_places=4)
    note = models.TextField("备注", blank=True)
    is_correction = models.BooleanField("更正", default=False)
    correction_reason = models.TextField("更正原因", blank=True)
    reported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="progress_reports",
        verbose_name="填报人",
    )
    reported_at = models.DateTimeField("填报时间", auto_now=True)
    created_at = models.DateTimeField("首次填报时间", auto_now_add=True)
    version = models.PositiveIntegerField("版本", default=1)
    history = HistoricalRecords()

    scope_agency_path = "indicator__project__lead_agency"
    scope_district_path = "district"

    objects = ScopedQuerySet.as_manager()

    class Meta:
        ordering = ["indicator", "district__order", "month"]
        verbose_name = "进度填报"
        verbose_name_plural = "进度填报"
        constraints = [
            models.UniqueConstraint(
                fields=["indicator", "district", "month"], name="report_unique_cell"
            ),
            models.CheckConstraint(condition=models.Q(value__gte=0), name="report_value_gte_0"),
        ]
        indexes = [models.Index(fields=["month", "indicator"])]

    def __str__(self):
        cell = f"{self.indicator} · {self.district} · {format_month(self.month)}"
        return f"{cell}: {number(self.value, 4)}"


class MilestoneCompletion(models.Model):
    """A district's completion of a qualitative milestone (确定点位, 开展招标 …)."""

    milestone = models.ForeignKey(
        Milestone, on_delete=models.CASCADE, related_name="completions", verbose_name="进度节点"
    )
    district = models.ForeignKey(
        District,
        on_delete=models.PROTECT,
        related_name="milestone_completions",
        verbose_name="区、县(市)",
    )
    done = models.BooleanField("已完成", default=False)
    done_on = models.DateField("完成日期", null=True, blank=True)
    note = models.TextField("备注", blank=True)
    reported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="milestone_completions",
        verbose_name="填报人",
    )
    reported_at = models.DateTimeField("填报时间", auto_now=True)
    history = HistoricalRecords()

    scope_agency_path = "milestone__project__lead_agency"
    scope_district_path = "district"

    objects = ScopedQuerySet.as_manager()

    class Meta:
        ordering = ["milestone", "district__order"]
        verbose_name = "节点完成情况"
        verbose_name_plural = "节点完成情况"
        constraints = [
            models.UniqueConstraint(
                fields=["milestone", "district"], name="milestone_completion_unique"
            ),
        ]

    def __str__(self):
        return f"{self.milestone} · {self.district}: {'已完成' if self.done else '未完成'}"


# --- the state of a figure: submitted, reviewed, locked (issue 15) -------------------


class MonthState(models.TextChoices):
    NOT_SUBMITTED = "not_submitted", "未上报"
    SUBMITTED = "submitted", "已上报"
    PARTLY_RETURNED = "partly_returned", "部分退回"
    APPROVED = "approved", "已审核"


class CellState(models.TextChoices):
    PENDING = "pending", "待审核"
    APPROVED = "approved", "审核通过"
    RETURNED = "returned", "退回"


class SubmissionQuerySet(ScopedQuerySet):
    def for_user(self, user):
        """A district its own months; lead agencies and 督查室 every district's months
        (an agency reviews its indicators in every district)."""
        scope = scope_for(user)
        if scope.is_agency:
            return self
        return super().for_user(user)


class MonthSubmission(models.Model):
    """A district's month: reported (已上报) by the district, then reviewed cell by cell."""

    district = models.ForeignKey(
        District, on_delete=models.PROTECT, related_name="submissions", verbose_name="区、县(市)"
    )
    month = models.DateField("月份", help_text="该月第一天")
    state = models.CharField(
        "状态", max_length=20, choices=MonthState.choices, default=MonthState.NOT_SUBMITTED
    )
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="month_submissions",
        verbose_name="上报人",
    )
    submitted_at = models.DateTimeField("上报时间", null=True, blank=True)
    history = HistoricalRecords()

    scope_agency_path = None  # see SubmissionQuerySet.for_user
    scope_district_path = "district"

    objects = SubmissionQuerySet.as_manager()

    class Meta:
        ordering = ["-month", "district__order"]
        verbose_name = "月度上报"
        verbose_name_plural = "月度上报"
        constraints = [
            models.UniqueConstraint(fields=["district", "month"], name="submission_unique_month"),
        ]

    def __str__(self):
        return f"{self.district} · {format_month(self.month)} · {self.get_state_display()}"


class CellReview(models.Model):
    """The lead agency's review of one submitted cell, and that cell's lock."""

    submission = models.ForeignKey(
        MonthSubmission, on_delete=models.CASCADE, related_name="cells", verbose_name="月度上报"
    )
    indicator = models.ForeignKey(
        Indicator, on_delete=models.PROTECT, related_name="reviews", verbose_name="量化目标"
    )
    district = models.ForeignKey(
        District, on_delete=models.PROTECT, related_name="reviews", verbose_name="区、县(市)"
    )
    month = models.DateField("月份")
    state = models.CharField(
        "审核状态", max_length=20, choices=CellState.choices, default=CellState.PENDING
    )
    reason = models.TextField("退回原因", blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="cell_reviews",
        verbose_name="审核人",
    )
    reviewed_at = models.DateTimeField("审核时间", null=True, blank=True)
    locked = models.BooleanField("已锁定", default=False)
    unlock_reason = models.TextField("解锁原因", blank=True)
    history = HistoricalRecords()

    scope_agency_path = "indicator__project__lead_agency"
    scope_district_path = "district"

    objects = ScopedQuerySet.as_manager()

    class Meta:
        ordering = ["month", "indicator", "district__order"]
        verbose_name = "审核"
        verbose_name_plural = "审核"
        constraints = [
            models.UniqueConstraint(
                fields=["indicator", "district", "month"], name="review_unique_cell"
            ),
        ]
        indexes = [models.Index(fields=["month", "locked"])]

    def __str__(self):
        cell = f"{self.indicator} · {self.district} · {format_month(self.month)}"
        return f"{cell} · {self.get_state_display()}"
