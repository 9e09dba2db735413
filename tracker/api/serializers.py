"""API representations. Writes of progress go through ``tracker.progress.writes``."""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import ISO_8601, serializers
from rest_framework.settings import api_settings

from tracker.api.fields import ModelSerializer, PlainDecimalField
from tracker.formats import plain
from tracker.monitoring.models import LagAlert, LagAlertFlip
from tracker.months import format_month, parse_month
from tracker.plans.models import Indicator, Milestone, Project, Quota
from tracker.plans.reference import Agency, Category, District, PlanColumn, PlanYear
from tracker.progress.models import ProgressReport
from tracker.progress.writes import MAX_TEXT


@extend_schema_field({"type": "string", "pattern": r"^\d{4}-\d{2}$", "example": "2024-06"})
class MonthField(serializers.Field):
    """A month as ``"YYYY-MM"``."""

    default_error_messages = {"invalid": "月份格式应为 YYYY-MM，例如 2024-06"}

    def to_representation(self, value):
        return format_month(value)

    def to_internal_value(self, data):
        try:
            return parse_month(str(data))
        except ValueError:
            self.fail("invalid")


class PlanColumnSerializer(ModelSerializer):
    """One column of a plan, in its order: the printed label, the unit the quota is kept on
    and, for a merged column (「海曙、江东、江北」), the other units sharing its one number."""

    code = serializers.CharField(source="district.code", read_only=True)
    name = serializers.CharField(source="district.name", read_only=True)
    kind = serializers.CharField(source="district.kind", read_only=True)
    merged_units = serializers.SlugRelatedField(many=True, read_only=True, slug_field="code")

    class Meta:
        model = PlanColumn
        fields = ("order", "label", "district", "code", "name", "kind", "merged_units")


class PlanYearSerializer(ModelSerializer):
    columns = PlanColumnSerializer(many=True, read_only=True)

    class Meta:
        model = PlanYear
        fields = ("id", "issuer", "year", "title", "document_number", "source", "published_on",
                  "columns")  # fmt: skip


class CategorySerializer(ModelSerializer):
    year = serializers.IntegerField(source="plan_year.year", read_only=True)

    class Meta:
        model = Category
        fields = ("id", "year", "order", "name")


class AgencySerializer(ModelSerializer):
    class Meta:
        model = Agency
        fields = ("id", "name", "full_name")


class DistrictSerializer(ModelSerializer):
    class Meta:
        model = District
        fields = ("id", "code", "name", "kind", "order")


class QuotaSerializer(ModelSerializer):
    """A quota; a merged column's one number is one quota (on the column's first unit)
    with the other units in ``shared_with`` and the printed ``column_label``."""

    district_name = serializers.CharField(source="district.name", read_only=True)
    column_label = serializers.CharField(read_only=True, default=None, allow_null=True)
    shared_with = serializers.SlugRelatedField(many=True, read_only=True, slug_field="code")

    class Meta:
        model = Quota
        fields = ("id", "indicator", "district", "district_name", "column_label", "shared_with",
                  "value", "new_value", "upgrade_value", "published_text")  # fmt: skip


class MilestoneSerializer(ModelSerializer):
    class Meta:
        model = Milestone
        fields = ("id", "indicator", "district", "due_date", "kind", "value", "value_text",
                  "text")  # fmt: skip


class IndicatorSerializer(ModelSerializer):
    project_seq = serializers.IntegerField(source="project.seq", read_only=True)

    class Meta:
        model = Indicator
        fields = ("id", "key", "project", "project_seq", "order", "label", "unit", "target_value",
                  "target_text", "kind", "scope", "direction")  # fmt: skip


class IndicatorWithQuotasSerializer(IndicatorSerializer):
    quotas = QuotaSerializer(many=True, read_only=True, source="scoped_quotas")

    class Meta(IndicatorSerializer.Meta):
        fields = (*IndicatorSerializer.Meta.fields, "quotas")


class ProjectSerializer(ModelSerializer):
    year = serializers.IntegerField(source="plan_year.year", read_only=True)
    category_name = serializers.CharField(source="category.name", read_only=True)
    lead_agency_name = serializers.CharField(source="lead_agency.name", read_only=True)

    class Meta:
        model = Project
        fields = ("id", "year", "seq", "name", "category", "category_name", "lead_agency",
                  "lead_agency_name", "city_leader", "lead_agency_leader", "deadline")  # fmt: skip


