"""Monthly progress entered by lead agencies and districts."""

from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords

from tracker.accounts.querysets import ScopedQuerySet
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
        from tracker.formats import number

        return f"{self.indicator} · {self.district} · {self.month:%Y-%m}: {number(self.value, 4)}"


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
