"""Turn a user into what they may see and change.

``scope_for(user)`` is the single entry point: querysets call it through
``Model.objects.for_user(user)`` (see ``tracker.models.scoping``), and the admin,
API and dashboard all go through those querysets.

- 督查室 (supervision office, or a superuser): everything.
- 牵头单位 user: the projects their agency leads, every district of them.
- 区、县(市) user: the whole published plan, but quotas, progress and alerts of
  their own district only.
- Anyone else (anonymous, no profile, inactive): nothing.
"""

from dataclasses import dataclass

from tracker.models.people import Role


@dataclass(frozen=True)
class Scope:
    role: str | None
    agency_id: int | None = None
    district_id: int | None = None

    @property
    def is_supervision(self) -> bool:
        return self.role == Role.SUPERVISION

    @property
    def is_agency(self) -> bool:
        return self.role == Role.AGENCY

    @property
    def is_district(self) -> bool:
        return self.role == Role.DISTRICT

    @property
    def can_edit_plan(self) -> bool:
        return self.is_supervision

    def apply(self, queryset):
        model = queryset.model
        if self.is_supervision:
            return queryset
        if self.is_agency:
            return queryset.filter(**{model.scope_agency_path: self.agency_id})
        if self.is_district:
            path = getattr(model, "scope_district_path", None)
            return queryset if path is None else queryset.filter(**{path: self.district_id})
        return queryset.none()

    def can_report(self, indicator, district) -> bool:
        """May this user enter progress for ``district`` on ``indicator``?"""
        return self.can_report_project(indicator.project, district)

    def can_report_project(self, project, district) -> bool:
        """May this user enter progress or milestone completion of ``project`` for ``district``?"""
        if self.is_supervision:
            return True
        if self.is_agency:
            return project.lead_agency_id == self.agency_id
        if self.is_district:
            return district.pk == self.district_id
        return False


NO_SCOPE = Scope(role=None)
SUPERVISION_SCOPE = Scope(role=Role.SUPERVISION)


def scope_for(user) -> Scope:
    """The user's scope, computed once per user object (one query at most)."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return NO_SCOPE
    cached = getattr(user, "_tracker_scope", None)
    if cached is not None:
        return cached
    if user.is_superuser:
        scope = SUPERVISION_SCOPE
    else:
        from tracker.models.people import UserProfile

        profile = (
            UserProfile.objects.filter(user_id=user.pk)
            .values("role", "agency_id", "district_id")
            .first()
        )
        scope = Scope(**profile) if profile else NO_SCOPE
    user._tracker_scope = scope
    return scope
