"""Admin for explain and review (issue 15): read-only lists, scoped by ``for_user``.

督查室 unlocks and relocks cells or district-months from the lists (the reason goes in
the action bar's 解锁原因 box); everything else is done through the API and services.
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.core.exceptions import PermissionDenied
from django.db import transaction

from tracker.admin.base import ScopedAdmin
from tracker.progress.models import CellReview, MonthSubmission
from tracker.review import workflow as review
from tracker.review.models import Attachment, Explanation


class ReasonActionForm(ActionForm):
    reason = forms.CharField(label="解锁原因", required=False)


class ReadOnlyAdmin(ScopedAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class LockActions:
    action_form = ReasonActionForm
    actions = ["unlock_selected", "relock_selected"]
    lock_target = "cell"

    def _each(self, request, queryset, call):
        """All or nothing: one refusal undoes the whole selection and answers 403 with
        the reason (like every refused write)."""
        total = 0
        try:
            with transaction.atomic():
                for obj in queryset:
                    total += call(obj)
        except review.ReviewRejected as exc:
            raise PermissionDenied(f"{exc}。未处理任何一项") from exc
        self.message_user(request, f"已处理 {total} 个格子", messages.SUCCESS)

    @admin.action(description="解锁所选（须在「解锁原因」中填写原因）")
    def unlock_selected(self, request, queryset):
        reason = request.POST.get("reason", "")
        self._each(
            request,
            queryset,
            lambda obj: review.unlock(request.user, reason=reason, **{self.lock_target: obj}),
        )

    @admin.action(description="重新锁定所选")
    def relock_selected(self, request, queryset):
        self._each(
            request, queryset, lambda obj: review.relock(request.user, **{self.lock_target: obj})
        )


@admin.register(MonthSubmission)
class MonthSubmissionAdmin(LockActions, ReadOnlyAdmin):
    list_display = ("district", "month", "state", "submitted_by", "submitted_at")
    list_filter = ("state", "month", "district")
    list_select_related = ("district", "submitted_by")
    lock_target = "submission"


@admin.register(CellReview)
class CellReviewAdmin(LockActions, ReadOnlyAdmin):
    list_display = ("indicator", "district", "month", "state", "locked", "reviewed_by", "reason")
    list_filter = ("state", "locked", "month", "district")
    list_select_related = ("indicator__project", "district", "reviewed_by")


@admin.register(Explanation)
class ExplanationAdmin(ReadOnlyAdmin):
    list_display = ("indicator", "district", "month", "catch_up_by", "written_by", "written_at")
    list_filter = ("month", "district")
    list_select_related = ("indicator__project", "district", "written_by")


@admin.register(Attachment)
class AttachmentAdmin(ReadOnlyAdmin):
    list_display = ("original_name", "report", "kind", "size", "uploaded_by", "uploaded_at")
    list_filter = ("kind",)
    list_select_related = ("report__indicator__project", "report__district", "uploaded_by")
    exclude = ("file",)  # downloads go through the API's permission check
