"""Django groups for the roles, kept in step with ``UserProfile``.

The tracker decides what a user may see and change from their ``UserProfile`` role
through the one scoping rule (``tracker.accounts.permissions``); the groups mirror that for anyone
reading users in the admin and for code that asks ``user.has_perm``. They are created
(and re-synced) after every ``migrate`` and by ``python manage.py setup_roles``; a
user's group follows their profile whenever it is saved.
"""

from django.contrib.auth.models import Group, Permission

from tracker.accounts.models import LEADER_ROLES, Role

PLAN_MODELS = ("planyear", "category", "agency", "district", "project", "indicator", "quota",
               "milestone")  # fmt: skip
ENTRY_MODELS = ("progressreport", "milestonecompletion")
READ_MODELS = ("lagalert", "lagevaluation")
#: explain and review (issue 15); rows are written through tracker.review.workflow
REVIEW_MODELS = ("explanation", "monthsubmission", "cellreview", "attachment")

GROUP_NAMES = {
    Role.SUPERVISION: "市政府督查室",
    Role.AGENCY: "牵头单位",
    Role.DISTRICT: "区、县(市)",
    Role.LEADER: "市领导",
    Role.CITY_LEADER: "分管市领导",
    Role.AGENCY_LEADER: "牵头单位分管领导",
}


def _codenames(role: str) -> set[str]:
    if role == Role.SUPERVISION:
        return set()  # every tracker permission, see ensure_groups
    names = {f"view_{m}" for m in PLAN_MODELS + ENTRY_MODELS + READ_MODELS + REVIEW_MODELS}
    if role in LEADER_ROLES:  # read-only (issue 30)
        return names
    names |= {f"{a}_{m}" for a in ("add", "change") for m in ENTRY_MODELS}
    names.add("change_lagalert")  # acknowledge
    names |= {"add_explanation", "change_explanation", "add_attachment", "delete_attachment"}
    if role == Role.DISTRICT:
        names.add("add_monthsubmission")  # 上报本月
    # reviewing (审核通过 / 退回) is the lead agency's, on its projects' cells; unlocking
    # (change_cellreview, change_monthsubmission) stays with 督查室
    return names


def ensure_groups() -> dict[str, Group]:
    """Create or update the groups with their permissions (idempotent)."""
    tracker_perms = Permission.objects.filter(content_type__app_label="tracker")
    groups = {}
    for role, name in GROUP_NAMES.items():
        group, _ = Group.objects.get_or_create(name=name)
        if role == Role.SUPERVISION:
            perms = list(tracker_perms)
        else:
            perms = list(tracker_perms.filter(codename__in=_codenames(role)))
        group.permissions.set(perms)
        groups[role] = group
    return groups


def sync_user(profile) -> None:
    """Put the profile's user in its role's group (and only that one); make them staff."""
    user = profile.user
    wanted = Group.objects.filter(name=GROUP_NAMES[profile.role]).first()
    ours = Group.objects.filter(name__in=GROUP_NAMES.values())
    user.groups.remove(*ours.exclude(pk=wanted.pk) if wanted else ours)
    if wanted is not None:
        user.groups.add(wanted)
    if not user.is_staff:
        user.is_staff = True
        user.save(update_fields=["is_staff"])
