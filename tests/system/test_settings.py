"""Settings: the embedded demo's own secret key, production starts that refuse without one,
the demo login only in the demo, SQLite ready for web + worker + beat at once.

Settings are read once per process, so each case starts ``manage.py`` in a subprocess with
its own environment and its own ``var/`` (``TRACKER_VAR_DIR``).
"""

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

ROOT = Path(__file__).resolve().parents[2]
# Variables that would make a subprocess something other than the case under test.
CLEARED = {"DATABASE_URL", "SECRET_KEY", "DJANGO_SECURE", "DEBUG", "TRACKER_VAR_DIR",
           "REDIS_URL", "CELERY_BROKER_URL", "DJANGO_SETTINGS_MODULE", "TRACKER_SITE_URL",
           "EMAIL_BACKEND", "EMAIL_HOST", "EMAIL_PORT", "EMAIL_HOST_USER",
           "EMAIL_HOST_PASSWORD", "EMAIL_USE_TLS", "EMAIL_USE_SSL"}  # fmt: skip
STRONG_KEY = "k" * 40 + "-Zq8!x" * 4
#: What a production start needs besides its key (docs/operations.md, 部署).
PRODUCTION = {"DJANGO_SECURE": "1", "TRACKER_SITE_URL": "https://minsheng.example.gov.cn"}


def manage(*args, **env):
    base = {k: v for k, v in os.environ.items() if k not in CLEARED}
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, capture_output=True, text=True,
        env={**base, **env}, timeout=120,
    )  # fmt: skip


def setting(name, **env) -> str:
    code = f"from django.conf import settings; print(settings.{name})"
    result = manage("shell", "-v0", "-c", code, **env)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_embedded_default_generates_its_own_key_once(tmp_path):
    """No key written in the code: each fresh var/ gets a new random key, kept for the
    next start (web, worker and beat must agree on it), readable by its owner only."""
    first, second = tmp_path / "a", tmp_path / "b"
    key = setting("SECRET_KEY", TRACKER_VAR_DIR=str(first))
    assert len(key) >= 50
    assert (first / "secret_key").read_text().strip() == key
    assert stat.S_IMODE((first / "secret_key").stat().st_mode) == 0o600
    assert setting("SECRET_KEY", TRACKER_VAR_DIR=str(first)) == key
    assert setting("SECRET_KEY", TRACKER_VAR_DIR=str(second)) != key
    assert setting("DEBUG", TRACKER_VAR_DIR=str(first)) == "False"


def test_no_hard_coded_secret_in_use_with_debug_off():
    from django.conf import settings as live

    assert not live.DEBUG
    source = "\n".join(p.read_text() for p in (ROOT / "config").glob("*.py"))
    assert live.SECRET_KEY not in source
    assert "insecure" not in live.SECRET_KEY


@pytest.mark.parametrize(
    "env",
    [{"DATABASE_URL": "postgres://tracker@127.0.0.1:5432/tracker"},
     {"DJANGO_SECURE": "1"},
     {"DATABASE_URL": "postgres://tracker@127.0.0.1:5432/tracker", "DEBUG": "1"}],
    ids=["postgresql", "django-secure", "postgresql-debug"],
)  # fmt: skip
def test_production_start_without_secret_key_is_refused(tmp_path, env):
    result = manage("check", TRACKER_VAR_DIR=str(tmp_path), **env)
    assert result.returncode != 0
    assert "生产环境启动被拒绝" in result.stderr and "必须设置 SECRET_KEY" in result.stderr
    assert not (tmp_path / "secret_key").exists()  # no key invented for production


def test_production_start_with_secret_key_runs(tmp_path):
    result = manage("check", TRACKER_VAR_DIR=str(tmp_path), SECRET_KEY=STRONG_KEY, **PRODUCTION)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("key", "says"),
    [("x", "文档中的占位符"), ("...", "文档中的占位符"),
     ("django-insecure-" + "a1b2c3d4e5" * 6, "文档中的占位符"),
     ("a-49-character-key-that-is-just-too-short-0123456", "SECRET_KEY 太弱"),
     ("z" * 64, "SECRET_KEY 太弱")],
    ids=["x", "readme-placeholder", "django-insecure", "49-chars", "one-character"],
)  # fmt: skip
def test_production_start_refuses_a_weak_or_placeholder_key(tmp_path, key, says):
    result = manage("check", TRACKER_VAR_DIR=str(tmp_path), SECRET_KEY=key, **PRODUCTION)
    assert result.returncode != 0
    assert "生产环境启动被拒绝" in result.stderr and says in result.stderr


