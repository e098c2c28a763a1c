"""How often one person, or one address, may do something: sending messages, starting
conversations (messaging/services.py), asking for password reset emails, signing up and
asking for another verification link (users/views.py).
Counted in the cache, so every process of the site shares the count.

Fixed windows: a counter per subject and window, created with the window's lifetime and
incremented atomically (Redis INCR). With the embedded default cache (no REDIS_URL) each
process counts for itself; when the cache cannot be reached nothing is counted and no one is
limited (a cache outage must not stop people from talking).
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.http import HttpResponse


@dataclass(frozen=True)
class Limit:
    name: str  # a word for the key
    setting: str  # the setting holding how many per window
    seconds: int  # the window
    what: str  # for the message: "messages", "password reset emails"
    per: str  # "a minute", "an hour"

    @property
    def count(self) -> int:
        return getattr(settings, self.setting)


class LimitReached(Exception):
    def __init__(self, limit: Limit, retry_after: int):
        self.limit = limit
        self.retry_after = retry_after  # seconds until the window ends
        super().__init__(
            f"You can send at most {limit.count} {limit.what} {limit.per}. "
            f"You can send again in {self.retry_in}."
        )

    @property
    def retry_in(self) -> str:
        """How long until the window ends, for a sentence: "42 minutes"."""
        return _duration(self.retry_after)


def too_many(response: HttpResponse, retry_after: int) -> HttpResponse:
    """`response`, a page saying when to try again, as 429 Too Many Requests with Retry-After:
    the one way the pages answer a limit reached."""
    response.status_code = 429
    response["Retry-After"] = str(retry_after)
    return response


def take(subject: str, *limits: Limit) -> None:
    """Count one for `subject` (a user's uuid, an address) against each of `limits`, or
    LimitReached for the first one it exceeds."""
    now = time.time()
    for limit in limits:
        key, retry_after = _window(limit, subject, now)
        if _count(key, limit.seconds) > limit.count:
            raise LimitReached(limit, retry_after)


def give_back(subject: str, *limits: Limit) -> None:
    """Undo one take() for `subject` in the current window of each of `limits`: what it counted
    turned out not to be done (a form sent again whose message was already stored). Nothing
    when there is no counter to give back to (a new window, the cache not answering)."""
    now = time.time()
    for limit in limits:
        key, _ = _window(limit, subject, now)
        with contextlib.suppress(ValueError):  # no counter in this window
            cache.decr(key)


def check(subject: str, *limits: Limit) -> None:
    """LimitReached if `subject` has already used up one of `limits` in this window; counts
    nothing. With take() called only after a failure, only failures count (users/reauth.py)."""
    now = time.time()
    for limit in limits:
        key, retry_after = _window(limit, subject, now)
        if (cache.get(key) or 0) >= limit.count:
            raise LimitReached(limit, retry_after)


def _window(limit: Limit, subject: str, now: float) -> tuple[str, int]:
    """The counter's key for the window `now` is in, and the seconds until that window ends."""
    window = int(now // limit.seconds)
    key = f"limit:{limit.name}:{subject}:{window}"
    return key, max(1, math.ceil((window + 1) * limit.seconds - now))


def _count(key: str, seconds: int) -> int:
    """The counter after adding one (0 when the cache cannot count)."""
    try:
        return cache.incr(key)
    except ValueError:  # no counter yet in this window
        pass
    if cache.add(key, 1, seconds + 1):
        return 1
    try:
        return cache.incr(key)  # another request made it first
    except ValueError:  # the cache is not answering
        return 0


def _duration(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"
