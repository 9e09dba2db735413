"""The plan as published: projects, their quantified targets, quotas and milestones."""

from decimal import Decimal

from django.db import models
from simple_history.models import HistoricalRecords

from tracker.accounts.querysets import ScopedQuerySet
from tracker.months import format_month
from tracker.plans.reference import Agency, Category, District, PlanYear


def free_key(siblings, wanted: str, prefix: str) -> str:
    """``wanted`` unless a sibling row holds it; then the next number after ``prefix``'s
    highest (P25-T3), so a row added by hand never takes another row's identity."""
    used = set(siblings.values_list("key", flat=True))
    if wanted not in used:
        return wanted
    numbers = [
        int(k[len(prefix) :]) for k in used if k.startswith(prefix) and k[len(prefix) :].isdigit()
    ]
    return f"{prefix}{max(numbers, default=0) + 1}"


class Project(models.Model):
    plan_year = models.ForeignKey(
        PlanYear, on_delete=models.CASCADE, related_name="projects", verbose_name="年度"
    )
    category = models.ForeignKey(
        Category, on_delete=models.PROTECT, related_name="projects", verbose_name="类别"
    )
    seq = models.PositiveSmallIntegerField("序号", help_text="附件2 任务分解表中的序号")
    key = models.CharField(
        "标识",
        max_length=40,
        blank=True,
        help_text="计划文件中的 key（如 P25），调整序号或次序后不变；载入时按它对应。"
        "留空则按序号生成",
    )
    name = models.CharField("项目名称", max_length=300, help_text="附件1 责任清单中的名称")
    name_in_breakdown = models.CharField(
        "任务分解表中的名称", max_length=300, blank=True, help_text="与附件1 写法不同时记录"
    )
    city_leader = models.CharField("分管市领导", max_length=100, help_text="多人以「、」分隔")
    lead_agency = models.ForeignKey(
        Agency, on_delete=models.PROTECT, related_name="led_projects", verbose_name="牵头单位"
    )
    co_lead_agencies = models.ManyToManyField(
        Agency,
        related_name="co_led_projects",
        blank=True,
        verbose_name="其他牵头单位",
        help_text="有多个牵头单位时，lead_agency 为列第一位的单位，其余在此",
    )
    lead_agency_leader = models.CharField(
        "牵头单位分管领导", max_length=100, help_text="多人以「、」分隔"
    )
    cooperating_agencies = models.ManyToManyField(
        Agency, related_name="cooperating_projects", blank=True, verbose_name="配合单位"
    )
    cooperating_text = models.TextField("配合单位（原文）", blank=True)
    deadline = models.DateField("预计完成时间", help_text="月末日期")
    deadline_assumed = models.BooleanField(
        "完成时间系推定",
        default=False,
        help_text="原文未写预计完成时间，按年末载入，需人工核对",
    )
    work_plan = models.TextField("工作计划和进度安排")
    notes = models.TextField("整理说明", blank=True)
    history = HistoricalRecords(m2m_fields=[cooperating_agencies, co_lead_agencies])

    scope_agency_path = "lead_agency"
    scope_district_path = None  # every district reads the whole plan

    objects = ScopedQuerySet.as_manager()

    class Meta:
        ordering = ["plan_year", "seq"]
        verbose_name = "项目"
        verbose_name_plural = "项目"
        constraints = [
            models.UniqueConstraint(fields=["plan_year", "seq"], name="project_unique_seq"),
            models.UniqueConstraint(fields=["plan_year", "key"], name="project_unique_key"),
        ]

    def __str__(self):
        return f"{self.seq}. {self.name}"

    def save(self, *args, **kwargs):
        if not self.key:  # as the loader and the migration derive it: from the 序号
            siblings = Project.objects.filter(plan_year_id=self.plan_year_id).exclude(pk=self.pk)
            self.key = free_key(siblings, f"P{self.seq}", f"P{self.seq}-")
        super().save(*args, **kwargs)


