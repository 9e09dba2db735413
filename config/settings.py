"""Settings, read from the environment with safe defaults.

Embedded default (no servers, ``scripts/run.sh``): SQLite file ``var/db.sqlite3`` and the
SQLite broker ``var/broker.sqlite3`` (``config/broker.py``); the ``SECRET_KEY`` is generated
once into ``var/secret_key`` and the demo login may be created (``EMBEDDED_DEMO``).

Production is any start with a non-SQLite ``DATABASE_URL`` or ``DJANGO_SECURE=1``: it refuses
to start without ``SECRET_KEY`` and never creates the demo login. Set ``DATABASE_URL``
(PostgreSQL), ``REDIS_URL`` (or ``CELERY_BROKER_URL``), ``SECRET_KEY``, ``ALLOWED_HOSTS``.
"""

import os
import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp.constants import NONCE, NONE, SELF, UNSAFE_INLINE
from django.core.exceptions import ImproperlyConfigured

from tracker import conf

# Every variable is declared (type, default, meaning) and read once in tracker.conf.
ENV = conf.read()
BASE_DIR = conf.BASE_DIR
VAR_DIR = ENV.var_dir

DEBUG = ENV["DEBUG"]
SECURE = ENV["DJANGO_SECURE"]
ALLOWED_HOSTS = ENV["ALLOWED_HOSTS"]

# HTTPS hardening: on with DJANGO_SECURE=1 (production behind TLS); off for the embedded
# default so `scripts/run.sh` works over plain http://127.0.0.1.
# (SECURE is read near the top: it also decides whether this is a production start.)
SECURE_SSL_REDIRECT = SECURE
SESSION_COOKIE_SECURE = SECURE
CSRF_COOKIE_SECURE = SECURE
SECURE_HSTS_SECONDS = ENV["SECURE_HSTS_SECONDS"]
if SECURE_HSTS_SECONDS is None:
    SECURE_HSTS_SECONDS = 31536000 if SECURE else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE
SECURE_HSTS_PRELOAD = SECURE
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if ENV["DJANGO_BEHIND_PROXY"]:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
CSRF_TRUSTED_ORIGINS = ENV["CSRF_TRUSTED_ORIGINS"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",  # runserver serves static files through WhiteNoise too
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "simple_history",
    "knox",
    "axes",
    "tracker",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "tracker.api.middleware.OneValueEach",  # ?year=1&year=2 is a 400 under /api/
    "csp.middleware.CSPMiddleware",
    # Last, as django-axes asks: turns a locked-out login into its 429 response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "tracker" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "csp.context_processors.nonce",
            ],
        },
    },
]

WSGI_APPLICATION = "config.wsgi.application"

VAR_DIR.mkdir(parents=True, exist_ok=True)
DATABASES = {
    "default": dj_database_url.parse(
        ENV["DATABASE_URL"] or f"sqlite:///{VAR_DIR / 'db.sqlite3'}",
        conn_max_age=ENV["DB_CONN_MAX_AGE"],
    )
}
SQLITE = DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3"
if SQLITE:
    # Web, worker and beat are separate processes on one file: WAL lets readers run beside
    # the one writer, IMMEDIATE takes the write lock when a transaction starts (no lock
    # upgrade deadlock between two processes), and a writer waits up to 20 s for its turn.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        timeout=20,
        transaction_mode="IMMEDIATE",
        init_command="PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
    )
# Parallel test runs (helpers, CI) can pick their own test database name.
if ENV["TEST_DATABASE_NAME"]:
    DATABASES["default"]["TEST"] = {"NAME": ENV["TEST_DATABASE_NAME"]}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Secret key and the embedded demo -------------------------------------------------
# The embedded demo is SQLite without DJANGO_SECURE; anything else is a production start.
EMBEDDED_DEMO = SQLITE and not SECURE
SECRET_KEY_FILE = VAR_DIR / "secret_key"


def embedded_secret_key(path: Path) -> str:
    """The embedded demo's own random key: generated once into ``path`` (mode 600), then
    read back. Web, worker and beat start together, so the file is written under a temporary
    name and linked into place: whoever links first wins and everyone reads the same key."""
    try:
        key = path.read_text().strip()
    except FileNotFoundError:
        key = ""
    if key:
        return key
    temp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_urlsafe(50))
    try:
        os.link(temp, path)
    except FileExistsError:
        pass
    finally:
        temp.unlink()
    return path.read_text().strip()


SECRET_KEY = ENV["SECRET_KEY"]
if not SECRET_KEY and EMBEDDED_DEMO:
    SECRET_KEY = embedded_secret_key(SECRET_KEY_FILE)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文")]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = ENV["STATIC_ROOT"]
