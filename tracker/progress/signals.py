"""What a change to the figures announces to the packages above it.

Progress sits below monitoring, so the one write path, a review decision or an unlock does
not call the evaluation; it sends ``figures_changed`` inside its transaction and the
evaluation (connected in ``TrackerConfig.ready``) re-evaluates exactly those cells, in that
same transaction, so the next page shows the new status.
"""

from django.dispatch import Signal

#: Sent inside the writing transaction. Arguments: ``cells`` (a set of
#: ``(indicator_id, district_id)`` pairs) and ``month`` (first day of the earliest month
#: whose figures changed; later months of the same year change with it).
figures_changed = Signal()
