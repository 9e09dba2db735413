from .alerts import (
    Contact,
    Delivery,
    LagAlert,
    LagEvaluation,
    LagRun,
    LagStatus,
    Notification,
)
from .notice import NoticeIssue
from .people import Role, UserProfile
from .plan import Indicator, Milestone, Project, Quota
from .progress import MilestoneCompletion, ProgressReport
from .reference import Agency, Category, District, PlanYear

__all__ = [
    "Agency",
    "Category",
    "Contact",
    "Delivery",
    "District",
    "Indicator",
    "LagAlert",
    "LagEvaluation",
    "LagRun",
    "LagStatus",
    "Milestone",
    "MilestoneCompletion",
    "NoticeIssue",
    "Notification",
    "PlanYear",
    "ProgressReport",
    "Project",
    "Quota",
    "Role",
    "UserProfile",
]
