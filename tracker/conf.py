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
from urllib.parse import urlsplit

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
    V("EMAIL_HOST", str, "", "the mail server (SMTP); required for a production start "
      "with the smtp backend"),
    V("EMAIL_PORT", int, 25, "its port (587 with EMAIL_USE_TLS, 465 with EMAIL_USE_SSL)"),
    V("EMAIL_HOST_USER", str, "", "the user name to log in to the mail server"),
    V("EMAIL_HOST_PASSWORD", str, "", "its password"),
    V("EMAIL_USE_TLS", bool, False, "STARTTLS after connecting (port 587)"),
    V("EMAIL_USE_SSL", bool, False, "TLS from the first byte (port 465); not with "
      "EMAIL_USE_TLS"),
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
    V("TRACKER_SUPERVISION_REMIND_DAYS", int, 3, "挂牌督办: the responsible unit is reminded "
      "this many days before the 整改 deadline (overdue: the next day's run escalates)",
      key="SUPERVISION_REMIND_DAYS"),
    V("TRACKER_DELIVERY_RETRY_HOURS", int, 24, "hours a delivery is retried (backoff with "
      "jitter) before it is failed and shown for a person to resend",
      key="DELIVERY_RETRY_HOURS"),
    V("TRACKER_DELIVERY_RETRY_SECONDS", int, 60, "first retry delay of a delivery (then "
      "doubling, with jitter)", key="DELIVERY_RETRY_SECONDS"),
    V("TRACKER_DELIVERY_RETRY_MAX_SECONDS", int, 3600, "longest delay between two attempts "
      "of a delivery", key="DELIVERY_RETRY_MAX_SECONDS"),
    V("TRACKER_DELIVERY_DEADLINE", float, 15.0, "total seconds one attempt may take (connect, "
      "send and answer; mail and webhooks), however slowly the server trickles",
      key="DELIVERY_DEADLINE_SECONDS"),
    V("TRACKER_DELIVERY_LEASE_SECONDS", int, 120, "a claimed delivery whose worker has not "
      "finished after this long is swept back into the queue (keep it well above the "
      "deadline)", key="DELIVERY_LEASE_SECONDS"),
    V("TRACKER_WEBHOOK_HOSTS", list, ["oapi.dingtalk.com", "qyapi.weixin.qq.com"],
      "webhook hosts anyone may set (钉钉, 企业微信 and more, comma-separated); other "
      "hosts only 督查室 or an admin", key="WEBHOOK_HOSTS"),
    V("TRACKER_WEBHOOK_ALLOW_PRIVATE", bool, False, "webhooks may go to loopback, "
      "link-local and private addresses (a test or an intranet relay)",
      key="WEBHOOK_ALLOW_PRIVATE"),
    V("TRACKER_HEARTBEAT_SECONDS", int, 60, "beat's heartbeat interval",
      key="HEARTBEAT_SECONDS"),
    V("TRACKER_HEARTBEAT_STALE_MINUTES", int, 5, "/api/health/ is degraded when the last "
      "heartbeat is older", key="HEARTBEAT_STALE_MINUTES"),
    # --- the notice, files and uploads --------------------------------------------------
    V("TRACKER_NOTICE_SUPERVISION_CAP", int, 10, "挂牌督办 items listed one by one in a "
      "notice (督查室 sets it per month)", key="NOTICE_SUPERVISION_CAP"),
    V("TRACKER_NOTICE_ISSUER", str, "杭州市人民政府督查室", "the notice's 发文机关 (its "
      "版头 and 署名; 督查室 may change both per month)", key="NOTICE_ISSUER"),
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


#: Keys copied from documentation: refused at a production start whatever their length.
PLACEHOLDER_SECRET_KEYS = frozenset(
    {"...", "x", "changeme", "change-me", "secret", "your-secret-key", "<secret>",
     "<long random string>", "django-insecure"}
)  # fmt: skip
MIN_SECRET_KEY_LENGTH = 50
SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
LOOPBACK_HOSTS = ("127.", "localhost", "[::1]", "0.0.0.0")


def production_problems(values: Values, *, secret_key: str, email_backend: str) -> list[str]:
    """What a production start must refuse, in Chinese, one line each (empty: fine)."""
    problems = []
    key = (secret_key or "").strip()
    if not key:
        problems.append(
            "必须设置 SECRET_KEY（生成：python -c 'import secrets; "
            "print(secrets.token_urlsafe(50))'）"
        )
    elif key.lower() in PLACEHOLDER_SECRET_KEYS or key.startswith("django-insecure"):
        problems.append("SECRET_KEY 是文档中的占位符，请换成随机生成的密钥")
    elif len(key) < MIN_SECRET_KEY_LENGTH or len(set(key)) < 5:
        problems.append(
            f"SECRET_KEY 太弱：至少 {MIN_SECRET_KEY_LENGTH} 个字符且不能重复单一字符"
            f"（现为 {len(key)} 个字符）"
        )
    host = (urlsplit(values["TRACKER_SITE_URL"]).hostname or "").lower()
    if not host or host.startswith(LOOPBACK_HOSTS) or host == "::1":
        problems.append(
            f"TRACKER_SITE_URL 为「{values['TRACKER_SITE_URL']}」：邮件中的链接会指向服务器"
            "自身，请设为用户访问本站的地址，如 https://minsheng.hangzhou.gov.cn"
        )
    if email_backend == SMTP_BACKEND:
        if not values["EMAIL_HOST"]:
            problems.append("使用 SMTP 发信时必须设置 EMAIL_HOST（邮件服务器地址）")
        if values["EMAIL_USE_TLS"] and values["EMAIL_USE_SSL"]:
            problems.append("EMAIL_USE_TLS 与 EMAIL_USE_SSL 只能开启其一")
    return problems


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
