"""Celery tasks: thin wrappers that take a month string or an id and call a service.

Every task is idempotent: checks run under a per-month lock and only notify news;
deliveries are claimed before sending. Beat computes the month and passes it in
(see ``config.celery``). Every task has a soft and a hard time limit (in its
decorator; a delivery's soft limit is above the email and webhook timeouts, so a
silent server fails the attempt first), so nothing can hang a worker: a check that
overruns is stopped and its transaction rolled back, a delivery that overruns is left
*sending* and the sweep
reports it. Deliveries run on their own ``deliveries`` queue (routed in
``config.celery``), so a slow mailbox never delays a check.
"""

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded

from tracker.monitoring import checks as alerts
from tracker.months import parse_month
from tracker.notifications import digests as notifications
from tracker.notifications import reminders


@shared_task(name="tracker.check_lag", soft_time_limit=600, time_limit=660)
def check_lag(month: str) -> list[dict]:
    """The lag check of ``month`` ("YYYY-MM"), catching up missed or changed earlier
    months of the year first, then any milestone month never checked (the daily
    catch-up covers both); one digest per recipient with the news of both."""
    return [r.summary() for r in alerts.run_catch_up(parse_month(month))]


@shared_task(name="tracker.check_lag_spread", soft_time_limit=60, time_limit=90)
def check_lag_spread(month: str, as_of: str | None = None) -> int:
    """The lag check of one month spread over the workers: claims the month's next run
    and queues one ``tracker.check_lag_batch`` per indicator batch (a group); whichever
    worker finishes the last batch records the digests (a claim on the month's row, no
    result backend needed). Same statuses, episodes and digests as ``check_lag``'s check
    of that month. Returns the number of batches queued."""
    from datetime import datetime

    from celery import group

    spread = alerts.start_spread_check(
        parse_month(month), as_of=datetime.fromisoformat(as_of) if as_of else None
    )
    group(
        check_lag_batch.s(
            month, batch, spread.run_number, spread.as_of.isoformat(), spread.started.isoformat()
        )
        for batch in spread.batches
    ).apply_async()
    return len(spread.batches)


@shared_task(name="tracker.check_lag_batch", soft_time_limit=600, time_limit=660)
def check_lag_batch(month: str, indicator_ids: list, run: int, as_of: str, started: str):
    """One indicator batch of a spread check (``alerts.run_spread_batch``)."""
    from datetime import datetime

    result = alerts.run_spread_batch(
        parse_month(month), indicator_ids, run,
        datetime.fromisoformat(as_of), datetime.fromisoformat(started),
    )  # fmt: skip
    return None if result is None else result.month.isoformat()


@shared_task(name="tracker.check_milestones", soft_time_limit=600, time_limit=660)
def check_milestones(month: str) -> list[dict]:
    """The milestone check after ``month`` and any missed milestone month before it;
    does nothing when the plan names no milestone up to ``month``."""
    return [r.summary() for r in alerts.run_due_milestone_checks(parse_month(month))]


@shared_task(
    bind=True,
    name="tracker.deliver_notification",
    soft_time_limit=60,
    time_limit=90,
    max_retries=None,  # the service counts attempts (DELIVERY_MAX_ATTEMPTS)
)
def deliver_notification(self, delivery_id: int) -> str | None:
    """Send one delivery (claimed first); on failure retry with Celery's own retry after
    the backoff the service computed."""
    try:
        outcome = notifications.deliver(delivery_id)
    except SoftTimeLimitExceeded:  # left *sending*; the sweep marks it for a person
        return "timeout"
    if outcome is None:
        return None
    if outcome.retry_in is not None:
        raise self.retry(countdown=outcome.retry_in)
    return str(outcome.status)


@shared_task(name="tracker.retry_deliveries", soft_time_limit=60, time_limit=90)
def retry_deliveries() -> int:
    """Sweep: queue deliveries due for a retry (and any whose task was lost)."""
    ids = notifications.due_deliveries()
    return notifications.queue_deliveries(ids)


@shared_task(name="tracker.send_reminders", soft_time_limit=300, time_limit=360)
def send_reminders() -> int:
    """Reporting reminders: one digest per contact of what is still unfiled for the month
    being reported, from ``REMINDER_DAYS_BEFORE`` days before its deadline; claimed per
    contact and month, so a re-run or a second worker sends nothing twice."""
    return len(reminders.send_reminders())


@shared_task(
    name="tracker.heartbeat", bind=True, ignore_result=True, soft_time_limit=20, time_limit=30
)
def heartbeat(self, sent_at: str) -> None:
    """Beat's liveness ping: record when beat sent it and that a worker ran it (read back
    by ``/api/health/``)."""
    from datetime import datetime

    from tracker.health.checks import record_heartbeat

    record_heartbeat(datetime.fromisoformat(sent_at), hostname=self.request.hostname or "")
