"""Small helpers the tests share (fixtures are in conftest.py)."""

from messaging.domain import InboxEntry
from messaging.services import user_ref as ref  # a Django user as the store stores them

__all__ = ["read_position", "ref"]


def read_position(entry: InboxEntry) -> dict[str, object]:
    """`store.mark_read(**read_position(entry))`: read the conversation where `entry` is."""
    return {
        "owner_uuid": entry.owner_uuid,
        "conversation_uuid": entry.conversation_uuid,
        "sort_key": entry.sort_key,
        "unread": entry.unread,
    }
