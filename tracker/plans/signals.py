"""What a plan change announces to the packages above it.

Plans sit below monitoring, so a load, a correction or an admin edit does not call the
evaluation; it sends ``plan_changed`` inside its transaction and the evaluation (connected in
``TrackerConfig.ready``) re-evaluates the affected cells in that same transaction.
"""

from django.dispatch import Signal

#: Sent inside the writing transaction after a plan's quotas, targets, milestones, curve or
#: deadlines changed. Arguments: ``plan`` (the PlanYear) and ``indicator_ids`` (the
#: indicators whose cells may evaluate differently; ``None`` means every indicator of the
#: plan) and ``project_ids`` (projects whose milestones changed; may be empty); optionally
#: ``cells``, (indicator_id, district_id) pairs whose quota alone changed (added, corrected
#: or removed), re-evaluated without the rest of their indicator.
plan_changed = Signal()
