"""REST API for 挂牌督办 (issue 32): thin views over ``tracker.supervision``.

- ``supervision-items/``: list (filters ``state``, ``district``, ``indicator``,
  ``overdue``) and read, each item with its steps (who, when, why) and 佐证材料;
- ``supervision-items/assign/``: 交办 a cell (督查室);
- ``supervision-items/{id}/feedback/``: 整改反馈, JSON or multipart with ``files``
  (the responsible unit, or 督查室);
- ``supervision-items/{id}/close/``: 销号 with a reason (督查室);
- ``supervision-items/{id}/keep-open/``: 继续督办 with a reason and a new deadline (督查室).

Reads are scoped (outside the user's scope: 404); who may take a step is decided by
``supervision.process``; a refusal is 400 with the Chinese ``detail`` and changes nothing.
"""

from __future__ import annotations

from django.utils import timezone
from django_filters import rest_framework as filters
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.routers import DefaultRouter

from tracker.api import filtering
from tracker.api.fields import ModelSerializer
from tracker.api.serializers import MonthField
from tracker.plans.models import Indicator
from tracker.plans.reference import District
from tracker.supervision import process
from tracker.supervision.models import (
    State,
    SupervisionAttachment,
    SupervisionEvent,
    SupervisionItem,
)
from tracker.supervision.queries import overdue_q

REFUSED = OpenApiResponse(description="不允许或不符合规则，未做任何修改（detail 为原因）")
FORBIDDEN = OpenApiResponse(description="未登录或无权访问")
NOT_FOUND = OpenApiResponse(description="不存在或不在您的职责范围内")


def _refused(exc: process.Refused) -> Response:
    return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)


class SupervisionFileSerializer(ModelSerializer):
    file_type = serializers.ChoiceField(
        source="kind", choices=SupervisionAttachment._meta.get_field("kind").choices,
        read_only=True,
    )  # fmt: skip

    class Meta:
        model = SupervisionAttachment
        fields = ("id", "original_name", "file_type", "size", "sha256", "uploaded_at")
        read_only_fields = fields


class SupervisionEventSerializer(ModelSerializer):
    month = MonthField(read_only=True)
    by = serializers.CharField(source="who", read_only=True, label="操作人")
    files = SupervisionFileSerializer(source="attachments", many=True, read_only=True)

    class Meta:
        model = SupervisionEvent
        fields = ("id", "action", "old_state", "new_state", "round", "at", "month", "by", "why",
                  "deadline", "files")  # fmt: skip
        read_only_fields = fields


class SupervisionItemSerializer(ModelSerializer):
    month = MonthField(read_only=True)
    item_state = serializers.ChoiceField(source="state", choices=State.choices, read_only=True)
    responsible_unit = serializers.CharField(source="unit_name", read_only=True, label="责任单位")
    assigned_by = serializers.StringRelatedField(allow_null=True)
    closed_by = serializers.StringRelatedField(allow_null=True)
    overdue = serializers.SerializerMethodField(label="已逾期")
    events = SupervisionEventSerializer(many=True, read_only=True)

    class Meta:
        model = SupervisionItem
        fields = ("id", "indicator", "district", "month", "item_state", "responsible_agency",
                  "responsible_unit", "deadline", "note", "round", "overdue", "assigned_at",
                  "assigned_by", "closed_at", "closed_by", "close_reason", "events")  # fmt: skip
        read_only_fields = fields

    def get_overdue(self, item) -> bool:
        return item.is_overdue(timezone.localdate())


class AssignSerializer(serializers.Serializer):
    indicator = serializers.PrimaryKeyRelatedField(queryset=Indicator.objects.all())
    district = serializers.PrimaryKeyRelatedField(queryset=District.objects.all())
    month = MonthField(help_text="提出挂牌督办建议的通报月份 YYYY-MM")
    deadline = serializers.DateField(label="整改期限")
    note = serializers.CharField(label="交办要求", allow_blank=True, required=False, default="",
                                 max_length=2000)  # fmt: skip


class FeedbackSerializer(serializers.Serializer):
    text = serializers.CharField(label="整改反馈内容", max_length=2000)


class FeedbackUploadSerializer(FeedbackSerializer):
    files = serializers.ListField(
        label="佐证材料", child=serializers.FileField(), required=False, max_length=10
    )


class CloseSerializer(serializers.Serializer):
    reason = serializers.CharField(label="销号理由", max_length=2000)


