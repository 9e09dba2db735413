"""Celery finds the tracker's tasks here: ``app.autodiscover_tasks()`` imports
``tracker.tasks``, and this module imports the modules that declare them. Each task is
declared beside the service it calls (pretix's habit), under a stable name
(``tracker.check_lag`` …) that beat and queued messages use:

- ``tracker.monitoring.checks``: check_lag, check_lag_spread, check_lag_batch,
  check_milestones;
- ``tracker.notifications.delivery``: deliver_notification, retry_deliveries;
- ``tracker.notifications.reminders``: send_reminders;
- ``tracker.supervision.reminders``: send_supervision_news (挂牌督办 提醒 and 督促);
- ``tracker.health.checks``: heartbeat.

Every task is idempotent: checks run under a per-month lock and only notify news;
deliveries are claimed before sending. Every task has a soft and a hard time limit, so
nothing can hang a worker. Deliveries run on their own ``deliveries`` queue (routed in
``config.celery``), so a slow mailbox never delays a check.
"""

from tracker.health import checks as health_checks
from tracker.monitoring import checks as monitoring_checks
from tracker.notifications import delivery, reminders
from tracker.supervision import reminders as supervision_reminders

__all__ = ["delivery", "health_checks", "monitoring_checks", "reminders", "supervision_reminders"]
