from .people import Role, UserProfile
from .plan import Indicator, Milestone, Project, Quota
from .progress import MilestoneCompletion, ProgressReport
from .reference import Agency, Category, District, PlanYear

__all__ = [
    "Agency",
    "Category",
    "District",
    "Indicator",
    "Milestone",
    "MilestoneCompletion",
    "PlanYear",
    "ProgressReport",
    "Project",
    "Quota",
    "Role",
    "UserProfile",
]
