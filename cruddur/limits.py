"""How often one person, or one address, may do something: sending messages, starting
conversations (messaging/services.py), asking for password reset emails (users/views.py).
Counted in the cache, so every process of the site shares the count.

Fixed windows: a counter per subject and window, created with the window's lifetime and
incremented atomically (Redis INCR). With the embedded default cache (no REDIS_URL) each
process counts for itself; when the cache cannot be reached nothing is counted and no one is
limited (a cache outage must not stop people from talking).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache


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
            f"You can send again in {_duration(retry_after)}."
        )


def take(subject: str, *limits: Limit) -> None:
    """Count one for `subject` (a user's uuid, an address) against each of `limits`, or
    LimitReached for the first one it exceeds."""
    now = time.time()
    for limit in limits:
        window = int(now // limit.seconds)
        key = f"limit:{limit.name}:{subject}:{window}"
        if _count(key, limit.seconds) > limit.count:
            retry_after = max(1, math.ceil((window + 1) * limit.seconds - now))
            raise LimitReached(limit, retry_after)


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
