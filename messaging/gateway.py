"""The DynamoDB gateway: the only code in the project that talks to DynamoDB.

INTERFACE SKELETON (to be implemented): names, types and behaviour below are the contract
the services, views, commands, stream handler and the in-memory fake (tests/fakes.py) share.

Key schema (single table, compatible with the original `cruddur-messages` tables)
------------------------------------------------------------------------------
Table `settings.DDB_MESSAGE_TABLE`: `pk` (S, HASH), `sk` (S, RANGE).
GSI `message-group-sk-index`: `message_group_uuid` (HASH), `sk` (RANGE), projection ALL.

- message group, one per participant: pk `GRP#<owner_uuid>`, sk = last message time;
  message_group_uuid, message (last text), user_uuid / user_display_name / user_handle of the
  OTHER person, unread (N, optional).
- message: pk `MSG#<message_group_uuid>`, sk = created_at; message_uuid, message, user_uuid /
  user_display_name / user_handle of the SENDER.
- pair: pk `PAIR#<uuid_a>#<uuid_b>` (a < b as strings), sk `PAIR`; group_uuid (NOT
  message_group_uuid, so the sparse GSI never holds it).
- unread counter: pk `GRP#<owner_uuid>`, sk `UNREAD`; conversations (N): groups with unread > 0.

Sort keys are UTC, fixed width, microseconds always present: `2026-11-21T13:05:09.000000+00:00`
(`format_sort_key`). Message items carry no `message_group_uuid`, so the GSI holds group items
only: a GSI query by group uuid returns the two participants' group items.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from cruddur.errors import ServiceError

T = TypeVar("T")

GSI_NAME = "message-group-sk-index"
DEFAULT_PAGE_SIZE = 20


# --- errors: AWS errors become these; views/commands turn them into 404/503/CommandError ---


class GatewayError(ServiceError):
    """Base class; `str(error)` is one sentence a person can act on."""


class NotFound(GatewayError):
    """The table, or the requested group, does not exist."""


class TableNotFound(NotFound):
    """The messages table does not exist (run `manage.py ddb_schema_load`)."""


class Conflict(GatewayError):
    """A conditional write kept losing to concurrent writers beyond the retry budget."""


class Unavailable(GatewayError):
    """DynamoDB cannot be reached: endpoint down, no credentials, network error."""


class Throttled(Unavailable):
    """DynamoDB kept throttling beyond botocore's retries."""


class InvalidCursor(GatewayError):
    """A cursor that is malformed or belongs to another list."""


# --- domain dataclasses ---


@dataclass(frozen=True)
class UserRef:
    uuid: str
    handle: str
    display_name: str


@dataclass(frozen=True)
class MessageGroup:
    """One participant's inbox row for a conversation."""

    message_group_uuid: str
    owner_uuid: str  # whose inbox this row is in (from pk GRP#<owner_uuid>)
    other_user: UserRef  # the other person, as stored on the item (may be stale after a rename)
    last_message: str
    last_message_at: datetime
    sort_key: str  # the raw sk, needed for conditional writes
    unread: int = 0


@dataclass(frozen=True)
class Message:
    message_uuid: str
    message_group_uuid: str
    sender: UserRef  # as stored on the item
    text: str
    created_at: datetime
    sort_key: str


@dataclass(frozen=True)
class Page(Generic[T]):
    items: tuple[T, ...]
    next_cursor: str | None  # opaque; None when there is no further page


@dataclass(frozen=True)
class InboxPage(Page[MessageGroup]):
    unread_conversations: int = 0  # from the UNREAD counter item, read in the same request


@dataclass(frozen=True)
class NewMessage:
    """A message to import (seeding); deterministic uuid and time make imports idempotent."""

    message_uuid: str
    sender: UserRef
    text: str
    created_at: datetime


def format_sort_key(moment: datetime) -> str:
    """The one way a time becomes a sort key: UTC, microseconds always present."""
    raise NotImplementedError


def parse_sort_key(sort_key: str) -> datetime:
    """An aware UTC datetime from a sort key; also accepts the original's legacy formats."""
    raise NotImplementedError


class MessagesGateway:
    """Access patterns by name. Every method is keyword-only and returns dataclasses."""

    def __init__(self, *, client, table_name: str):
        self.client = client
        self.table_name = table_name

    # B: a user's conversations, newest first.
    def list_message_groups(
        self, *, user_uuid: str, cursor: str | None = None, limit: int = DEFAULT_PAGE_SIZE
    ) -> InboxPage:
        raise NotImplementedError

    # A: a conversation's messages, NEWEST FIRST (callers reverse for display).
    def list_messages(
        self, *, message_group_uuid: str, cursor: str | None = None, limit: int = DEFAULT_PAGE_SIZE
    ) -> Page[Message]:
        raise NotImplementedError

    # Messages strictly newer than `after_sort_key`, OLDEST FIRST (live updates).
    def list_messages_after(
        self, *, message_group_uuid: str, after_sort_key: str, limit: int = 50
    ) -> tuple[Message, ...]:
        raise NotImplementedError

    # The group items of a conversation (0 if it does not exist, else its 2 participants).
    def get_participants(self, *, message_group_uuid: str) -> tuple[MessageGroup, ...]:
        raise NotImplementedError

    # C + D atomically: store the message, move both group items to it, raise the recipient's
    # unread count; retried on conflict. NotFound if the group has no items.
    def create_message(self, *, message_group_uuid: str, sender: UserRef, text: str) -> Message:
        raise NotImplementedError

    # A new conversation with its first message. If the pair already has one (also when both
    # start it at the same moment), the message goes into that one. Returns (group uuid, message).
    def create_message_group(
        self, *, sender: UserRef, recipient: UserRef, text: str
    ) -> tuple[str, Message]:
        raise NotImplementedError

    # The conversation between two users, or None (consistent GetItem of the PAIR item).
    def find_message_group(self, *, user_uuid: str, other_user_uuid: str) -> str | None:
        raise NotImplementedError

    # Clear the owner's unread count for a group (idempotent, never below zero).
    def mark_read(self, *, group: MessageGroup) -> None:
        raise NotImplementedError

    # Idempotent bulk import (seed, benchmarks): messages, the PAIR item, and both group items
    # pointed at the newest message (never moved back if newer messages already exist).
    def import_conversation(
        self,
        *,
        message_group_uuid: str,
        participants: tuple[UserRef, UserRef],
        messages: list[NewMessage],
    ) -> None:
        raise NotImplementedError

    # Schema and operations.
    def create_schema(self, *, billing_mode: str = "PAY_PER_REQUEST", stream: bool = False) -> bool:
        raise NotImplementedError  # False if the table already exists

    def drop_schema(self, *, table_name: str | None = None) -> None:
        raise NotImplementedError  # TableNotFound if it does not exist

    def list_tables(self) -> list[str]:
        raise NotImplementedError  # every page

    def scan(self):
        raise NotImplementedError  # yields plain dict items, every page

    def ping(self) -> None:
        raise NotImplementedError  # DescribeTable; raises Unavailable / TableNotFound


def get_gateway(*, prod: bool = False) -> MessagesGateway:
    """The gateway built lazily from settings (prod=True ignores AWS_ENDPOINT_URL)."""
    raise NotImplementedError