class Indicator(models.Model):
    """One quantified target (量化目标) of a project."""

    class Kind(models.TextChoices):
        CUMULATIVE = "cumulative", "累计数量"
        LEVEL = "level", "比率/水平"
        QUALITATIVE = "qualitative", "定性"

    class Scope(models.TextChoices):
        DISTRICTS = "districts", "分解到区、县(市)"
        CITY = "city", "全市整体完成"

    class Direction(models.TextChoices):
        FLOOR = "floor", "不低于（下限）"
        CEILING = "ceiling", "不高于（上限）"

    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="indicators", verbose_name="项目"
    )
    order = models.PositiveSmallIntegerField("序次", help_text="该项目内第几个量化目标（从 1 起）")
    key = models.CharField(
        "标识",
        max_length=40,
        blank=True,
        help_text="计划文件中的 key（如 P25-T1），在计划内唯一，调整次序后不变。留空则按次序生成",
    )
    label = models.CharField("指标", max_length=200)
    unit = models.CharField("单位", max_length=20, blank=True)
    target_value = models.DecimalField(
        "年度目标", max_digits=16, decimal_places=4, null=True, blank=True
    )
    target_text = models.CharField("量化目标（原文）", max_length=100, blank=True)
    kind = models.CharField("类型", max_length=20, choices=Kind.choices)
    scope = models.CharField(
        "分解方式", max_length=20, choices=Scope.choices, default=Scope.DISTRICTS
    )
    direction = models.CharField(
        "方向",
        max_length=10,
        choices=Direction.choices,
        default=Direction.FLOOR,
        help_text="不低于：达到或超过任务数为完成；不高于：如「失业率低于4.3%」，不超过为完成",
    )
    breakdown_note = models.TextField("分解说明（原文）", blank=True)
    deadline = models.DateField(
        "本目标完成时间", null=True, blank=True, help_text="为空表示与项目的预计完成时间相同"
    )
    history = HistoricalRecords()

    scope_agency_path = "project__lead_agency"
    scope_district_path = None

    objects = ScopedQuerySet.as_manager()

    class Meta:
        ordering = ["project", "order"]
        verbose_name = "量化目标"
        verbose_name_plural = "量化目标"
        constraints = [
            models.UniqueConstraint(fields=["project", "order"], name="indicator_unique_order"),
            models.UniqueConstraint(fields=["project", "key"], name="indicator_unique_key"),
        ]

    def __str__(self):
        return f"{self.project.seq}-{self.order} {self.label}"

    def save(self, *args, **kwargs):
        if not self.key:  # as the loader and the migration derive it: from the order
            prefix = f"{self.project.key}-T"
            siblings = Indicator.objects.filter(project_id=self.project_id).exclude(pk=self.pk)
            self.key = free_key(siblings, f"{prefix}{self.order}", prefix)
        super().save(*args, **kwargs)

    @property
    def due(self):
        """This target's deadline: its own if printed, else the project's."""
        return self.deadline or self.project.deadline

    @property
    def is_level(self) -> bool:
        """A rate or level (保障率 83%): compared as a level, never summed."""
        return self.kind == self.Kind.LEVEL

    @property
    def is_ceiling(self) -> bool:
        """At most (失业率低于4.3%): a value at or below the quota meets it."""
        return self.direction == self.Direction.CEILING

    @property
    def is_additive(self) -> bool:
        """District quotas of a cumulative, district-split target should add up to it."""
        return self.kind == self.Kind.CUMULATIVE and self.scope == self.Scope.DISTRICTS


class Quota(models.Model):
    """A district's share (分解任务) of an indicator, as printed in 附件2."""

    indicator = models.ForeignKey(
        Indicator, on_delete=models.CASCADE, related_name="quotas", verbose_name="量化目标"
    )
    district = models.ForeignKey(
        District, on_delete=models.PROTECT, related_name="quotas", verbose_name="区、县(市)"
    )
    value = models.DecimalField("任务数", max_digits=16, decimal_places=4)
    new_value = models.DecimalField(
        "其中新增", max_digits=16, decimal_places=4, null=True, blank=True
    )
    upgrade_value = models.DecimalField(
        "其中提升", max_digits=16, decimal_places=4, null=True, blank=True
    )
    published_text = models.CharField("原文", max_length=50, blank=True)
    shared_with = models.ManyToManyField(
        District,
        related_name="shared_quotas",
        blank=True,
        verbose_name="共同承担的其他单位",
        help_text=(
            "合并列（如「海曙、江东、江北」共用一个数）：一个分解任务，"
            "由 district 与这些单位共同承担"
        ),
    )
    history = HistoricalRecords(m2m_fields=[shared_with])

    scope_agency_path = "indicator__project__lead_agency"
    scope_district_path = "district"

    objects = ScopedQuerySet.as_manager()

    class Meta:
        ordering = ["indicator", "district__order"]
        verbose_name = "分解任务"
        verbose_name_plural = "分解任务"
        constraints = [
            models.UniqueConstraint(fields=["indicator", "district"], name="quota_unique_cell"),
        ]

    def __str__(self):
        return f"{self.district} {self.published_text or self.value}"


