import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.utils import DatabaseError
from django.http import JsonResponse
from django.middleware.csrf import get_token
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from redis.exceptions import RedisError

from cruddur.errors import ServiceError
from messaging.events import get_broker
from messaging.store import get_store

logger = logging.getLogger(__name__)


def home(request):
    return redirect("messaging:inbox" if request.user.is_authenticated else "login")


@never_cache
def csrf_failure(request, reason=""):
    """A form refused by the CSRF check (settings.CSRF_FAILURE_VIEW), nearly always because it
    came from a page opened before a login or logout in another tab, which changed the token.

    Says so, shows the text that was posted so that nothing typed is lost, and links back to
    the page it came from. The answer carries a fresh token cookie, so a retry from a page
    that reads the cookie (static/js/compose.js) goes through.
    """
    get_token(request)
    back = request.headers.get("Referer", "")
    if not url_has_allowed_host_and_scheme(
        back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        back = reverse("messaging:inbox")
    context = {"text": request.POST.get("text"), "back": back}
    return render(request, "403_csrf.html", context, status=403)


def _unavailable(error: Exception) -> str:
    logger.warning("health check failed: %s", error)
    # The reason can name endpoints and tables: only spell it out for developers.
    return f"unavailable: {error}" if settings.DEBUG else f"unavailable: {type(error).__name__}"


def _check_database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as error:
        return _unavailable(error)
    return "ok"


def _check_dynamodb() -> str:
    try:
        get_store().ping()  # a read of one item, as a page makes: the data plane, not DescribeTable
    except ServiceError as error:
        return _unavailable(error)
    return "ok"


def _check_cache() -> str:
    ping = getattr(cache, "ping", None)  # Redis; the embedded default is this process's memory
    if ping is None:
        return "ok"
    try:
        ping()
    except RedisError as error:
        return _unavailable(error)
    return "ok"


def _check_events() -> str:
    try:
        get_broker().check()
    except ServiceError as error:
        return _unavailable(error)
    return "ok"


# Without these no page can be served: the process is not ready (503). Without the others it
# serves pages all the same, slower (no cache) or polling instead of live updates: "degraded".
REQUIRED = {"database": _check_database, "dynamodb": _check_dynamodb}
OPTIONAL = {"cache": _check_cache, "events": _check_events}


@dataclass(frozen=True)
class Readiness:
    status: str  # "ok", "degraded" or "unavailable"
    states: dict[str, str]  # each dependency's: "ok" or "unavailable: <why>"

    @property
    def http_status(self) -> int:
        return 503 if self.status == "unavailable" else 200


def check_readiness() -> Readiness:
    states = {name: check() for name, check in (REQUIRED | OPTIONAL).items()}
    if any(states[name] != "ok" for name in REQUIRED):
        status = "unavailable"
    elif any(states[name] != "ok" for name in OPTIONAL):
        status = "degraded"
    else:
        status = "ok"
    return Readiness(status, states)


class _LastReadiness:
    """This process's last readiness, answered again for `HEALTH_CACHE_SECONDS`.

    Every instance of a load balancer, and every monitor, probes every task: without this each
    probe would reach every dependency. Within the window a probe makes no call; after it, the
    first probe checks again while the others wait for its answer (a lock, not one check per
    waiting thread), so a recovery, like an outage, shows within the window. Failures are kept
    as long as successes: a dependency that times out must not cost a timeout per probe.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._readiness: Readiness | None = None
        self._until = 0.0  # on `clock`

    def get(self) -> Readiness:
        with self._lock:
            if self._readiness is None or self.clock() >= self._until:
                self._readiness = check_readiness()
                self._until = self.clock() + settings.HEALTH_CACHE_SECONDS
            return self._readiness

    def forget(self) -> None:
        with self._lock:
            self._readiness = None


last_readiness = _LastReadiness()


@never_cache
def live(request):
    """`/health/live`: 200 while this process answers requests, what load balancers and the
    image's HEALTHCHECK ask. No I/O at all (no database, cache, session or DynamoDB), so that
    an outage of a dependency, which every task shares, never has them all replaced at once."""
    return JsonResponse({"status": "ok"})


@never_cache
def ready(request):
    """`/health/ready` and `/health/`: 200 while the app can serve pages: "ok", or "degraded"
    when only the cache or the live events are down (pages then go to the database and
    DynamoDB directly, and poll); 503 "unavailable" when the database or DynamoDB is. Each
    dependency's state is in the body; the answer is this process's, at most
    `HEALTH_CACHE_SECONDS` old."""
    readiness = last_readiness.get()
    body = {"status": readiness.status, **readiness.states}
    return JsonResponse(body, status=readiness.http_status)
