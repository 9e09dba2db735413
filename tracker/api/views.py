"""REST API v1: thin views over the one scoping rule and the services.

Every queryset starts from ``Model.objects.for_user(request.user)``; in published
read-only mode (``conf.PUBLIC_READ_ONLY``) anonymous visitors read plan data and
summaries city-wide, nothing else. Progress writes go through
``tracker.progress.writes`` (same rules and history as the admin): a refusal is 400
with every problem listed, a concurrent edit 409.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import OuterRef, Prefetch
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import (
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    ValidationError,
)
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from tracker import formats as fmt
from tracker.accounts.permissions import Action, may, restrict, restrict_public, scope_for
from tracker.api import filtering
from tracker.api import serializers as s
from tracker.api.auth import login, make_token
from tracker.api.pagination import CountedBy
from tracker.api.permissions import public_mode
from tracker.monitoring.models import LagAlert, LagEvaluation
from tracker.monitoring.stored import actual_series, latest_month
from tracker.months import format_month
from tracker.plans.models import Indicator, Milestone, Project, Quota
from tracker.plans.reference import Agency, Category, District, PlanColumn, PlanYear
from tracker.plans.selection import month_and_plan, plan_month
from tracker.plans.trajectory import expected_curve, load_indicator_plans
from tracker.plans.units import column_label, column_position
from tracker.progress import writes as progress_service
from tracker.progress.models import ProgressReport
from tracker.progress.state import counted_reports
from tracker.progress.values import series_as_of
from tracker.progress.writes import Entry, ProgressRejected, Source
from tracker.reporting.overview import overview as read_overview
from tracker.reporting.ranking import agency_ranking as read_agency_ranking
from tracker.reporting.ranking import ranking as read_ranking
from tracker.reporting.scorecard import district_scorecard

REJECTED = OpenApiResponse(s.RejectedSerializer, description="未通过校验，未写入任何数据")
CONFLICT = OpenApiResponse(s.RejectedSerializer, description="数据已被他人修改，请刷新后重试")
FORBIDDEN = OpenApiResponse(description="未登录或无权访问")
NOT_FOUND = OpenApiResponse(description="不存在或不在您的职责范围内")
MONTH = OpenApiParameter("month", OpenApiTypes.STR, description="YYYY-MM；默认为最近检查的月份")
PLAN = OpenApiParameter(
    "plan", OpenApiTypes.INT, description="计划编号（同一年度有多个计划时）；默认市政府的计划"
)
ISSUER = OpenApiParameter("issuer", OpenApiTypes.STR, description="发布机关，如 西湖区人民政府")


def scoped(queryset, request, action=Action.VIEW):
    """The one scoping rule; anonymous (published mode) sees what a district user sees
    of the other districts: the plan without any district's rows."""
    if request.user.is_authenticated:
        return restrict(request.user, action, queryset.all())
    return restrict_public(action, queryset.all())


def _rejected(exc: ProgressRejected) -> Response:
    conflict = any(e.code == "conflict" for e in exc.errors)
    body = {
        "detail": "数据已被他人修改，请刷新后重试" if conflict else "未通过校验，未写入任何数据",
        "errors": [
            {"row": e.row, "field": e.field, "message": e.message, "code": e.code}
            for e in exc.errors
        ],
    }
    return Response(body, status=status.HTTP_409_CONFLICT if conflict else 400)


# --- reference and plan ----------------------------------------------------------------


@extend_schema(responses={403: FORBIDDEN})
class PlanYearViewSet(viewsets.ReadOnlyModelViewSet):
    public = True
    serializer_class = s.PlanYearSerializer
    queryset = PlanYear.objects.order_by("year", "pk").prefetch_related(
        Prefetch(
            "columns",
            queryset=PlanColumn.objects.select_related("district")
            .prefetch_related("merged_units")
            .order_by("order"),
        )
    )
    filterset_fields = ("year", "issuer")

    def get_queryset(self):
        if not self.request.user.is_authenticated and not public_mode():
            return PlanYear.objects.none()
        return super().get_queryset()


@extend_schema(responses={403: FORBIDDEN})
class CategoryViewSet(viewsets.ReadOnlyModelViewSet):
    public = True
    serializer_class = s.CategorySerializer
    queryset = Category.objects.select_related("plan_year").order_by("plan_year__year", "order")
    filterset_fields = {"plan_year__year": ["exact"]}


@extend_schema(responses={403: FORBIDDEN})
class AgencyViewSet(viewsets.ReadOnlyModelViewSet):
    public = True
    serializer_class = s.AgencySerializer
    queryset = Agency.objects.order_by("name")
    filterset_fields = ("name",)


