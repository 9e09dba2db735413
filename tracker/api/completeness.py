"""``GET /api/v1/completeness/``: completeness and timeliness of the monthly reports
(DHIS2's reporting rates), the numbers of the 填报完整性 page.

``?month=YYYY-MM`` one month (default: the latest whose deadline has passed), or
``?view=year`` the plan's months up to the month being reported; ``?year=`` picks the
plan (default: the current one). Scoped like every view: 督查室 sees all districts and
agencies, a lead agency its projects' cells, a district its own row
(``tracker.reporting.completeness``).
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from tracker.api.fields import PlainDecimalField
from tracker.months import format_month
from tracker.reporting import completeness as service


class TallySerializer(serializers.Serializer):
    expected = serializers.IntegerField(help_text="应报")
    filed = serializers.IntegerField(help_text="已报 = 按时 + 逾期")
    on_time = serializers.IntegerField(help_text="按时（截止日前首次填报）")
    late = serializers.IntegerField(help_text="逾期（截止日后才填报）")
    missing = serializers.IntegerField(help_text="未报（截止日已过）")
    pending = serializers.IntegerField(help_text="待报（截止日未到）")
    filed_rate = PlainDecimalField(
        max_digits=5, decimal_places=1, allow_null=True, help_text="上报率，%"
    )
    on_time_rate = PlainDecimalField(
        max_digits=5, decimal_places=1, allow_null=True, help_text="及时率，%"
    )


class MonthTallySerializer(TallySerializer):
    month = serializers.CharField(help_text="YYYY-MM")


class RowSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    code = serializers.CharField(help_text="区县代码（牵头单位为空）")
    name = serializers.CharField()
    months = MonthTallySerializer(many=True)
    total = TallySerializer()


class CompletenessSerializer(serializers.Serializer):
    year = serializers.IntegerField()
    months = serializers.ListField(child=serializers.CharField(), help_text="YYYY-MM")
    districts = RowSerializer(many=True)
    agencies = RowSerializer(many=True)
    by_month = MonthTallySerializer(many=True)
    total = TallySerializer()


def _row(row, months) -> dict:
    return {
        "id": row.pk,
        "code": row.code,
        "name": row.name,
        "months": [
            {"month": format_month(m), **t.as_dict()}
            for m, t in zip(months, row.cells(months), strict=True)
        ],
        "total": row.total.as_dict(),
    }


def body(plan, data) -> dict:
    """The response body (also what the page's tests compare against)."""
    months = data.months
    return {
        "year": plan.year,
        "months": [format_month(m) for m in months],
        "districts": [_row(r, months) for r in data.districts],
        "agencies": [_row(r, months) for r in data.agencies],
        "by_month": [
            {"month": format_month(m), **t.as_dict()}
            for m, t in zip(months, data.month_totals, strict=True)
        ],
        "total": data.total.as_dict(),
    }


class CompletenessView(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter(
                "month", OpenApiTypes.STR, description="YYYY-MM；默认为最近截止的月份"
            ),
            OpenApiParameter("view", OpenApiTypes.STR, enum=["year"], description="year：全年逐月"),
            OpenApiParameter("year", OpenApiTypes.INT, description="计划年度；默认为当前计划"),
            OpenApiParameter(
                "plan", OpenApiTypes.INT, description="计划编号（同一年度有多个计划时区分）"
            ),
        ],
        responses={
            200: CompletenessSerializer,
            403: OpenApiResponse(description="未登录或无权访问"),
            404: OpenApiResponse(description="月份不在计划已开始填报的月份内，或没有计划"),
        },
    )
    def get(self, request):
        """应报、已报、按时、逾期、未报、待报 per district and per lead agency × month."""
        q = request.query_params
        if q.get("view", "") not in ("", "year"):
            raise ValidationError({"view": "view 只能为 year（全年逐月），或不填"})
        try:
            chosen = service.select(
                q.get("year", ""), q.get("month", ""), q.get("view", ""), plan=q.get("plan", "")
            )
        except ValueError as exc:
            raise NotFound(str(exc)) from exc
        data = service.completeness(chosen.months, request.user, plan=chosen.plan)
        return Response(CompletenessSerializer(body(chosen.plan, data)).data)