# WhiteNoise serves /static/ from every server (runserver, gunicorn), DEBUG on or off. With
# DEBUG off the files are the compressed, hashed copies `collectstatic` puts in STATIC_ROOT
# (scripts/run.sh and the deploy steps run it); with DEBUG on they come straight from the apps.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG

# The dashboard's login page (Django's LoginView); the admin keeps its own.
LOGIN_URL = "dashboard:login"
LOGIN_REDIRECT_URL = "dashboard:overview"
LOGOUT_REDIRECT_URL = "dashboard:login"

# --- Celery -------------------------------------------------------------------
REDIS_URL = ENV["REDIS_URL"]


# The embedded broker: kombu's SQLAlchemy transport on a SQLite file, tightened in
# config/broker.py (WAL, busy timeout, a message taken and deleted in one transaction,
# dead letters). TRACKER_BROKER_FILE: another file (the test suite gives its own, so a
# worker running from the checkout never receives the tests' messages).
BROKER_FILE = ENV.path("TRACKER_BROKER_FILE", "broker.sqlite3")
if ENV["CELERY_BROKER_URL"]:
    CELERY_BROKER_URL = ENV["CELERY_BROKER_URL"]
elif REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
else:
    BROKER_FILE.parent.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = f"sqlite:///{BROKER_FILE}"  # the sqlite:// scheme: config/celery.py
    CELERY_BROKER_TRANSPORT_OPTIONS = {"polling_interval": ENV["TRACKER_BROKER_POLL_SECONDS"]}
# The worker never gives up on its broker: it reconnects with backoff until it is stopped
# (Celery's default gives up after 100 attempts, about 47 minutes, and exits).
CELERY_BROKER_CONNECTION_RETRY = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
# What the worker cannot decode or run goes to the dead_letters queue (config/broker.py).
CELERY_WORKER_CONSUMER = "config.broker:Consumer"
CELERY_RESULT_BACKEND = ENV["CELERY_RESULT_BACKEND"] or None
CELERY_TASK_IGNORE_RESULT = CELERY_RESULT_BACKEND is None
CELERY_TIMEZONE = TIME_ZONE
CELERY_ENABLE_UTC = False
CELERY_TASK_ALWAYS_EAGER = ENV["CELERY_TASK_ALWAYS_EAGER"]
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# --- REST framework -----------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "tracker.api.schema.AutoSchema",  # every response documented
    "EXCEPTION_HANDLER": "tracker.api.errors.exception_handler",
    "DEFAULT_FILTER_BACKENDS": ["tracker.api.filtering.FilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "tracker.api.pagination.Pagination",
    "PAGE_SIZE": 50,
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "tracker.api.auth.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["tracker.api.permissions.TrackerPermission"],
    # Throttles identify anonymous callers by address: X-Forwarded-For only behind the
    # number of proxies TRACKER_NUM_PROXIES says (0: REMOTE_ADDR, never the header).
    "NUM_PROXIES": None,  # set below from TRACKER_NUM_PROXIES
    "DEFAULT_THROTTLE_CLASSES": [
        "tracker.api.throttling.AnonThrottle",  # DRF's, with a bounded history
        "tracker.api.throttling.UserThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": ENV["API_THROTTLE_ANON"],
        "user": ENV["API_THROTTLE_USER"],
        "login": ENV["API_THROTTLE_LOGIN"],
    },
}
SPECTACULAR_SETTINGS = {
    "TITLE": "民生实事 tracker API",
    "DESCRIPTION": "杭州市政府民生实事项目计划、进度与预警接口",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Schema and docs need a login unless the published read-only mode is on (issue 13).
    "SERVE_PERMISSIONS": ["tracker.api.permissions.DocsPermission"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",  # drf-spectacular's default
        "tracker.api.schema.describe_plain_decimals",  # the API's number format, described
    ],
    "ENUM_NAME_OVERRIDES": {
        "LagStatusEnum": "tracker.choices.LagStatus",
        "IndicatorKindEnum": "tracker.plans.models.Indicator.Kind",
        "AlertStatusEnum": "tracker.monitoring.models.LagAlert.Status",
        "DeliveryStatusEnum": "tracker.notifications.models.Delivery.Status",
        "SupervisionStateEnum": "tracker.supervision.models.State",
    },
}

# --- Tracker domain settings --------------------------------------------------
# Declared, typed and explained in tracker.conf; read in code as ``conf.KEY``.
TRACKER = ENV.tracker

# Uploaded files (佐证材料). Served only through the API's permission-checked download,
# never as public URLs.
MEDIA_ROOT = ENV.path("MEDIA_ROOT", "media")
MEDIA_URL = "/media/"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": ENV["LOG_LEVEL"]},
}

