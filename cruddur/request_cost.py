"""What the services behind a request cost it: a tally that adapters add their calls to.

An adapter measures each call it makes by its own service's rules and hands it to
`record_call()` (the DynamoDB store does, in messaging/dynamo/metering.py); `track_usage()`
collects the calls made inside a block: one web request (cruddur/middleware.py logs and shows
them), one command run (the DynamoDB commands print a run's total). The project reads the
figures here without knowing how they were measured. Capacity is in AWS's units (read and
write capacity units), the bill's own terms. Outside any block a call is dropped.

The tally is held in a context variable, not a thread-local, so it follows a request wherever
Django runs it: a sync view in the request's thread; under ASGI, an async view on the event
loop and the sync code it reaches through asgiref (`sync_to_async` and `async_to_sync` run it
in a copy of the caller's context, and the copy holds the same `Usage`). A thread started by
hand has a context of its own and adds nothing; the store starts none.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field


@dataclass(frozen=True)
class CallUsage:
    """One call to a service, as its adapter measured it."""

    operation: str
    items: int  # items read (returned) by the call
    bytes_read: int
    read_units: float
    write_units: float
    reported: bool = False  # capacity as the service billed it, not computed by its rules


@dataclass
class Usage:
    """The calls made inside one `track_usage()` block (e.g. one web request)."""

    calls: list[CallUsage] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return len(self.calls)

    @property
    def items_read(self) -> int:
        return sum(call.items for call in self.calls)

    @property
    def bytes_read(self) -> int:
        return sum(call.bytes_read for call in self.calls)

    @property
    def read_units(self) -> float:
        return sum(call.read_units for call in self.calls)

    @property
    def write_units(self) -> float:
        return sum(call.write_units for call in self.calls)

    @property
    def capacity_reported(self) -> bool:
        """Whether the capacity figures are the service's own bill (on AWS), not computed."""
        return any(call.reported for call in self.calls)

    @property
    def capacity_source(self) -> str:
        """Where the capacity figures come from, in words (footers, command summaries)."""
        if self.capacity_reported:
            return "reported by AWS"
        return "computed from item sizes by AWS's rules"


_current_usage: ContextVar[Usage | None] = ContextVar("request_usage", default=None)


@contextmanager
def track_usage() -> Iterator[Usage]:
    """Collect every call recorded in this block (this context only: see the module doc)."""
    usage = Usage()
    token = _current_usage.set(usage)
    try:
        yield usage
    finally:
        _current_usage.reset(token)


def record_call(call: CallUsage) -> None:
    """Add one call to the current `track_usage()` block, if there is one."""
    usage = _current_usage.get()
    if usage is not None:
        usage.calls.append(call)
