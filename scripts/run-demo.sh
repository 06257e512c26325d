#!/usr/bin/env bash
# Runs the demo: web, a real Celery worker and beat, on SQLite and kombu's filesystem
# broker under var/ (nothing else to install). Ctrl-C stops all three.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBUG="${DEBUG:-1}"
PORT="${PORT:-8000}"
mkdir -p var/log
# One worker takes both queues here (config/celery.py); production runs a pool for each.
QUEUES="${CELERY_QUEUE:-salesinbox}.push,${CELERY_QUEUE:-salesinbox}.pull,${CELERY_QUEUE:-salesinbox}"
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

.venv/bin/celery -A config worker --loglevel=INFO --concurrency=1 --pool=solo -Q "${QUEUES}" >var/log/worker.log 2>&1 &
pids+=($!)
.venv/bin/celery -A config beat --loglevel=INFO --schedule=var/celerybeat-schedule >var/log/beat.log 2>&1 &
pids+=($!)
.venv/bin/python manage.py runserver "127.0.0.1:${PORT}" --noreload >var/log/web.log 2>&1 &
pids+=($!)

for _ in $(seq 1 60); do
  curl -fsS -o /dev/null "http://127.0.0.1:${PORT}/accounts/login/" 2>/dev/null && break
  sleep 0.5
done
cat <<MSG

  Sales Inbox demo is running:  http://127.0.0.1:${PORT}/
  Log in as alice@demo.test (admin) or bob@demo.test — password: salesinbox-demo
  Logs: var/log/web.log, var/log/worker.log, var/log/beat.log.  Ctrl-C stops everything.

MSG
wait -n "${pids[@]}"
echo "A demo process stopped; see var/log/." >&2
