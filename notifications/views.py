from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from users import services as user_services

from .emails import user_for_unsubscribe


@csrf_exempt  # RFC 8058: the mail program POSTs with no cookies and no token; the link is signed
@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """GET: a page with a button, changing nothing (mail scanners follow links). POST (the
    button, or the mail program's one-click `List-Unsubscribe=One-Click`): emails about unread
    messages off for the person the signed token names; 200. A token that does not verify: 404."""
    person = user_for_unsubscribe(token)
    if person is None:
        raise Http404("This link is not valid.")
    done = request.method == "POST"
    if done:
        user_services.set_email_unread(user=person, enabled=False)
    return render(request, "notifications/unsubscribe.html", {"person": person, "done": done})
