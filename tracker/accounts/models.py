"""Who a user works for: the supervision office, one lead agency, or one district.

The agency and district are named by label (``"tracker.Agency"``), not imported: accounts
sit below plans, and every package may ask who a user is.
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from simple_history.models import HistoricalRecords


class Role(models.TextChoices):
    SUPERVISION = "supervision", "市政府督查室"
    AGENCY = "agency", "牵头单位"
    DISTRICT = "district", "区、县(市)"


class UserProfile(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="tracker_profile",
        verbose_name="用户",
    )
    role = models.CharField("角色", max_length=20, choices=Role.choices)
    agency = models.ForeignKey(
        "tracker.Agency",
        on_delete=models.PROTECT,
        related_name="members",
        null=True,
        blank=True,
        verbose_name="所属单位",
    )
    district = models.ForeignKey(
        "tracker.District",
        on_delete=models.PROTECT,
        related_name="members",
        null=True,
        blank=True,
        verbose_name="所属区、县(市)",
    )
    phone = models.CharField("联系电话", max_length=30, blank=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = "用户角色"
        verbose_name_plural = "用户角色"
        constraints = [
            models.CheckConstraint(
                name="profile_role_matches_owner",
                condition=(
                    models.Q(role="supervision", agency__isnull=True, district__isnull=True)
                    | models.Q(role="agency", agency__isnull=False, district__isnull=True)
                    | models.Q(role="district", agency__isnull=True, district__isnull=False)
                ),
            )
        ]

    def __str__(self):
        owner = self.agency or self.district or ""
        return f"{self.user} · {self.get_role_display()} {owner}".strip()

    def clean(self):
        if self.role == Role.AGENCY and not self.agency_id:
            raise ValidationError({"agency": "牵头单位用户必须选择所属单位"})
        if self.role == Role.DISTRICT and not self.district_id:
            raise ValidationError({"district": "区、县(市)用户必须选择所属区、县(市)"})
        if self.role != Role.AGENCY and self.agency_id:
            raise ValidationError({"agency": "只有牵头单位用户才能选择所属单位"})
        if self.role != Role.DISTRICT and self.district_id:
            raise ValidationError({"district": "只有区、县(市)用户才能选择所属区、县(市)"})