class ProjectDetailSerializer(ProjectSerializer):
    cooperating_agencies = serializers.SlugRelatedField(
        many=True, read_only=True, slug_field="name"
    )
    indicators = IndicatorWithQuotasSerializer(many=True, read_only=True)
    milestones = MilestoneSerializer(many=True, read_only=True)

    class Meta(ProjectSerializer.Meta):
        fields = (*ProjectSerializer.Meta.fields, "work_plan", "cooperating_agencies",
                  "indicators", "milestones")  # fmt: skip


class ProgressReportSerializer(ModelSerializer):
    """Read: the stored cell. Write: validated and saved by the progress service."""

    month = MonthField()
    value = serializers.CharField(
        help_text="累计值。读取时为纯十进制数字字符串（不用科学计数法、不补末尾的 0，如 "
        '"20"、"20.5"、"0.3"），原样提交回来即可；写入时也可带本指标单位，'
        "如「120 个」「83%」"
    )
    version = serializers.IntegerField(
        required=False,
        min_value=0,
        help_text="修改时填读取到的版本（新建填 0）；与库中不一致时返回 409，防止覆盖他人的修改",
    )
    confirmed = serializers.BooleanField(
        write_only=True, required=False, default=False, help_text="确认超过任务数 3 倍的数值"
    )
    reported_by = serializers.CharField(source="reported_by.username", read_only=True, default="")

    class Meta:
        model = ProgressReport
        fields = ("id", "indicator", "district", "month", "value", "note", "is_correction",
                  "correction_reason", "version", "confirmed", "reported_by", "reported_at",
                  "created_at")  # fmt: skip
        read_only_fields = ("reported_at", "created_at")
        validators = []  # uniqueness and everything else: the progress service

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data["value"] = None if instance.value is None else plain(instance.value)
        return data


PROGRESS_ROW_COLUMNS = (
    "id", "indicator_id", "district_id", "month", "value", "note", "is_correction",
    "correction_reason", "version", "reported_by__username", "reported_at", "created_at",
)  # fmt: skip
_DATETIME = serializers.DateTimeField()


def progress_row(row: tuple) -> dict:
    """``ProgressReportSerializer``'s read representation of one ``PROGRESS_ROW_COLUMNS``
    row (the list endpoint; equal to the serializer's, asserted in tests)."""
    pk, indicator, district, month, value, note, corr, reason, version, who, rat, cat = row
    return {
        "id": pk, "indicator": indicator, "district": district, "month": format_month(month),
        "value": None if value is None else plain(value), "note": note,
        "is_correction": corr, "correction_reason": reason, "version": version,
        "reported_by": who or "",
        "reported_at": _when(rat), "created_at": _when(cat),
    }  # fmt: skip


def _when(value):
    """``DateTimeField().to_representation`` (ISO 8601 in the current time zone, UTC as
    「Z」) for the aware datetimes the database returns, without the field's settings
    lookups per value (two thirds of the progress list's serialising); naive or custom
    formats go through the field."""
    if value is None:
        return None
    if timezone.is_naive(value) or api_settings.DATETIME_FORMAT != ISO_8601:
        return _DATETIME.to_representation(value)
    text = value.astimezone(timezone.get_current_timezone()).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


class BulkRowSerializer(serializers.Serializer):
    district = serializers.PrimaryKeyRelatedField(queryset=District.objects.all())
    value = serializers.CharField()
    note = serializers.CharField(required=False, allow_blank=True, default="")
    is_correction = serializers.BooleanField(required=False, default=False)
    correction_reason = serializers.CharField(required=False, allow_blank=True, default="")
    version = serializers.IntegerField(required=False, min_value=0)
    confirmed = serializers.BooleanField(required=False, default=False)


class BulkSubmitSerializer(serializers.Serializer):
    indicator = serializers.PrimaryKeyRelatedField(queryset=Indicator.objects.all())
    month = MonthField()
    rows = BulkRowSerializer(many=True, allow_empty=False, max_length=500)


class BulkResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    reports = ProgressReportSerializer(many=True)


class EntryErrorSerializer(serializers.Serializer):
    row = serializers.IntegerField(allow_null=True, help_text="批量填报中的第几行（从 1 起）")
    field = serializers.CharField()
    message = serializers.CharField()
    code = serializers.CharField()


