"""月度通报设置: 文号, 成文日期 and the 挂牌督办 cap per month; 督查室 only."""

from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from tracker.models import NoticeIssue
from tracker.scoping import scope_for


@admin.register(NoticeIssue)
class NoticeIssueAdmin(SimpleHistoryAdmin):
    list_display = ("month", "doc_number", "issued_on", "supervision_cap", "updated_at")
    date_hierarchy = "month"

    def _supervision(self, request) -> bool:
        return scope_for(request.user).is_supervision

    def has_module_permission(self, request):
        return self._supervision(request)

    def has_view_permission(self, request, obj=None):
        return self._supervision(request)

    def has_add_permission(self, request):
        return self._supervision(request)

    def has_change_permission(self, request, obj=None):
        return self._supervision(request)

    def has_delete_permission(self, request, obj=None):
        return self._supervision(request)
