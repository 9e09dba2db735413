#!/usr/bin/env bash
# Set up and run the tracker on the embedded default: SQLite under var/, no servers needed.
# Loads the 2024 plan, simulates a year of progress, creates the admin login (see README) and
# serves the dashboard at http://127.0.0.1:8000/ and the admin at /admin/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
PY=.venv/bin/python
$PY manage.py migrate --noinput -v0
$PY manage.py load_plan fixtures/plan_2024.yaml
$PY manage.py ensure_admin
# A living tracker for a newcomer: a simulated 2024 (seeded, replaces only simulated data).
$PY manage.py simulate_year 2024 --seed 2024 || echo "(simulate_year skipped: the year holds real progress)"
exec $PY manage.py runserver "${HOST:-127.0.0.1}:${PORT:-8000}"
