from tracker.accounts.models import Role, UserProfile
from tracker.choices import LagStatus
from tracker.health.models import Heartbeat
from tracker.monitoring.models import LagAlert, LagAlertFlip, LagEvaluation, LagRun
from tracker.notifications.models import Contact, Delivery, Notification, WebhookFormat
from tracker.plans.models import Indicator, Milestone, Project, Quota
from tracker.plans.reference import Agency, Category, District, PlanColumn, PlanYear
from tracker.progress.models import (
    CellReview,
    CellState,
    MilestoneCompletion,
    MonthState,
    MonthSubmission,
    ProgressReport,
)
from tracker.reporting.models import NoticeIssue
from tracker.review.models import Attachment, AttachmentKind, Explanation
from tracker.supervision.models import SupervisionAttachment, SupervisionEvent, SupervisionItem

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
    "SupervisionAttachment",
    "SupervisionEvent",
    "SupervisionItem",
    "UserProfile",
    "WebhookFormat",
]
