"""The monthly notice's own data: what 督查室 sets for each month's 通报, and, once it is
印发 (issued), the record of what went out (``tracker.reporting.issued``)."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from simple_history.models import HistoricalRecords

from tracker import conf
from tracker.months import format_month


def default_supervision_cap() -> int:
    return conf.NOTICE_SUPERVISION_CAP


#: the 公文 parts a notice prints when 督查室 leaves them blank (``reporting.document``);
#: 主送 as 杭政办函〔2024〕4号 addresses the districts and departments
DEFAULT_ADDRESSEES = "各区、县（市）人民政府，市政府各部门、各直属单位"
DEFAULT_COPY_TO = "市委办公厅，市人大常委会办公厅，市政协办公厅"
DEFAULT_PRINTER = "杭州市人民政府办公厅"
#: punctuation the notice adds itself (「主送：」「抄送：…。」), stripped from what is typed
_ENDS = "：:。.，, \u3000"


class NoticeIssue(models.Model):
    """The 公文 parts (发文机关标志, 文号, 主送, 成文日期, 署名, 版记) and the 挂牌督办 cap of
    one month's 通报 (kept with history).

    Only 督查室 edits it (admin → 月度通报设置). The page, the xlsx and the PDF print the
    parts, a blank one as its default (``reporting.document``); a change re-renders the
    cached PDF. Once 印发 (``issued_at``), the notice as it went out is kept here (figures,
    page, PDF, xlsx) and served as is.
    """

    month = models.DateField("月份", unique=True, help_text="该月第一天")
    doc_number = models.CharField(
        "文号", max_length=60, blank=True, help_text="例如 杭督通〔2024〕9号"
    )
    issued_on = models.DateField(
        "成文日期", null=True, blank=True, help_text="留空：印发当日（印发前按检查日预览）"
    )
    # --- the 公文 parts (GB/T 9704-2012); blank: the default the notice prints ---
    mark = models.CharField(
        "发文机关标志", max_length=40, blank=True,
        help_text="版头红字，留空为「发文机关＋文件」，例如 杭州市人民政府督查室文件",
    )  # fmt: skip
    addressees = models.CharField(
        "主送机关", max_length=200, blank=True,
        help_text=f"留空为「{DEFAULT_ADDRESSEES}」，冒号由通报加上",
    )  # fmt: skip
    signatory = models.CharField(
        "发文机关署名", max_length=60, blank=True, help_text="留空为发文机关（系统设置）"
    )
    copy_to = models.CharField(
        "抄送机关", max_length=300, blank=True,
        help_text=f"版记的抄送，留空为「{DEFAULT_COPY_TO}」，机关之间用逗号",
    )  # fmt: skip
    printer = models.CharField(
        "印发机关", max_length=60, blank=True, help_text=f"版记，留空为「{DEFAULT_PRINTER}」"
    )
    printed_on = models.DateField(
        "印发日期", null=True, blank=True, help_text="版记，留空与成文日期相同"
    )
    supervision_cap = models.PositiveSmallIntegerField(
        "挂牌督办建议上限",
        default=default_supervision_cap,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
        help_text="通报中逐项列出的挂牌督办建议最多几项，其余按区、县(市)汇总",
    )
    updated_at = models.DateTimeField("更新时间", auto_now=True)
    # --- the issued record (``tracker.reporting.issued``): set once, never changed ---
    issued_at = models.DateTimeField("印发时间", null=True, blank=True, editable=False)
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="印发人",
        null=True,
        blank=True,
        editable=False,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    plan_year = models.ForeignKey(
        "tracker.PlanYear",
        verbose_name="印发的计划",
        null=True,
        blank=True,
        editable=False,
        on_delete=models.PROTECT,
        related_name="+",
    )
    data_as_of = models.DateTimeField(
        "数据截至", null=True, blank=True, editable=False, help_text="印发时所用评估结果的时间"
    )
    snapshot = models.JSONField(
        "印发时的通报内容", null=True, blank=True, editable=False, help_text="通报所用的全部数据"
    )
    body_html = models.TextField("印发时的通报正文", blank=True, editable=False)
    pdf = models.BinaryField("印发的 PDF", null=True, blank=True, editable=False)
    xlsx = models.BinaryField("印发的 Excel", null=True, blank=True, editable=False)
    # the files and snapshot are the record itself; history keeps who changed the settings
    history = HistoricalRecords(excluded_fields=["snapshot", "body_html", "pdf", "xlsx"])

    class Meta:
        ordering = ["-month"]
        verbose_name = "月度通报设置"
        verbose_name_plural = "月度通报设置"

    def __str__(self):
        return f"{format_month(self.month)} {self.doc_number}"

    def save(self, *args, **kwargs):
        self.month = self.month.replace(day=1)  # a month is its first day
        super().save(*args, **kwargs)

    def clean(self):
        super().clean()
        for name in ("mark", "addressees", "signatory", "copy_to", "printer"):
            setattr(self, name, " ".join(getattr(self, name).split()).strip(_ENDS))
        if self.printed_on and self.issued_on and self.printed_on < self.issued_on:
            raise ValidationError({"printed_on": "印发日期不能早于成文日期。"})

    @property
    def is_issued(self) -> bool:
        return self.issued_at is not None
