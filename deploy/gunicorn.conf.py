"""gunicorn's settings for the pages in the image (`deploy/entrypoint.sh web`), behind the ALB.

The numbers that must agree with the platform (deploy/app.yaml: the ALB's idle timeout, the
ECS task's stop timeout) are each written once, here; tests/deploy reads them from this file.
`make bench` serves the pages with this file too, so its figures are those of the deployment.
"""

import os

from prometheus_client import multiprocess

# The port of both containers (the ALB's target groups, the image's HEALTHCHECK). PORT moves
# it, only to run the image's commands beside other servers on one machine (tests/deploy).
bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"

# Threads, not the default sync worker: a sync worker closes each connection after its
# response, so `keepalive` below would mean nothing, and a page spends much of its time
# waiting on DynamoDB and Postgres, which another thread of the process can use.
worker_class = "gthread"
threads = 4
# One process per CPU the task may use (the GIL lets a process keep one CPU busy); set
# WEB_CONCURRENCY to choose (gunicorn's own variable for it).
workers = int(os.environ.get("WEB_CONCURRENCY", len(os.sched_getaffinity(0))))

# Longer than the ALB's idle timeout (60 s): the ALB closes an idle connection first, so it
# never sends a request on a connection the server is closing at that moment (a 502).
keepalive = 75
# On SIGTERM (a deploy, a scale-in) workers finish the requests in flight for at most this
# long: within ECS's stop timeout (30 s), after which the task is killed.
graceful_timeout = 25
# A worker silent this long is stuck, not busy: AWS calls give up within seconds (cruddur/aws.py)
# and Postgres's pool after 10 s. gunicorn kills it and starts another.
timeout = 30
# The workers' heartbeat files in memory: a container's /tmp is on its overlay disk, whose
# stalls would look like stuck workers. (gunicorn makes them with mkstemp: no name to guess.)
worker_tmp_dir = "/dev/shm"  # noqa: S108

# The ALB reaches the tasks only through their security group, from addresses that vary:
# trust its X-Forwarded-* headers from any of them (Django trusts X-Forwarded-Proto itself:
# BEHIND_TLS_PROXY).
forwarded_allow_ips = "*"
# No control socket (gunicorn's default puts one in $HOME, which the image's user has not):
# ECS starts and stops the server, no one runs gunicornc inside a task.
control_socket_disable = True
# No access log: the ALB's access logs have every request, and the app logs one JSON line for
# each request (cruddur.requests, with its id). Errors go to stderr, as by default.
accesslog = None


def child_exit(server, worker):
    """A worker is gone (stopped, replaced, or killed as stuck): its gauges (open streams, the
    cache's state) leave the sums /metrics shows; its counters stay counted. The workers keep
    their metrics in PROMETHEUS_MULTIPROC_DIR, which deploy/entrypoint.sh sets for `web`
    (prometheus-client's multiprocess mode, cruddur/metrics.py)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(worker.pid)