# --- Security: logins, sessions, cache, proxies, CSP (issue 13) ----------------------
#
# Reverse proxies in front of the app that append to X-Forwarded-For. 0 (the default):
# none trusted, the address is REMOTE_ADDR, and a client cannot choose its own address
# for the login lockout or the throttles by sending the header.
TRACKER_NUM_PROXIES = ENV["TRACKER_NUM_PROXIES"]
REST_FRAMEWORK["NUM_PROXIES"] = TRACKER_NUM_PROXIES

# Cache (throttle counters; anything else cached): shared by every process. Redis when
# REDIS_URL (or TRACKER_CACHE_URL) is set; otherwise a file cache under var/cache, which
# every worker process on the machine shares (a per-process memory cache would give
# each gunicorn worker its own throttle).
CACHE_URL = ENV["TRACKER_CACHE_URL"] or REDIS_URL
if CACHE_URL:
    CACHES = {
        "default": {
            # django-redis: one client per server, and a Redis outage never fails a
            # request: the throttles then count nothing (fail open), each miss is logged
            # as a warning and /api/health/ says degraded (tracker.health.checks).
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": CACHE_URL,
            "KEY_PREFIX": "tracker",
            "OPTIONS": {
                "IGNORE_EXCEPTIONS": True,
                "SOCKET_CONNECT_TIMEOUT": 1,
                "SOCKET_TIMEOUT": 1,
            },
        }
    }
    DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS = True
    DJANGO_REDIS_LOGGER = "tracker.cache"
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            # TRACKER_CACHE_DIR: another directory (the tests give theirs, so clearing
            # it never touches a running server's counters)
            "LOCATION": str(ENV.path("TRACKER_CACHE_DIR", "cache")),
        }
    }

# Logins (admin, dashboard /accounts/login/, API token): django-axes counts failures
# in the database (shared by all processes) per username AND address together, so a
# stranger's wrong passwords from elsewhere do not lock the owner out. 5 failures lock
# that pair for 15 minutes; a success resets it. 督查室 sees and lifts locks in the admin
# (登录锁定). Messages in Chinese (tracker.accounts.security.lockout_response).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = ENV["TRACKER_LOGIN_MAX_FAILURES"]
AXES_COOLOFF_TIME = timedelta(minutes=ENV["TRACKER_LOGIN_LOCKOUT_MINUTES"])
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "tracker.accounts.security.client_ip"
AXES_LOCKOUT_CALLABLE = "tracker.accounts.security.lockout_response"
AXES_ENABLE_ADMIN = False  # tracker.admin.security registers a scoped one with 解除锁定
AXES_VERBOSE = False

# API tokens (django-rest-knox): stored hashed, one row each, revocable one by one.
REST_KNOX = {
    "AUTH_HEADER_PREFIX": "Bearer",
    "TOKEN_TTL": timedelta(seconds=TRACKER["API_TOKEN_MAX_AGE"]),
    "AUTO_REFRESH": False,
}

# Sessions: a working day. The cookie lasts 8 hours from login (not renewed on each
# request) and ends when the browser closes.
SESSION_COOKIE_AGE = ENV["TRACKER_SESSION_SECONDS"]
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"

# Content-Security-Policy (django-csp): scripts, styles, images and fonts from our own
# static files only. No inline <script> and no <style> without the per-request nonce
# (templates use {{ CSP_NONCE }}); style="" attributes are allowed (style-src-attr:
# progress bar widths), which cannot run code. data: images are Swagger UI's icons.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, NONCE],
        "style-src-attr": [UNSAFE_INLINE],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

EMAIL_BACKEND = ENV["EMAIL_BACKEND"]
EMAIL_HOST = ENV["EMAIL_HOST"] or "localhost"
EMAIL_PORT = ENV["EMAIL_PORT"]
EMAIL_HOST_USER = ENV["EMAIL_HOST_USER"]
EMAIL_HOST_PASSWORD = ENV["EMAIL_HOST_PASSWORD"]
EMAIL_USE_TLS = ENV["EMAIL_USE_TLS"]
EMAIL_USE_SSL = ENV["EMAIL_USE_SSL"]
DEFAULT_FROM_EMAIL = ENV["DEFAULT_FROM_EMAIL"]
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# Seconds before a mail server that accepts and never answers fails the attempt
# (below the delivery task's soft time limit).
EMAIL_TIMEOUT = ENV["EMAIL_TIMEOUT"]

# --- A production start is checked before anything runs --------------------------------
# Web, worker and beat all import these settings, so each refuses to start on a setting
# that would silently misbehave: a guessable key, mail to nowhere, links to loopback.
if not EMBEDDED_DEMO:
    problems = conf.production_problems(ENV, secret_key=SECRET_KEY, email_backend=EMAIL_BACKEND)
    if problems:
        raise ImproperlyConfigured(
            "生产环境启动被拒绝（非 SQLite 数据库或 DJANGO_SECURE=1），请修正环境变量：\n  - "
            + "\n  - ".join(problems)
            + "\n详见 docs/operations.md「部署」。"
        )