class ErrorSerializer(serializers.Serializer):
    """The one error body (``tracker.api.errors``): ``detail`` says what went wrong in
    Chinese; ``errors`` lists each field's problem when the request had any (``row`` is
    the 1-based row of a bulk request, else null; ``field`` is "" for the request as a
    whole)."""

    detail = serializers.CharField()
    errors = EntryErrorSerializer(many=True, required=False)


RejectedSerializer = ErrorSerializer  # the progress writes' refusals: the same body


class LagAlertFlipSerializer(ModelSerializer):
    month = MonthField(read_only=True)

    class Meta:
        model = LagAlertFlip
        fields = ("month", "old_status", "new_status", "at", "why")
        read_only_fields = fields


class LagAlertSerializer(ModelSerializer):
    """An alert episode: ``month`` is when it opened, ``last_month`` the month its
    numbers are from, ``closed_in_month`` when it was resolved or superseded."""

    month = MonthField(read_only=True)
    last_month = MonthField(read_only=True)
    closed_in_month = MonthField(read_only=True, allow_null=True)
    flips = LagAlertFlipSerializer(many=True, read_only=True)
    project_seq = serializers.IntegerField(source="indicator.project.seq", read_only=True)
    indicator_label = serializers.CharField(source="indicator.label", read_only=True)
    district_name = serializers.CharField(source="district.name", read_only=True)

    class Meta:
        model = LagAlert
        fields = ("id", "indicator", "indicator_label", "project_seq", "district",
                  "district_name", "month", "last_month", "closed_in_month", "kind",
                  "severity", "status", "level", "supervised", "streak", "quota", "expected",
                  "actual", "gap_points", "forecast", "message", "created_at", "updated_at",
                  "closed_at", "acknowledged_at", "acknowledgement_note",
                  "flips")  # fmt: skip
        read_only_fields = fields


class AcknowledgeSerializer(serializers.Serializer):
    note = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=MAX_TEXT,
        error_messages={"max_length": f"确认说明最多 {MAX_TEXT} 个字，请精简后再提交"},
    )


class TokenRequestSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=128, style={"input_type": "password"})


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField()
    token_type = serializers.CharField()
    expires_in = serializers.IntegerField()


class TrajectoryPointSerializer(serializers.Serializer):
    month = serializers.CharField()
    expected = PlainDecimalField(max_digits=20, decimal_places=4, allow_null=True)
    actual = PlainDecimalField(max_digits=20, decimal_places=4, allow_null=True)
    is_checkpoint = serializers.BooleanField()
    milestone = serializers.CharField(allow_blank=True)


class TrajectorySerializer(serializers.Serializer):
    indicator = serializers.IntegerField()
    district = serializers.IntegerField(allow_null=True)
    unit = serializers.CharField()
    target = PlainDecimalField(max_digits=20, decimal_places=4, allow_null=True)
    points = TrajectoryPointSerializer(many=True)


class IndicatorStatusSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    label = serializers.CharField()
    unit = serializers.CharField()
    status = serializers.CharField()
    status_label = serializers.CharField()
    completion_pct = PlainDecimalField(max_digits=12, decimal_places=2, allow_null=True)
    completion_uncapped_pct = PlainDecimalField(max_digits=12, decimal_places=2, allow_null=True)
    pace_pct = PlainDecimalField(max_digits=12, decimal_places=2, allow_null=True)
    pace_completion_pct = PlainDecimalField(
        max_digits=12,
        decimal_places=2,
        allow_null=True,
        help_text="序时完成率 = 累计完成 ÷ 序时应达",
    )
    counts = serializers.DictField(child=serializers.IntegerField())
    open_alerts = serializers.IntegerField()


class ProjectStatusSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    seq = serializers.IntegerField()
    name = serializers.CharField()
    lead_agency = serializers.CharField()
    status = serializers.CharField()
    completion_pct = PlainDecimalField(max_digits=12, decimal_places=2, allow_null=True)
    pace_pct = PlainDecimalField(max_digits=12, decimal_places=2, allow_null=True)
    open_alerts = serializers.IntegerField()
    indicators = IndicatorStatusSerializer(many=True)


class CategoryStatusSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    order = serializers.IntegerField()
    name = serializers.CharField()
    status = serializers.CharField()
    open_alerts = serializers.IntegerField()
    projects = ProjectStatusSerializer(many=True)


class OverviewSerializer(serializers.Serializer):
    month = MonthField()
    evaluated_at = serializers.DateTimeField(
        allow_null=True, help_text="这些状态最近一次评估的时间（保存后即时重新评估）"
    )
    categories = CategoryStatusSerializer(many=True)


