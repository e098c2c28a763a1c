"""Login throttling (django-axes): which failures add up, who counts as the same person, and
what a paused person sees. Axes keeps the failures in the database and applies
LOGIN_FAILURE_LIMIT and the cool-off (settings); tries while paused are not recorded, so they
neither count nor move the pause's end.

What adds up (lockout_keys), each against LOGIN_FAILURE_LIMIT within the cool-off:
- one handle from one address: guessing one person's password from one place;
- one address across handles, past LOGIN_ADDRESS_FAILURE_LIMIT: one place trying many people;
- one handle from anywhere, past LOGIN_HANDLE_FAILURE_LIMIT: guessing spread over many
  addresses. Never from an address the handle has logged in from (logged_in_from): a
  stranger's failures elsewhere do not stop the owner at home. A new device of the owner's may
  be paused by it; a password reset lifts it (forget_failures).
"""

from __future__ import annotations

import math
import operator
from functools import reduce

from axes.attempts import get_cool_off_threshold
from axes.handlers.proxy import AxesProxyHandler
from axes.models import AccessAttempt, AccessLog
from axes.signals import user_locked_out
from axes.utils import reset
from django.conf import settings
from django.db.models import Max, Sum
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from cruddur import limits, metrics

from .forms import LoginForm

# What axes' records hold of a handle (AccessAttempt.username).
_STORED_HANDLE_LENGTH = AccessAttempt._meta.get_field("username").max_length


def handle_of(request: HttpRequest, credentials: dict | None) -> str:
    """The handle a login attempt is for, as login finds it: any case, with or without "@";
    never longer than axes' records hold (LoginForm refuses such handles before this)."""
    if credentials and credentials.get("username"):
        handle = credentials["username"]
    else:
        handle = request.POST.get("username", "")
    return _as_recorded(handle)


def _as_recorded(handle: str) -> str:
    return handle.strip().removeprefix("@").lower()[:_STORED_HANDLE_LENGTH]


def lockout_keys(request: HttpRequest, credentials: dict | None = None) -> list:
    """AXES_LOCKOUT_PARAMETERS: what axes adds failures up by for this attempt (the module's
    docstring says why). A key joins only once its own ceiling is reached; its count is then
    past LOGIN_FAILURE_LIMIT too, so axes pauses it."""
    AxesProxyHandler.update_request(request)  # axes' address and time for this request
    handle, address = handle_of(request, credentials), request.axes_ip_address
    keys: list = [["username", "ip_address"]]
    if _recent_failures(request, ip_address=address) >= settings.LOGIN_ADDRESS_FAILURE_LIMIT:
        keys.append("ip_address")
    ceiling = _recent_failures(request, username=handle) >= settings.LOGIN_HANDLE_FAILURE_LIMIT
    if ceiling and not logged_in_from(handle, address):
        keys.append("username")
    return keys


def logged_in_from(handle: str, address: str | None) -> bool:
    """Whether `handle` has logged in from `address` before, in axes' log of successful
    logins: the owner's own address. Only a login proves it, which a stranger cannot fake, and
    it holds for every browser behind that address; an owner whose address changes is a new
    device until they log in from it once."""
    if not address:
        return False
    return AccessLog.objects.filter(ip_address=address, username__lower=handle).exists()


def _recent_failures(request: HttpRequest, **key) -> int:
    """The failures axes recorded for `key` (a handle or an address) within the cool-off."""
    attempts = AccessAttempt.objects.filter(
        attempt_time__gte=get_cool_off_threshold(request), **key
    )
    return attempts.aggregate(total=Sum("failures_since_start"))["total"] or 0


def forget_failures(handle: str) -> None:
    """Clear the failed logins recorded for `handle`, from every address: after a completed
    password reset they were guesses at a password that no longer exists, and the owner must
    be able to log in at once, on any device."""
    reset(username=_as_recorded(handle))


def seconds_paused(request: HttpRequest, credentials: dict | None) -> int:
    """How long this attempt's pause has left: until the latest failure it counts is older
    than the cool-off. Tries while paused are not recorded, so this end does not move."""
    cool_off = settings.AXES_COOLOFF_TIME
    counted = AxesProxyHandler.get_implementation().get_user_attempts(request, credentials)
    latest = reduce(operator.or_, counted).aggregate(latest=Max("attempt_time"))["latest"]
    if latest is None:
        return int(cool_off.total_seconds())
    now = getattr(request, "axes_attempt_time", None) or timezone.now()
    return max(1, math.ceil((latest + cool_off - now).total_seconds()))


@receiver(user_locked_out, dispatch_uid="cruddur-count-lockouts")
def count_lockout(sender, **kwargs) -> None:
    """`cruddur_logins_locked_total`: axes sends this for the failure that starts a pause and
    for each try during one (connected when the users app is ready)."""
    metrics.LOGINS_LOCKED.inc()


def locked_out(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials=None
) -> HttpResponse:
    """The login page again (429, with Retry-After), saying when to try again; the handle
    typed is kept."""
    seconds = seconds_paused(request, credentials)
    minutes = math.ceil(seconds / 60)
    form = LoginForm(request, initial={"username": request.POST.get("username", "")})
    message = (
        "Too many failed logins. For your safety, logging in is paused: try again in "
        f"{minutes} minute{'s' if minutes != 1 else ''}. "
        "An administrator can lift the pause sooner."
    )
    response = render(
        request,
        "registration/login.html",
        {"form": form, "lockout": message, "next": request.POST.get("next", "")},
    )
    return limits.too_many(response, seconds)


def client_ip(request: HttpRequest) -> str:
    """The address the attempt came from. Behind the TLS proxy (BEHIND_TLS_PROXY) that is the
    address the proxy appended to X-Forwarded-For, not the proxy's own; the entries before it
    are whatever the client sent."""
    if getattr(settings, "SECURE_PROXY_SSL_HEADER", None):
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded.strip():
            return forwarded.split(",")[-1].strip()
    return request.META.get("REMOTE_ADDR", "")