class Milestone(models.Model):
    """A month-end checkpoint (进度节点) of the work plan.

    ``value`` is in the indicator's unit for absolute amounts, in percent of the
    annual target for ``PERCENT``, a rate level for ``LEVEL`` and an amount per
    month for ``MONTHLY`` (one row per month it applies to); qualitative
    milestones have no value.

    Two kinds keep a published number that is *not* a completion checkpoint:
    ``STAGE`` counts an intermediate step (「累计进场施工 60 个」, 「新增点位建设启动
    30%」) and ``PACE`` an average monthly pace given for reference (「平均每月完成
    1000 余场」). The trajectory ignores both; ``is_checkpoint`` says which rows count.
    """

    CHECKPOINT_KINDS = ("absolute", "percent", "level")

    class Kind(models.TextChoices):
        QUALITATIVE = "qualitative", "定性节点"
        ABSOLUTE = "absolute", "累计数量"
        PERCENT = "percent", "完成比例"
        LEVEL = "level", "比率水平"
        MONTHLY = "monthly", "每月完成量"
        STAGE = "stage", "阶段性数量"
        PACE = "pace", "参考平均进度"

    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="milestones", verbose_name="项目"
    )
    indicator = models.ForeignKey(
        Indicator,
        on_delete=models.CASCADE,
        related_name="milestones",
        null=True,
        blank=True,
        verbose_name="量化目标",
        help_text="为空表示适用于整个项目的定性节点",
    )
    district = models.ForeignKey(
        District,
        on_delete=models.PROTECT,
        related_name="milestones",
        null=True,
        blank=True,
        verbose_name="区、县(市)",
        help_text="为空表示全市节点",
    )
    due_date = models.DateField("节点日期", help_text="一般为月末")
    kind = models.CharField("类型", max_length=20, choices=Kind.choices)
    value = models.DecimalField("数值", max_digits=16, decimal_places=4, null=True, blank=True)
    value_text = models.CharField("数值（原文）", max_length=50, blank=True)
    text = models.TextField("节点内容（原文）")
    order = models.PositiveSmallIntegerField("序次", default=0)
    key = models.CharField(
        "标识",
        max_length=40,
        blank=True,
        help_text="计划文件中节点的 key（如 P25-M1）；一句话给出多个数值时，其余为 P25-M1.2 …"
        "留空则按序次生成",
    )
    history = HistoricalRecords()

    scope_agency_path = "project__lead_agency"
    scope_district_path = None  # city-wide milestones are visible to every district

    objects = ScopedQuerySet.as_manager()

    class Meta:
        ordering = ["project", "due_date", "order"]
        verbose_name = "进度节点"
        verbose_name_plural = "进度节点"
        indexes = [models.Index(fields=["indicator", "due_date"])]
        constraints = [
            models.UniqueConstraint(fields=["project", "order"], name="milestone_unique_order"),
            models.UniqueConstraint(fields=["project", "key"], name="milestone_unique_key"),
        ]

    def __str__(self):
        return f"{format_month(self.due_date)} {self.text[:40]}"

    def save(self, *args, **kwargs):
        if not self.key:  # as the loader and the migration derive it: sentence i, row k
            sentence, row = divmod(self.order, 100)
            suffix = f".{row + 1}" if row else ""
            prefix = f"{self.project.key}-M"
            siblings = Milestone.objects.filter(project_id=self.project_id).exclude(pk=self.pk)
            self.key = free_key(siblings, f"{prefix}{sentence + 1}{suffix}", prefix)
        super().save(*args, **kwargs)

    @property
    def is_numeric(self) -> bool:
        return self.kind != self.Kind.QUALITATIVE and self.value is not None

    @property
    def is_checkpoint(self) -> bool:
        """A city-wide cumulative amount or level the trajectory must pass through."""
        return self.kind in self.CHECKPOINT_KINDS and self.value is not None

    @property
    def expected(self) -> Decimal | None:
        """The city-wide cumulative amount (or level) a checkpoint means.

        Percentages become absolute amounts of the annual target; levels stay
        levels; monthly amounts are per month; stage and pace rows mean no
        completion amount and give ``None``.
        """
        if self.kind not in (*self.CHECKPOINT_KINDS, self.Kind.MONTHLY) or self.value is None:
            return None
        if self.kind == self.Kind.PERCENT:
            target = self.indicator.target_value if self.indicator_id else None
            if target is None:
                return None
            return (self.value * target / Decimal(100)).quantize(Decimal("0.0001"))
        return self.value
