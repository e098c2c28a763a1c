"""The messaging pages. Each view parses its input, calls a selector or a service, renders.

Errors are mapped to pages once, in `messaging_errors`: what the caller may not see is a
404, DynamoDB unreachable or throttled is a 503 that keeps the text the person typed.
"""

import logging
import uuid
from collections.abc import Callable
from contextlib import contextmanager
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_safe

from . import gateway, selectors, services
from .forms import MessageForm, RecipientForm

logger = logging.getLogger(__name__)

# Tokens of forms already sent, newest last; a bounded list keeps the session small.
USED_TOKENS_KEY = "messaging_used_tokens"
USED_TOKENS_KEPT = 50


def messaging_errors(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Map the messaging errors to pages, for every messaging view."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except gateway.TableNotFound as error:  # a NotFound, but it means "not set up": 503
            return _unavailable(request, error)
        except (selectors.ConversationNotFound, gateway.NotFound, gateway.InvalidCursor) as error:
            raise Http404("No such conversation.") from error
        except gateway.GatewayError as error:  # Unavailable, Throttled, Conflict
            return _unavailable(request, error)

    return wrapper


def _unavailable(request: HttpRequest, error: Exception) -> HttpResponse:
    logger.error(
        "Messaging unavailable on %s %s: %s: %s",
        request.method,
        request.path,
        type(error).__name__,
        error,
    )
    context = {
        "error": error,
        "text": request.POST.get("text") if request.method == "POST" else None,
        "retry_token": uuid.uuid4(),  # retrying is a new intent: a fresh one-time token
    }
    return render(request, "messaging/unavailable.html", context, status=503)


def messaging_page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Signed in only, never cached, errors mapped to pages."""
    return never_cache(login_required(messaging_errors(view)))


def _see_other(viewname: str, **kwargs) -> HttpResponseRedirect:
    # 303: after a POST the browser follows with a GET, so reloading never resends.
    return HttpResponseRedirect(reverse(viewname, kwargs=kwargs), status=303)


def _token_used(request: HttpRequest, token: uuid.UUID) -> bool:
    return str(token) in request.session.get(USED_TOKENS_KEY, [])


@contextmanager
def _spending(request: HttpRequest, token: uuid.UUID):
    """Mark a form's token used for the duration of a send; release it if the send fails."""
    used = request.session.get(USED_TOKENS_KEY, [])
    request.session[USED_TOKENS_KEY] = [*used, str(token)][-USED_TOKENS_KEPT:]
    # Saved now rather than at the end of the request, so a concurrent double submit is very
    # likely to see it (the session middleware also skips saving on a 5xx response).
    request.session.save()
    try:
        yield
    except BaseException:
        used = request.session.get(USED_TOKENS_KEY, [])
        request.session[USED_TOKENS_KEY] = [value for value in used if value != str(token)]
        request.session.save()
        raise


# --- pages ---


@messaging_page
@require_safe
def inbox(request: HttpRequest) -> HttpResponse:
    return _render_inbox(request, RecipientForm(user=request.user))


@messaging_page
@require_http_methods(["GET", "HEAD", "POST"])
def start(request: HttpRequest) -> HttpResponse:
    """The New message box: find the person by handle, then go to /messages/new/<handle>/."""
    data = request.POST if request.method == "POST" else request.GET
    if "handle" not in data:
        return redirect("messaging:inbox")
    box = RecipientForm(data, user=request.user)
    if box.is_valid():
        return redirect("messaging:new", handle=box.cleaned_data["handle"])
    return _render_inbox(request, box, status=422 if request.method == "POST" else 200)


def _render_inbox(request: HttpRequest, box: RecipientForm, *, status: int = 200) -> HttpResponse:
    cursor = request.GET.get("cursor") or None
    page = selectors.inbox(user=request.user, cursor=cursor)
    context = {
        "inbox": page,
        "box": box,
        "cursor": cursor,
        "unread_conversations": page.unread_conversations,
    }
    return render(request, "messaging/inbox.html", context, status=status)


@messaging_page
@require_http_methods(["GET", "HEAD", "POST"])
def conversation(request: HttpRequest, message_group_uuid: str) -> HttpResponse:
    if request.method != "POST":
        return _render_conversation(request, message_group_uuid, MessageForm())
    form = MessageForm(request.POST)
    if not form.is_valid():
        return _render_conversation(request, message_group_uuid, form, status=422)
    token = form.cleaned_data["token"]
    if not _token_used(request, token):
        with _spending(request, token):
            group = selectors.get_group_for_member(
                user=request.user, message_group_uuid=message_group_uuid
            )
            services.send_message(sender=request.user, group=group, text=form.cleaned_data["text"])
    return _see_other("messaging:conversation", message_group_uuid=message_group_uuid)


def _render_conversation(
    request: HttpRequest, message_group_uuid: str, form: MessageForm, *, status: int = 200
) -> HttpResponse:
    before = request.GET.get("before") or None
    page = selectors.conversation_page(
        user=request.user, message_group_uuid=message_group_uuid, before=before
    )
    # A write, and only when there is something unread: reading the page reads the messages.
    services.mark_read(group=page.conversation.group)
    context = {
        "page": page,
        "inbox": page.inbox,
        "conversation": page.conversation,
        "form": form,
        "before": before,
        "unread_conversations": page.inbox.unread_conversations,
    }
    return render(request, "messaging/conversation.html", context, status=status)


@messaging_page
@require_http_methods(["GET", "HEAD", "POST"])
def new_conversation(request: HttpRequest, handle: str) -> HttpResponse:
    recipient = selectors.find_user(handle=handle)
    if recipient is None:
        return _recipient_error(request, f"No user @{handle}", status=404)
    if recipient.pk == request.user.pk:
        return _recipient_error(request, "You can't message yourself", status=400)

    if request.method != "POST":
        existing = selectors.find_conversation(user=request.user, other=recipient)
        if existing:
            return redirect("messaging:conversation", message_group_uuid=existing)
        return _render_new(request, recipient, MessageForm())

    form = MessageForm(request.POST)
    if not form.is_valid():
        return _render_new(request, recipient, form, status=422)
    token = form.cleaned_data["token"]
    if _token_used(request, token):
        # Already sent: the GET finds the conversation it created and goes there.
        return _see_other("messaging:new", handle=recipient.handle)
    with _spending(request, token):
        group_uuid = services.start_conversation(
            sender=request.user, recipient=recipient, text=form.cleaned_data["text"]
        )
    return _see_other("messaging:conversation", message_group_uuid=group_uuid)


def _render_new(request, recipient, form: MessageForm, *, status: int = 200) -> HttpResponse:
    context = {"recipient": recipient, "form": form}
    return render(request, "messaging/new.html", context, status=status)


def _recipient_error(request: HttpRequest, title: str, *, status: int) -> HttpResponse:
    detail = (
        "Check the handle and try again."
        if status == 404
        else "Pick someone else to write to from your messages."
    )
    context = {"title": title, "detail": detail}
    return render(request, "messaging/recipient_error.html", context, status=status)
