import logging

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
        get_store().ping()
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


@never_cache
def health(request):
    """200 while the app can serve pages: "ok", or "degraded" when only the cache is down
    (pages then go to the database and DynamoDB directly); 503 "unavailable" otherwise."""
    checks = {"database": _check_database(), "dynamodb": _check_dynamodb()}
    healthy = all(state == "ok" for state in checks.values())
    cache_state = _check_cache()
    status = "unavailable"
    if healthy:
        status = "ok" if cache_state == "ok" else "degraded"
    body = {"status": status, **checks, "cache": cache_state}
    return JsonResponse(body, status=200 if healthy else 503)
