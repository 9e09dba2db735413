"""Every setting the tracker reads: its environment variable, type, default and meaning.

One table (``VARIABLES``) declares them; ``read()`` reads the environment once, through
django-environ, with one rule for booleans (``1 true yes on ok y`` are on, anything else
off). ``config/settings.py`` builds Django's settings from the result, and the tracker's
own settings become ``settings.TRACKER``. Code reads those through this module::

    from tracker import conf
    conf.REPORTING_DEADLINE_DAY      # int, from settings.TRACKER (tests override that)

Nothing else reads ``settings.TRACKER`` or ``os.environ``. The README's settings table is
this table (``python -m tracker.conf`` prints it; a test checks they agree).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import environ
from django.conf import settings

BASE_DIR = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Variable:
    """One environment variable: ``key`` names it in ``settings.TRACKER`` (tracker
    settings) or is None (a Django or deployment setting ``config/settings.py`` uses)."""

    env: str
    cast: type
    default: Any
    help: str
    key: str | None = None
    shown_default: str | None = None  # how the table prints a computed default

    @property
    def default_text(self) -> str:
        if self.shown_default is not None:
            return self.shown_default
        if self.cast is bool:
            return "on" if self.default else "off"
        if isinstance(self.default, list):
            return ",".join(self.default) or "(empty)"
        return "(empty)" if self.default in ("", None) else str(self.default)


V = Variable
KB, MB = 1024, 1024 * 1024

#: Where the embedded default keeps its files; every other path below defaults inside it.
VAR = "TRACKER_VAR_DIR"

VARIABLES: tuple[Variable, ...] = (
    # --- the deployment --------------------------------------------------------------
    V(VAR, Path, BASE_DIR / "var", "folder of the embedded default's database, broker, cache, "
      "media, secret key and notices", shown_default="var/"),
    V("DATABASE_URL", str, "", "database, e.g. postgres://user@host:5432/tracker; any "
      "non-SQLite database makes this a production start",
      shown_default="sqlite:///var/db.sqlite3"),
    V("SECRET_KEY", str, "", "Django's secret key; required for a production start (the "
      "embedded default generates one into var/secret_key)"),
    V("DJANGO_SECURE", bool, False, "production behind TLS: HTTPS redirect, secure cookies, "
      "HSTS; also makes this a production start"),
    V("DJANGO_BEHIND_PROXY", bool, False, "trust X-Forwarded-Proto from the reverse proxy"),
    V("TRACKER_NUM_PROXIES", int, 0, "reverse proxies that append to X-Forwarded-For; 0: the "
      "header is ignored and the address is REMOTE_ADDR"),
    V("ALLOWED_HOSTS", list, ["localhost", "127.0.0.1", "[::1]", "testserver"],
      "host names the site answers to, comma-separated"),
    V("CSRF_TRUSTED_ORIGINS", list, [], "origins trusted for forms behind a proxy, "
      "e.g. https://minsheng.hangzhou.gov.cn"),
    V("SECURE_HSTS_SECONDS", int, None, "HSTS max-age", shown_default="31536000 with "
      "DJANGO_SECURE, else 0"),
    V("DEBUG", bool, False, "development mode (static files served from the apps)"),
    V("STATIC_ROOT", Path, BASE_DIR / "staticfiles", "where collectstatic puts the files "
      "WhiteNoise serves", shown_default="staticfiles/"),
    V("MEDIA_ROOT", Path, None, "uploaded 佐证材料", shown_default="var/media"),
    V("DB_CONN_MAX_AGE", int, 0, "seconds a database connection is kept open"),
    V("TEST_DATABASE_NAME", str, "", "the test database's name (parallel test runs)"),
    V("LOG_LEVEL", str, "WARNING", "root log level"),
    # --- Celery and the cache ----------------------------------------------------------
    V("REDIS_URL", str, "", "Redis for the Celery broker and the cache, "
      "e.g. redis://127.0.0.1:6379/0", shown_default="(empty: no server needed)"),
    V("CELERY_BROKER_URL", str, "", "the broker, when it is not REDIS_URL",
      shown_default="REDIS_URL, else the embedded SQLite broker"),
    V("TRACKER_BROKER_FILE", Path, None, "the embedded broker's SQLite file (no broker URL; "
      "kombu's SQLAlchemy transport, config/broker.py)", shown_default="var/broker.sqlite3"),
    V("TRACKER_BROKER_POLL_SECONDS", float, 0.25, "how often an idle worker looks for new "
      "messages on the embedded broker"),
    V("CELERY_RESULT_BACKEND", str, "", "Celery result backend (none needed)"),
    V("CELERY_TASK_ALWAYS_EAGER", bool, False, "run tasks in the calling process (tests)"),
    V("TRACKER_CACHE_URL", str, "", "the cache shared by every process (throttles)",
      shown_default="REDIS_URL, else a file cache"),
    V("TRACKER_CACHE_DIR", Path, None, "the file cache's folder (no cache URL)",
      shown_default="var/cache"),
    # --- logins and the API ------------------------------------------------------------
    V("TRACKER_ADMIN_USER", str, "admin", "the embedded demo's login (never in production)",
      key="ADMIN_USER"),
    V("TRACKER_ADMIN_PASSWORD", str, "minsheng-2024", "the embedded demo's password",
      key="ADMIN_PASSWORD"),
    V("TRACKER_LOGIN_MAX_FAILURES", int, 5, "failed logins per user name and address before "
      "a lockout"),
    V("TRACKER_LOGIN_LOCKOUT_MINUTES", int, 15, "minutes a lockout lasts"),
    V("TRACKER_SESSION_SECONDS", int, 8 * 3600, "session lifetime (sessions also end when "
      "the browser closes)"),
    V("TRACKER_API_TOKEN_MAX_AGE", int, 8 * 3600, "seconds an API token is valid",
      key="API_TOKEN_MAX_AGE"),
    V("API_THROTTLE_ANON", str, "120/min", "API rate limit, anonymous callers"),
    V("API_THROTTLE_USER", str, "3000/min", "API rate limit, users"),
    V("API_THROTTLE_LOGIN", str, "30/min", "API rate limit, token logins"),
    V("TRACKER_PUBLIC_READ_ONLY", bool, False, "anonymous visitors read the plan and the "
      "summaries (overview, ranking, notice)", key="PUBLIC_READ_ONLY"),
    # --- mail and the site -------------------------------------------------------------
    V("EMAIL_BACKEND", str, "django.core.mail.backends.console.EmailBackend",
      "Django's mail backend (smtp in production)"),
    V("DEFAULT_FROM_EMAIL", str, "tracker@localhost", "sender of the tracker's mail"),
    V("EMAIL_TIMEOUT", float, 10.0, "seconds before a silent mail server fails an attempt"),
    V("TRACKER_SITE_URL", str, "http://127.0.0.1:8000", "the site's address in mail links",
      key="SITE_URL"),
    # --- the reporting calendar and the lag rules ---------------------------------------
    V("TRACKER_REPORTING_DEADLINE_DAY", int, 5, "a month's reports are due by this day of "
      "the next month (未按时填报 after it)", key="REPORTING_DEADLINE_DAY"),
    V("TRACKER_CHECK_HOUR", int, 9, "local hour of the scheduled checks and reminders",
      key="CHECK_HOUR"),
    V("TRACKER_LAG_YELLOW_POINTS", Decimal, Decimal(10), "cumulative targets: points behind "
      "序时进度 for 黄", key="LAG_YELLOW_POINTS"),
    V("TRACKER_LAG_RED_POINTS", Decimal, Decimal(30), "cumulative targets: points behind for "
      "红 (at a checkpoint month 黄's threshold is already 红)", key="LAG_RED_POINTS"),
    V("TRACKER_LEVEL_YELLOW_POINTS", Decimal, Decimal(1), "rates: points below the expected "
      "level for 黄", key="LEVEL_YELLOW_POINTS"),
    V("TRACKER_LEVEL_RED_POINTS", Decimal, Decimal(3), "rates: points below the expected "
      "level for 红", key="LEVEL_RED_POINTS"),
    V("TRACKER_FORECAST_WINDOW_MONTHS", int, 3, "months of recent pace the forecast "
      "extrapolates", key="FORECAST_WINDOW_MONTHS"),
    V("TRACKER_AT_RISK_PACE_SHORTFALL_PCT", Decimal, Decimal(10), "有逾期风险 when the recent "
      "pace is this many % below the plan's own", key="AT_RISK_PACE_SHORTFALL_PCT"),
    V("TRACKER_ESCALATE_TO_AGENCY_AFTER", int, 2, "problem months in a row before an alert "
      "goes to the lead agency", key="ESCALATE_TO_AGENCY_AFTER"),
    V("TRACKER_ESCALATE_TO_SUPERVISION_AFTER", int, 3, "problem months in a row before "
      "督查室 and 挂牌督办", key="ESCALATE_TO_SUPERVISION_AFTER"),
    V("TRACKER_COUNT_ONLY_REVIEWED", bool, False, "only figures the lead agency approved "
      "count for the checks and the notice", key="COUNT_ONLY_REVIEWED"),
    V("TRACKER_OVER_QUOTA_CONFIRM_RATIO", Decimal, Decimal(3), "a value above this multiple "
      "of the quota needs 确认超额", key="OVER_QUOTA_CONFIRM_RATIO"),
    V("TRACKER_EXPLANATION_GRACE_DAYS", int, 5, "days after the deadline before a red cell "
      "without 原因说明 is listed for 督查室", key="EXPLANATION_GRACE_DAYS"),
    # --- notifications ------------------------------------------------------------------
    V("TRACKER_REMINDER_DAYS_BEFORE", int, 2, "reminders start this many days before the "
      "reporting deadline", key="REMINDER_DAYS_BEFORE"),
    V("TRACKER_DELIVERY_MAX_ATTEMPTS", int, 5, "attempts of a delivery before it is failed",
      key="DELIVERY_MAX_ATTEMPTS"),
    V("TRACKER_DELIVERY_RETRY_SECONDS", int, 60, "first retry delay of a delivery (then "
      "doubling)", key="DELIVERY_RETRY_SECONDS"),
    V("TRACKER_WEBHOOK_TIMEOUT", float, 10.0, "seconds a webhook server may take",
      key="WEBHOOK_TIMEOUT_SECONDS"),
    V("TRACKER_HEARTBEAT_SECONDS", int, 60, "beat's heartbeat interval",
      key="HEARTBEAT_SECONDS"),
    V("TRACKER_HEARTBEAT_STALE_MINUTES", int, 5, "/api/health/ is degraded when the last "
      "heartbeat is older", key="HEARTBEAT_STALE_MINUTES"),
    # --- the notice, files and uploads --------------------------------------------------
    V("TRACKER_NOTICE_SUPERVISION_CAP", int, 10, "挂牌督办 items listed one by one in a "
      "notice (督查室 sets it per month)", key="NOTICE_SUPERVISION_CAP"),
    V("TRACKER_NOTICE_PDF_DIR", Path, None, "where rendered notice PDFs are kept",
      key="NOTICE_PDF_DIR", shown_default="var/notices"),
    V("TRACKER_ATTACHMENT_MAX_BYTES", int, 10 * MB, "largest 佐证材料 accepted",
      key="ATTACHMENT_MAX_BYTES"),
    V("TRACKER_ATTACHMENT_STORAGE", str, "default", "the STORAGES alias 佐证材料 go to",
      key="ATTACHMENT_STORAGE"),
    V("TRACKER_IMPORT_MAX_BYTES", int, 2 * MB, "largest workbook upload",
      key="IMPORT_MAX_BYTES"),
    V("TRACKER_IMPORT_MAX_UNPACKED_BYTES", int, 20 * MB, "largest unpacked workbook",
      key="IMPORT_MAX_UNPACKED_BYTES"),
    V("TRACKER_IMPORT_MAX_ROWS", int, 1000, "data rows of an imported workbook",
      key="IMPORT_MAX_ROWS"),
    V("TRACKER_IMPORT_MAX_CELLS", int, 30000, "cells of an imported workbook",
      key="IMPORT_MAX_CELLS"),
    V("TRACKER_IMPORT_MAX_COLUMNS", int, 64, "columns of an imported workbook",
      key="IMPORT_MAX_COLUMNS"),
    # --- speed ----------------------------------------------------------------------------
    V("TRACKER_BULK_COPY", bool, True, "PostgreSQL: the lag check writes through COPY "
      "(tracker.db)", key="BULK_COPY"),
    V("TRACKER_READ_PIPELINE", bool, True, "PostgreSQL: the lag evaluation pipelines its "
      "reads (tracker.db)", key="READ_PIPELINE"),
)  # fmt: skip

BY_ENV = {v.env: v for v in VARIABLES}
BY_KEY = {v.key: v for v in VARIABLES if v.key}


def _cast(env: environ.Env, v: Variable):
    name = v.env
    if name not in env.ENVIRON or (v.cast is not str and env.ENVIRON[name].strip() == ""):
        return v.default
    if v.cast is bool:
        return env.bool(name)
    if v.cast is int:
        return env.int(name)
    if v.cast is float:
        return env.float(name)
    if v.cast is list:
        return [item.strip() for item in env.list(name) if item.strip()]
    if v.cast is Path:
        return Path(env.str(name))
    if v.cast is Decimal:
        return Decimal(env.str(name).strip())
    return env.str(name)


class Values(dict):
    """What ``read`` found: ``values["DEBUG"]`` by environment variable name."""

    @property
    def var_dir(self) -> Path:
        return self[VAR]

    def path(self, name: str, default_in_var: str) -> Path:
        """A path setting, defaulting to ``default_in_var`` inside the var folder."""
        return self[name] or self.var_dir / default_in_var

    @property
    def tracker(self) -> dict:
        """``settings.TRACKER``: the tracker's own settings by key."""
        out = {v.key: self[v.env] for v in VARIABLES if v.key}
        out["NOTICE_PDF_DIR"] = str(self.path("TRACKER_NOTICE_PDF_DIR", "notices"))
        return out


def read(environment=None) -> Values:
    """Every variable, typed, from ``environment`` (default ``os.environ``)."""
    env = environ.Env()
    env.ENVIRON = os.environ if environment is None else environment
    return Values({v.env: _cast(env, v) for v in VARIABLES})


def __getattr__(key: str):
    """``conf.REPORTING_DEADLINE_DAY``: the tracker setting from ``settings.TRACKER``
    (what the environment said, or what a test set), else its declared default."""
    v = BY_KEY.get(key)
    if v is None:
        raise AttributeError(f"tracker.conf has no setting {key!r}")

    value = getattr(settings, "TRACKER", {}).get(key, v.default)
    if v.cast is Decimal and not isinstance(value, Decimal):
        return Decimal(str(value))
    return value


def markdown_table() -> str:
    """The README's settings table."""
    rows = ["| variable | default | meaning |", "| --- | --- | --- |"]
    for v in VARIABLES:
        rows.append(f"| `{v.env}` | `{v.default_text}` | {v.help} |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":  # python -m tracker.conf: the README's table
    sys.stdout.write(markdown_table())
