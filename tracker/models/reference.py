"""Reference data: plan years, categories, agencies and districts.

Districts and agencies outlive a plan year and are shared by every year's plan;
categories belong to one year.
"""

from django.db import models
from simple_history.models import HistoricalRecords


class PlanYear(models.Model):
    year = models.PositiveSmallIntegerField("年度", unique=True)
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
    history = HistoricalRecords()

    class Meta:
        ordering = ["-year"]
        verbose_name = "计划年度"
        verbose_name_plural = "计划年度"

    def __str__(self):
        return f"{self.year}年 {self.title}"


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
    """市本级, the 13 districts/counties/cities and 西湖风景名胜区, in 附件2's column order."""

    class Kind(models.TextChoices):
        CITY = "city", "市本级"
        DISTRICT = "district", "区"
        COUNTY = "county", "县"
        COUNTY_CITY = "county_city", "县级市"
        SCENIC_AREA = "scenic_area", "风景名胜区"

    code = models.SlugField("代码", max_length=40, unique=True)
    name = models.CharField("名称", max_length=50, unique=True)
    kind = models.CharField("类型", max_length=20, choices=Kind.choices)
    order = models.PositiveSmallIntegerField("列序", unique=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["order"]
        verbose_name = "区、县(市)"
        verbose_name_plural = "区、县(市)"

    def __str__(self):
        return self.name
