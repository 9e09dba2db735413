"""A producer for the embedded broker's load test (tests/system/test_broker.py), run as its
own process: ``python -m tests.broker_load URL TAG COUNT`` puts COUNT messages
``{"tag": TAG, "n": 0..COUNT-1}`` on the queue ``load``."""

import sys

from kombu import Connection

import config  # noqa: F401  registers the sqlite:// transport (config/celery.py)


def produce(url: str, tag: str, count: int) -> None:
    with Connection(url) as connection:
        queue = connection.SimpleQueue("load")
        for n in range(count):
            queue.put({"tag": tag, "n": n})
        queue.close()


if __name__ == "__main__":
    produce(sys.argv[1], sys.argv[2], int(sys.argv[3]))
