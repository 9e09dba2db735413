"""Where notifications listen to the packages below it (connected in
``TrackerConfig.ready``): a check's news and a returned figure are recorded in the
transaction that produced them, and sent after it commits."""

from tracker.monitoring.signals import news_ready
from tracker.notifications.digests import create_digests, notify_return
from tracker.review.signals import figure_returned


def record_digests(sender, *, month, run_number, deliver, **kwargs):
    return create_digests(month, run_number, enqueue=deliver)


def record_return(sender, *, cell, reviewer, **kwargs):
    return notify_return(cell, reviewer)


def connect() -> None:
    news_ready.connect(record_digests, dispatch_uid="tracker.notifications.digests")
    figure_returned.connect(record_return, dispatch_uid="tracker.notifications.return")
