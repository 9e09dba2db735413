#!/usr/bin/env bash
# Soak test of the run command (scripts/soak.py): web, workers and beat for SOAK_SECONDS
# (default 600) with a heartbeat every second and concurrent API writes; checks that every
# process stayed up, every heartbeat ran and every acknowledged write is stored.
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python scripts/soak.py "$@"
