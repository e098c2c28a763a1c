"""`/metrics`: every metric (cruddur/metrics.py) in Prometheus' text format, for a scraper
holding `METRICS_TOKEN`.

Off (404, as any path that does not exist) while `METRICS_TOKEN` is unset. With it, a request
without `Authorization: Bearer <METRICS_TOKEN>` is answered 401 with a `WWW-Authenticate:
Bearer` challenge (RFC 6750), the token compared in constant time.

Asked of a task at its own address over plain HTTP by a scraper inside the VPC (Prometheus
cannot set a Host header per target), so it is answered before the Host check and the redirect
to HTTPS, with the health checks (cruddur/middleware.py). From outside, the load balancer's
HTTP listener redirects before anything reaches the app.
"""

from __future__ import annotations

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.crypto import constant_time_compare
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from . import metrics as project_metrics


@never_cache
@require_safe
def metrics(request: HttpRequest) -> HttpResponse:
    token = settings.METRICS_TOKEN
    if not token:
        raise Http404("Metrics are off: METRICS_TOKEN is not set.")
    presented = _bearer_token(request)
    if presented is None or not constant_time_compare(presented, token):
        return _challenge(presented is not None)
    body, content_type = project_metrics.exposition()
    return HttpResponse(body, content_type=content_type)


def _bearer_token(request: HttpRequest) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, or None without one."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _challenge(token_presented: bool) -> HttpResponse:
    challenge = 'Bearer realm="metrics"'
    if token_presented:
        challenge += ', error="invalid_token"'
    response = HttpResponse(
        "The metrics need Authorization: Bearer <METRICS_TOKEN>.\n",
        status=401,
        content_type="text/plain; charset=utf-8",
    )
    response["WWW-Authenticate"] = challenge
    return response
