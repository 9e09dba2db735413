"""Admin for the lag engine: alerts, statuses, recipients, notifications and deliveries.

Every list goes through ``Model.objects.for_user(request.user)``; history pages refuse
objects outside the user's scope. Alerts and deliveries are written by the checks, so
they are read-only here apart from the actions (确认预警, 重新发送). Failed deliveries
are listed with their error under 通知发送 (filter 状态 = 失败).
"""

from django import forms
from django.contrib import admin, messages
from django.utils.html import format_html

from tracker.accounts.models import Role
from tracker.accounts.permissions import Action, allowed, scope_for
from tracker.admin.base import ScopedAdmin
from tracker.monitoring.models import LagAlert, LagAlertFlip, LagEvaluation, LagRun
from tracker.months import format_month
from tracker.notifications import delivery as outbox
from tracker.notifications.models import Contact, Delivery, Notification
from tracker.progress.writes import MAX_TEXT

SEVERITY_COLOURS = {"red": "#c0392b", "yellow": "#d4a017", "info": "#2980b9"}


class ReadOnlyMixin:
    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class FlipInline(admin.TabularInline):
    """The episode's status changes, oldest first (read-only)."""

    model = LagAlertFlip
    extra = 0
    can_delete = False
    fields = ("month", "old_status", "new_status", "at", "why")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class AcknowledgementForm(forms.ModelForm):
    """The change form records an acknowledgement: its note is capped like every note."""

    acknowledgement_note = forms.CharField(
        label="确认说明",
        required=False,
        max_length=MAX_TEXT,
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={"max_length": f"确认说明最多 {MAX_TEXT} 个字，请精简后再提交"},
    )

    class Meta:
        model = LagAlert
        fields = ("acknowledgement_note",)


@admin.register(LagAlert)
class LagAlertAdmin(ScopedAdmin):
    change_action = Action.ACKNOWLEDGE  # saving the form acknowledges
    inlines = [FlipInline]
    form = AcknowledgementForm
    # Which cell and how bad, then 说明 (it names the district and the indicator, with the
    # numbers), then the rest: beside the admin's two sidebars, at 1400 px, the list
    # scrolls sideways after 说明, not before it.
    list_display = (
        "month_label",
        "project_seq",
        "district",
        "kind",
        "severity_badge",
        "status",
        "short_message",
        "indicator",
        "last_month_label",
        "level",
        "supervised",
        "streak",
    )
    list_filter = ("status", "severity", "kind", "level", "supervised", "month", "district")
    search_fields = ("message", "indicator__label", "indicator__project__name")
    list_select_related = ("indicator__project", "district")
    date_hierarchy = "month"
    actions = ["acknowledge"]
    readonly_fields = [
        f.name for f in LagAlert._meta.fields if f.name not in ("acknowledgement_note",)
    ]
    fields = (
        ("month", "last_month", "kind", "severity", "status"),
        ("indicator", "district"),
        ("level", "supervised", "streak"),
        ("quota", "expected", "actual", "gap_points", "forecast"),
        "message",
        ("created_at", "updated_at", "closed_at", "closed_in_month"),
        ("acknowledged_by", "acknowledged_at"),
        "acknowledgement_note",
        ("notified_state", "notified_level", "notified_at"),
    )

    def save_model(self, request, obj, form, change):
        """Saving the form is acknowledging with a note."""
        obj.acknowledge(request.user, form.cleaned_data.get("acknowledgement_note", ""))

    @admin.display(description="开始月份", ordering="month")
    def month_label(self, obj):
        return f"{format_month(obj.month)}"

    @admin.display(description="最近评估", ordering="last_month")
    def last_month_label(self, obj):
        return f"{format_month(obj.last_month)}"

    @admin.display(description="序号", ordering="indicator__project__seq")
    def project_seq(self, obj):
        return obj.indicator.project.seq

    @admin.display(description="等级", ordering="severity")
    def severity_badge(self, obj):
        return format_html(
            '<span style="color:{};font-weight:bold">{}</span>',
            SEVERITY_COLOURS.get(obj.severity, "#000"),
            obj.get_severity_display(),
        )

    @admin.display(description="说明")
    def short_message(self, obj):
        return obj.message if len(obj.message) <= 60 else obj.message[:60] + "…"

    @admin.action(description="确认所选预警（已知悉）", permissions=["change"])
    def acknowledge(self, request, queryset):
        done = 0
        for alert in queryset.filter(status__in=LagAlert.ACTIVE):
            alert.acknowledge(request.user)
            done += 1
        self.message_user(request, f"已确认 {done} 条预警", messages.SUCCESS)


