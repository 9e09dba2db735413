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
    # read-only leaders (issue 30): 市领导 sees everything; 分管市领导 the projects naming
    # them as 分管市领导 (``Project.city_leader``); 牵头单位分管领导 the projects their
    # agency leads
    LEADER = "leader", "市领导"
    CITY_LEADER = "city_leader", "分管市领导"
    AGENCY_LEADER = "agency_leader", "牵头单位分管领导"


#: the offices that report, review and receive notifications (not the leaders)
OFFICE_ROLES = (Role.SUPERVISION, Role.AGENCY, Role.DISTRICT)
LEADER_ROLES = (Role.LEADER, Role.CITY_LEADER, Role.AGENCY_LEADER)


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
    leader_name = models.CharField(
        "领导姓名",
        max_length=50,
        blank=True,
        help_text="分管市领导填写与计划「分管市领导」一栏相同的姓名，据此确定其分管的项目",
    )
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
                    | models.Q(role="leader", agency__isnull=True, district__isnull=True)
                    | models.Q(role="city_leader", agency__isnull=True, district__isnull=True)
                    & ~models.Q(leader_name="")
                    | models.Q(role="agency_leader", agency__isnull=False, district__isnull=True)
                ),
            )
        ]

    def __str__(self):
        owner = self.agency or self.district or ""
        return f"{self.user} · {self.get_role_display()} {owner}".strip()

    def clean(self):
        if self.role == Role.AGENCY and not self.agency_id:
            raise ValidationError({"agency": "牵头单位用户必须选择所属单位"})
        if self.role == Role.AGENCY_LEADER and not self.agency_id:
            raise ValidationError({"agency": "牵头单位分管领导必须选择所属单位"})
        if self.role == Role.CITY_LEADER and not self.leader_name.strip():
            raise ValidationError({"leader_name": "分管市领导必须填写姓名（与计划中的写法一致）"})
        if self.role == Role.DISTRICT and not self.district_id:
            raise ValidationError({"district": "区、县(市)用户必须选择所属区、县(市)"})
        if self.role not in (Role.AGENCY, Role.AGENCY_LEADER) and self.agency_id:
            raise ValidationError({"agency": "只有牵头单位用户和牵头单位分管领导才能选择所属单位"})
        if self.role != Role.DISTRICT and self.district_id:
            raise ValidationError({"district": "只有区、县(市)用户才能选择所属区、县(市)"})
