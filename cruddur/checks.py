"""System checks on the deployment's settings, run by `manage.py check --deploy`.

Each guards a mistake that works on one machine and fails quietly behind a load balancer, so
only the deploy checks (DEBUG off) report them; `make run` never sees them.
"""

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register


@register(Tags.caches, deploy=True)
def check_shared_cache(app_configs, **kwargs):
    """Without Redis, the cache is each process's own memory: an event published by one
    process never reaches a stream open on another, and every limit (messages sent, sign-ups,
    reset emails) is counted per process, so N processes allow N times as much."""
    if settings.DEBUG or settings.REDIS_URL or settings.SINGLE_PROCESS:
        return []
    return [
        Error(
            "REDIS_URL is not set: the cache, the live events and the sending, sign-up and "
            "password reset limits would each work inside one process only.",
            hint="Set REDIS_URL (e.g. rediss://HOST:6379/0 for ElastiCache). A deployment "
            "that runs exactly one process may set SINGLE_PROCESS=true instead.",
            id="cruddur.E001",
        )
    ]


@register(Tags.security, deploy=True)
def check_client_address(app_configs, **kwargs):
    """The limits count per client address (users/lockout.py client_ip), which is the
    address in X-Forwarded-For only when the load balancer is trusted (BEHIND_TLS_PROXY)."""
    if settings.DEBUG or settings.SECURE_PROXY_SSL_HEADER:
        return []
    return [
        Warning(
            "BEHIND_TLS_PROXY is off: each request's client address is the address that "
            "connected to this server.",
            hint="Behind a load balancer or proxy that is the proxy's own address, so every "
            "person would share one address for the login, sign-up and password reset limits "
            "(one person's mistakes would pause everyone): set BEHIND_TLS_PROXY=true there. "
            "Ignore this only if browsers connect to this server directly.",
            id="cruddur.W001",
        )
    ]
