"""A Celery worker process for ``tests/monitoring/test_lag_spread.py``: the project's tasks on the
test's own Redis queue, with the test's batch size.

Two of these run side by side as separate processes. (Two ``start_worker`` threads in
one process share kombu's one global event loop, ``kombu.asynchronous.get_event_loop``:
both threads then poll the same sockets and a message can be read by neither, which
hung the test now and then. Separate processes are how workers run in production.)

    python -m tests.spread_worker QUEUE CELLS_PER_BATCH NAME

The environment carries ``DATABASE_URL`` (the test database), ``SECRET_KEY`` and
``CELERY_BROKER_URL``.
"""

import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")


def main(queue: str, cells_per_batch: str, name: str) -> None:
    import django

    django.setup()
    from config.celery import app
    from tracker.monitoring import checks as alerts

    alerts.CELLS_PER_BATCH = int(cells_per_batch)
    app.conf.update(
        task_default_queue=queue,
        task_routes={"tracker.deliver_notification": {"queue": f"{queue}-deliveries"}},
        result_backend=None,
    )
    app.worker_main(
        ["worker", "--pool=solo", "--loglevel=WARNING", f"--hostname={name}", f"--queues={queue}",
         "--without-gossip", "--without-mingle", "--without-heartbeat"]
    )  # fmt: skip


if __name__ == "__main__":
    main(*sys.argv[1:4])
