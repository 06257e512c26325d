#!/usr/bin/env bash
# Runs the demo: web, a real Celery worker and beat, on SQLite and kombu's filesystem
# broker under var/ (nothing else to install). Ctrl-C stops all three.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBUG="${DEBUG:-1}"
PORT="${PORT:-8000}"

# Fail before starting anything when the port is taken, with the reason (not only in a log).
port_problem() {
  .venv/bin/python - "$PORT" <<'PY'
import socket, sys
port = sys.argv[1]
if not port.isdigit() or not 0 < int(port) < 65536:
    print(f"PORT={port!r} is not a port number."); sys.exit(1)
with socket.socket() as s:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("127.0.0.1", int(port)))
    except OSError as exc:
        print(f"Port {port} on 127.0.0.1 is not free: {exc.strerror}."); sys.exit(1)
PY
}
if ! problem="$(port_problem)"; then
  echo "Cannot start the demo. ${problem}" >&2
  echo "Stop what listens there, or pick another port:  make demo PORT=8001" >&2
  exit 1
fi
[ "${1:-}" = "--check-port" ] && exit 0
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

up=0
for _ in $(seq 1 60); do
  if curl -fsS -o /dev/null "http://127.0.0.1:${PORT}/accounts/login/" 2>/dev/null; then up=1; break; fi
  kill -0 "${pids[2]}" 2>/dev/null || break  # the web process stopped: no use waiting
  sleep 0.5
done
if [ "$up" != 1 ]; then
  echo "The demo's web server did not start on port ${PORT}. The end of var/log/web.log:" >&2
  tail -n 15 var/log/web.log >&2
  exit 1
fi
cat <<MSG

  Sales Inbox demo is running:  http://127.0.0.1:${PORT}/
  Log in as alice@demo.test (admin) or bob@demo.test — password: salesinbox-demo
  Logs: var/log/web.log, var/log/worker.log, var/log/beat.log.  Ctrl-C stops everything.

MSG
wait -n "${pids[@]}"
echo "A demo process stopped; see var/log/." >&2
