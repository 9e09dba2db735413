"""The benchmark's settings: production's, plus the floor views (``bench.urls``)."""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