@extend_schema(responses={403: FORBIDDEN})
class DistrictViewSet(viewsets.ReadOnlyModelViewSet):
    public = True
    serializer_class = s.DistrictSerializer
    queryset = District.objects.order_by("order")
    filterset_fields = ("code", "kind")


class ProjectFilter(filtering.FilterSet):
    year = filtering.NumberFilter(field_name="plan_year__year")
    category = filtering.NumberFilter(field_name="category_id")
    lead_agency = filtering.NumberFilter(field_name="lead_agency_id")
    search = filters.CharFilter(field_name="name", lookup_expr="icontains", label="名称包含")

    class Meta:
        model = Project
        fields = ("year", "category", "lead_agency", "seq")


@extend_schema(responses={403: FORBIDDEN, 404: NOT_FOUND})
class ProjectViewSet(viewsets.ReadOnlyModelViewSet):
    public = True
    filterset_class = ProjectFilter

    def get_serializer_class(self):
        return s.ProjectDetailSerializer if self.action == "retrieve" else s.ProjectSerializer

    def get_queryset(self):
        qs = scoped(Project.objects, self.request).select_related(
            "plan_year", "category", "lead_agency"
        )
        if self.action == "retrieve":
            quotas = _in_column_order(scoped(Quota.objects, self.request))
            qs = qs.prefetch_related(
                "cooperating_agencies",
                Prefetch(
                    "indicators",
                    queryset=Indicator.objects.select_related("project").prefetch_related(
                        Prefetch("quotas", queryset=quotas, to_attr="scoped_quotas")
                    ),
                ),
                Prefetch("milestones", queryset=Milestone.objects.order_by("due_date", "order")),
            )
        return qs.order_by("plan_year__year", "seq")


class IndicatorFilter(filtering.FilterSet):
    year = filtering.NumberFilter(field_name="project__plan_year__year")
    project = filtering.NumberFilter(field_name="project_id")
    seq = filtering.NumberFilter(field_name="project__seq")

    class Meta:
        model = Indicator
        fields = ("year", "project", "seq", "kind", "scope")


@extend_schema(responses={403: FORBIDDEN, 404: NOT_FOUND})
class IndicatorViewSet(viewsets.ReadOnlyModelViewSet):
    public = True
    serializer_class = s.IndicatorSerializer
    filterset_class = IndicatorFilter

    def get_queryset(self):
        return (
            scoped(Indicator.objects, self.request)
            .select_related("project")
            .order_by("project__plan_year__year", "project__seq", "order")
        )

    @extend_schema(
        parameters=[
            OpenApiParameter("district", OpenApiTypes.INT, description="区、县(市) id；不填为全市")
        ],
        responses={200: s.TrajectorySerializer, 403: FORBIDDEN, 404: NOT_FOUND},
    )
    @action(detail=True, methods=["get"])
    def trajectory(self, request, pk=None):
        """序时进度 (expected) vs reported cumulative value, month by month."""
        indicator = self.get_object()
        district_id = request.query_params.get("district") or None  # empty: not given
        scope = scope_for(request.user)
        if district_id is not None and not request.user.is_authenticated:
            raise NotAuthenticated("按区、县(市)查看需要登录")
        if district_id is not None:
            if not str(district_id).isdigit():
                raise ValidationError({"district": "应为区、县(市) id"})
            district_id = int(district_id)
        if scope.is_district and district_id not in (None, scope.district_id):
            raise NotFound("不在您的职责范围内")
        if scope.is_district and district_id is None:
            district_id = scope.district_id
        plan = load_indicator_plans(indicator_ids=[indicator.pk]).get(indicator.pk)
        if plan is None:
            raise NotFound("不存在")
        if district_id is None or plan.is_city_only:
            curve = expected_curve(plan)
        else:
            if district_id not in plan.quotas:
                raise NotFound("该区、县(市)没有此指标的分解任务")
            curve = expected_curve(plan, district_id)
        if request.user.is_authenticated:
            reports = scoped(ProgressReport.objects, request).filter(indicator=indicator)
        else:  # published mode: the city's aggregate only (no district parameter above)
            reports = ProgressReport.objects.filter(indicator=indicator)
        if district_id is not None and not plan.is_city_only:
            reports = reports.filter(district_id=district_id)
        actual = series_as_of(  # months not evaluated yet: the counted figures
            counted_reports(reports).values_list("district_id", "month", "value"),
            plan.year,
            level=plan.is_level,
        )
        # Evaluated months: the stored evaluation's values (what the statuses judged).
        stored = (
            scoped(LagEvaluation.objects, request)
            if request.user.is_authenticated
            else LagEvaluation.objects.all()
        ).filter(indicator=indicator)
        if district_id is not None and not plan.is_city_only:
            stored = stored.filter(district_id=district_id)
        actual.update(actual_series(stored, level=plan.is_level))
        points = [
            {
                "month": format_month(p.month),
                "expected": p.value,
                "actual": actual.get(p.month),
                "is_checkpoint": p.is_checkpoint,
                "milestone": p.text,
            }
            for p in curve
        ]
        body = {
            "indicator": indicator.pk,
            "district": district_id,
            "unit": fmt.base_unit(plan),
            "target": plan.quotas.get(district_id, plan.target) if district_id else plan.target,
            "points": points,
        }
        return Response(s.trajectory_data(body))  # = TrajectorySerializer(body).data


