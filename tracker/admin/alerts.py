"""Admin for the lag engine: alerts, statuses, recipients, notifications and deliveries.

Every list goes through ``Model.objects.for_user(request.user)``; history pages refuse
objects outside the user's scope. Alerts and deliveries are written by the checks, so
they are read-only here apart from the actions (确认预警, 重新发送). Failed and unknown
deliveries are listed under 通知发送 (filter 需人工处理), resent one by one or all at once
(「全部重新发送」); their network detail is shown to 督查室 and admins only, a contact's
owner reads 「发送失败」. Webhook URLs off the allow list are for 督查室 and admins.
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseNotAllowed
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils.html import format_html

from tracker.accounts.models import Role
from tracker.accounts.permissions import Action, allowed, scope_for
from tracker.admin.base import ScopedAdmin, ScopedInline
from tracker.monitoring.models import LagAlert, LagAlertFlip, LagEvaluation, LagRun
from tracker.months import format_month
from tracker.notifications import delivery as outbox
from tracker.notifications.channels import webhook_url_problem
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


def sees_delivery_detail(user) -> bool:
    """督查室 and admins read a failure's network detail; a contact's owner reads only
    「发送失败」 (the detail would tell an open port from a closed one)."""
    return bool(user.is_superuser or scope_for(user).is_supervision)


def shown_error(user, delivery) -> str:
    if not delivery.last_error:
        return ""
    return delivery.last_error if sees_delivery_detail(user) else outbox.OWNER_ERROR


class ContactForm(forms.ModelForm):
    """A webhook goes only to an allowed host (``TRACKER_WEBHOOK_HOSTS``) unless 督查室
    or an admin sets it; an unchanged address may stay."""

    editor = None  # set per request by ContactAdmin.get_form

    class Meta:
        model = Contact
        fields = (
            "name", "role", "agency", "district", "email", "webhook_url", "webhook_format",
            "is_active",
        )  # fmt: skip

    def clean_webhook_url(self):
        url = self.cleaned_data.get("webhook_url", "")
        unchanged = self.instance.pk and url == self.initial.get("webhook_url")
        any_host = unchanged or (self.editor is not None and sees_delivery_detail(self.editor))
        problem = webhook_url_problem(url, any_host=any_host)
        if problem:
            raise forms.ValidationError(problem)
        return url


@admin.register(Contact)
class ContactAdmin(ScopedAdmin):
    form = ContactForm
    list_display = (
        "name", "role", "agency", "district", "email", "webhook_url", "webhook_format",
        "is_active",
    )  # fmt: skip
    list_filter = ("role", "is_active")
    search_fields = ("name", "email")
    list_select_related = ("agency", "district")

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "webhook_url":
            kwargs["assume_scheme"] = "https"  # an address typed without a scheme
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        return type(form.__name__, (form,), {"editor": request.user})

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


class DeliveryInline(ScopedInline):
    """The notification's deliveries, read-only, for whoever may view them (the policy)."""

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
        "error",
        "last_error_at",
    )
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_formset(self, request, obj=None, **kwargs):
        self._viewer = request.user
        return super().get_formset(request, obj, **kwargs)

    @admin.display(description="最近错误")
    def error(self, obj):
        return shown_error(self._viewer, obj)


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


class NeedsAPersonFilter(admin.SimpleListFilter):
    title = "需人工处理"
    parameter_name = "attention"

    def lookups(self, request, model_admin):
        return [("1", "失败或结果不明")]

    def queryset(self, request, queryset):
        return outbox.needing_a_person(queryset) if self.value() == "1" else queryset


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyMixin, ScopedAdmin):
    """Deliveries: failed and unknown ones are resent one by one (a row's button or the
    selection action) or all at once (「全部重新发送」 above the list)."""

    change_list_template = "admin/tracker/delivery/change_list.html"
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
    list_filter = (NeedsAPersonFilter, "status", "channel")
    search_fields = ("address", "notification__subject")
    list_select_related = ("notification__contact",)
    actions = ["resend"]

    def get_list_display(self, request):
        """The error column as this user may read it, and a resend button per row for
        those who may resend (closures: the admin instance is shared by requests)."""
        detail = sees_delivery_detail(request.user)
        may_resend = self.has_resend_permission(request)

        @admin.display(description="最近错误")
        def error(obj):
            return obj.last_error if detail or not obj.last_error else outbox.OWNER_ERROR

        @admin.display(description="重新发送")
        def resend_button(obj):
            if not may_resend or obj.status not in Delivery.NEEDS_A_PERSON:
                return ""
            return format_html(
                '<button type="submit" form="resend-one" formaction="{}" class="button">'
                "重新发送</button>",
                reverse("admin:tracker_delivery_resend", args=[obj.pk]),
            )

        shown = [error if name == "last_error" else name for name in self.list_display]
        return (*shown, resend_button)

    def changelist_view(self, request, extra_context=None):
        extra = {
            "can_resend": self.has_resend_permission(request),
            "needing_a_person": outbox.needing_a_person(self.get_queryset(request)).count(),
        }
        return super().changelist_view(request, {**(extra_context or {}), **extra})

    def get_search_fields(self, request):
        """Only those who read the detail search in it."""
        fields = super().get_search_fields(request)
        return (*fields, "last_error") if sees_delivery_detail(request.user) else fields

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("resend-all/", view(self.resend_all_view), name="tracker_delivery_resend_all"),
            path("<int:pk>/resend/", view(self.resend_one_view), name="tracker_delivery_resend"),
            *super().get_urls(),
        ]

    @admin.display(description="状态", ordering="status")
    def status_badge(self, obj):
        colour = {"failed": "#c0392b", "unknown": "#c0392b", "retrying": "#d4a017",
                  "sent": "#27ae60"}.get(obj.status, "#555")  # fmt: skip
        return format_html('<span style="color:{}">{}</span>', colour, obj.get_status_display())

    def has_resend_permission(self, request):
        return allowed(request.user, Action.CHANGE, Delivery)

    @admin.action(description="重新发送所选的失败通知", permissions=["resend"])
    def resend(self, request, queryset):
        count = outbox.resend(queryset)
        self.message_user(request, f"已重新排队 {count} 条通知", messages.SUCCESS)

    def _resend_post(self, request, queryset, what: str):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_resend_permission(request):
            raise PermissionDenied
        count = outbox.resend(queryset)
        self.message_user(request, f"{what}：已重新排队 {count} 条通知", messages.SUCCESS)
        return redirect("admin:tracker_delivery_changelist")

    def resend_all_view(self, request):
        """「全部重新发送」: every failed or unknown delivery in the user's scope."""
        return self._resend_post(request, self.get_queryset(request), "全部重新发送")

    def resend_one_view(self, request, pk: int):
        return self._resend_post(request, self.get_queryset(request).filter(pk=pk), "重新发送")
