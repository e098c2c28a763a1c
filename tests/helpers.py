"""Small helpers the tests share (fixtures are in conftest.py)."""

import threading
from concurrent.futures import ThreadPoolExecutor

from messaging.domain import InboxEntry
from messaging.services import user_ref as ref  # a Django user as the store stores them

__all__ = ["at_once", "read_position", "ref"]


def at_once(count, call):
    """`call(0)` ... `call(count - 1)`, each on its own thread, released at the same moment;
    their results in order."""
    barrier = threading.Barrier(count)

    def run(index):
        barrier.wait()
        return call(index)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


def read_position(entry: InboxEntry) -> dict[str, object]:
    """`store.mark_read(**read_position(entry))`: read the conversation where `entry` is."""
    return {
        "owner_uuid": entry.owner_uuid,
        "conversation_uuid": entry.conversation_uuid,
        "sort_key": entry.sort_key,
        "unread": entry.unread,
    }