class QuotaFilter(filtering.FilterSet):
    year = filtering.NumberFilter(field_name="indicator__project__plan_year__year")

    class Meta:
        model = Quota
        fields = ("year", "indicator", "district")


@extend_schema(responses={403: FORBIDDEN, 404: NOT_FOUND})
class QuotaViewSet(viewsets.ReadOnlyModelViewSet):
    public = True
    serializer_class = s.QuotaSerializer
    filterset_class = QuotaFilter

    def get_queryset(self):
        return _in_column_order(scoped(Quota.objects, self.request)).order_by(
            "indicator__project__plan_year__year",
            "indicator__project__plan_year_id",
            "indicator__project__seq",
            "indicator__order",
            "column",
        )


def _in_column_order(quotas):
    """Quotas with the printed column label, the units sharing a merged column, in the
    plan's column order (``plan_units``)."""
    plan = OuterRef("indicator__project__plan_year_id")
    return (
        quotas.select_related("district")
        .prefetch_related("shared_with")
        .annotate(
            column=column_position(plan, OuterRef("district_id")),
            column_label=column_label(plan, OuterRef("district_id")),
        )
        .order_by("column", "district__order")
    )


# --- progress -------------------------------------------------------------------------


class ProgressFilter(filtering.FilterSet):
    month = filters.CharFilter(method="filter_month", label="月份 YYYY-MM")
    year = filtering.NumberFilter(field_name="indicator__project__plan_year__year")

    class Meta:
        model = ProgressReport
        fields = ("indicator", "district", "month", "year", "is_correction")

    def filter_month(self, queryset, name, value):
        try:
            return queryset.filter(month=plan_month(value))
        except ValueError as exc:
            raise ValidationError({"month": str(exc)}) from exc


