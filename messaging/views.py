"""The messaging pages. Each view parses its input, calls a selector or a service, renders.

Errors are mapped to pages once, in `messaging_errors`: what the caller may not see is a
404, DynamoDB unreachable or throttled is a 503 that keeps the text the person typed.

The live endpoints at the bottom answer static/js/live.js with JSON (errors too, mapped once
in `live_endpoint`). The pages never depend on them: without JavaScript, reloading shows
everything.
"""

import logging
import uuid
from collections.abc import Callable
from contextlib import contextmanager
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
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
    _save_session(request)
    try:
        yield
    except BaseException:
        used = request.session.get(USED_TOKENS_KEY, [])
        request.session[USED_TOKENS_KEY] = [value for value in used if value != str(token)]
        _save_session(request)
        raise


def _save_session(request: HttpRequest) -> None:
    request.session.save()
    # Saved as it is: unless something changes it again, the session middleware need not save
    # it a second time (one SQL UPDATE less per send). The session key stays the same, so the
    # cookie needs no update either, as on any request that only reads the session.
    request.session.modified = False


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
            participants = selectors.get_participants_for_member(
                user=request.user, message_group_uuid=message_group_uuid
            )
            services.send_message(
                sender=request.user,
                group=participants[0],
                text=form.cleaned_data["text"],
                participants=participants,
            )
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
        "live_token": selectors.live_token(user=request.user, group=page.conversation.group),
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


# --- live updates: JSON for static/js/live.js ---

LIVE_MESSAGES_PER_POLL = 50
_MAX_LIVE_STATE = 64
_MAX_UNREAD = 10_000
_RETRY_AFTER_SECONDS = 5


class _BadLiveRequest(ValueError):
    pass


def _json_error(message: str, *, status: int) -> JsonResponse:
    response = JsonResponse({"error": message}, status=status)
    if status == 503:
        response["Retry-After"] = str(_RETRY_AFTER_SECONDS)
    return response


def live_endpoint(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Signed in only, GET/HEAD only, never cached, and every answer JSON (errors too).

    A signed-out poll gets 403 rather than a redirect to the login page, which a script
    would follow and take for an answer.
    """

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.is_authenticated:
            return _json_error("Sign in to see your messages.", status=403)
        try:
            return view(request, *args, **kwargs)
        except (_BadLiveRequest, gateway.InvalidCursor) as error:
            return _json_error(str(error), status=400)
        except gateway.TableNotFound as error:  # a NotFound, but it means "not set up": 503
            return _live_unavailable(request, error)
        except (selectors.ConversationNotFound, gateway.NotFound):
            return _json_error("No such conversation.", status=404)
        except gateway.GatewayError as error:  # Unavailable, Throttled, Conflict
            return _live_unavailable(request, error)

    return never_cache(require_safe(wrapper))


def _live_unavailable(request: HttpRequest, error: Exception) -> JsonResponse:
    # A warning, not an error: during an outage every open tab keeps asking (with backoff).
    logger.warning("Live poll unavailable on %s: %s: %s", request.path, type(error).__name__, error)
    return _json_error("Messaging is unavailable; trying again shortly.", status=503)


def _row_json(row: selectors.InboxRow) -> dict[str, object]:
    return {
        "uuid": row.message_group_uuid,
        "url": row.url,
        "name": row.other.display_name,
        "handle": row.other.handle,
        "initial": row.other.initial,
        "last_message": row.last_message,
        # The same as the templates' <time> elements.
        "when": row.time.label,
        "datetime": row.time.iso,
        "title": row.time.title,
        "unread": row.unread,
        "sort_key": row.sort_key,
    }


def _message_json(message: selectors.MessageRow) -> dict[str, object]:
    return {
        "uuid": message.message_uuid,
        "author": "You" if message.is_mine else message.sender.display_name,
        "mine": message.is_mine,
        "text": message.text,
        "when": message.time.label,
        "datetime": message.time.iso,
        "title": message.time.title,
        "sort_key": message.sort_key,
    }


@live_endpoint
def inbox_poll(request: HttpRequest) -> HttpResponse:
    """Has the first inbox page changed since `since` (the state the page was drawn with)?

    Idle: one Query of two small items (the counter and the newest row). When it changed and
    the page shows the list (`rows=1`), also the first page, so the script can redraw it.
    `reading` is the conversation open in a focused tab, which that tab marks read.
    """
    since = request.GET.get("since", "")
    if len(since) > _MAX_LIVE_STATE:
        raise _BadLiveRequest("That state is not one this server gave out; reload the page.")
    current = selectors.inbox_state(user=request.user)
    body: dict[str, object] = {
        "state": current.state,
        "changed": current.state != since,
        "unread_conversations": current.unread_conversations,
    }
    if body["changed"] and request.GET.get("rows") == "1":
        page = selectors.inbox(user=request.user, reading=request.GET.get("reading") or None)
        older = None
        if page.next_cursor:
            older = f"{reverse('messaging:inbox')}?{urlencode({'cursor': page.next_cursor})}"
        body.update(
            state=page.live_state,
            unread_conversations=page.unread_conversations,
            rows=[_row_json(row) for row in page.rows],
            older_url=older,
            # Shown as read above: the count the tab that reads it must clear.
            reading_unread=page.reading_unread,
        )
    return JsonResponse(body)


@live_endpoint
def conversation_poll(request: HttpRequest, message_group_uuid: str) -> HttpResponse:
    """The messages after sort key `after`, for a conversation open on screen.

    `token` (signed by the conversation page) proves membership without a read, so when
    nothing is new this costs one Query that returns nothing. `unread` is how many of the
    other person's messages the page has shown since the last read; with `read=1` (the tab
    is in front) those and the new ones are marked read: one more write, only then.
    """
    group_uuid = selectors.check_live_token(
        user=request.user,
        message_group_uuid=message_group_uuid,
        token=request.GET.get("token", ""),
    )
    try:
        unread = int(request.GET.get("unread", "0"))
    except ValueError:
        raise _BadLiveRequest("unread must be a whole number.") from None
    if not 0 <= unread <= _MAX_UNREAD:
        raise _BadLiveRequest(f"unread must be between 0 and {_MAX_UNREAD}.")
    after = request.GET.get("after", "")
    messages = selectors.new_messages(
        user=request.user,
        message_group_uuid=group_uuid,
        after=after,
        limit=LIVE_MESSAGES_PER_POLL,
    )
    for message in messages:
        unread = 0 if message.is_mine else unread + 1  # sending means reading
    newest = messages[-1].sort_key if messages else after
    marked = False
    if request.GET.get("read") == "1" and unread:
        services.mark_read_up_to(
            user=request.user, message_group_uuid=group_uuid, sort_key=newest, unread=unread
        )
        unread, marked = 0, True
    return JsonResponse(
        {
            "messages": [_message_json(message) for message in messages],
            "after": newest,
            "unread": unread,
            "read": marked,
            "more": len(messages) == LIVE_MESSAGES_PER_POLL,
        }
    )
