"""登录锁定: django-axes's failed-login records, for 督查室 only (a model outside the
policy table of ``tracker.accounts.permissions``), with an action that lifts a lock."""

from axes.models import AccessAttempt
from django.conf import settings
from django.contrib import admin, messages

from tracker.accounts.permissions import Action
from tracker.admin.base import ScopedAdmin


@admin.register(AccessAttempt)
class LoginLockAdmin(ScopedAdmin):
    list_display = ("username", "ip_address", "failures_since_start", "locked",
                    "attempt_time", "path_info")  # fmt: skip
    list_filter = ("path_info",)
    search_fields = ("username", "ip_address")
    ordering = ("-attempt_time",)
    actions = ["unlock"]
    readonly_fields = ("username", "ip_address", "user_agent", "path_info", "get_data",
                       "post_data", "failures_since_start", "attempt_time")  # fmt: skip
    exclude = ("expiration",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # records are written by the login; 解除锁定 deletes them

    @admin.display(description="已锁定", boolean=True)
    def locked(self, obj):
        return obj.failures_since_start >= settings.AXES_FAILURE_LIMIT

    @admin.action(description="解除锁定（删除所选的失败记录）", permissions=["delete"])
    def unlock(self, request, queryset):
        count = queryset.count()
        queryset.delete()
        self.message_user(request, f"已解除 {count} 条登录锁定", messages.SUCCESS)

    def has_delete_permission(self, request, obj=None):
        return self._may(request, Action.DELETE, obj)
