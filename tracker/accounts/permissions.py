"""The one answer to "may this user do this here": ``restrict(user, action)``.

A user's :class:`Scope` (their role and the agency or district they work for) says *which
rows* they are responsible for; the policy table below says *which actions* each role
may take on each model. ``restrict`` combines the two into a queryset, so every caller —
admin, API, dashboard, services — asks the same question the same way::

    Project.objects.restrict(user, "view")        # same as .for_user(user)
    ProgressReport.objects.restrict(user, "delete")
    restrict(user, "acknowledge", LagAlert.objects.all())
    may(user, "change", obj)                       # one object
    allowed(user, "add", ProgressReport)           # is there anything to add at all?

Roles (``tracker.accounts.models.Role``):

- 督查室 (supervision office, or a superuser): everything.
- 牵头单位 user: the projects their agency leads, every district of them.
- 区、县(市) user: the whole published plan, but quotas, progress and alerts of
  their own district only.
- Leaders (issue 30), read-only (view and export, on what a role reads; nothing else):
  市领导 everything; 分管市领导 the projects that name them as 分管市领导
  (``Project.city_leader``, 「、」-separated names, matched whole); 牵头单位分管领导 the
  projects their agency leads (the rows a 牵头单位 user sees).
- Anyone else (anonymous, no profile, inactive): nothing. Anonymous readers of the
  published read-only mode are let in by the views that are public, never here.

Actions: view, add, change, delete, acknowledge, review, export, import. A model not in
the policy table is 督查室-only for every action (user roles, check logs, login locks,
other people's tokens), so a new model is closed until someone opens it on purpose.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from django.db.models import Q

from tracker.accounts.models import LEADER_ROLES, Role, UserProfile


class Action(StrEnum):
    VIEW = "view"
    ADD = "add"
    CHANGE = "change"
    DELETE = "delete"
    ACKNOWLEDGE = "acknowledge"
    REVIEW = "review"
    EXPORT = "export"
    IMPORT = "import"


ACTIONS = frozenset(Action)


@dataclass(frozen=True)
class Scope:
    role: str | None
    agency_id: int | None = None
    district_id: int | None = None
    leader_name: str = ""

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
    def is_leader(self) -> bool:
        """A read-only leader (市领导, 分管市领导, 牵头单位分管领导)."""
        return self.role in LEADER_ROLES

    @property
    def role_label(self) -> str:
        return Role(self.role).label if self.role in Role.values else ""

    @property
    def can_edit_plan(self) -> bool:
        return self.is_supervision

    def apply(self, queryset):
        """The rows this scope is responsible for (no action: see ``restrict``)."""
        model = getattr(queryset.model, "instance_type", None) or queryset.model
        if self.is_supervision or self.role == Role.LEADER:
            return queryset
        if self.role is None:
            return queryset.none()
        if self.role == Role.CITY_LEADER:
            return _city_leader_rows(queryset, model, self.leader_name)
        if self.is_agency or self.role == Role.AGENCY_LEADER:
            path = getattr(model, "scope_agency_path", None)
        else:
            path = getattr(model, "scope_district_path", None)
        if path is None:  # reference data, or plan data every district reads
            return queryset
        if self.role == PUBLIC_SCOPE.role:
            return queryset.none()
        by_agency = self.is_agency or self.role == Role.AGENCY_LEADER
        value = self.agency_id if by_agency else self.district_id
        return queryset.filter(**{path: value})

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


def _city_leader_rows(queryset, model, name: str):
    """The rows of the projects naming ``name`` among their 分管市领导: the model's path to
    its project's lead agency, turned into the path to that project's ``city_leader``.
    Rows that belong to an office rather than a project (contacts, deliveries): none."""
    path = getattr(model, "scope_agency_path", None)
    if path is None:  # reference data, or plan data everyone reads
        return queryset
    if path != "lead_agency" and not path.endswith("__lead_agency"):
        return queryset.none()
    field = path[: -len("lead_agency")] + "city_leader"
    name = name.strip()
    if not name:
        return queryset.none()
    sep = "、"
    match = (
        Q(**{field: name})
        | Q(**{f"{field}__startswith": name + sep})
        | Q(**{f"{field}__endswith": sep + name})
        | Q(**{f"{field}__contains": sep + name + sep})
    )
    return queryset.filter(match)


NO_SCOPE = Scope(role=None)
SUPERVISION_SCOPE = Scope(role=Role.SUPERVISION)
#: An anonymous reader in published read-only mode: sees what a district user sees of
#: the *other* districts — the plan, but no district's quotas, progress or alerts.
PUBLIC_SCOPE = Scope(role="public")


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
        profile = (
            UserProfile.objects.filter(user_id=user.pk)
            .values("role", "agency_id", "district_id", "leader_name")
            .first()
        )
        scope = Scope(**profile) if profile else NO_SCOPE
    user._tracker_scope = scope
    return scope


# --- who reads: a user, a Scope, or None (the published read-only view) -----------------


def viewer_scope(who) -> Scope | None:
    """``who`` (a user, a ``Scope`` or None) as a Scope; None stays None: the published
    read-only view, city-wide, which only views that are public pass (anonymous visitors
    with ``PUBLIC_READ_ONLY`` on)."""
    if who is None or isinstance(who, Scope):
        return who
    return scope_for(who)


def restrict_viewer(queryset, who):
    """The rows of ``queryset`` that ``who`` reads (every row for None, the public view)."""
    scope = viewer_scope(who)
    return queryset if scope is None else scope.apply(queryset)


def viewer_has_role(who) -> bool:
    """``who`` reads anything at all: a role, or the public view."""
    scope = viewer_scope(who)
    return scope is None or scope.role is not None


# --- the policy table ------------------------------------------------------------------

#: anyone with a role, on the rows of their scope
SCOPED = "scoped"
#: the supervision office only
SUPERVISION = "supervision"

_V, _A, _C, _D = Action.VIEW, Action.ADD, Action.CHANGE, Action.DELETE
_ACK, _REV, _EXP, _IMP = Action.ACKNOWLEDGE, Action.REVIEW, Action.EXPORT, Action.IMPORT

#: plan and reference data: everyone reads (their scope), only 督查室 edits or loads
PLAN = {_V: SCOPED, _EXP: SCOPED, _A: SUPERVISION, _C: SUPERVISION, _D: SUPERVISION,
        _IMP: SUPERVISION, _REV: SUPERVISION}  # fmt: skip
#: progress and milestone completion: reporters enter their scope, only 督查室 deletes
ENTRY = {_V: SCOPED, _EXP: SCOPED, _A: SCOPED, _C: SCOPED, _IMP: SCOPED, _D: SUPERVISION,
         _REV: SUPERVISION}  # fmt: skip
#: alerts: written by the checks; people in scope acknowledge, 督查室 reviews
ALERT = {_V: SCOPED, _EXP: SCOPED, _ACK: SCOPED, _REV: SUPERVISION}
#: computed rows: read only
READ_ONLY = {_V: SCOPED, _EXP: SCOPED}
#: recipients of notifications: each office keeps its own
CONTACT = {_V: SCOPED, _A: SCOPED, _C: SCOPED, _D: SCOPED}
#: deliveries: read in scope, 督查室 re-sends (a change)
DELIVERY = {_V: SCOPED, _EXP: SCOPED, _C: SUPERVISION}

POLICIES: dict[str, dict[str, str]] = {
    "tracker.planyear": PLAN,
    "tracker.category": PLAN,
    "tracker.agency": PLAN,
    "tracker.district": PLAN,
    "tracker.project": PLAN,
    "tracker.indicator": PLAN,
    "tracker.quota": PLAN,
    "tracker.milestone": PLAN,
    "tracker.progressreport": ENTRY,
    "tracker.milestonecompletion": ENTRY,
    "tracker.lagalert": ALERT,
    "tracker.lagevaluation": READ_ONLY,
    "tracker.notification": READ_ONLY,
    "tracker.delivery": DELIVERY,
    "tracker.contact": CONTACT,
    "tracker.lagrun": {_V: SUPERVISION},
    "tracker.plancolumn": PLAN,
    "tracker.lagalertflip": READ_ONLY,
    # explain-and-review rows: written only through tracker.review.workflow (API and
    # dashboard); the admin lists them read-only in scope (督查室 unlocks from there)
    # (the service adds who acts: a district submits its own month, the lead agency
    # reviews, see tracker.review.workflow.allow)
    "tracker.explanation": {_V: SCOPED, _EXP: SCOPED, _A: SCOPED, _C: SCOPED},
    "tracker.monthsubmission": {_V: SCOPED, _EXP: SCOPED, _A: SCOPED, _C: SUPERVISION},
    "tracker.cellreview": {_V: SCOPED, _EXP: SCOPED, _REV: SCOPED, _C: SUPERVISION},
    "tracker.attachment": {_V: SCOPED, _EXP: SCOPED, _A: SCOPED, _D: SCOPED},
    # 挂牌督办 (tracker.supervision): read in scope; every step goes through
    # tracker.supervision.process, which says who may (督查室 交办/销号, the unit 反馈)
    "tracker.supervisionitem": READ_ONLY,
    "tracker.supervisionevent": READ_ONLY,
    "tracker.supervisionattachment": READ_ONLY,
    # notice settings (文号, 成文日期, cap) and the liveness heartbeat: 督查室 only (default)
}


def _label(model) -> str:
    model = getattr(model, "instance_type", None) or model  # simple-history's history model
    return model._meta.label_lower


def rule(model, action: str) -> str | None:
    """SCOPED, SUPERVISION or None (nobody) for ``action`` on ``model``."""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}; one of {sorted(ACTIONS)}")
    policy = POLICIES.get(_label(model))
    if policy is None:
        return SUPERVISION
    return policy.get(action)


LEADER_READ_ONLY = "领导账号为只读，不能填报、审核或修改数据"

#: what a leader may do: read, on the models a role reads (``SCOPED``)
LEADER_ACTIONS = frozenset({Action.VIEW, Action.EXPORT})


def allowed(user, action: str, model) -> bool:
    """May ``user`` take ``action`` on some rows of ``model`` (the admin's module checks)?"""
    scope = scope_for(user)
    granted = rule(model, action)
    if granted is None or scope.role is None:
        return False
    if scope.is_leader:
        return granted == SCOPED and action in LEADER_ACTIONS
    return granted == SCOPED or scope.is_supervision


def restrict(user, action: str, queryset):
    """The rows of ``queryset`` on which ``user`` may take ``action``."""
    if not allowed(user, action, queryset.model):
        return queryset.none()
    return scope_for(user).apply(queryset)


def restrict_public(action: str, queryset):
    """What an anonymous reader may see in published read-only mode (views decide
    whether they are public; this decides which rows): reads only, and of rows that
    belong to a district, none."""
    if action not in (Action.VIEW, Action.EXPORT) or rule(queryset.model, action) != SCOPED:
        return queryset.none()
    return PUBLIC_SCOPE.apply(queryset)


def may(user, action: str, obj) -> bool:
    """May ``user`` take ``action`` on this one object (a saved row)?"""
    if obj is None or obj.pk is None:
        return allowed(user, action, type(obj)) if obj is not None else False
    model = type(obj)
    if not allowed(user, action, model):
        return False
    return restrict(user, action, model._default_manager.all()).filter(pk=obj.pk).exists()
