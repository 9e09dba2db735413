"""REST API for explain and review (issue 15): thin views over ``tracker.review.workflow``.

Every queryset starts from ``Model.objects.for_user(request.user)`` (what is outside a
user's scope is 404); what a role may do is decided by ``review.allow`` in the service.
A refusal is 400 with a Chinese ``detail`` and changes nothing.

- ``explanations/``: list, read, write (POST creates or rewrites a cell's explanation).
- ``submissions/``: district-months; ``submit/`` (上报), ``{id}/unlock/``, ``{id}/relock/``.
- ``reviews/``: cells of submitted months; ``{id}/approve/``, ``{id}/return/``,
  ``{id}/unlock/``, ``{id}/relock/``; ``bulk-approve/`` and ``bulk-return/`` (issue 30:
  many cells, each returned with its own reason, in one request, all or nothing).
- ``attachments/``: 佐证材料; multipart upload, ``{id}/download/``, DELETE keeps history.
"""

from __future__ import annotations

from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.routers import DefaultRouter

from tracker.api.fields import ModelSerializer
from tracker.api.serializers import MonthField
from tracker.plans.models import Indicator
from tracker.plans.reference import District
from tracker.progress.models import CellReview, MonthSubmission, ProgressReport
from tracker.review import attachments
from tracker.review import workflow as review
from tracker.review.models import Attachment, Explanation

REFUSED = OpenApiResponse(description="不允许或不符合规则，未做任何修改（detail 为原因）")
MONTH = OpenApiParameter("month", OpenApiTypes.STR, description="YYYY-MM")
DISTRICT = OpenApiParameter("district", OpenApiTypes.INT, description="区、县(市) id")
INDICATOR = OpenApiParameter("indicator", OpenApiTypes.INT, description="量化目标 id")


def _refused(exc: review.ReviewRejected) -> Response:
    return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)


def _filter(queryset, request, *names):
    """Narrow by the ``month`` / ``district`` / ``indicator`` query parameters given."""
    params = request.query_params
    for name in names:
        raw = params.get(name)
        if not raw:
            continue
        if name == "month":
            queryset = queryset.filter(month=MonthField().to_internal_value(raw))
        else:
            queryset = queryset.filter(**{f"{name}_id": _id(raw, name)})
    return queryset


def _id(raw: str, name: str) -> int:
    """A query parameter that must be an id: ASCII digits that fit the database."""
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 10 and int(raw) < 2**31):
        raise ValidationError({name: "应为数字 id"})
    return int(raw)


# --- serializers ------------------------------------------------------------------------


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(label="原因", allow_blank=True, required=False, default="")


class CountSerializer(serializers.Serializer):
    cells = serializers.IntegerField(label="涉及的格子数")


class ExplanationSerializer(ModelSerializer):
    month = MonthField()
    indicator = serializers.PrimaryKeyRelatedField(queryset=Indicator.objects.all())
    district = serializers.PrimaryKeyRelatedField(queryset=District.objects.all())
    written_by = serializers.StringRelatedField(allow_null=True)

    class Meta:
        model = Explanation
        fields = ("id", "indicator", "district", "month", "reason", "measures", "catch_up_by",
                  "written_by", "written_at")  # fmt: skip
        read_only_fields = ("written_by", "written_at")
        validators = []  # a second POST for the same cell rewrites it (see the service)


class BulkApproveSerializer(serializers.Serializer):
    cells = serializers.ListField(
        label="格子 id", child=serializers.IntegerField(min_value=1, max_value=2**31 - 1),
        allow_empty=False, max_length=2000,
    )  # fmt: skip


class ReturnItemSerializer(serializers.Serializer):
    cell = serializers.IntegerField(label="格子 id", min_value=1, max_value=2**31 - 1)
    reason = serializers.CharField(label="退回原因", max_length=500)


class BulkReturnSerializer(serializers.Serializer):
    cells = ReturnItemSerializer(many=True, allow_empty=False, max_length=2000)


class CellReviewSerializer(ModelSerializer):
    month = MonthField(read_only=True)
    review_state = serializers.ChoiceField(
        source="state", choices=CellReview._meta.get_field("state").choices, read_only=True
    )
    reviewed_by = serializers.StringRelatedField(allow_null=True)

    class Meta:
        model = CellReview
        fields = ("id", "submission", "indicator", "district", "month", "review_state", "reason",
                  "reviewed_by", "reviewed_at", "locked", "unlock_reason")  # fmt: skip
        read_only_fields = fields


class MonthSubmissionSerializer(ModelSerializer):
    month = MonthField(read_only=True)
    month_state = serializers.ChoiceField(
        source="state", choices=MonthSubmission._meta.get_field("state").choices, read_only=True
    )
    submitted_by = serializers.StringRelatedField(allow_null=True)

    class Meta:
        model = MonthSubmission
        fields = ("id", "district", "month", "month_state", "submitted_by", "submitted_at")
        read_only_fields = fields


