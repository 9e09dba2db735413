from .alerts import (
    Contact,
    Delivery,
    LagAlert,
    LagAlertFlip,
    LagEvaluation,
    LagRun,
    LagStatus,
    Notification,
    WebhookFormat,
)
from .health import Heartbeat
from .notice import NoticeIssue
from .people import Role, UserProfile
from .plan import Indicator, Milestone, Project, Quota
from .progress import MilestoneCompletion, ProgressReport
from .reference import Agency, Category, District, PlanColumn, PlanYear

__all__ = [
    "Agency",
    "Category",
    "Contact",
    "Delivery",
    "District",
    "Heartbeat",
    "Indicator",
    "LagAlert",
    "LagAlertFlip",
    "LagEvaluation",
    "LagRun",
    "LagStatus",
    "Milestone",
    "MilestoneCompletion",
    "NoticeIssue",
    "Notification",
    "PlanColumn",
    "PlanYear",
    "ProgressReport",
    "Project",
    "Quota",
    "Role",
    "UserProfile",
    "WebhookFormat",
]
