"""Celery application and its beat schedule (in code).

The broker comes from ``CELERY_BROKER_URL`` (or ``REDIS_URL``); without either the
embedded default is the SQLite file ``var/broker.sqlite3`` (``sqlite:///…``), so the
tracker runs with no server at all. The ``sqlite`` scheme names ``config.broker``'s
transport (kombu's SQLAlchemy transport, tightened), registered below.

Beat (times in Asia/Shanghai, ``CELERY_TIMEZONE``):

- ``lag-monthly-check``: the day after the reporting deadline
  (``conf.REPORTING_DEADLINE_DAY`` + 1, i.e. the 6th) at ``CHECK_HOUR`` (09:00),
  checks the month whose reports just fell due.
- ``milestone-check``: same time; acts only when the plan names a milestone in that
  month (3, 6, 9, 11, 12 and any other month the plan names), and catches up earlier
  milestone months.
- ``lag-catch-up``: every day at 09:30, re-runs any month of the year never checked
  (beat or workers were down) or whose figures were corrected since its check.
- ``report-reminders``: every day at ``CHECK_HOUR``; acts from
  ``conf.REMINDER_DAYS_BEFORE`` (default 2) days before the reporting deadline to the
  deadline day, sending each contact one digest per month of what is still unfiled
  (``tracker.notifications.reminders``; claimed, so the daily repeats send nothing twice).
- ``delivery-retry``: every minute (default queue), puts deliveries whose claim expired
  (their worker died) back in the queue and queues those due for a retry
  (``tracker.notifications.delivery``).
- ``heartbeat``: every ``conf.HEARTBEAT_SECONDS`` (60 s), and once when beat starts,
  sends ``tracker.heartbeat`` stamped with the send time; the worker records it and
  ``/api/health/`` reads it back (``tracker.health.checks``).

Queues: checks on the default ``celery`` queue, ``tracker.deliver_notification`` on its
own ``deliveries`` queue (``task_routes`` below), consumed by a worker of its own (the
Procfile's ``deliveries`` line), so a slow mailbox never delays a check or a heartbeat.

The month is computed by beat when it sends the task (``BeatLazyFunc``), as the latest
month whose reporting deadline has passed, and passed in as "YYYY-MM"; a run sent
late (after an outage) therefore still checks the right month, and the task catches up
the months before it.
"""

import os
from datetime import timedelta

from celery import Celery
from celery.beat import BeatLazyFunc
from celery.schedules import crontab
from celery.signals import beat_init
from kombu.transport import TRANSPORT_ALIASES

from tracker import conf

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# kombu resolves a broker URL's scheme through this table (loaded when first used).
TRANSPORT_ALIASES.setdefault("sqlite", "config.broker:Transport")

app = Celery("tracker")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_routes = {"tracker.deliver_notification": {"queue": "deliveries"}}
app.autodiscover_tasks()


def due_month_arg() -> str:
    """The month to check now, "YYYY-MM" (evaluated by beat at send time)."""
    from tracker.calendar import due_month
    from tracker.months import format_month

    return format_month(due_month())


def now_arg() -> str:
    """Beat's send time, ISO 8601 (evaluated by beat at send time)."""
    from django.utils import timezone

    return timezone.now().isoformat()


def heartbeat_entry() -> dict:
    seconds = conf.HEARTBEAT_SECONDS
    return {
        "task": "tracker.heartbeat",
        "schedule": timedelta(seconds=seconds),
        "args": (BeatLazyFunc(now_arg),),
        # A heartbeat queued while no worker ran is worthless later: drop it.
        "options": {"expires": seconds * 2},
    }


def beat_schedule() -> dict:
    hour = conf.CHECK_HOUR
    day = min(conf.REPORTING_DEADLINE_DAY + 1, 28)
    month = (BeatLazyFunc(due_month_arg),)
    return {
        "lag-monthly-check": {
            "task": "tracker.check_lag",
            "schedule": crontab(minute=0, hour=hour, day_of_month=day),
            "args": month,
        },
        "milestone-check": {
            "task": "tracker.check_milestones",
            "schedule": crontab(minute=0, hour=hour, day_of_month=day),
            "args": month,
        },
        "lag-catch-up": {
            "task": "tracker.check_lag",
            "schedule": crontab(minute=30, hour=hour),
            "args": month,
        },
        "report-reminders": {
            "task": "tracker.send_reminders",
            "schedule": crontab(minute=0, hour=hour),
        },
        "supervision-news": {  # 挂牌督办: 到期提醒 and 逾期督促, once per item and round
            "task": "tracker.send_supervision_news",
            "schedule": crontab(minute=15, hour=hour),
        },
        "delivery-retry": {
            "task": "tracker.retry_deliveries",
            "schedule": crontab(minute="*"),
        },
        "heartbeat": heartbeat_entry(),
    }


@app.on_after_configure.connect
def _install_beat_schedule(sender, **kwargs):
    sender.conf.beat_schedule = beat_schedule()


@beat_init.connect
def _heartbeat_on_start(sender, **kwargs):
    """Beat announces itself at once, so /api/health/ is ok seconds after a start."""
    entry = heartbeat_entry()
    app.send_task(entry["task"], args=(now_arg(),), **entry["options"])