class SubmitSerializer(serializers.Serializer):
    district = serializers.PrimaryKeyRelatedField(queryset=District.objects.all())
    month = MonthField()


class AttachmentSerializer(ModelSerializer):
    file_type = serializers.ChoiceField(
        source="kind", choices=Attachment._meta.get_field("kind").choices, read_only=True
    )
    uploaded_by = serializers.StringRelatedField(allow_null=True)

    class Meta:
        model = Attachment
        fields = ("id", "report", "original_name", "file_type", "size", "sha256", "uploaded_by",
                  "uploaded_at")  # fmt: skip
        read_only_fields = fields


class AttachmentUploadSerializer(serializers.Serializer):
    report = serializers.IntegerField(label="进度填报 id", min_value=1, max_value=2**31 - 1)
    file = serializers.FileField(label="文件")
    name = serializers.CharField(
        label="文件名", required=False, help_text="省略时用上传文件自带的文件名"
    )


# --- views ------------------------------------------------------------------------------


class ExplanationViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):  # fmt: skip
    """原因说明与整改措施 of lagging cells."""

    serializer_class = ExplanationSerializer

    def get_queryset(self):
        queryset = Explanation.objects.for_user(self.request.user).select_related("written_by")
        return _filter(queryset, self.request, "month", "district", "indicator")

    @extend_schema(parameters=[MONTH, DISTRICT, INDICATOR])
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(responses={201: ExplanationSerializer, 400: REFUSED})
    def create(self, request, *args, **kwargs):
        data = ExplanationSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        indicator = Indicator.objects.for_user(request.user).filter(pk=v["indicator"].pk).first()
        if indicator is None:
            return _refused(review.ReviewRejected("量化目标不存在或不在您的职责范围内"))
        try:
            item = review.explain(
                request.user, indicator, v["district"], v["month"],
                reason=v["reason"], measures=v["measures"], catch_up_by=v["catch_up_by"],
            )  # fmt: skip
        except review.ReviewRejected as exc:
            return _refused(exc)
        return Response(ExplanationSerializer(item).data, status=status.HTTP_201_CREATED)


class _LockActions:
    """unlock / relock for a cell or a district-month (督查室 only)."""

    lock_target = "cell"

    @extend_schema(request=ReasonSerializer, responses={200: CountSerializer, 400: REFUSED})
    @action(detail=True, methods=["post"])
    def unlock(self, request, pk=None):
        reason = ReasonSerializer(data=request.data)
        reason.is_valid(raise_exception=True)
        try:
            count = review.unlock(
                request.user,
                reason=reason.validated_data["reason"],
                **{self.lock_target: self.get_object()},
            )
        except review.ReviewRejected as exc:
            return _refused(exc)
        return Response({"cells": count})

    @extend_schema(request=None, responses={200: CountSerializer, 400: REFUSED})
    @action(detail=True, methods=["post"])
    def relock(self, request, pk=None):
        try:
            count = review.relock(request.user, **{self.lock_target: self.get_object()})
        except review.ReviewRejected as exc:
            return _refused(exc)
        return Response({"cells": count})


class MonthSubmissionViewSet(_LockActions, viewsets.ReadOnlyModelViewSet):
    """District-months: 未上报 / 已上报 / 部分退回 / 已审核."""

    serializer_class = MonthSubmissionSerializer
    lock_target = "submission"

    def get_queryset(self):
        queryset = MonthSubmission.objects.for_user(self.request.user).select_related(
            "submitted_by"
        )
        return _filter(queryset, self.request, "month", "district")

    @extend_schema(parameters=[MONTH, DISTRICT])
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(
        request=SubmitSerializer, responses={200: MonthSubmissionSerializer, 400: REFUSED}
    )
    @action(detail=False, methods=["post"])
    def submit(self, request):
        """上报: the district's month, once every due cell is filled."""
        data = SubmitSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            submission = review.submit_month(
                request.user, data.validated_data["district"], data.validated_data["month"]
            )
        except review.ReviewRejected as exc:
            return _refused(exc)
        return Response(MonthSubmissionSerializer(submission).data)


