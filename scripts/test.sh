#!/usr/bin/env bash
# The whole test suite: lint and the import contracts, then pytest on SQLite, then again on the
# real PostgreSQL and Redis when they are reachable (CI=true makes them required and starts
# them if they are stopped). pytest runs in TEST_PROCESSES processes (pytest-xdist, default 2).
# Prints how long it took, passed or not.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
trap 'echo "== test command: $(( $(date +%s) - started )) s =="' EXIT
scripts/bootstrap.sh
PY=.venv/bin/python
export PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432/test}
export REDIS_TEST_URL=${REDIS_TEST_URL:-redis://127.0.0.1:6379/15}

start_services() {
  if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null && command -v pg_ctlcluster >/dev/null; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
  fi
  if ! (redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1) && command -v redis-server >/dev/null; then
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no || true
  fi
}
install_chromium() {
  # The dashboard's end-to-end test drives Debian's Chromium (no browser download).
  # A CJK font so the notice PDF and screenshots show Chinese, not boxes, and the
  # notice's 公文 faces (docs/architecture.md: 仿宋 cwTeX, 宋/楷 AR PL, fallback
  # WenQuanYi); Pango for WeasyPrint (the notice PDF) and poppler-utils (its test).
  if ! { command -v chromium && command -v chromedriver && command -v pdftoppm \
         && fc-list | grep -q cwTeXFangSong && fc-list :lang=zh | grep -q .; } >/dev/null 2>&1 \
    && command -v apt-get >/dev/null; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -qq chromium chromium-driver fonts-wqy-zenhei \
        fonts-cwtex-fs fonts-arphic-gbsn00lp fonts-arphic-gkai00mp libpango-1.0-0 libpangoft2-1.0-0 poppler-utils) \
      >/dev/null 2>&1 || echo "(could not install chromium: the browser test will be skipped)"
  fi
}
if [ "${CI:-}" = "true" ]; then start_services; install_chromium; fi

.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/lint-imports --no-cache  # the layers and no cycles (pyproject.toml)
$PY manage.py makemigrations --check --dry-run -v0 || { echo "models and migrations disagree"; exit 1; }
PYTEST=($PY -m pytest -q -p no:cacheprovider -n "${TEST_PROCESSES:-2}" --dist worksteal)

echo "== pytest on SQLite (embedded default) =="
env -u DATABASE_URL "${PYTEST[@]}" "$@"

if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  echo "== pytest on PostgreSQL ($PG_URL) =="
  # A PostgreSQL start is a production start: it refuses to run without a strong SECRET_KEY
  # and a TRACKER_SITE_URL that is not loopback (config/settings.py, the last section).
  DATABASE_URL=$PG_URL SECRET_KEY=${SECRET_KEY:-$($PY -c 'import secrets; print(secrets.token_urlsafe(50))')} \
    TRACKER_SITE_URL=${TRACKER_SITE_URL:-https://tracker.test} \
    "${PYTEST[@]}" "$@"
elif [ "${CI:-}" = "true" ]; then
  echo "PostgreSQL is required in CI but is not reachable at 127.0.0.1:5432" >&2
  exit 1
else
  echo "(PostgreSQL not reachable: skipped the PostgreSQL run)"
fi
