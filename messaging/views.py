"""The messaging pages. Each view parses its input, calls a selector or a service, renders.

Errors become pages in one place (`error_pages.messaging_errors`). A message form carries a
one-time token that the store claims with the message, so a form that arrives twice, at once
or retried, sends once and both arrivals get the same redirect. The live poll is in
`live_views.py`; the pages never depend on it: without JavaScript, reloading shows
everything, and "Earlier messages" is a link to the older page (loaded in place by htmx).

A form sent by static/js/compose.js (`X-Requested-With: fetch`) gets a 201 instead of the
redirect when the message is stored; when it is not, it gets the page the form would get
without JavaScript (the error, its status, `Retry-After`), which the script reads the error from.
"""

import uuid
from collections.abc import Callable

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from cruddur.uuids import parse_uuid
from users import selectors as user_selectors
from users import services as user_services
from users.models import User

from . import selectors, services, view_models
from .domain import format_sort_key
from .error_pages import messaging_errors
from .errors import InvalidCursor
from .forms import (
    AddPeopleForm,
    EditForm,
    GroupForm,
    MessageChangeForm,
    MessageForm,
    RecipientForm,
    RenameForm,
    people_named,
)


def messaging_page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Signed in only, never cached, errors mapped to pages."""
    return never_cache(login_required(messaging_errors(view)))


def _see_other(viewname: str, **kwargs) -> HttpResponseRedirect:
    # 303: after a POST the browser follows with a GET, so reloading never resends.
    return HttpResponseRedirect(reverse(viewname, kwargs=kwargs), status=303)


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
        recipients = box.cleaned_data["recipients"]
        if len(recipients) == 1:
            return redirect("messaging:new", handle=recipients[0].handle)
        query = urlencode({"to": [person.handle for person in recipients]}, doseq=True)
        return HttpResponseRedirect(f"{reverse('messaging:new_group')}?{query}")
    return _render_inbox(request, box, status=422 if request.method == "POST" else 200)


def _render_inbox(request: HttpRequest, box: RecipientForm, *, status: int = 200) -> HttpResponse:
    cursor = request.GET.get("cursor") or None
    try:
        page = view_models.inbox(user=request.user, cursor=cursor)
    except InvalidCursor:  # a damaged or old link to a later page: the first page instead
        cursor = None
        page = view_models.inbox(user=request.user)
    context = {
        "inbox": page,
        "box": box,
        "cursor": cursor,
        "unread_conversations": page.unread_conversations,
    }
    return render(request, "messaging/inbox.html", context, status=status)


@messaging_page
@require_http_methods(["GET", "HEAD", "POST"])
def conversation(request: HttpRequest, conversation_uuid: uuid.UUID) -> HttpResponse:
    conversation_uuid = str(conversation_uuid)  # the spelling the store keeps
    if request.method != "POST":
        return _render_conversation(request, conversation_uuid, MessageForm())
    form = MessageForm(request.POST)
    if not form.is_valid():
        return _render_conversation(request, conversation_uuid, form, status=422)
    try:
        message = services.send_message(
            sender=request.user,
            conversation_uuid=conversation_uuid,
            text=form.cleaned_data["text"],
            idempotency_key=str(form.cleaned_data["token"]),
        )
    except services.SendRefused as refusal:
        return _refused(refusal, form, _render_conversation, request, conversation_uuid)
    if _sent_by_script(request):
        # The message as the page prints it (the same message again when the token had been
        # claimed): the script's bubble goes once the live poll shows this uuid in the thread,
        # drawn there joined to the message above it. And the next form's token.
        row = view_models.message_row(user=request.user, message=message)
        response = render(request, "messaging/_messages.html", {"messages": (row,)}, status=201)
        response["X-Next-Token"] = str(uuid.uuid4())
        return response
    return _see_other("messaging:conversation", conversation_uuid=conversation_uuid)


def _started(request: HttpRequest, conversation_uuid: str) -> HttpResponse:
    """After a first message: the conversation. Sent by the script, a 201: it goes to the
    conversation itself, once it has let go of the draft."""
    if _sent_by_script(request):
        response = HttpResponse(status=201)
        response["Location"] = reverse("messaging:conversation", args=[conversation_uuid])
        return response
    return _see_other("messaging:conversation", conversation_uuid=conversation_uuid)


def _sent_by_script(request: HttpRequest) -> bool:
    """The form was sent by static/js/compose.js, which stays on the page."""
    return request.headers.get("X-Requested-With") == "fetch"


def _refused(refusal: services.SendRefused, form: MessageForm, render_page, *args) -> HttpResponse:
    """The page again with the form as sent (text and token kept) and why it was not sent."""
    form.add_error(None, str(refusal))
    response = render_page(*args, form, status=refusal.status)
    if refusal.retry_after is not None:
        response["Retry-After"] = str(refusal.retry_after)
    return response


def _render_conversation(
    request: HttpRequest,
    conversation_uuid: str,
    form: MessageForm,
    *,
    status: int = 200,
    add_box: AddPeopleForm | None = None,
    rename_form: RenameForm | None = None,
) -> HttpResponse:
    before = request.GET.get("before") or None
    if before and request.method == "GET" and request.htmx:
        return _render_earlier(request, conversation_uuid, before)
    # Before the reads: the live poll asks for the edits and unsends from here on.
    changes_since = format_sort_key(timezone.now())
    page = services.read_conversation(
        user=request.user,
        conversation_uuid=conversation_uuid,
        before=before,
        marks_read=request.method == "GET",  # not HEAD, nor a form sent back
    )
    context = {
        "page": page,
        "inbox": page.inbox,
        "conversation": page.conversation,
        "form": form,
        "before": before,
        "unread_conversations": page.inbox.unread_conversations,
        "changes_since": changes_since,
        "add_box": add_box or AddPeopleForm(user=request.user),
        "rename_form": rename_form
        or RenameForm(initial={"name": page.conversation.entry.group.name})
        if page.conversation.entry.group
        else None,
    }
    return render(request, "messaging/conversation.html", context, status=status)


def _render_earlier(request: HttpRequest, conversation_uuid: str, before: str) -> HttpResponse:
    """ "Earlier messages" clicked on a page (htmx): the older page alone, to go above the
    messages shown, and the first of those drawn again as it joins that page."""
    earlier = view_models.earlier_messages(
        user=request.user, conversation_uuid=conversation_uuid, before=before
    )
    return render(request, "messaging/earlier_messages.html", {"earlier": earlier})


@messaging_page
@require_http_methods(["GET", "HEAD", "POST"])
def new_conversation(request: HttpRequest, handle: str) -> HttpResponse:
    recipient = user_selectors.find_user(handle=handle)
    if recipient is None:
        moved = user_selectors.renamed_to(handle=handle)
        if moved is not None:
            context = {"old_handle": handle, "person": moved}
            return render(request, "messaging/moved.html", context, status=404)
        return _recipient_error(request, f"No user @{handle}", status=404)
    try:
        services.check_recipient(sender=request.user, recipient=recipient)
    except ValidationError as error:
        return _recipient_error(request, error.messages[0], status=400)

    if request.method != "POST":
        existing = selectors.find_conversation(user=request.user, other=recipient)
        if existing:
            return redirect("messaging:conversation", conversation_uuid=existing)
        return _render_new(request, recipient, MessageForm())

    form = MessageForm(request.POST)
    if not form.is_valid():
        return _render_new(request, recipient, form, status=422)
    try:
        conversation_uuid = services.start_conversation(
            sender=request.user,
            recipient=recipient,
            text=form.cleaned_data["text"],
            idempotency_key=str(form.cleaned_data["token"]),
        )
    except services.SendRefused as refusal:
        return _refused(refusal, form, _render_new, request, recipient)
    return _started(request, conversation_uuid)


@messaging_page
@require_http_methods(["GET", "HEAD", "POST"])
def new_group(request: HttpRequest) -> HttpResponse:
    """A new group with the people in `to` (their handles; the inbox's To box sends here):
    the page names them all, takes an optional name, and its first message starts the group.
    A new group every time: the same people again make another one."""
    typed = " ".join((request.POST if request.method == "POST" else request.GET).getlist("to"))
    try:
        recipients = people_named(typed, sender=request.user)
    except ValidationError as error:
        return _recipient_error(request, error.messages[0], status=404)
    if len(recipients) < 2:
        if recipients:  # one person: their conversation, which is never a group
            return redirect("messaging:new", handle=recipients[0].handle)
        return redirect("messaging:inbox")
    refused = services.group_cap_refusal(len(recipients) + 1)
    if refused:
        return _recipient_error(request, refused, status=400)
    if request.method != "POST":
        return _render_new_group(request, recipients, GroupForm())
    form = GroupForm(request.POST)
    if not form.is_valid():
        return _render_new_group(request, recipients, form, status=422)
    try:
        conversation_uuid = services.start_group(
            sender=request.user,
            recipients=recipients,
            name=form.cleaned_data["name"],
            text=form.cleaned_data["text"],
            idempotency_key=str(form.cleaned_data["token"]),
        )
    except (services.SendRefused, services.GroupRefused) as refusal:
        return _refused(refusal, form, _render_new_group, request, recipients)
    return _started(request, conversation_uuid)


def _render_new_group(request, recipients, form: GroupForm, *, status: int = 200) -> HttpResponse:
    context = {
        "people": [view_models.person(viewer=request.user, user=person) for person in recipients],
        "handles": [person.handle for person in recipients],
        "form": form,
    }
    return render(request, "messaging/new_group.html", context, status=status)


@messaging_page
@require_POST
def add_people(request: HttpRequest, conversation_uuid: uuid.UUID) -> HttpResponse:
    """Add people to a group I am in (a handle box on its page); back to the group, where a
    line says who added whom. A handle that does not work, or a person who cannot be added
    (blocked, gone, the group full), comes back on the page with the box as typed."""
    conversation_uuid = str(conversation_uuid)
    box = AddPeopleForm(request.POST, user=request.user)
    if box.is_valid():
        try:
            services.add_to_group(
                user=request.user,
                conversation_uuid=conversation_uuid,
                people=box.cleaned_data["people"],
            )
        except (services.SendRefused, services.GroupRefused) as refusal:
            box.add_error("handles", str(refusal))
            return _render_conversation(
                request, conversation_uuid, MessageForm(), status=refusal.status, add_box=box
            )
        return _see_other("messaging:conversation", conversation_uuid=conversation_uuid)
    return _render_conversation(request, conversation_uuid, MessageForm(), status=422, add_box=box)


@messaging_page
@require_POST
def leave(request: HttpRequest, conversation_uuid: uuid.UUID) -> HttpResponse:
    """Leave a group I am in; back to the inbox, where it is no longer listed. The same form
    again (a double click) also ends at the inbox."""
    if services.leave_group(user=request.user, conversation_uuid=str(conversation_uuid)):
        messages.success(request, "You left the group. Its messages no longer reach you.")
    return _see_other("messaging:inbox")


@messaging_page
@require_POST
def rename(request: HttpRequest, conversation_uuid: uuid.UUID) -> HttpResponse:
    """Name a group I am in (empty: no name); back to the group, where a line says so."""
    conversation_uuid = str(conversation_uuid)
    form = RenameForm(request.POST)
    if not form.is_valid():
        return _render_conversation(
            request, conversation_uuid, MessageForm(), status=422, rename_form=form
        )
    services.rename_group(
        user=request.user, conversation_uuid=conversation_uuid, name=form.cleaned_data["name"]
    )
    return _see_other("messaging:conversation", conversation_uuid=conversation_uuid)


@messaging_page
@require_POST
def hide(request: HttpRequest, conversation_uuid: uuid.UUID) -> HttpResponse:
    """Hide the conversation from my inbox until its next message; back to the inbox."""
    services.hide_conversation(user=request.user, conversation_uuid=str(conversation_uuid))
    messages.success(
        request, "Conversation hidden. It comes back to your inbox with its next message."
    )
    return _see_other("messaging:inbox")


@messaging_page
@require_POST
def unsend(
    request: HttpRequest, conversation_uuid: uuid.UUID, message_uuid: uuid.UUID
) -> HttpResponse:
    """Unsend my message: "Message unsent" in its place for everyone. Someone else's (a
    forged form) is a 404, like a message that does not exist."""
    form = MessageChangeForm(request.POST)
    form.is_valid()  # the sort key is only a hint: the store checks the message itself
    message = services.unsend_message(
        user=request.user,
        conversation_uuid=str(conversation_uuid),
        message_uuid=str(message_uuid),
        sort_key=form.cleaned_data.get("sort_key"),
    )
    return _changed(request, message)


@messaging_page
@require_POST
def edit(
    request: HttpRequest, conversation_uuid: uuid.UUID, message_uuid: uuid.UUID
) -> HttpResponse:
    """Save the new text of my message. A text the message rules refuse comes back in the
    form (422); once the edit window is over (or the message was unsent) the edit is refused
    with a sentence, and the text is kept, to send as a new message (409)."""
    conversation_uuid, message_uuid = str(conversation_uuid), str(message_uuid)
    form = EditForm(request.POST)
    if not form.is_valid():
        return _render_edit(request, conversation_uuid, message_uuid, form, status=422)
    try:
        message = services.edit_message(
            user=request.user,
            conversation_uuid=conversation_uuid,
            message_uuid=message_uuid,
            text=form.cleaned_data["text"],
            sort_key=form.cleaned_data.get("sort_key"),
        )
    except services.EditRefused as refusal:
        kept = MessageForm(initial={"token": uuid.uuid4(), "text": form.cleaned_data["text"]})
        return _render_edit(
            request, conversation_uuid, message_uuid, form, refused=str(refusal), kept=kept
        )
    except services.SendRefused as refusal:  # blocked, gone: no reply box to keep the text in
        return _render_edit(
            request,
            conversation_uuid,
            message_uuid,
            form,
            status=refusal.status,
            refused=str(refusal),
        )
    return _changed(request, message)


def _changed(request: HttpRequest, message) -> HttpResponse:
    """After an unsend or edit: the conversation page again; from htmx (the page's script),
    the message's bubble as it is now, to swap in place. Any other answer (an error page)
    makes the script send the form again as without JavaScript (live.js)."""
    if request.htmx:
        row = view_models.message_row(user=request.user, message=message)
        return render(request, "messaging/_message_bubble.html", {"message": row})
    return _see_other("messaging:conversation", conversation_uuid=message.conversation_uuid)


def _render_edit(
    request: HttpRequest,
    conversation_uuid: str,
    message_uuid: str,
    form: EditForm,
    *,
    status: int = 409,
    refused: str = "",
    kept: MessageForm | None = None,
) -> HttpResponse:
    """The edit form again with what was wrong, or why the edit was refused and the text kept
    in a message form (the conversation's reply box) to send it as a new message."""
    context = {
        "form": form,
        "refused": refused,
        "kept": kept,
        "conversation_url": reverse("messaging:conversation", args=[conversation_uuid]),
        "edit_url": reverse("messaging:edit", args=[conversation_uuid, message_uuid]),
    }
    return render(request, "messaging/edit_message.html", context, status=status)


def _render_new(request, recipient, form: MessageForm, *, status: int = 200) -> HttpResponse:
    context = {
        "recipient": recipient,
        "person": view_models.person(viewer=request.user, user=recipient),
        "form": form,
    }
    return render(request, "messaging/new.html", context, status=status)


@login_required
@require_POST
def block(request: HttpRequest) -> HttpResponse:
    """Block the person in the form (`person`: their uuid); back to `next`."""
    other = _person_in_form(request)
    if other is not None and other.pk != request.user.pk:
        services.block_and_clear_unread(user=request.user, other=other)
        messages.success(
            request,
            f"You blocked @{other.handle}. They can't send you messages until you unblock "
            "them; your settings list everyone you blocked.",
        )
    return _back(request)


@login_required
@require_POST
def unblock(request: HttpRequest) -> HttpResponse:
    """Lift the block of the person in the form; back to `next`."""
    other = _person_in_form(request)
    if other is not None:
        user_services.unblock(user=request.user, other=other)
        messages.success(request, f"You unblocked @{other.handle}.")
    return _back(request)


def _person_in_form(request: HttpRequest) -> User | None:
    user_uuid = parse_uuid(request.POST.get("person"))
    if user_uuid is None:
        return None
    return User.objects.filter(pk=user_uuid).first()


def _back(request: HttpRequest) -> HttpResponseRedirect:
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = reverse("messaging:inbox")
    return HttpResponseRedirect(target, status=303)


def _recipient_error(request: HttpRequest, title: str, *, status: int) -> HttpResponse:
    detail = (
        "Check the handle and try again."
        if status == 404
        else "Pick someone else to write to from your messages."
    )
    context = {"title": title, "detail": detail}
    return render(request, "messaging/recipient_error.html", context, status=status)