_RANK = "名次；并列的行名次相同，下一名次顺延（1、2、2、4）"
_TIED = "是否与其他行并列（正常占比、红、未按时填报都相同）"
_RANK_LABEL = "通报中的写法：「3」或「并列第8」"


class RankingRowSerializer(serializers.Serializer):
    rank = serializers.IntegerField(help_text=_RANK)
    tied = serializers.BooleanField(help_text=_TIED)
    rank_label = serializers.CharField(source="place", help_text=_RANK_LABEL)
    previous_rank = serializers.IntegerField(allow_null=True)
    change = serializers.IntegerField(allow_null=True)
    district = DistrictSerializer()
    due = serializers.IntegerField()
    on_track = serializers.IntegerField()
    behind = serializers.IntegerField()
    seriously_behind = serializers.IntegerField()
    not_reported = serializers.IntegerField()
    share_pct = PlainDecimalField(max_digits=12, decimal_places=2, allow_null=True)


class ProjectStatusCountsSerializer(serializers.Serializer):
    """Projects by status (the overview's project roll-up)."""

    on_track = serializers.IntegerField()
    behind = serializers.IntegerField()
    seriously_behind = serializers.IntegerField()
    overdue = serializers.IntegerField()
    not_reported = serializers.IntegerField()
    not_due = serializers.IntegerField()


class AgencyRankingRowSerializer(serializers.Serializer):
    """部门晾晒: a lead agency ranked on the due cells of its projects (the district rule)."""

    rank = serializers.IntegerField(help_text=_RANK)
    tied = serializers.BooleanField(help_text=_TIED)
    rank_label = serializers.CharField(source="place", help_text=_RANK_LABEL)
    previous_rank = serializers.IntegerField(allow_null=True)
    change = serializers.IntegerField(allow_null=True)
    agency = AgencySerializer()
    due = serializers.IntegerField(help_text="其牵头项目已到节点的单元格（指标 × 区县及市本级）")
    on_track = serializers.IntegerField()
    behind = serializers.IntegerField()
    seriously_behind = serializers.IntegerField(help_text="红，含逾期未完成")
    not_reported = serializers.IntegerField(help_text="状态为未按时填报的单元格")
    share_pct = PlainDecimalField(max_digits=12, decimal_places=2, allow_null=True)
    projects = ProjectStatusCountsSerializer(help_text="其牵头项目按状态计数")
    project_total = serializers.IntegerField()


class ScorecardLineSerializer(serializers.Serializer):
    indicator = serializers.IntegerField(source="indicator_id")
    project_seq = serializers.IntegerField(source="indicator.project.seq")
    label = serializers.CharField(source="indicator.label")
    unit = serializers.CharField(source="indicator.unit", help_text="基本单位（数值所用）")
    printed_unit = serializers.CharField(source="unit", help_text="计划文件所用单位，如「万人」")
    status = serializers.CharField()
    status_label = serializers.CharField()
    quota = PlainDecimalField(max_digits=20, decimal_places=4)
    expected = PlainDecimalField(max_digits=20, decimal_places=4, allow_null=True)
    actual = PlainDecimalField(max_digits=20, decimal_places=4, allow_null=True)
    completion_pct = PlainDecimalField(
        max_digits=12, decimal_places=2, allow_null=True, help_text="完成率 = 累计完成 ÷ 任务数"
    )
    pace_completion_pct = PlainDecimalField(
        max_digits=12,
        decimal_places=2,
        allow_null=True,
        help_text="序时完成率 = 累计完成 ÷ 序时应达",
    )
    gap_points = PlainDecimalField(max_digits=12, decimal_places=2, allow_null=True)
    forecast = PlainDecimalField(max_digits=20, decimal_places=4, allow_null=True)
    needed_pace = PlainDecimalField(max_digits=20, decimal_places=4, allow_null=True)
    at_risk = serializers.BooleanField()


class ScorecardSerializer(serializers.Serializer):
    month = MonthField()
    district = DistrictSerializer()
    rank = serializers.IntegerField(allow_null=True)
    evaluated_at = serializers.DateTimeField(
        allow_null=True, help_text="这些状态最近一次评估的时间（保存后即时重新评估）"
    )
    indicators = ScorecardLineSerializer(many=True)


