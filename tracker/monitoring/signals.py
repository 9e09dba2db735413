"""What a check announces to the packages above it.

Monitoring sits below notifications, so a check does not call the digest recorder; it
sends ``news_ready`` inside its transaction and whoever records news (the notifications
package, connected in ``TrackerConfig.ready``) does so in that same transaction: the
episodes are marked told exactly when their digests are recorded.
"""

from django.dispatch import Signal

#: Sent inside a check's transaction once the episodes are in line. Arguments: ``month``
#: (first day), ``run_number`` (the month's run) and ``deliver`` (queue the sending after
#: commit). Receivers return the notifications they recorded.
news_ready = Signal()


def record_news(month, run_number: int, *, deliver: bool) -> list:
    """The notifications recorded for the news of ``month`` by the connected receivers."""
    recorded = []
    for _receiver, notes in news_ready.send(
        sender=None, month=month, run_number=run_number, deliver=deliver
    ):
        recorded.extend(notes or ())
    return recorded