def test_production_start_refuses_mail_links_to_loopback_and_smtp_without_a_host(tmp_path):
    smtp = "django.core.mail.backends.smtp.EmailBackend"
    result = manage("check", TRACKER_VAR_DIR=str(tmp_path), SECRET_KEY=STRONG_KEY,
                    DJANGO_SECURE="1", EMAIL_BACKEND=smtp)  # fmt: skip
    assert result.returncode != 0
    assert "TRACKER_SITE_URL 为「http://127.0.0.1:8000」" in result.stderr
    assert "必须设置 EMAIL_HOST" in result.stderr


def test_mail_settings_reach_django_from_the_environment(tmp_path):
    env = {"TRACKER_VAR_DIR": str(tmp_path), "SECRET_KEY": STRONG_KEY, **PRODUCTION,
           "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
           "EMAIL_HOST": "smtp.hangzhou.gov.cn", "EMAIL_PORT": "465",
           "EMAIL_HOST_USER": "minsheng", "EMAIL_HOST_PASSWORD": "pa55-word",
           "EMAIL_USE_SSL": "1", "DEFAULT_FROM_EMAIL": "民生实事 <minsheng@hangzhou.gov.cn>",
           "EMAIL_TIMEOUT": "7.5"}  # fmt: skip
    code = (
        "from django.conf import settings as s; from django.core.mail import get_connection; "
        "c = get_connection(); print(type(c).__module__, c.host, c.port, c.username, "
        "c.password, c.use_tls, c.use_ssl, c.timeout, s.DEFAULT_FROM_EMAIL, "
        "s.TRACKER['SITE_URL'], sep='|')"
    )
    result = manage("shell", "-v0", "-c", code, **env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().split("|") == [
        "django.core.mail.backends.smtp", "smtp.hangzhou.gov.cn", "465", "minsheng",
        "pa55-word", "False", "True", "7.5", "民生实事 <minsheng@hangzhou.gov.cn>",
        "https://minsheng.example.gov.cn",
    ]  # fmt: skip


def test_production_never_creates_the_demo_login(tmp_path):
    result = manage("ensure_admin", TRACKER_VAR_DIR=str(tmp_path), SECRET_KEY=STRONG_KEY,
                    **PRODUCTION)  # fmt: skip
    assert result.returncode != 0
    assert "生产环境" in result.stderr and "不创建演示账号" in result.stderr


def test_demo_login_is_refused_outside_the_embedded_demo(db, settings):
    settings.EMBEDDED_DEMO = False
    with pytest.raises(CommandError, match="不创建演示账号"):
        call_command("ensure_admin")
    assert not get_user_model().objects.exists()
    settings.EMBEDDED_DEMO = True
    call_command("ensure_admin")
    assert get_user_model().objects.get().check_password("minsheng-2024")


def test_sqlite_is_ready_for_several_processes(tmp_path):
    """Web, worker and beat share the file: WAL journal, a busy timeout, IMMEDIATE writes."""
    code = ("from django.db import connection as c; cur = c.cursor();"
            "cur.execute('PRAGMA journal_mode'); print(cur.fetchone()[0]);"
            "print(c.settings_dict['OPTIONS']['transaction_mode'],"
            " c.settings_dict['OPTIONS']['timeout'])")  # fmt: skip
    result = manage("shell", "-v0", "-c", code, TRACKER_VAR_DIR=str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["wal", "IMMEDIATE", "20"]


def test_static_files_are_compressed_and_hashed_with_debug_off(tmp_path):
    backend = setting("STORAGES['staticfiles']['BACKEND']", TRACKER_VAR_DIR=str(tmp_path))
    assert backend == "whitenoise.storage.CompressedManifestStaticFilesStorage"
    assert "whitenoise.middleware.WhiteNoiseMiddleware" in setting(
        "MIDDLEWARE", TRACKER_VAR_DIR=str(tmp_path)
    )


@pytest.mark.parametrize(
    "path",
    ["/static/tracker/dashboard.css", "/static/tracker/vendor/echarts-5.6.0.min.js",
     "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js"],
)  # fmt: skip
def test_static_files_are_served_by_the_app_itself(client, path):
    """WhiteNoise answers /static/ inside the WSGI app, whatever server runs it (runserver
    with DEBUG off serves none by itself); the ECharts and Swagger UI assets are vendored."""
    response = client.get(path)
    assert response.status_code == 200
    assert b"".join(response.streaming_content)[:1]
