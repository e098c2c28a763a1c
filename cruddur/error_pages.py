"""The site's 500 page (cruddur/urls.py's handler500), with the request's id to quote.

Django's own handler renders templates/500.html with no context at all; this one gives it the
request id (cruddur/logs.py) and nothing else: no context processors, which could fail for
the same reason the request did (the database, the cache). The id is the one in the
request's log lines and its X-Request-ID header, so whoever reads the page out finds the
request in the logs (docs/OPERATIONS.md).
"""

from django.http import HttpRequest, HttpResponseServerError
from django.template import loader
from django.views.decorators.csrf import requires_csrf_token

from .logs import current_request_id


@requires_csrf_token
def server_error(request: HttpRequest) -> HttpResponseServerError:
    page = loader.get_template("500.html").render({"request_id": current_request_id()})
    return HttpResponseServerError(page)
