#!/usr/bin/env bash
# `make run`: the emulator (devtools/emulator.py: moto's server for DynamoDB, Streams and
# Cognito), migrations, seed data, Django, and the email worker (notify_emails). Ctrl-C, or a SIGTERM to this script or to its `make`
# (which passes SIGTERM on to this script alone), stops both servers.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=.venv/bin/python
MOTO_PORT=${MOTO_PORT:-5001}
DJANGO_ADDR=${DJANGO_ADDR:-127.0.0.1:8000}

if [ ! -f .env ]; then
  cp .env.example .env
  echo "Created .env from .env.example (local settings)."
fi

export AWS_ENDPOINT_URL="http://127.0.0.1:${MOTO_PORT}"
# The emulator accepts any credentials; these never leave this machine.
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
unset AWS_SESSION_TOKEN AWS_PROFILE

# The emulator's own liveness endpoint: answered at once, whatever the emulator holds.
emulator_answers() {
  curl -fsS --max-time 2 -o /dev/null "${AWS_ENDPOINT_URL}/_emulator/ping" 2>/dev/null
}

if emulator_answers; then
  echo "Reusing the emulator already answering on port ${MOTO_PORT}."
else
  if (exec 3<>"/dev/tcp/127.0.0.1/${MOTO_PORT}") 2>/dev/null; then
    echo "Port ${MOTO_PORT} is taken by something that is not the emulator. Free it or run: MOTO_PORT=5002 make run" >&2
    exit 1
  fi
  echo "Starting the emulator on 127.0.0.1:${MOTO_PORT} (log: .venv/moto.log)..."
  $PY -m devtools.emulator --port "${MOTO_PORT}" >.venv/moto.log 2>&1 &
  moto_pid=$!
  trap 'kill "$moto_pid" 2>/dev/null || true' EXIT
  trap 'exit 130' INT TERM
  up=false
  for _ in $(seq 1 300); do
    emulator_answers && { up=true; break; }
    kill -0 "$moto_pid" 2>/dev/null || { echo "The emulator exited; see .venv/moto.log" >&2; exit 1; }
    sleep 0.1
  done
  $up || { echo "The emulator did not answer within 30 s; see .venv/moto.log" >&2; exit 1; }
fi

$PY manage.py migrate --no-input -v 0
# Only the missing seed users: edits made in the admin, and sessions, survive a restart.
$PY manage.py seed_users
$PY manage.py ddb_schema_load --stream
$PY manage.py ddb_seed
AWS_COGNITO_USER_POOL_ID=$($PY manage.py cognito_local_pool)
export AWS_COGNITO_USER_POOL_ID
$PY manage.py cognito_sync

echo
echo "Cruddur Messages: http://${DJANGO_ADDR}/  (log in as andrewbrown; password in README.md)"
echo "Emulator: ${AWS_ENDPOINT_URL}  user pool: ${AWS_COGNITO_USER_POOL_ID}  (Ctrl-C stops both)"
# Started in the background and waited for, so that a signal reaches this script's traps: bash
# runs no trap until a foreground child ends. A SIGTERM to uvicorn's reloader ends its server
# process first; the EXIT trap then stops the emulator.
server_pid=
worker_pid=
stop_server() {
  for pid in $server_pid $worker_pid; do
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  exit "$1"
}
trap 'stop_server 130' INT
trap 'stop_server 143' TERM
# The worker that sends the emails about unread messages (README "Email when away"); with the
# console email backend of .env.example they print here, NOTIFY_DELAY_SECONDS after a message.
$PY manage.py notify_emails &
worker_pid=$!
# The ASGI server (DESIGN.md): the pages, and the event streams that hold no thread while open.
# WhiteNoise serves the static files; --reload restarts on code changes like runserver did.
$PY -m uvicorn cruddur.asgi:application --host "${DJANGO_ADDR%:*}" --port "${DJANGO_ADDR##*:}" \
  --lifespan off --timeout-graceful-shutdown 2 \
  --reload --reload-dir cruddur --reload-dir messaging --reload-dir users &
server_pid=$!
wait "$server_pid"
stop_server $?  # the server ended on its own: the worker goes too
