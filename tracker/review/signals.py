"""What a review announces to the packages above it.

Review sits below notifications: a 退回 sends ``figure_returned`` inside the review's
transaction, and the notifications package (connected in ``TrackerConfig.ready``) records
the district's message in that same transaction; the sending is queued after commit.
"""

from django.dispatch import Signal

#: Sent inside ``review_cell``'s transaction when a lead agency returns a figure.
#: Arguments: ``cell`` (the ``CellReview`` just saved as 退回) and ``reviewer``.
figure_returned = Signal()
