"""The app's URLs plus the floor: the cheapest signed-in page the same server can serve."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.urls import include, path


@login_required
def floor(request: HttpRequest) -> HttpResponse:
    # The same middleware, session and user lookup as every page; no DynamoDB, no template.
    return HttpResponse(f"ok {request.user.handle}\n", content_type="text/plain")


urlpatterns = [
    path("bench/floor/", floor, name="bench-floor"),
    path("", include("cruddur.urls")),
]