@extend_schema(responses={403: FORBIDDEN, 404: NOT_FOUND})
class ProgressReportViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Monthly cumulative figures. Writes: same validation and history as the admin."""

    serializer_class = s.ProgressReportSerializer
    filterset_class = ProgressFilter

    def get_queryset(self):
        return (
            ProgressReport.objects.for_user(self.request.user)
            .select_related("reported_by")
            .order_by("-month", "indicator__project__seq", "indicator__order", "district__order")
        )

    def list(self, request, *args, **kwargs):
        """The list reads plain rows (``values_list``) and builds the serializer's JSON
        directly: the same data as ``ProgressReportSerializer(many=True)`` (compared in
        ``tests/test_api_fast_reads.py``) at a fraction of a ``ModelSerializer``'s cost."""
        queryset = self.filter_queryset(self.get_queryset())
        rows = queryset.values_list(*s.PROGRESS_ROW_COLUMNS)
        page = self.paginate_queryset(CountedBy(rows, queryset))
        data = [s.progress_row(r) for r in (rows if page is None else page)]
        return Response(data) if page is None else self.get_paginated_response(data)

    def _submit(self, data, expected_version, request):
        entry = Entry(
            indicator_id=data["indicator"].pk,
            district_id=data["district"].pk,
            month=data["month"],
            value=data["value"],
            note=data.get("note", ""),
            is_correction=data.get("is_correction", False),
            correction_reason=data.get("correction_reason", ""),
            expected_version=expected_version,
            confirmed=data.get("confirmed", False),
        )
        return progress_service.submit(request.user, [entry], source=Source.API).reports[0]

    @extend_schema(responses={201: s.ProgressReportSerializer, 400: REJECTED, 409: CONFLICT})
    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            report = self._submit(data, data.get("version", 0), request)
        except ProgressRejected as exc:
            return _rejected(exc)
        return Response(self.get_serializer(report).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={200: s.ProgressReportSerializer, 400: REJECTED, 409: CONFLICT})
    def update(self, request, *args, **kwargs):
        partial = kwargs.pop("partial", False)
        report = self.get_object()
        serializer = self.get_serializer(report, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        data = {
            "indicator": report.indicator,
            "district": report.district,
            "month": report.month,
            "value": report.value,
            "note": report.note,
            # a correction is never inherited: each one carries its own reason
            "is_correction": False,
            "correction_reason": "",
            **serializer.validated_data,
        }
        moved = [
            name
            for name in ("indicator", "district", "month")
            if getattr(data[name], "pk", data[name]) != getattr(report, name + "_id", report.month)
        ]
        if moved:
            raise ValidationError(
                {name: ["不能修改已填报数据的量化目标、区县或月份；请新建一条"] for name in moved}
            )
        try:
            report = self._submit(data, data.get("version", report.version), request)
        except ProgressRejected as exc:
            return _rejected(exc)
        return Response(self.get_serializer(report).data)

    @extend_schema(responses={204: None, 400: REJECTED, 403: FORBIDDEN, 404: NOT_FOUND})
    def destroy(self, request, *args, **kwargs):
        report = self.get_object()
        if not may(request.user, Action.DELETE, report):
            raise PermissionDenied("只有市政府督查室可以删除进度数据")
        try:  # the state machine: an approved or locked figure is not deleted
            progress_service.delete_report(request.user, report)
        except ProgressRejected as exc:
            return _rejected(exc)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        request=s.BulkSubmitSerializer,
        responses={200: s.BulkResultSerializer, 400: REJECTED, 409: CONFLICT},
    )
    @action(detail=False, methods=["post"])
    def bulk(self, request):
        """One indicator-month for many districts in one request: all rows or none."""
        serializer = s.BulkSubmitSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        entries = [
            Entry(
                indicator_id=data["indicator"].pk,
                district_id=row["district"].pk,
                month=data["month"],
                value=row["value"],
                note=row.get("note", ""),
                is_correction=row.get("is_correction", False),
                correction_reason=row.get("correction_reason", ""),
                expected_version=row.get("version"),
                confirmed=row.get("confirmed", False),
                row=number,
            )
            for number, row in enumerate(data["rows"], start=1)
        ]
        try:
            result = progress_service.submit(request.user, entries, source=Source.API)
        except ProgressRejected as exc:
            return _rejected(exc)
        body = {
            "created": len(result.created),
            "updated": len(result.updated),
            "unchanged": len(result.unchanged),
            "reports": s.ProgressReportSerializer(result.reports, many=True).data,
        }
        return Response(body)


# --- alerts ---------------------------------------------------------------------------


class AlertFilter(filtering.FilterSet):
    """``month``: the episodes open at the end of that month (``open_as_of``)."""

    month = filters.CharFilter(method="filter_month", label="该月底未解除的预警 YYYY-MM")
    agency = filtering.NumberFilter(field_name="indicator__project__lead_agency_id")

    class Meta:
        model = LagAlert
        fields = ("status", "severity", "kind", "district", "indicator", "agency", "month",
                  "supervised")  # fmt: skip

    def filter_month(self, queryset, name, value):
        try:
            return queryset.open_as_of(plan_month(value))
        except ValueError as exc:
            raise ValidationError({"month": str(exc)}) from exc


@extend_schema(responses={403: FORBIDDEN, 404: NOT_FOUND})
class LagAlertViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = s.LagAlertSerializer
    filterset_class = AlertFilter

    def get_queryset(self):
        return (
            LagAlert.objects.for_user(self.request.user)
            .select_related("indicator__project", "district")
            .prefetch_related("flips")
            .order_by("-month", "indicator__project__seq", "district__order", "kind")
        )

    @extend_schema(
        request=s.AcknowledgeSerializer,
        responses={200: s.LagAlertSerializer, 400: OpenApiResponse(description="已解除的预警")},
    )
    @action(detail=True, methods=["post"])
    def acknowledge(self, request, pk=None):
        """A responsible person has seen the alert; the note is kept with it."""
        alert = self.get_object()
        if not may(request.user, Action.ACKNOWLEDGE, alert):
            raise PermissionDenied("无权确认该预警")
        note = s.AcknowledgeSerializer(data=request.data)
        note.is_valid(raise_exception=True)
        try:
            alert.acknowledge(request.user, note.validated_data["note"])
        except DjangoValidationError as exc:
            raise ValidationError(exc.messages) from exc
        return Response(self.get_serializer(alert).data)