@admin.register(LagEvaluation)
class LagEvaluationAdmin(ScopedAdmin):
    list_display = (
        "month",
        "indicator",
        "district",
        "status",
        "quota",
        "expected",
        "actual",
        "gap_points",
        "forecast",
        "at_risk",
        "streak",
    )
    list_filter = ("status", "at_risk", "is_checkpoint", "month", "district")
    search_fields = ("indicator__label", "indicator__project__name")
    list_select_related = ("indicator__project", "district")


@admin.register(LagRun)
class LagRunAdmin(ScopedAdmin):
    """Check log: visible to the supervision office only (it has no owner to scope by)."""

    list_display = ("month", "run_count", "started_at", "completed_at", "milestones_checked_at")


@admin.register(Contact)
class ContactAdmin(ScopedAdmin):
    list_display = (
        "name", "role", "agency", "district", "email", "webhook_url", "webhook_format",
        "is_active",
    )  # fmt: skip
    list_filter = ("role", "is_active")
    search_fields = ("name", "email")
    list_select_related = ("agency", "district")

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        """An agency (district) user can only name their own agency (district)."""
        scope = scope_for(request.user)
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "agency" and not scope.is_supervision:
            field.queryset = field.queryset.filter(pk=scope.agency_id or 0)
        if db_field.name == "district" and not scope.is_supervision:
            field.queryset = field.queryset.filter(pk=scope.district_id or 0)
        return field

    def formfield_for_choice_field(self, db_field, request, **kwargs):
        scope = scope_for(request.user)
        if db_field.name == "role" and not scope.is_supervision:
            kwargs["choices"] = [(scope.role, Role(scope.role).label)] if scope.role else []
        return super().formfield_for_choice_field(db_field, request, **kwargs)


class DeliveryInline(admin.TabularInline):
    model = Delivery
    extra = 0
    can_delete = False
    fields = (
        "channel",
        "address",
        "status",
        "attempts",
        "next_attempt_at",
        "sent_at",
        "last_error",
        "last_error_at",
    )
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Notification)
class NotificationAdmin(ScopedAdmin):
    list_display = ("created_at", "contact", "month", "run_number", "subject", "delivery_status")
    list_filter = ("month", "deliveries__status")
    search_fields = ("subject", "contact__name")
    list_select_related = ("contact",)
    inlines = [DeliveryInline]
    exclude = ("alerts",)
    readonly_fields = (
        "contact", "month", "run_number", "subject", "body", "open_count", "payload",
        "created_at",
    )  # fmt: skip

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("deliveries")

    @admin.display(description="发送情况")
    def delivery_status(self, obj):
        return "；".join(
            f"{d.get_channel_display()}{d.get_status_display()}" for d in obj.deliveries.all()
        )


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyMixin, ScopedAdmin):
    list_display = (
        "notification",
        "channel",
        "address",
        "status_badge",
        "attempts",
        "next_attempt_at",
        "sent_at",
        "last_error",
        "last_error_at",
    )
    list_filter = ("status", "channel")
    search_fields = ("address", "last_error", "notification__subject")
    list_select_related = ("notification__contact",)
    actions = ["resend"]

    @admin.display(description="状态", ordering="status")
    def status_badge(self, obj):
        colour = {"failed": "#c0392b", "retrying": "#d4a017", "sent": "#27ae60"}.get(
            obj.status, "#555"
        )
        return format_html('<span style="color:{}">{}</span>', colour, obj.get_status_display())

    def has_resend_permission(self, request):
        return allowed(request.user, Action.CHANGE, Delivery)

    @admin.action(description="重新发送所选的失败通知", permissions=["resend"])
    def resend(self, request, queryset):
        count = outbox.resend(queryset)
        self.message_user(request, f"已重新排队 {count} 条通知", messages.SUCCESS)