class KeepOpenSerializer(serializers.Serializer):
    reason = serializers.CharField(label="继续督办理由", max_length=2000)
    deadline = serializers.DateField(label="新的整改期限")


class SupervisionFilter(filtering.FilterSet):
    state = filters.ChoiceFilter(choices=State.choices, label="状态")
    overdue = filtering.BooleanFilter(
        method="filter_overdue", label="已逾期（已交办且过了整改期限）"
    )

    class Meta:
        model = SupervisionItem
        fields = ("state", "district", "indicator", "overdue")

    def filter_overdue(self, queryset, name, value):
        if value is None:
            return queryset
        q = overdue_q(timezone.localdate())
        return queryset.filter(q) if value else queryset.exclude(q)


@extend_schema(responses={403: FORBIDDEN, 404: NOT_FOUND})
class SupervisionItemViewSet(viewsets.ReadOnlyModelViewSet):
    """挂牌督办事项: 交办 → 整改反馈 → 销号 (or 继续督办), each step with who, when and why."""

    serializer_class = SupervisionItemSerializer
    filterset_class = SupervisionFilter

    def get_queryset(self):
        return (
            SupervisionItem.objects.for_user(self.request.user)
            .select_related("assigned_by", "closed_by", "district", "responsible_agency")
            .prefetch_related("events__by", "events__attachments")
            .order_by("-assigned_at", "pk")
        )

    def _answer(self, item, code=status.HTTP_200_OK) -> Response:
        fresh = self.get_queryset().get(pk=item.pk)
        return Response(SupervisionItemSerializer(fresh).data, status=code)

    @extend_schema(
        request=AssignSerializer,
        responses={201: SupervisionItemSerializer, 400: REFUSED, 403: FORBIDDEN},
    )
    @action(detail=False, methods=["post"], parser_classes=[JSONParser])
    def assign(self, request):
        """交办 (督查室): the cell of a month's notice, a deadline and a note."""
        data = AssignSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        try:
            item = process.assign(
                request.user, v["indicator"], v["district"], v["month"],
                deadline=v["deadline"], note=v["note"],
            )  # fmt: skip
        except process.Refused as exc:
            return _refused(exc)
        return self._answer(item, status.HTTP_201_CREATED)

    @extend_schema(
        request={"application/json": FeedbackSerializer,
                 "multipart/form-data": FeedbackUploadSerializer},
        responses={200: SupervisionItemSerializer, 400: REFUSED, 404: NOT_FOUND},
    )  # fmt: skip
    @action(detail=True, methods=["post"], parser_classes=[JSONParser, MultiPartParser])
    def feedback(self, request, pk=None):
        """整改反馈 (the responsible unit or 督查室), with 佐证材料 files in multipart."""
        item = self.get_object()
        data = FeedbackSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        files = [(f.name, f) for f in getattr(request, "FILES", {}).getlist("files")]
        try:
            process.feedback(request.user, item, data.validated_data["text"], files)
        except process.Refused as exc:
            return _refused(exc)
        return self._answer(item)

    @extend_schema(
        request=CloseSerializer,
        responses={200: SupervisionItemSerializer, 400: REFUSED, 404: NOT_FOUND},
    )
    @action(detail=True, methods=["post"], parser_classes=[JSONParser])
    def close(self, request, pk=None):
        """销号 (督查室), after a 反馈, with the reason."""
        item = self.get_object()
        data = CloseSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            process.close(request.user, item, data.validated_data["reason"])
        except process.Refused as exc:
            return _refused(exc)
        return self._answer(item)

    @extend_schema(
        request=KeepOpenSerializer,
        responses={200: SupervisionItemSerializer, 400: REFUSED, 404: NOT_FOUND},
    )
    @action(detail=True, methods=["post"], url_path="keep-open", parser_classes=[JSONParser])
    def keep_open(self, request, pk=None):
        """继续督办 (督查室), after a 反馈: the reason and a new deadline."""
        item = self.get_object()
        data = KeepOpenSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        try:
            process.keep_open(request.user, item, v["reason"], deadline=v["deadline"])
        except process.Refused as exc:
            return _refused(exc)
        return self._answer(item)


router = DefaultRouter()
router.include_root_view = False
router.include_format_suffixes = False  # one URL per view, as in tracker.api.urls
router.register("supervision-items", SupervisionItemViewSet, basename="supervision-item")
urlpatterns = router.urls