# --- the summaries' JSON from plain objects (the serializers above stay their schema) -------
# ``OverviewSerializer`` / ``RankingRowSerializer`` cost more than the selectors for a
# handful of rows; these build the same data directly (``tests/test_api_fast_reads.py``
# compares them with the serializers on the simulated year).

_PCT = PlainDecimalField(max_digits=12, decimal_places=2)
_DATETIME = serializers.DateTimeField()


def _pct(value):
    return None if value is None else _PCT.to_representation(value)


def _int(value):
    return None if value is None else int(value)


_DEC4 = PlainDecimalField(max_digits=20, decimal_places=4)


def _dec4(value):
    return None if value is None else _DEC4.to_representation(value)


def _str(value):
    return None if value is None else str(value)


_BOOL = serializers.BooleanField()


def _bool(value):
    return None if value is None else _BOOL.to_representation(value)


def overview_data(data) -> dict:
    """``OverviewSerializer(data).data``."""

    def indicator(i):
        return {
            "id": int(i.id), "label": str(i.label), "unit": str(i.unit),
            "status": str(i.status), "status_label": str(i.status_label),
            "completion_pct": _pct(i.completion_pct),
            "completion_uncapped_pct": _pct(i.completion_uncapped_pct),
            "pace_pct": _pct(i.pace_pct), "pace_completion_pct": _pct(i.pace_completion_pct),
            "counts": {str(k): _int(v) for k, v in i.counts.items()},
            "open_alerts": int(i.open_alerts),
        }  # fmt: skip

    def project(p):
        return {
            "id": int(p.id), "seq": int(p.seq), "name": str(p.name),
            "lead_agency": str(p.lead_agency), "status": str(p.status),
            "completion_pct": _pct(p.completion_pct), "pace_pct": _pct(p.pace_pct),
            "open_alerts": int(p.open_alerts), "indicators": [indicator(i) for i in p.indicators],
        }  # fmt: skip

    return {
        "month": format_month(data.month),
        "evaluated_at": _DATETIME.to_representation(data.evaluated_at)
        if data.evaluated_at
        else None,
        "categories": [
            {"id": int(c.id), "order": int(c.order), "name": str(c.name),
             "status": str(c.status), "open_alerts": int(c.open_alerts),
             "projects": [project(p) for p in c.projects]}
            for c in data.categories
        ],
    }  # fmt: skip


def ranking_data(rows) -> list[dict]:
    """``RankingRowSerializer(rows, many=True).data``."""
    return [
        {"rank": int(r.rank), "tied": bool(r.tied), "rank_label": str(r.place),
         "previous_rank": _int(r.previous_rank), "change": _int(r.change),
         "district": {"id": r.district.pk, "code": r.district.code, "name": r.district.name,
                      "kind": str(r.district.kind), "order": r.district.order},
         "due": int(r.due), "on_track": int(r.on_track), "behind": int(r.behind),
         "seriously_behind": int(r.seriously_behind), "not_reported": int(r.not_reported),
         "share_pct": _pct(r.share_pct)}
        for r in rows
    ]  # fmt: skip


def agency_ranking_data(rows) -> list[dict]:
    """``AgencyRankingRowSerializer(rows, many=True).data``."""
    return [
        {"rank": int(r.rank), "tied": bool(r.tied), "rank_label": str(r.place),
         "previous_rank": _int(r.previous_rank), "change": _int(r.change),
         "agency": {"id": r.agency.pk, "name": r.agency.name, "full_name": r.agency.full_name},
         "due": int(r.due), "on_track": int(r.on_track), "behind": int(r.behind),
         "seriously_behind": int(r.seriously_behind), "not_reported": int(r.not_reported),
         "share_pct": _pct(r.share_pct),
         "projects": {str(k): int(v) for k, v in r.projects.items()},
         "project_total": int(r.project_total)}
        for r in rows
    ]  # fmt: skip


def trajectory_data(body: dict) -> dict:
    """``TrajectorySerializer(body).data``."""
    return {
        "indicator": _int(body["indicator"]), "district": _int(body["district"]),
        "unit": _str(body["unit"]), "target": _dec4(body["target"]),
        "points": [
            {"month": _str(p["month"]), "expected": _dec4(p["expected"]),
             "actual": _dec4(p["actual"]), "is_checkpoint": _bool(p["is_checkpoint"]),
             "milestone": _str(p["milestone"])}
            for p in body["points"]
        ],
    }  # fmt: skip
