#!/usr/bin/env bash
# Set up and run the tracker on the embedded default: SQLite under var/, no servers needed.
# Loads the 2024 plan, creates the demo logins (see README) and serves http://127.0.0.1:8000/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
PY=.venv/bin/python
$PY manage.py migrate --noinput -v0
$PY manage.py load_plan fixtures/plan_2024.yaml
$PY manage.py ensure_admin
exec $PY manage.py runserver "${HOST:-127.0.0.1}:${PORT:-8000}"
