#!/usr/bin/env bash
# Set up and run the whole tracker on the embedded default: SQLite for the data and for the
# broker (var/db.sqlite3, var/broker.sqlite3), no servers needed. The first run loads the 2024 plan, simulates a year
# of progress and creates the demo login; later runs keep everything (what people entered
# included). Then the Procfile's processes (web server, two Celery workers, beat) run under
# scripts/supervise.py: each line prefixed with its name, a process that exits restarted
# with the reason printed, one Ctrl-C stops all. HOST / PORT choose where it listens.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
export PATH="$PWD/.venv/bin:$PATH"
export HOST=${HOST:-127.0.0.1} PORT=${PORT:-8000}
unset DJANGO_SETTINGS_MODULE

python manage.py migrate --noinput -v0
python manage.py collectstatic --noinput -v0  # compressed, hashed files served by WhiteNoise
if python manage.py shell -v0 -c \
  "from tracker.models import PlanYear; raise SystemExit(0 if PlanYear.objects.filter(year=2024).exists() else 1)"; then
  echo "已有数据：保留计划、填报和账号（不重新导入、不重新模拟）。"
else
  python manage.py load_plan fixtures/plan_2024.yaml
  # A living tracker for a newcomer: a simulated 2024 (seeded).
  python manage.py simulate_year 2024 --seed 2024 --quiet
fi
python manage.py ensure_admin

url="http://${HOST}:${PORT}"
password=${TRACKER_ADMIN_PASSWORD:+（密码为 TRACKER_ADMIN_PASSWORD 的值）}
cat <<BANNER

==========================================================================
 民生实事 tracker：web、worker、deliveries、beat 正在启动（按 Ctrl-C 全部停止）
   看板 dashboard   ${url}/
   填报后台 admin   ${url}/admin/
   健康 health      ${url}/api/health/
   登录 log in      ${TRACKER_ADMIN_USER:-admin} / ${password:-minsheng-2024}（演示账号 demo login）
==========================================================================

BANNER
exec python scripts/supervise.py Procfile
