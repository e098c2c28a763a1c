"""Login throttling (django-axes): who counts as the same person, and what a locked-out person
sees. The rules (limits, cool-off) are in settings; axes keeps the failures in the database."""

from __future__ import annotations

import math

from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def handle_of(request: HttpRequest, credentials: dict | None) -> str:
    """The handle a login attempt is for, as login finds it: any case, with or without "@"."""
    if credentials and credentials.get("username"):
        handle = credentials["username"]
    else:
        handle = request.POST.get("username", "")
    return handle.strip().removeprefix("@").lower()


def locked_out(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials=None
) -> HttpResponse:
    """The login page again (429, with Retry-After), saying when to try again; the handle
    typed is kept."""
    seconds = int(settings.AXES_COOLOFF_TIME.total_seconds())
    minutes = math.ceil(seconds / 60)
    form = AuthenticationForm(request, initial={"username": request.POST.get("username", "")})
    message = (
        "Too many failed logins. For your safety, logging in is paused: try again in "
        f"{minutes} minute{'s' if minutes != 1 else ''}. "
        "An administrator can lift the pause sooner."
    )
    response = render(
        request,
        "registration/login.html",
        {"form": form, "lockout": message, "next": request.POST.get("next", "")},
        status=429,
    )
    response["Retry-After"] = str(seconds)
    return response


def client_ip(request: HttpRequest) -> str:
    """The address the attempt came from. Behind the TLS proxy (BEHIND_TLS_PROXY) that is the
    address the proxy appended to X-Forwarded-For, not the proxy's own; the entries before it
    are whatever the client sent."""
    if getattr(settings, "SECURE_PROXY_SSL_HEADER", None):
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded.strip():
            return forwarded.split(",")[-1].strip()
    return request.META.get("REMOTE_ADDR", "")