class CellReviewViewSet(_LockActions, viewsets.ReadOnlyModelViewSet):
    """Cells of submitted months, for the lead agency to approve or return."""

    serializer_class = CellReviewSerializer

    def get_queryset(self):
        queryset = CellReview.objects.for_user(self.request.user).select_related("reviewed_by")
        return _filter(queryset, self.request, "month", "district", "indicator")

    @extend_schema(parameters=[MONTH, DISTRICT, INDICATOR])
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    def _review(self, request, approve: bool):
        reason = ReasonSerializer(data=request.data)
        reason.is_valid(raise_exception=True)
        try:
            cell = review.review_cell(
                request.user,
                self.get_object(),
                approve=approve,
                reason=reason.validated_data["reason"],
            )
        except review.ReviewRejected as exc:
            return _refused(exc)
        return Response(CellReviewSerializer(cell).data)

    @extend_schema(request=None, responses={200: CellReviewSerializer, 400: REFUSED})
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        """审核通过."""
        return self._review(request, True)

    @extend_schema(request=ReasonSerializer, responses={200: CellReviewSerializer, 400: REFUSED})
    @action(detail=True, methods=["post"], url_path="return")
    def send_back(self, request, pk=None):
        """退回 with a reason: the cell reopens for the district."""
        return self._review(request, False)

    def _cells(self, ids: list[int]) -> list[CellReview]:
        """The cells by id, in the user's scope; any unknown id is a 404 for the whole."""
        found = self.get_queryset().select_related("indicator", "district").in_bulk(set(ids))
        if len(found) != len(set(ids)):
            raise NotFound("有格子不存在或不在您的职责范围内，未做任何修改")
        return [found[i] for i in dict.fromkeys(ids)]

    @extend_schema(
        request=BulkApproveSerializer, responses={200: CountSerializer, 400: REFUSED, 404: REFUSED}
    )
    @action(detail=False, methods=["post"], url_path="bulk-approve", parser_classes=[JSONParser])
    def bulk_approve(self, request):
        """审核通过 many cells in one request: all or nothing."""
        data = BulkApproveSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        cells = self._cells(data.validated_data["cells"])
        try:
            count = len(review.approve_cells(request.user, cells))
        except review.ReviewRejected as exc:
            return _refused(exc)
        return Response({"cells": count})

    @extend_schema(
        request=BulkReturnSerializer, responses={200: CountSerializer, 400: REFUSED, 404: REFUSED}
    )
    @action(detail=False, methods=["post"], url_path="bulk-return", parser_classes=[JSONParser])
    def bulk_return(self, request):
        """退回 many cells in one request, each with its own reason: all or nothing."""
        data = BulkReturnSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        items = data.validated_data["cells"]
        cells = self._cells([x["cell"] for x in items])
        by_id = {c.pk: c for c in cells}
        try:
            count = len(
                review.return_cells(request.user, [(by_id[x["cell"]], x["reason"]) for x in items])
            )
        except review.ReviewRejected as exc:
            return _refused(exc)
        return Response({"cells": count})


class AttachmentViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
    mixins.DestroyModelMixin, viewsets.GenericViewSet,
):  # fmt: skip
    """佐证材料 on progress reports; downloadable by whoever may see the report."""

    serializer_class = AttachmentSerializer
    parser_classes = [MultiPartParser]

    def get_queryset(self):
        queryset = Attachment.objects.for_user(self.request.user).select_related("uploaded_by")
        report = self.request.query_params.get("report")
        if report:
            queryset = queryset.filter(report_id=_id(report, "report"))
        return queryset

    @extend_schema(parameters=[OpenApiParameter("report", OpenApiTypes.INT)])
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(
        request={"multipart/form-data": AttachmentUploadSerializer},
        responses={201: AttachmentSerializer, 400: REFUSED},
    )
    def create(self, request, *args, **kwargs):
        data = AttachmentUploadSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        report = (
            ProgressReport.objects.for_user(request.user)
            .select_related("indicator__project", "district")
            .filter(pk=v["report"])
            .first()
        )
        if report is None:
            return _refused(review.ReviewRejected("进度填报不存在或不在您的职责范围内"))
        try:
            item = attachments.attach(
                request.user, report, name=v.get("name") or v["file"].name, content=v["file"]
            )
        except review.ReviewRejected as exc:
            return _refused(exc)
        return Response(AttachmentSerializer(item).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={204: None, 400: REFUSED})
    def destroy(self, request, *args, **kwargs):
        try:
            attachments.remove_attachment(request.user, self.get_object())
        except review.ReviewRejected as exc:
            return _refused(exc)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(responses={(200, "application/octet-stream"): OpenApiTypes.BINARY, 404: REFUSED})
    @action(detail=True, methods=["get"])
    def download(self, request, pk=None):
        item = self.get_object()
        stored = attachments.open_stored(item)
        return FileResponse(stored, as_attachment=True, filename=item.original_name)


router = DefaultRouter()
router.include_root_view = False
router.include_format_suffixes = False  # one URL per view, as in tracker.api.urls
router.register("explanations", ExplanationViewSet, basename="explanation")
router.register("submissions", MonthSubmissionViewSet, basename="submission")
router.register("reviews", CellReviewViewSet, basename="review")
router.register("attachments", AttachmentViewSet, basename="attachment")
urlpatterns = router.urls
