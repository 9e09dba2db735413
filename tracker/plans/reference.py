"""Reference data: plans, their columns, categories, agencies and reporting units.

Reporting units (``District``: 市本级, districts, 开发区, 街道, 乡镇 …) and agencies
outlive a plan and keep a stable identity through their code / name; a plan
(``PlanYear``: issuer + year) lists its own columns (``PlanColumn``) in its own
order with the label it printed, so one year's columns never change another's.
Categories belong to one plan.
"""

from django.db import models
from simple_history.models import HistoricalRecords

DEFAULT_ISSUER = "杭州市人民政府"


class PlanYear(models.Model):
    """One published plan, identified by its issuer and year.

    The city's plan and a district government's own plan can exist for the same
    year; ``year`` alone identifies the plan while only one issuer has one.
    """

    issuer = models.CharField(
        "发布机关",
        max_length=100,
        default=DEFAULT_ISSUER,
        help_text="例如 杭州市人民政府、西湖区人民政府",
    )
    year = models.PositiveSmallIntegerField("年度")
    title = models.CharField("名称", max_length=200)
    document_number = models.CharField("文号", max_length=100, blank=True)
    source = models.CharField("出处", max_length=300, blank=True)
    published_on = models.DateField("印发日期", null=True, blank=True)
    notes = models.TextField("整理说明", blank=True)
    acknowledged_findings = models.JSONField(
        "已确认的原文不一致",
        default=list,
        blank=True,
        help_text="完整性检查中已核对并按原文载入的问题：[{seq, check, reason}]",
    )
    format_version = models.PositiveSmallIntegerField("计划文件格式版本", default=1)
    history = HistoricalRecords()

    class Meta:
        ordering = ["-year", "issuer"]
        verbose_name = "计划年度"
        verbose_name_plural = "计划年度"
        constraints = [
            models.UniqueConstraint(fields=["issuer", "year"], name="planyear_unique_issuer_year"),
        ]

    def __str__(self):
        if self.issuer == DEFAULT_ISSUER:
            return f"{self.year}年 {self.title}"
        return f"{self.issuer} {self.year}年 {self.title}"

    def columns_in_order(self):
        """This plan's reporting columns, in the order the plan prints them."""
        return self.columns.select_related("district").prefetch_related("merged_units")

    def column_order(self) -> dict[int, int]:
        """district id → this plan's column position; merged units share their column's
        (a unit with a column of its own keeps its own). One query.

        The read side should sort a plan's units by this, not by ``District.order``.
        """
        own: dict[int, int] = {}
        merged: dict[int, int] = {}
        for district_id, position, unit_id in self.columns.order_by("order").values_list(
            "district_id", "order", "merged_units"
        ):
            own.setdefault(district_id, position)
            if unit_id is not None:
                merged.setdefault(unit_id, position)
        return {**merged, **own}


class Category(models.Model):
    plan_year = models.ForeignKey(
        PlanYear, on_delete=models.CASCADE, related_name="categories", verbose_name="年度"
    )
    order = models.PositiveSmallIntegerField("序号")
    name = models.CharField("类别", max_length=100)
    history = HistoricalRecords()

    class Meta:
        ordering = ["plan_year", "order"]
        verbose_name = "类别"
        verbose_name_plural = "类别"
        constraints = [
            models.UniqueConstraint(fields=["plan_year", "order"], name="category_unique_order"),
            models.UniqueConstraint(fields=["plan_year", "name"], name="category_unique_name"),
        ]

    def __str__(self):
        return self.name


class Agency(models.Model):
    """A lead agency (牵头单位) or cooperating unit (配合单位), de-duplicated by name.

    ``aliases`` holds the other spellings the publication uses for the same body
    (e.g. 市住房管局 / 市住房房管局 for 市住保房管局) so loading maps them here.
    """

    name = models.CharField("单位名称", max_length=100, unique=True)
    full_name = models.CharField("全称", max_length=200, blank=True)
    aliases = models.JSONField("别名", default=list, blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]
        verbose_name = "单位"
        verbose_name_plural = "单位"

    def __str__(self):
        return self.name


class District(models.Model):
    """A reporting unit (填报单位): 市本级, a district/county/city, a scenic area,
    a development zone, a 街道 or a 乡镇.

    ``code`` is its identity across plans; ``name`` its registered name (a plan may
    print another label, kept on ``PlanColumn.label``); ``order`` only a default
    display order — each plan's own column order is ``PlanColumn.order``.
    """

    class Kind(models.TextChoices):
        CITY = "city", "市本级"
        DISTRICT = "district", "区"
        COUNTY = "county", "县"
        COUNTY_CITY = "county_city", "县级市"
        SCENIC_AREA = "scenic_area", "风景名胜区"
        DEVELOPMENT_ZONE = "development_zone", "开发区"
        SUBDISTRICT = "subdistrict", "街道"
        TOWNSHIP = "township", "乡镇"

    code = models.SlugField("代码", max_length=40, unique=True)
    name = models.CharField("名称", max_length=50, unique=True)
    kind = models.CharField("类型", max_length=20, choices=Kind.choices)
    order = models.PositiveSmallIntegerField("默认显示顺序", default=0)
    history = HistoricalRecords()

    class Meta:
        ordering = ["order"]
        verbose_name = "区、县(市)"
        verbose_name_plural = "区、县(市)"

    def __str__(self):
        return self.name


class PlanColumn(models.Model):
    """A reporting column of one plan, in that plan's order, with its printed label.

    A merged column (「海曙、江东、江北」 sharing one number) has a primary unit
    (``district``) and the others in ``merged_units``; its quota is one ``Quota``
    on the primary unit whose ``shared_with`` lists the same others.
    """

    plan = models.ForeignKey(
        PlanYear, on_delete=models.CASCADE, related_name="columns", verbose_name="计划"
    )
    district = models.ForeignKey(
        District, on_delete=models.PROTECT, related_name="plan_columns", verbose_name="填报单位"
    )
    order = models.PositiveSmallIntegerField("列序")
    label = models.CharField("表头（原文）", max_length=100)
    merged_units = models.ManyToManyField(
        District, related_name="merged_plan_columns", blank=True, verbose_name="合并列中的其他单位"
    )
    history = HistoricalRecords(m2m_fields=[merged_units])

    class Meta:
        ordering = ["plan", "order"]
        verbose_name = "计划列"
        verbose_name_plural = "计划列"
        constraints = [
            models.UniqueConstraint(fields=["plan", "order"], name="plancolumn_unique_order"),
            models.UniqueConstraint(fields=["plan", "district"], name="plancolumn_unique_unit"),
        ]

    def __str__(self):
        return f"{self.plan.year} {self.order}. {self.label}"
