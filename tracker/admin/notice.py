"""月度通报设置: 文号, 成文日期 and the 挂牌督办 cap per month; 督查室 only.

``NoticeIssue`` is not in the policy table of ``tracker.accounts.permissions``, so the one admin
base class already limits every action (and its history) to 督查室.
"""

from django.contrib import admin

from tracker.admin.base import ScopedAdmin
from tracker.reporting.models import NoticeIssue


@admin.register(NoticeIssue)
class NoticeIssueAdmin(ScopedAdmin):
    list_display = ("month", "doc_number", "issued_on", "supervision_cap", "updated_at")
    date_hierarchy = "month"
