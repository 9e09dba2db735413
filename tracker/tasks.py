"""Celery tasks: thin wrappers that take a month string or an id and call a service.

Every task is idempotent: checks run under a per-month lock and only notify news;
deliveries are claimed before sending. Beat computes the month and passes it in
(see ``config.celery``).
"""

from celery import shared_task

from tracker.months import parse_month
from tracker.services import alerts, notifications


@shared_task(name="tracker.check_lag")
def check_lag(month: str) -> list[dict]:
    """The monthly lag check of ``month`` ("YYYY-MM"), catching up missed or corrected
    earlier months of the year first."""
    return [r.summary() for r in alerts.run_due_checks(parse_month(month))]


@shared_task(name="tracker.check_milestones")
def check_milestones(month: str) -> list[dict]:
    """The milestone check after ``month`` and any missed milestone month before it;
    does nothing when the plan names no milestone up to ``month``."""
    return [r.summary() for r in alerts.run_due_milestone_checks(parse_month(month))]


@shared_task(name="tracker.deliver_notification")
def deliver_notification(delivery_id: int) -> str | None:
    """Send one delivery (claimed first); on failure schedule the retry with backoff."""
    outcome = notifications.deliver(delivery_id)
    if outcome is None:
        return None
    if outcome.retry_in is not None:
        deliver_notification.apply_async((delivery_id,), countdown=outcome.retry_in)
    return str(outcome.status)


@shared_task(name="tracker.retry_deliveries")
def retry_deliveries() -> int:
    """Sweep: queue deliveries due for a retry (and any whose task was lost)."""
    ids = notifications.due_deliveries()
    notifications.queue_deliveries(ids)
    return len(ids)


@shared_task(name="tracker.heartbeat", bind=True, ignore_result=True)
def heartbeat(self, sent_at: str) -> None:
    """Beat's liveness ping: record when beat sent it and that a worker ran it (read back
    by ``/api/health/``)."""
    from datetime import datetime

    from tracker.services.health import record_heartbeat

    record_heartbeat(datetime.fromisoformat(sent_at), hostname=self.request.hostname or "")
