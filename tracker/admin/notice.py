"""月度通报设置: the 公文 parts (发文机关标志, 文号, 主送, 成文日期, 署名, 版记), the 挂牌督办 cap
per month, and 印发; 督查室 only. Blank parts print their defaults (``reporting.document``).

``NoticeIssue`` is not in the policy table of ``tracker.accounts.permissions``, so the one admin
base class already limits every action (and its history) to 督查室. Once a month's notice
is 印发 (``tracker.reporting.issued``) its settings are read-only: the record went out.
"""

from django.contrib import admin, messages

from tracker.admin.base import ScopedAdmin
from tracker.reporting.issued import NotIssuable, issue
from tracker.reporting.models import NoticeIssue

SETTINGS = ("month", "mark", "doc_number", "addressees", "issued_on", "signatory", "copy_to",
            "printer", "printed_on", "supervision_cap")  # fmt: skip
RECORD = ("issued_at", "issued_by", "plan_year", "data_as_of")


@admin.register(NoticeIssue)
class NoticeIssueAdmin(ScopedAdmin):
    list_display = ("month", "doc_number", "issued_on", "supervision_cap", "issued_at",
                    "updated_at")  # fmt: skip
    date_hierarchy = "month"
    actions = ["issue_notices"]
    fieldsets = (
        (None, {"fields": ("month", "supervision_cap")}),
        ("版头", {"fields": ("mark", "doc_number")}),
        ("主送与落款", {"fields": ("addressees", "signatory", "issued_on")}),
        ("版记", {"fields": ("copy_to", "printer", "printed_on")}),
        ("印发", {"fields": RECORD}),
    )

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.is_issued:
            return (*SETTINGS, *RECORD)
        return RECORD

    @admin.action(description="印发所选月份的通报（印发后内容固定，不随更正变化）")
    def issue_notices(self, request, queryset):
        for row in queryset.order_by("month"):
            try:
                issue(row.month, request.user)
            except NotIssuable as exc:
                self.message_user(request, str(exc), messages.WARNING)
            else:
                self.message_user(request, f"{row} 已印发")
