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
from .review import (
    Attachment,
    AttachmentKind,
    CellReview,
    CellState,
    Explanation,
    MonthState,
    MonthSubmission,
)

__all__ = [
    "Agency",
    "Attachment",
    "AttachmentKind",
    "Category",
    "CellReview",
    "CellState",
    "Contact",
    "Delivery",
    "District",
    "Explanation",
    "Heartbeat",
    "Indicator",
    "LagAlert",
    "LagAlertFlip",
    "LagEvaluation",
    "LagRun",
    "LagStatus",
    "Milestone",
    "MilestoneCompletion",
    "MonthState",
    "MonthSubmission",
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
