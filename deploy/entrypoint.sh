#!/bin/sh
# The image's ENTRYPOINT. One word says what this container runs (deploy/app.yaml):
#   web      the pages: gunicorn with deploy/gunicorn.conf.py (the image's default CMD)
#   events   the live event streams, /messages/events/: uvicorn, an ASGI server (docs/PUSH.md)
#   migrate  the one-off task of a deploy: Postgres's migrations, then the DynamoDB table's
#   anything else is run as given, e.g. `python manage.py ddb_repair_unread --prod`.
# Each server is exec'd, so that it is process 1 and ECS's SIGTERM reaches it.
set -eu

case "${1:-web}" in
web)
  # The workers keep their metrics in files there, which /metrics adds up (prometheus-client's
  # multiprocess mode, cruddur/metrics.py): in memory, and emptied at each start, as the
  # values of processes gone with an earlier start must not be added in.
  export PROMETHEUS_MULTIPROC_DIR="${PROMETHEUS_MULTIPROC_DIR:-/dev/shm/cruddur-metrics}"
  mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
  rm -f "$PROMETHEUS_MULTIPROC_DIR"/*.db
  exec gunicorn --config deploy/gunicorn.conf.py cruddur.wsgi
  ;;
events)
  # One process: a stream waits on the event loop and holds no thread, so one process holds
  # thousands; more streams take more tasks. It is then the process SIGTERM reaches, where
  # the app ends its open streams before uvicorn stops (docs/PUSH.md, "Serving it").
  # Behind the ALB, which reaches the task from addresses of its subnets and nothing else
  # can (its security group): trust its X-Forwarded-* from any address.
  # Keep-alive longer than the ALB's idle timeout (60 s), for the reason given in
  # deploy/gunicorn.conf.py; a graceful stop within ECS's stop timeout (30 s).
  exec uvicorn cruddur.asgi:application --host 0.0.0.0 --port "${PORT:-8000}" --workers 1 \
    --proxy-headers --forwarded-allow-ips '*' \
    --timeout-keep-alive 75 --timeout-graceful-shutdown 25 \
    --lifespan off --no-access-log
  ;;
migrate)
  # The table deploy/messages.yaml created is marked current only by ddb_migrate, which
  # brings an older table up to date too; both commands change nothing when run again.
  python manage.py migrate --no-input
  exec python manage.py ddb_migrate --prod
  ;;
*)
  exec "$@"
  ;;
esac
