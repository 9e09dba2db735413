"""Liveness of the scheduled work: the heartbeat beat sends and a worker records.

One row per heartbeat name (``celery``). Beat stamps the time it sent the task into the
message; the worker that runs it stores that time and its own. The health endpoint reads
the row back (``tracker.health.checks``): a recent ``beat_sent_at`` means beat is
scheduling, a recent ``worker_ran_at`` means a worker is consuming the queue.
"""

from django.db import models


class Heartbeat(models.Model):
    name = models.CharField("名称", max_length=50, unique=True)
    beat_sent_at = models.DateTimeField("定时调度发出时间")
    worker_ran_at = models.DateTimeField("任务进程执行时间")
    worker_hostname = models.CharField("任务进程", max_length=200, blank=True)

    class Meta:
        verbose_name = "运行心跳"
        verbose_name_plural = "运行心跳"

    def __str__(self) -> str:
        return f"{self.name} @ {self.worker_ran_at:%Y-%m-%d %H:%M:%S}"
