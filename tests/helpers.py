"""Small helpers the tests share (fixtures are in conftest.py)."""

import asyncio
import json
import threading
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from botocore.awsrequest import AWSResponse
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from messaging.domain import InboxEntry, NewMessage
from messaging.services import user_ref as ref  # a Django user as the store stores them

__all__ = [
    "at_once",
    "conversation_url",
    "fake_response",
    "read_position",
    "ref",
    "seed",
    "signed_in",
    "signup",
    "stored_texts",
    "token",
    "within_budget",
]


def at_once(count, call):
    """`call(0)` ... `call(count - 1)`, each on its own thread, released at the same moment;
    their results in order."""
    barrier = threading.Barrier(count)

    def run(index):
        barrier.wait()
        return call(index)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


def after_first_call(monkeypatch, owner, name, action) -> list:
    """Make method `name` of class `owner` run `action()` once, right after its first call
    returns: another writer landing between a store's read and its write. The list that gets
    `action`'s result (empty until it runs)."""
    original = getattr(owner, name)
    done: list = []

    def then_act(self, *args, **kwargs):
        found = original(self, *args, **kwargs)
        if not done:
            done.append(None)  # first: `action` may call this method again
            done[0] = action()
        return found

    monkeypatch.setattr(owner, name, then_act)
    return done


def within_budget(calls, **budget: int) -> bool:
    """Whether `calls` kept to `budget`: at most that many calls of each kind named, and none
    of a kind not named, in any order. `calls` are a store's method names (the in-memory
    store's `calls`) or metered calls (`track_usage().calls`, by operation). A test holds a
    step to what it may cost, e.g. `within_budget(store.calls, list_conversations=1)` (a quiet
    poll reads one inbox page), not to the order the code makes its calls in."""
    spent = Counter(getattr(call, "operation", call) for call in calls)
    return spent <= Counter(budget)


def read_position(entry: InboxEntry) -> dict[str, object]:
    """`store.mark_read(**read_position(entry))`: read the conversation where `entry` is."""
    return {
        "owner_uuid": entry.owner_uuid,
        "conversation_uuid": entry.conversation_uuid,
        "sort_key": entry.sort_key,
        "unread": entry.unread,
    }


def signed_in(user, **kwargs) -> Client:
    client = Client(**kwargs)
    client.force_login(user)
    return client


def seed(fake, a, b, *, count=1, start=None, texts=None, group=None) -> str:
    """A conversation between a and b: messages alternate a, b, a, ... one minute apart."""
    group = group or str(uuid.uuid4())
    start = start or timezone.now() - timedelta(days=2)
    texts = texts or [f"message {i}" for i in range(count)]
    messages = [
        NewMessage(
            message_uuid=str(uuid.uuid4()),
            sender=ref(a if i % 2 == 0 else b),
            text=text,
            created_at=start + timedelta(minutes=i),
        )
        for i, text in enumerate(texts)
    ]
    fake.import_conversation(
        conversation_uuid=group, participants=(ref(a), ref(b)), messages=messages
    )
    return group


def conversation_url(group: str) -> str:
    return reverse("messaging:conversation", args=[group])


def token() -> str:
    return str(uuid.uuid4())


def stored_texts(fake, group: str) -> list[str]:
    return [m.text for m in sorted(fake.messages.get(group, []), key=lambda m: m.sort_key)]


def fake_response(request, status, body):
    """An answer from "AWS" to `request` (a botocore `before-send` handler returns it)."""

    class Raw:
        def __init__(self, data):
            self.data = data

        def stream(self, **kwargs):
            yield self.data

    return AWSResponse(request.url, status, {}, Raw(json.dumps(body).encode()))


def signup_form(**fields) -> dict[str, str]:
    """The sign-up form of a valid new person, with `fields` changed."""
    return {
        "handle": "newperson",
        "display_name": "New Person",
        "email": "new@example.com",
        "password1": "a-long-pass-phrase-42",
        "password2": "a-long-pass-phrase-42",
        **fields,
    }


def signup(**fields):
    """POST the sign-up form: a valid new person, with `fields` changed."""
    return Client().post(reverse("signup"), signup_form(**fields))


def on_a_loop_of_its_own(scenario):
    """Run the coroutine `scenario` with asyncio.run on a thread of its own: a test worker may
    already have an event loop running on this one (Playwright's, once the browser tier ran in
    it), and asyncio.run refuses to start inside a running loop."""
    with ThreadPoolExecutor(1) as thread:
        return thread.submit(asyncio.run, scenario).result()