# --- summaries ------------------------------------------------------------------------


def _viewer(request):
    return request.user if request.user.is_authenticated else None


def _summary_month(request):
    """The month and plan of a summary: ``?month`` and ``?plan=<id>`` / ``?issuer=`` (the
    dashboard's plan picker, ``tracker.plans.selection``); sets ``request.summary_plan``
    and ``request.summary_plan_alone`` (it is its year's only plan); a month no plan covers
    is a 400 (``plans.month_and_plan``)."""
    try:
        month, choice = month_and_plan(request.query_params)
    except ValueError as exc:
        raise ValidationError({"month": str(exc)}) from exc
    request.summary_plan = choice.plan
    request.summary_plan_alone = choice.plan is not None and not choice.many
    month = month or latest_month(_viewer(request), request.summary_plan)
    if month is None:
        raise NotFound("还没有进度检查结果")
    return month


class OverviewView(APIView):
    public = True

    @extend_schema(
        parameters=[MONTH, PLAN, ISSUER],
        responses={200: s.OverviewSerializer, 404: NOT_FOUND},
    )
    def get(self, request):
        """Per category and project: the city's completion vs expected pace, and status."""
        month = _summary_month(request)
        data = read_overview(_viewer(request), month, plan=request.summary_plan)
        return Response(s.overview_data(data))  # = OverviewSerializer(data).data


class RankingView(APIView):
    public = True

    @extend_schema(
        parameters=[MONTH, PLAN, ISSUER],
        responses={200: s.RankingRowSerializer(many=True)},
    )
    def get(self, request):
        """晾晒: districts by share of due indicators on track, with rank change."""
        month = _summary_month(request)
        rows = read_ranking(
            month, plan=request.summary_plan, only_plan_of_year=request.summary_plan_alone
        )
        return Response(s.ranking_data(rows))  # = RankingRowSerializer(many=True).data


class AgencyRankingView(APIView):
    public = True

    @extend_schema(
        parameters=[MONTH, PLAN, ISSUER],
        responses={200: s.AgencyRankingRowSerializer(many=True), 404: NOT_FOUND},
    )
    def get(self, request):
        """部门晾晒: lead agencies by share of their projects' due cells on track (the
        district ranking's rule, ties written 「并列第N」), their projects by status and
        the rank change."""
        month = _summary_month(request)
        rows = read_agency_ranking(
            month, plan=request.summary_plan, only_plan_of_year=request.summary_plan_alone
        )
        return Response(s.agency_ranking_data(rows))  # = AgencyRankingRowSerializer(many=True)


class ScorecardView(APIView):
    """Not public: a district's scorecard is that district's data (the dashboard's
    scorecard page asks for a login too)."""

    @extend_schema(
        parameters=[MONTH, PLAN, ISSUER],
        responses={200: s.ScorecardSerializer, 404: NOT_FOUND},
    )
    def get(self, request, code: str):
        """One district's indicators with status, numbers and forecast."""
        district = District.objects.filter(code=code).first()
        viewer = _viewer(request)
        scope = scope_for(viewer) if viewer else None
        if district is None or (scope and scope.is_district and scope.district_id != district.pk):
            raise NotFound("不存在或不在您的职责范围内")
        month = _summary_month(request)
        card = district_scorecard(viewer, district, month, plan=request.summary_plan)
        body = {
            "month": month,
            "district": district,
            "rank": card.rank,
            "evaluated_at": max(
                (x.evaluated_at for x in card.lines if x.evaluated_at), default=None
            ),
            "indicators": card.lines,
        }
        return Response(s.ScorecardSerializer(body).data)


# --- auth ------------------------------------------------------------------


class TokenView(APIView):
    """POST username and password → a bearer token (see ``tracker.api.auth``)."""

    authentication_classes: list = []
    permission_classes = [permissions.AllowAny]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "login"

    def get_authenticate_header(self, request):
        """A wrong password is 401 with the bearer challenge (as documented), not the 403
        DRF gives a view without authentication classes."""
        return "Bearer"

    @extend_schema(
        request=s.TokenRequestSerializer,
        responses={
            200: s.TokenSerializer,
            401: OpenApiResponse(description="用户名或密码错误"),
            429: OpenApiResponse(description="失败次数过多，账号暂时锁定"),
        },
    )
    def post(self, request):
        data = s.TokenRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = login(request, data.validated_data["username"], data.validated_data["password"])
        token, max_age = make_token(user)
        return Response({"token": token, "token_type": "Bearer", "expires_in": max_age})
