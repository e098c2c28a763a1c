"""The DynamoDB gateway: the only code in the project that talks to DynamoDB.

It exposes the access patterns by name (keyword-only, typed) and returns the frozen dataclasses
below; every AWS error becomes one of the errors below. Every request goes through
`MessagesGateway._call`, the one place for error translation, consumed capacity and logging.
Clients are built lazily by `get_gateway()`, never at import time.

Key schema (single table, compatible with the original `cruddur-messages` tables)
------------------------------------------------------------------------------
Table `settings.DDB_MESSAGE_TABLE`: `pk` (S, HASH), `sk` (S, RANGE).
GSI `message-group-sk-index`: `message_group_uuid` (HASH), `sk` (RANGE), projection ALL.

| item            | pk                      | sk                 | attributes                                   |
|-----------------|-------------------------|--------------------|----------------------------------------------|
| message group   | GRP#<owner_uuid>        | last message time  | message_group_uuid, message (last text),      |
| (one per owner) |                         |                    | user_uuid/user_display_name/user_handle of    |
|                 |                         |                    | the OTHER person; unread (N, optional);       |
|                 |                         |                    | last_read_sk (S, optional): the sk the owner  |
|                 |                         |                    | last read up to (set by mark_read)            |
| message         | MSG#<message_group_uuid>| created_at         | message_uuid, message, user_uuid,             |
|                 |                         |                    | user_display_name, user_handle of the SENDER  |
| pair            | PAIR#<uuid_a>#<uuid_b>  | PAIR               | group_uuid (NOT message_group_uuid, so the    |
|                 | (a < b as strings)      |                    | sparse GSI never holds it)                    |
| unread counter  | GRP#<owner_uuid>        | UNREAD             | conversations (N): groups with unread > 0     |

Sort keys are UTC, fixed width, microseconds always present: `2026-11-21T13:05:09.000000+00:00`
(`format_sort_key`). Message items carry no `message_group_uuid`, so the GSI holds group items
only: a GSI query by group uuid returns the two participants' group items.

A new message and the move of both group items to it (patterns C + D) are one
`TransactWriteItems`, conditioned on the group items being exactly as read; on a conflict the
gateway re-reads and retries with backoff. `advance_groups` applies the same move for the
optional DynamoDB Streams handler (`messaging/stream.py`).

Settings come from Django (`AWS_ENDPOINT_URL`, `AWS_DEFAULT_REGION`, `DDB_MESSAGE_TABLE`,
`AWS_MAX_ATTEMPTS`) or, when no Django project is configured (the Lambda), from the environment
variables of the same names.
"""  # noqa: E501 (the key-schema table is wider than a line)

from __future__ import annotations

import base64
import json
import logging
import os
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Generic, TypeVar

import boto3
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.config import Config
from botocore.exceptions import (
    ClientError,
    HTTPClientError,
    NoCredentialsError,
    PartialCredentialsError,
    WaiterError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

from cruddur.aws import emulator_credentials
from cruddur.errors import ServiceError

T = TypeVar("T")

GSI_NAME = "message-group-sk-index"
DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 1000
UNREAD_SORT_KEY = "UNREAD"
PAIR_SORT_KEY = "PAIR"

logger = logging.getLogger("messaging.gateway")

_GROUP_PREFIX = "GRP#"
_MESSAGE_PREFIX = "MSG#"
_PAIR_PREFIX = "PAIR#"
_ONE_MICROSECOND = timedelta(microseconds=1)

# Short timeouts: a page waits a few seconds at most before showing "DynamoDB unavailable".
_CONNECT_TIMEOUT = 2
_READ_TIMEOUT = 5
_POOL_CONNECTIONS = 50

# Conditional writes that lose to concurrent writers are retried: capped exponential backoff
# with full jitter. Measured: 50 concurrent senders on one conversation, the unluckiest needs
# ~12 attempts; a smaller cap means more wasted attempts, not less waiting.
_WRITE_ATTEMPTS = 25
_BACKOFF_BASE = 0.02
_BACKOFF_CAP = 1.0
_BATCH_SIZE = 25
_BATCH_ATTEMPTS = 10
_MAX_CURSOR_LENGTH = 2048

_THROTTLING_CODES = frozenset(
    {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"}
)
_THROTTLING_REASONS = frozenset({"ProvisionedThroughputExceeded", "ThrottlingError"})
_RETRYABLE_REASONS = frozenset({"ConditionalCheckFailed", "TransactionConflict"})
_CAPACITY_OPERATIONS = frozenset(
    {
        "batch_write_item",
        "delete_item",
        "get_item",
        "put_item",
        "query",
        "scan",
        "transact_write_items",
        "update_item",
    }
)


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


class _Rejected(Conflict):
    """A condition failed (or a transaction was cancelled); the caller decides on a retry."""

    def __init__(self, message: str, *, reasons: tuple[str, ...]):
        super().__init__(message)
        self.reasons = reasons  # one code per transaction action, "None" where it passed

    @property
    def retryable(self) -> bool:
        failed = [reason for reason in self.reasons if reason != "None"]
        return bool(failed) and all(reason in _RETRYABLE_REASONS for reason in failed)


class _AwsError(GatewayError):
    """Any other AWS error, keeping its code for the few callers that expect one."""

    def __init__(self, message: str, *, code: str):
        super().__init__(message)
        self.code = code


class _Stale(Exception):
    """What was read cannot be written against (a lagging GSI): read again."""


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


@dataclass(frozen=True)
class UnreadFix:
    """A stored unread figure that `repair_unread` found different from the messages."""

    owner_uuid: str
    message_group_uuid: str | None  # None: the owner's counter of unread conversations
    stored: int
    computed: int


@dataclass(frozen=True)
class UnreadRepair:
    owners: int  # people whose inbox was checked
    groups: int  # inbox rows checked
    fixes: tuple[UnreadFix, ...]  # what differed (and, unless a dry run, was corrected)


def format_sort_key(moment: datetime) -> str:
    """The one way a time becomes a sort key: UTC, microseconds always present."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"A sort key needs a timezone-aware datetime, got naive {moment!r}.")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def parse_sort_key(sort_key: str) -> datetime:
    """An aware UTC datetime from a sort key; also accepts the original's legacy formats."""
    # fromisoformat (3.11) reads ours and the original's `isoformat()` forms: no microseconds,
    # local offsets, a trailing `Z`.
    try:
        moment = datetime.fromisoformat(sort_key)
    except (TypeError, ValueError) as error:
        raise ValueError(f"Not a sort key: {sort_key!r}.") from error
    if moment.tzinfo is None:
        raise ValueError(f"Not a sort key (no UTC offset): {sort_key!r}.")
    return moment.astimezone(UTC)


def _utcnow() -> datetime:
    """The gateway's clock (tests patch it to freeze time)."""
    return datetime.now(UTC)


def _time_of(sort_key: Any) -> datetime | None:
    try:
        return parse_sort_key(sort_key)
    except ValueError:
        return None


def _group_pk(owner_uuid: str) -> str:
    return f"{_GROUP_PREFIX}{owner_uuid}"


def _message_pk(message_group_uuid: str) -> str:
    return f"{_MESSAGE_PREFIX}{message_group_uuid}"


def _pair_pk(user_uuid: str, other_user_uuid: str) -> str:
    first, second = sorted((str(user_uuid), str(other_user_uuid)))
    return f"{_PAIR_PREFIX}{first}#{second}"


def _typed_key(pk: str, sk: str) -> dict[str, dict[str, str]]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def _backoff(attempt: int) -> float:
    return random.uniform(0, min(_BACKOFF_CAP, _BACKOFF_BASE * 2**attempt))


def _require_text(text: str) -> None:
    if not isinstance(text, str) or not text.strip():
        raise ValueError("A message needs some text.")


def _check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise ValueError(f"A page holds 1 to {MAX_PAGE_SIZE} items, not {limit}.")


def _unread_of(item: dict[str, Any]) -> int:
    # Items written by the original have no `unread`: treat as 0.
    return int(item.get("unread", 0) or 0)


def _plain_number(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, list):
        return [_plain_number(element) for element in value]
    if isinstance(value, dict):
        return {key: _plain_number(element) for key, element in value.items()}
    if isinstance(value, set):
        return {_plain_number(element) for element in value}
    return value


_deserializer = TypeDeserializer()
_serializer = TypeSerializer()


def _to_plain(item: dict[str, Any]) -> dict[str, Any]:
    """A typed DynamoDB item (`{"pk": {"S": ...}}`) as plain Python, integral numbers as int."""
    return {name: _plain_number(_deserializer.deserialize(value)) for name, value in item.items()}


def _to_typed(item: dict[str, Any]) -> dict[str, Any]:
    return {name: _serializer.serialize(value) for name, value in item.items()}


def _encode_cursor(pk: str, sk: str) -> str:
    raw = json.dumps({"pk": pk, "sk": sk}, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str, *, pk: str) -> dict[str, dict[str, str]]:
    """The ExclusiveStartKey in `cursor`, if it is well formed and belongs to partition `pk`."""
    invalid = InvalidCursor(
        "That page link is damaged or belongs to another list; start again from the first page."
    )
    if not isinstance(cursor, str) or len(cursor) > _MAX_CURSOR_LENGTH:
        raise invalid
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, RecursionError):
        raise invalid from None
    if not (
        isinstance(key, dict)
        and set(key) == {"pk", "sk"}
        and all(isinstance(value, str) for value in key.values())
        and key["pk"] == pk
    ):
        raise invalid
    try:
        parse_sort_key(key["sk"])
    except ValueError:
        raise invalid from None
    return _typed_key(key["pk"], key["sk"])


def _user_ref(item: dict[str, Any]) -> UserRef:
    return UserRef(
        uuid=str(item.get("user_uuid", "")),
        handle=str(item.get("user_handle", "")),
        display_name=str(item.get("user_display_name", "")),
    )


def _group_from_item(item: dict[str, Any]) -> MessageGroup:
    return MessageGroup(
        message_group_uuid=item["message_group_uuid"],
        owner_uuid=item["pk"].removeprefix(_GROUP_PREFIX),
        other_user=_user_ref(item),
        last_message=str(item.get("message", "")),
        last_message_at=parse_sort_key(item["sk"]),
        sort_key=item["sk"],
        unread=_unread_of(item),
    )


def _message_from_item(item: dict[str, Any]) -> Message:
    return Message(
        message_uuid=str(item.get("message_uuid", "")),
        message_group_uuid=item["pk"].removeprefix(_MESSAGE_PREFIX),
        sender=_user_ref(item),
        text=str(item.get("message", "")),
        created_at=parse_sort_key(item["sk"]),
        sort_key=item["sk"],
    )


def _next_attempt(
    moment: datetime,
    earlier: list[Message],
    message_uuid: str,
    message_group_uuid: str,
    sender: UserRef,
    text: str,
) -> Message:
    """The message an attempt writes: at `moment`, or just after an earlier attempt whose key
    was taken (another group of the same owner at the same microsecond)."""
    if earlier:
        moment = max(moment, earlier[-1].created_at + _ONE_MICROSECOND)
    sort_key = format_sort_key(moment)
    return Message(
        message_uuid=message_uuid,
        message_group_uuid=message_group_uuid,
        sender=sender,
        text=text,
        created_at=parse_sort_key(sort_key),
        sort_key=sort_key,
    )


def _message_item(message: Message) -> dict[str, Any]:
    return {
        "pk": _message_pk(message.message_group_uuid),
        "sk": message.sort_key,
        "message_uuid": message.message_uuid,
        "message": message.text,
        "user_uuid": message.sender.uuid,
        "user_display_name": message.sender.display_name,
        "user_handle": message.sender.handle,
    }


def _group_item(
    *, owner_uuid: str, other: UserRef, group_uuid: str, sort_key: str, text: str, unread: int
) -> dict[str, Any]:
    return {
        "pk": _group_pk(owner_uuid),
        "sk": sort_key,
        "message_group_uuid": group_uuid,
        "message": text,
        "user_uuid": other.uuid,
        "user_display_name": other.display_name,
        "user_handle": other.handle,
        "unread": unread,
    }


def _check_pair_of_groups(groups: list[dict[str, Any]]) -> None:
    # A conversation has exactly one group item per participant. Anything else is a GSI that
    # has not caught up with a concurrent move (reads on a GSI are eventually consistent):
    # writing against it could leave an inbox row behind, so read again.
    owners = {item["pk"] for item in groups}
    if len(groups) != 2 or len(owners) != 2:
        raise _Stale(f"expected 2 group items, read {len(groups)} for {len(owners)} owners")


class MessagesGateway:
    """Access patterns by name. Every method is keyword-only and returns dataclasses."""

    def __init__(self, *, client, table_name: str):
        self.client = client
        self.table_name = table_name
        # On real AWS, ConsumedCapacity is the bill; emulators report made-up figures.
        self.on_aws = "amazonaws.com" in client.meta.endpoint_url

    # --- the one way to DynamoDB ---

    def _call(self, operation: str, **params: Any) -> dict[str, Any]:
        """Send one request: every DynamoDB call of the gateway goes through here.

        This is the choke point for error translation, consumed capacity and logging; per-request
        usage accounting (calls, items, bytes, capacity) hooks in at `_record`.
        """
        if operation in _CAPACITY_OPERATIONS:
            params.setdefault("ReturnConsumedCapacity", "TOTAL")
        with self._translated_errors(operation, params.get("TableName", self.table_name)):
            response = getattr(self.client, operation)(**params)
        self._record(operation, params, response)
        return response

    def _pages(self, operation: str, **params: Any) -> Iterator[dict[str, Any]]:
        """Every page of a paginated operation, each one recorded like a `_call`."""
        if operation in _CAPACITY_OPERATIONS:
            params.setdefault("ReturnConsumedCapacity", "TOTAL")
        pages = self.client.get_paginator(operation).paginate(**params)
        with self._translated_errors(operation, params.get("TableName", self.table_name)):
            for page in pages:
                self._record(operation, params, page)
                yield page

    def _record(self, operation: str, params: dict[str, Any], response: dict[str, Any]) -> None:
        call = _measure(operation, params, response, on_aws=self.on_aws)
        usage = _current_usage.get()
        if usage is not None:
            usage.calls.append(call)
            if self.on_aws:
                usage.capacity_source = "reported by AWS"
        logger.debug(
            "dynamodb %s items=%d bytes=%d rcu=%g wcu=%g (%s)",
            operation,
            call.items,
            call.bytes_read,
            call.read_units,
            call.write_units,
            "reported by AWS" if self.on_aws else "computed",
        )

    @contextmanager
    def _translated_errors(self, operation: str, table_name: str) -> Iterator[None]:
        try:
            yield
        except (BotoConnectionError, HTTPClientError) as error:
            raise Unavailable(self._unreachable_message()) from error
        except (NoCredentialsError, PartialCredentialsError) as error:
            raise Unavailable(
                "No AWS credentials found: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY "
                "or AWS_PROFILE."
            ) from error
        except ClientError as error:
            raise self._translate(error, operation, table_name) from error

    def _unreachable_message(self) -> str:
        endpoint = self.client.meta.endpoint_url
        if "amazonaws.com" in endpoint:
            region = self.client.meta.region_name
            return (
                f"Cannot reach DynamoDB in region {region} ({endpoint}). Check the network "
                "connection and that AWS_DEFAULT_REGION is right."
            )
        return (
            f"Cannot reach DynamoDB at {endpoint}. Is the local stack running? "
            "Start it with `make run`."
        )

    def _translate(self, error: ClientError, operation: str, table_name: str) -> GatewayError:
        details = error.response.get("Error", {})
        code = details.get("Code", "")
        message = details.get("Message", "") or str(error)
        if code == "ResourceNotFoundException":
            return TableNotFound(
                f"Table '{table_name}' does not exist. "
                "Create it with `python manage.py ddb_schema_load`."
            )
        if code in _THROTTLING_CODES:
            return Throttled(
                f"DynamoDB is throttling requests to table '{table_name}' ({code}); "
                "try again in a moment."
            )
        if code == "ConditionalCheckFailedException":
            return _Rejected(message, reasons=("ConditionalCheckFailed",))
        if code == "TransactionConflictException":
            return _Rejected(message, reasons=("TransactionConflict",))
        if code == "TransactionCanceledException":
            reasons = tuple(
                str(reason.get("Code") or "None")
                for reason in error.response.get("CancellationReasons", ())
            )
            if _THROTTLING_REASONS.intersection(reasons):
                return Throttled(
                    f"DynamoDB is throttling writes to table '{table_name}'; try again in a moment."
                )
            return _Rejected(f"DynamoDB cancelled the transaction: {message}", reasons=reasons)
        return _AwsError(f"DynamoDB {operation} failed ({code}): {message}", code=code)

    def _transact(self, build: Callable[[bool], list[dict[str, Any]] | None], *, what: str) -> bool:
        """Run the transaction `build` returns, re-reading and retrying while it loses a race.

        `build(collided)` reads current state and returns the actions, or None when there is
        nothing to write; `collided` says the previous attempt's new item landed on a taken key
        (another group of the same owner in the same microsecond), so it must pick a later one.
        Returns whether a transaction was written.
        """
        collided = False
        for attempt in range(_WRITE_ATTEMPTS):
            try:
                actions = build(collided)
            except _Stale as stale:
                logger.debug("retrying %s: %s", what, stale)
                time.sleep(_backoff(attempt))
                continue
            if not actions:
                return False
            try:
                self._call("transact_write_items", TransactItems=actions)
                return True
            except _Rejected as rejected:
                if not rejected.retryable:
                    raise GatewayError(f"Could not {what}: {rejected}") from rejected
                collided = any(
                    reason == "ConditionalCheckFailed" and "Put" in action
                    for reason, action in zip(rejected.reasons, actions, strict=False)
                )
                logger.debug("retrying %s after %s", what, rejected.reasons)
                time.sleep(_backoff(attempt))
        raise Conflict(
            f"Could not {what}: too many people changed this conversation at once; try again."
        )

    # --- reads ---

    def _query_items(self, **params: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        response = self._call("query", TableName=self.table_name, **params)
        return [_to_plain(item) for item in response["Items"]], response

    @staticmethod
    def _next_cursor(response: dict[str, Any]) -> str | None:
        last_key = response.get("LastEvaluatedKey")
        if not last_key:
            return None
        return _encode_cursor(last_key["pk"]["S"], last_key["sk"]["S"])

    # B: a user's conversations, newest first.
    def list_message_groups(
        self, *, user_uuid: str, cursor: str | None = None, limit: int = DEFAULT_PAGE_SIZE
    ) -> InboxPage:
        _check_limit(limit)
        pk = _group_pk(user_uuid)
        values = {":pk": {"S": pk}}
        if cursor:
            # Later pages start below a timestamp, and the bound keeps the counter out anyway.
            values[":counter"] = {"S": UNREAD_SORT_KEY}
            items, response = self._query_items(
                KeyConditionExpression="pk = :pk AND sk < :counter",
                ExpressionAttributeValues=values,
                ExclusiveStartKey=_decode_cursor(cursor, pk=pk),
                ScanIndexForward=False,
                Limit=limit,
            )
        else:
            # 'U' sorts after every digit: newest first, the counter item comes first, so one
            # more row than asked for reads it in the same request.
            items, response = self._query_items(
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues=values,
                ScanIndexForward=False,
                Limit=limit + 1,
            )
        unread_conversations = 0
        groups = []
        for item in items:
            if item["sk"] == UNREAD_SORT_KEY:
                unread_conversations = max(0, int(item.get("conversations", 0)))
            else:
                groups.append(item)
        if len(groups) > limit:
            groups = groups[:limit]
            next_cursor = _encode_cursor(groups[-1]["pk"], groups[-1]["sk"])
        else:
            next_cursor = self._next_cursor(response)
        return InboxPage(
            items=tuple(_group_from_item(item) for item in groups),
            next_cursor=next_cursor,
            unread_conversations=unread_conversations,
        )

    # A: a conversation's messages, NEWEST FIRST (callers reverse for display).
    def list_messages(
        self, *, message_group_uuid: str, cursor: str | None = None, limit: int = DEFAULT_PAGE_SIZE
    ) -> Page[Message]:
        _check_limit(limit)
        pk = _message_pk(message_group_uuid)
        params: dict[str, Any] = {}
        if cursor:
            params["ExclusiveStartKey"] = _decode_cursor(cursor, pk=pk)
        items, response = self._query_items(
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": pk}},
            ScanIndexForward=False,
            Limit=limit,
            **params,
        )
        return Page(
            items=tuple(_message_from_item(item) for item in items),
            next_cursor=self._next_cursor(response),
        )

    # Messages strictly newer than `after_sort_key`, OLDEST FIRST (live updates).
    def list_messages_after(
        self, *, message_group_uuid: str, after_sort_key: str, limit: int = 50
    ) -> tuple[Message, ...]:
        _check_limit(limit)
        try:
            parse_sort_key(after_sort_key)
        except ValueError:
            raise InvalidCursor(
                f"{after_sort_key!r} is not a message time; reload the conversation."
            ) from None
        items, _ = self._query_items(
            KeyConditionExpression="pk = :pk AND sk > :after",
            ExpressionAttributeValues={
                ":pk": {"S": _message_pk(message_group_uuid)},
                ":after": {"S": after_sort_key},
            },
            ScanIndexForward=True,
            Limit=limit,
        )
        return tuple(_message_from_item(item) for item in items)

    def _group_items(self, message_group_uuid: str) -> list[dict[str, Any]]:
        items, _ = self._query_items(
            IndexName=GSI_NAME,
            KeyConditionExpression="message_group_uuid = :group",
            ExpressionAttributeValues={":group": {"S": message_group_uuid}},
        )
        return items

    # The group items of a conversation (0 if it does not exist, else its 2 participants).
    def get_participants(self, *, message_group_uuid: str) -> tuple[MessageGroup, ...]:
        return tuple(_group_from_item(item) for item in self._group_items(message_group_uuid))

    # The conversation between two users, or None (consistent GetItem of the PAIR item).
    def find_message_group(self, *, user_uuid: str, other_user_uuid: str) -> str | None:
        response = self._call(
            "get_item",
            TableName=self.table_name,
            Key=_typed_key(_pair_pk(user_uuid, other_user_uuid), PAIR_SORT_KEY),
            ConsistentRead=True,
        )
        item = response.get("Item")
        return _to_plain(item)["group_uuid"] if item else None

    # --- writes ---

    def _counter_update(self, owner_pk: str, delta: int) -> dict[str, Any]:
        return {
            "Update": {
                "TableName": self.table_name,
                "Key": _typed_key(owner_pk, UNREAD_SORT_KEY),
                "UpdateExpression": "ADD conversations :delta",
                "ExpressionAttributeValues": {":delta": {"N": str(delta)}},
            }
        }

    def _put_new(self, item: dict[str, Any]) -> dict[str, Any]:
        return {
            "Put": {
                "TableName": self.table_name,
                "Item": _to_typed(item),
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }

    def _unchanged_group(self, item: dict[str, Any]) -> dict[str, Any]:
        """Condition arguments: the group item is still there with the unread count we read."""
        unread = _unread_of(item)
        condition = "attribute_exists(pk) AND #unread = :unread"
        if unread == 0:
            condition = (
                "attribute_exists(pk) AND (attribute_not_exists(#unread) OR #unread = :unread)"
            )
        return {
            "ConditionExpression": condition,
            "ExpressionAttributeNames": {"#unread": "unread"},
            "ExpressionAttributeValues": {":unread": {"N": str(unread)}},
        }

    def _moved_groups(
        self,
        groups: list[dict[str, Any]],
        *,
        sort_key: str,
        text: str,
        sender_uuid: str,
        count_unread: bool = True,
    ) -> list[dict[str, Any]]:
        """Pattern D as transaction actions: each group item moves to `sort_key` with `text`.

        `sk` is a key, so a move is a delete + put. The delete holds only while the item is as
        read (a concurrent move or mark_read cancels the transaction and the caller re-reads);
        the put must not land on another group of the same owner in the same microsecond. The
        recipient's unread count goes up by one and the sender's to 0 (sending means reading),
        with the owners' counter items following their 0 <-> non-zero transitions.
        """
        actions = []
        for item in groups:
            old_unread = _unread_of(item)
            is_sender = item["pk"] == _group_pk(sender_uuid)
            if not count_unread:
                new_unread = old_unread
            elif is_sender:
                new_unread = 0
            else:
                new_unread = old_unread + 1
            actions.append(
                {
                    "Delete": {
                        "TableName": self.table_name,
                        "Key": _typed_key(item["pk"], item["sk"]),
                        **self._unchanged_group(item),
                    }
                }
            )
            # Copying the old item keeps the other person's name/handle and anything unknown.
            moved = {**item, "sk": sort_key, "message": text, "unread": new_unread}
            actions.append(self._put_new(moved))
            if old_unread == 0 and new_unread > 0:
                actions.append(self._counter_update(item["pk"], 1))
            elif old_unread > 0 and new_unread == 0:
                actions.append(self._counter_update(item["pk"], -1))
        return actions

    # C + D atomically: store the message, move both group items to it, raise the recipient's
    # unread count; retried on conflict. NotFound if the group has no items.
    def create_message(
        self,
        *,
        message_group_uuid: str,
        sender: UserRef,
        text: str,
        participants: Sequence[MessageGroup] | None = None,
    ) -> Message:
        """`participants`: the conversation's group items as the caller has just read them
        (`get_participants`, for its membership check). The first attempt builds its
        conditions from them instead of reading them again (one request and 0.5 RCU less per
        send); a retry re-reads. They are as fresh as this method's own read (the same GSI
        query) and stale ones only fail the conditions, so a retry is all they can cost. A
        group item holds exactly the attributes `_group_item` writes, so rebuilding it from
        the dataclass loses nothing.
        """
        _require_text(text)
        known = None
        if participants is not None:
            known = [
                _group_item(
                    owner_uuid=group.owner_uuid,
                    other=group.other_user,
                    group_uuid=group.message_group_uuid,
                    sort_key=group.sort_key,
                    text=group.last_message,
                    unread=group.unread,
                )
                for group in participants
                if group.message_group_uuid == message_group_uuid
            ]
        return self._send(message_group_uuid, sender, text, group_may_lag=False, known=known)

    def _send(
        self,
        message_group_uuid: str,
        sender: UserRef,
        text: str,
        *,
        group_may_lag: bool,
        known: list[dict[str, Any]] | None = None,
    ) -> Message:
        message_uuid = str(uuid.uuid4())
        attempted: list[Message] = []
        supplied = [] if known is None else [known]  # for the first attempt only

        def build(collided: bool) -> list[dict[str, Any]]:
            groups = supplied.pop() if supplied else self._group_items(message_group_uuid)
            if not groups and not group_may_lag:
                raise NotFound("That conversation does not exist.")
            _check_pair_of_groups(groups)
            if _group_pk(sender.uuid) not in {item["pk"] for item in groups}:
                raise NotFound("That conversation does not exist.")
            # Strictly the newest: after every group item's time, and after our own previous
            # attempt if its key was taken.
            moment = max([_utcnow()] + [parse_sort_key(g["sk"]) + _ONE_MICROSECOND for g in groups])
            message = _next_attempt(
                moment,
                attempted if collided else [],
                message_uuid,
                message_group_uuid,
                sender,
                text,
            )
            sort_key = message.sort_key
            attempted.append(message)
            return [self._put_new(_message_item(message))] + self._moved_groups(
                groups, sort_key=sort_key, text=text, sender_uuid=sender.uuid
            )

        self._transact(build, what="send the message")
        return attempted[-1]

    def advance_groups(self, *, message: Message) -> int:
        """Pattern D for a message already stored (the DynamoDB Streams handler).

        Moves both group items to `message` if it is newer than what they point at, raising the
        recipient's unread count, in one transaction with the same conditions as
        `create_message`. Idempotent: a replayed or older message, or one `create_message`
        already handled, moves nothing. Returns how many group items moved.
        """
        moved: list[int] = [0]
        attempted: list[datetime] = []

        def build(collided: bool) -> list[dict[str, Any]] | None:
            groups = self._group_items(message.message_group_uuid)
            if not groups:
                return None
            _check_pair_of_groups(groups)
            behind = [g for g in groups if parse_sort_key(g["sk"]) < message.created_at]
            moved[0] = len(behind)
            if not behind:
                return None
            moment = message.created_at
            if collided and attempted:
                moment = max(moment, attempted[-1] + _ONE_MICROSECOND)
            attempted.append(moment)
            return self._moved_groups(
                behind,
                sort_key=format_sort_key(moment),
                text=message.text,
                sender_uuid=message.sender.uuid,
            )

        if not self._transact(build, what="move the conversation to its newest message"):
            return 0
        return moved[0]

    def message_from_image(self, image: dict[str, Any]) -> Message | None:
        """The message in a typed item image (a stream record's NewImage), or None if the item
        is not a message (group, pair and counter items)."""
        item = _to_plain(image)
        if not str(item.get("pk", "")).startswith(_MESSAGE_PREFIX) or "sk" not in item:
            return None
        return _message_from_item(item)

    # A new conversation with its first message. If the pair already has one (also when both
    # start it at the same moment), the message goes into that one. Returns (group uuid, message).
    def create_message_group(
        self, *, sender: UserRef, recipient: UserRef, text: str
    ) -> tuple[str, Message]:
        _require_text(text)
        if sender.uuid == recipient.uuid:
            raise ValueError("A conversation needs two different people.")
        group_uuid = str(uuid.uuid4())
        message_uuid = str(uuid.uuid4())
        existing: list[str] = []
        attempted: list[Message] = []

        def build(collided: bool) -> list[dict[str, Any]] | None:
            found = self.find_message_group(user_uuid=sender.uuid, other_user_uuid=recipient.uuid)
            if found:
                existing.append(found)
                return None
            moment = _utcnow()
            message = _next_attempt(
                moment, attempted if collided else [], message_uuid, group_uuid, sender, text
            )
            sort_key = message.sort_key
            attempted.append(message)
            shared = {"group_uuid": group_uuid, "sort_key": sort_key, "text": text}
            return [
                self._put_new(
                    {
                        "pk": _pair_pk(sender.uuid, recipient.uuid),
                        "sk": PAIR_SORT_KEY,
                        "group_uuid": group_uuid,
                    }
                ),
                self._put_new(_message_item(message)),
                self._put_new(
                    _group_item(owner_uuid=sender.uuid, other=recipient, unread=0, **shared)
                ),
                self._put_new(
                    _group_item(owner_uuid=recipient.uuid, other=sender, unread=1, **shared)
                ),
                self._counter_update(_group_pk(recipient.uuid), 1),
            ]

        if self._transact(build, what="start the conversation"):
            return group_uuid, attempted[-1]
        # Someone (maybe the recipient, at the same moment) started it first: join theirs. Its
        # group items were written with the PAIR item, but the GSI may not show them yet.
        found = existing[-1]
        return found, self._send(found, sender, text, group_may_lag=True)

    # Clear the owner's unread count for a group (idempotent, never below zero).
    def mark_read(self, *, group: MessageGroup) -> None:
        if group.unread <= 0:
            return
        owner_pk = _group_pk(group.owner_uuid)
        as_read = [{"pk": owner_pk, "sk": group.sort_key, "unread": group.unread}]

        def build(collided: bool) -> list[dict[str, Any]] | None:
            # First the row the caller read; after a lost race (a send moved it), where it is now.
            if as_read:
                item: dict[str, Any] | None = as_read.pop()
            else:
                mine = [
                    g for g in self._group_items(group.message_group_uuid) if g["pk"] == owner_pk
                ]
                if len(mine) > 1:
                    raise _Stale("two group items for one owner")
                item = mine[0] if mine else None
            if item is None or _unread_of(item) <= 0:
                return None
            condition = self._unchanged_group(item)
            condition["ExpressionAttributeValues"][":zero"] = {"N": "0"}
            # The read marker: everything up to the row's message is read (see repair_unread).
            condition["ExpressionAttributeNames"]["#read"] = "last_read_sk"
            condition["ExpressionAttributeValues"][":read"] = {"S": item["sk"]}
            return [
                {
                    "Update": {
                        "TableName": self.table_name,
                        "Key": _typed_key(item["pk"], item["sk"]),
                        "UpdateExpression": "SET #unread = :zero, #read = :read",
                        **condition,
                    }
                },
                self._counter_update(owner_pk, -1),
            ]

        self._transact(build, what="mark the conversation read")

    # --- unread repair, for tables written by older code ---

    def repair_unread(
        self, *, owner_uuids: Iterable[str] | None = None, dry_run: bool = False
    ) -> UnreadRepair:
        """Recompute unread counts, and each owner's counter, from the messages themselves.

        The rule: a row's unread count is the number of messages from the other person that
        are newer than what the owner has read. What the owner has read ends at the later of
        (a) the row's `last_read_sk`, which mark_read sets to the row's sort key when it
        clears the count, and (b) the owner's own newest message, since sending means reading.
        Rows written by older code have no `last_read_sk`: only (b) applies, so a conversation
        the owner read but never answered counts as unread. Messages newer than the row itself
        are left out: the move that is still coming (the Streams handler) will count them.

        Every write is conditioned on the row (or counter) being as read, like the other
        writes, so this is safe while people send and read; running it twice changes nothing.
        `owner_uuids` limits it to those inboxes; by default every owner found in the sparse
        GSI (group rows only). `dry_run` reports without writing.
        """
        owners = sorted(set(owner_uuids)) if owner_uuids is not None else self._group_owners()
        fixes: list[UnreadFix] = []
        groups = 0
        for owner_uuid in owners:
            unread_rows = 0
            counter_delta = 0  # what the row fixes add to the counter (as their writes do)
            for item in self._owner_groups(owner_uuid):
                groups += 1
                stored, unread = _unread_of(item), self._count_unread(item)
                unread_rows += unread > 0
                if unread == stored:
                    continue
                counter_delta += (unread > 0) - (stored > 0)
                fixes.append(UnreadFix(owner_uuid, item["message_group_uuid"], stored, unread))
                if not dry_run:
                    self._repair_group(item)
            dry_run_counts = (unread_rows, counter_delta) if dry_run else None
            fix = self._repair_counter(owner_uuid, dry_run_counts=dry_run_counts)
            if fix is not None:
                fixes.append(fix)
        return UnreadRepair(owners=len(owners), groups=groups, fixes=tuple(fixes))

    def _group_owners(self) -> list[str]:
        # The GSI holds group rows only, so this scan never reads a message.
        owners = set()
        for page in self._pages(
            "scan", TableName=self.table_name, IndexName=GSI_NAME, ProjectionExpression="pk"
        ):
            owners |= {_to_plain(item)["pk"].removeprefix(_GROUP_PREFIX) for item in page["Items"]}
        return sorted(owners)

    def _owner_groups(self, owner_uuid: str) -> list[dict[str, Any]]:
        """Every group row of one owner (consistent read; the counter item left out)."""
        items: list[dict[str, Any]] = []
        for page in self._pages(
            "query",
            TableName=self.table_name,
            KeyConditionExpression="pk = :pk AND sk < :counter",
            ExpressionAttributeValues={
                ":pk": {"S": _group_pk(owner_uuid)},
                ":counter": {"S": UNREAD_SORT_KEY},
            },
            ConsistentRead=True,
        ):
            items += [_to_plain(item) for item in page["Items"]]
        return items

    def _count_unread(self, group: dict[str, Any]) -> int:
        """The unread count of one group row by the rule in `repair_unread`."""
        owner_uuid = group["pk"].removeprefix(_GROUP_PREFIX)
        row_at = _time_of(group["sk"])
        if row_at is None:
            raise GatewayError(
                f"The row {group['pk']} / {group['sk']!r} has a sort key that is not a time; "
                "fix or delete it, then run the repair again."
            )
        read_until = _time_of(group.get("last_read_sk"))  # a damaged marker counts as none
        unread = 0
        # Newest first, stopping at the first message the owner has read. Times are compared
        # parsed, not as strings: older code wrote keys with local offsets.
        for page in self._pages(
            "query",
            TableName=self.table_name,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": _message_pk(group["message_group_uuid"])}},
            ProjectionExpression="sk, user_uuid",
            ScanIndexForward=False,
            ConsistentRead=True,
        ):
            for raw in page["Items"]:
                message = _to_plain(raw)
                sent_at = _time_of(message["sk"])
                if sent_at is None or sent_at > row_at:
                    continue
                if message.get("user_uuid") == owner_uuid or (
                    read_until is not None and sent_at <= read_until
                ):
                    return unread
                unread += 1
        return unread

    def _repair_group(self, item: dict[str, Any]) -> None:
        owner_uuid = item["pk"].removeprefix(_GROUP_PREFIX)
        first = [item]

        def build(collided: bool) -> list[dict[str, Any]] | None:
            # The row as read first; after a lost race (a send moved it, a read cleared it),
            # as it is now.
            row = (
                first.pop()
                if first
                else self._owner_group_item(owner_uuid, item["message_group_uuid"])
            )
            if row is None:
                return None
            old, new = _unread_of(row), self._count_unread(row)
            if old == new:
                return None
            condition = self._unchanged_group(row)
            condition["ExpressionAttributeValues"][":new"] = {"N": str(new)}
            actions = [
                {
                    "Update": {
                        "TableName": self.table_name,
                        "Key": _typed_key(row["pk"], row["sk"]),
                        "UpdateExpression": "SET #unread = :new",
                        **condition,
                    }
                }
            ]
            if old == 0 and new > 0:
                actions.append(self._counter_update(row["pk"], 1))
            elif old > 0 and new == 0:
                actions.append(self._counter_update(row["pk"], -1))
            return actions

        self._transact(build, what="repair the unread count")

    def _repair_counter(
        self, owner_uuid: str, *, dry_run_counts: tuple[int, int] | None
    ) -> UnreadFix | None:
        """Set the owner's counter to the number of unread rows, if it differs.

        The write holds only while the counter is still the value read: a concurrent send or
        read that changes it also changed the rows, so both are read again. A dry run passes
        (rows that would be unread, what the row fixes would add to the counter) instead.
        """
        found: list[UnreadFix] = []
        key = _typed_key(_group_pk(owner_uuid), UNREAD_SORT_KEY)

        def build(collided: bool) -> list[dict[str, Any]] | None:
            found.clear()
            response = self._call(
                "get_item", TableName=self.table_name, Key=key, ConsistentRead=True
            )
            counter = _to_plain(response["Item"]) if response.get("Item") else {}
            stored = counter.get("conversations")
            if dry_run_counts is not None:
                want, delta = dry_run_counts
                if int(stored or 0) + delta != want:
                    found.append(UnreadFix(owner_uuid, None, int(stored or 0) + delta, want))
                return None
            want = sum(1 for row in self._owner_groups(owner_uuid) if _unread_of(row) > 0)
            if int(stored or 0) == want:
                return None
            found.append(UnreadFix(owner_uuid, None, int(stored or 0), want))
            values = {":want": {"N": str(want)}}
            condition = "attribute_not_exists(#n)"
            if stored is not None:
                condition = "#n = :stored"
                values[":stored"] = {"N": str(stored)}
            return [
                {
                    "Update": {
                        "TableName": self.table_name,
                        "Key": key,
                        "UpdateExpression": "SET #n = :want",
                        "ConditionExpression": condition,
                        "ExpressionAttributeNames": {"#n": "conversations"},
                        "ExpressionAttributeValues": values,
                    }
                }
            ]

        self._transact(build, what="repair the unread counter")
        return found[0] if found else None

    # Idempotent bulk import (seed, benchmarks): messages, the PAIR item, and both group items
    # pointed at the newest message (never moved back if newer messages already exist).
    def import_conversation(
        self,
        *,
        message_group_uuid: str,
        participants: tuple[UserRef, UserRef],
        messages: list[NewMessage],
    ) -> None:
        first, second = participants
        if first.uuid == second.uuid:
            raise ValueError("A conversation needs two different people.")
        if not messages:
            raise ValueError("A conversation to import needs at least one message.")
        items: dict[str, dict[str, Any]] = {}
        for new in messages:
            if new.sender.uuid not in (first.uuid, second.uuid):
                raise ValueError(f"{new.sender.handle} is not in this conversation.")
            _require_text(new.text)
            sort_key = format_sort_key(new.created_at)
            if sort_key in items:
                raise ValueError(f"Two messages share the time {sort_key}; one would be lost.")
            items[sort_key] = _message_item(
                Message(
                    message_uuid=new.message_uuid,
                    message_group_uuid=message_group_uuid,
                    sender=new.sender,
                    text=new.text,
                    created_at=new.created_at,
                    sort_key=sort_key,
                )
            )
        self._batch_put(list(items.values()))
        self._put_pair(first.uuid, second.uuid, message_group_uuid)

        newest = items[max(items)]
        newest_at = parse_sort_key(newest["sk"])
        attempted: list[datetime] = []

        def build(collided: bool) -> list[dict[str, Any]] | None:
            moment = newest_at
            if collided and attempted:
                moment = attempted[-1] + _ONE_MICROSECOND
            attempted.append(moment)
            sort_key = format_sort_key(moment)
            actions = []
            for owner, other in ((first, second), (second, first)):
                item = self._owner_group_item(owner.uuid, message_group_uuid)
                if item is None:
                    new_item = _group_item(
                        owner_uuid=owner.uuid,
                        other=other,
                        group_uuid=message_group_uuid,
                        sort_key=sort_key,
                        text=newest["message"],
                        unread=0,
                    )
                    actions.append(self._put_new(new_item))
                elif parse_sort_key(item["sk"]) < newest_at:
                    actions += self._moved_groups(
                        [item],
                        sort_key=sort_key,
                        text=newest["message"],
                        sender_uuid=newest["user_uuid"],
                        count_unread=False,
                    )
            return actions or None

        self._transact(build, what="import the conversation")

    def _owner_group_item(self, owner_uuid: str, message_group_uuid: str) -> dict[str, Any] | None:
        # A consistent read of the owner's partition, not the GSI: after a recent import the
        # GSI may lag and a second group item would be created.
        found = []
        for page in self._pages(
            "query",
            TableName=self.table_name,
            KeyConditionExpression="pk = :pk AND sk < :counter",
            FilterExpression="message_group_uuid = :group",
            ExpressionAttributeValues={
                ":pk": {"S": _group_pk(owner_uuid)},
                ":counter": {"S": UNREAD_SORT_KEY},
                ":group": {"S": message_group_uuid},
            },
            ConsistentRead=True,
        ):
            found += [_to_plain(item) for item in page["Items"]]
        if len(found) > 1:
            raise GatewayError(
                f"User {owner_uuid} has {len(found)} inbox rows for conversation "
                f"{message_group_uuid}; delete the older ones."
            )
        return found[0] if found else None

    def _put_pair(self, user_uuid: str, other_user_uuid: str, message_group_uuid: str) -> None:
        try:
            self._call(
                "put_item",
                TableName=self.table_name,
                Item=_to_typed(
                    {
                        "pk": _pair_pk(user_uuid, other_user_uuid),
                        "sk": PAIR_SORT_KEY,
                        "group_uuid": message_group_uuid,
                    }
                ),
                ConditionExpression="attribute_not_exists(pk) OR group_uuid = :group",
                ExpressionAttributeValues={":group": {"S": message_group_uuid}},
            )
        except _Rejected as rejected:
            other = self.find_message_group(user_uuid=user_uuid, other_user_uuid=other_user_uuid)
            raise Conflict(
                f"These two people already have conversation {other}; "
                f"import into that one instead of {message_group_uuid}."
            ) from rejected

    def _batch_put(self, items: list[dict[str, Any]]) -> None:
        """BatchWriteItem in chunks of 25; unprocessed items are sent again, never dropped."""
        for start in range(0, len(items), _BATCH_SIZE):
            chunk = items[start : start + _BATCH_SIZE]
            pending = {self.table_name: [{"PutRequest": {"Item": _to_typed(i)}} for i in chunk]}
            for attempt in range(_BATCH_ATTEMPTS):
                response = self._call("batch_write_item", RequestItems=pending)
                pending = response.get("UnprocessedItems") or {}
                if not pending:
                    break
                time.sleep(_backoff(attempt))
            else:
                left = sum(len(requests) for requests in pending.values())
                raise Throttled(
                    f"DynamoDB left {left} items unprocessed after {_BATCH_ATTEMPTS} attempts; "
                    "run the import again (it is idempotent)."
                )

    # --- schema and operations ---

    def create_schema(self, *, billing_mode: str = "PAY_PER_REQUEST", stream: bool = False) -> bool:
        """Create the table and its GSI and wait until ACTIVE; False if it already exists."""
        if billing_mode not in ("PAY_PER_REQUEST", "PROVISIONED"):
            raise ValueError(
                f"billing_mode is PAY_PER_REQUEST or PROVISIONED, not {billing_mode!r}."
            )
        throughput = {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
        index: dict[str, Any] = {
            "IndexName": GSI_NAME,
            "KeySchema": [
                {"AttributeName": "message_group_uuid", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "ALL"},
        }
        params: dict[str, Any] = {
            "TableName": self.table_name,
            "AttributeDefinitions": [
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
                {"AttributeName": "message_group_uuid", "AttributeType": "S"},
            ],
            "KeySchema": [
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            "GlobalSecondaryIndexes": [index],
            "BillingMode": billing_mode,
        }
        if billing_mode == "PROVISIONED":
            params["ProvisionedThroughput"] = throughput
            index["ProvisionedThroughput"] = throughput
        if stream:
            params["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}
        try:
            self._call("create_table", **params)
        except _AwsError as error:
            if error.code == "ResourceInUseException":
                return False
            raise
        self._wait("table_exists", self.table_name)
        return True

    def drop_schema(self, *, table_name: str | None = None) -> None:
        """Delete the table and wait until it is gone; TableNotFound if it does not exist."""
        name = table_name or self.table_name
        self._call("delete_table", TableName=name)
        self._wait("table_not_exists", name)

    def _wait(self, waiter_name: str, table_name: str) -> None:
        waiter = self.client.get_waiter(waiter_name)
        with self._translated_errors(waiter_name, table_name):
            try:
                waiter.wait(TableName=table_name, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
            except WaiterError as error:
                raise GatewayError(
                    f"Table '{table_name}' did not reach the expected state: {error}"
                ) from error

    def list_tables(self, *, page_size: int | None = None) -> list[str]:
        """Every table name, following every page (`page_size` mostly for tests)."""
        config = {"PageSize": page_size} if page_size else {}
        names: list[str] = []
        for page in self._pages("list_tables", PaginationConfig=config):
            names += page.get("TableNames", [])
        return names

    def scan(self, *, page_size: int | None = None) -> Iterator[dict[str, Any]]:
        """Every item of the table as a plain dict (integral numbers as int), every page."""
        config = {"PageSize": page_size} if page_size else {}
        for page in self._pages("scan", TableName=self.table_name, PaginationConfig=config):
            for item in page.get("Items", []):
                yield _to_plain(item)

    def ping(self) -> None:
        """DescribeTable; raises Unavailable / TableNotFound."""
        self._call("describe_table", TableName=self.table_name)

    def describe_stream_arn(self) -> str | None:
        """The ARN of the table's stream, or None when streams are off."""
        table = self._call("describe_table", TableName=self.table_name)["Table"]
        if not table.get("StreamSpecification", {}).get("StreamEnabled"):
            return None
        return table.get("LatestStreamArn")


# --- usage accounting: what each DynamoDB call read, wrote and cost ---


@dataclass(frozen=True)
class CallUsage:
    operation: str
    items: int  # items read (returned) by the call
    bytes_read: int
    read_units: float
    write_units: float


@dataclass
class Usage:
    """The DynamoDB calls made inside one `track_usage()` block (e.g. one web request)."""

    calls: list[CallUsage] = field(default_factory=list)
    capacity_source: str = "computed from item sizes by AWS's rules"

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


_current_usage: ContextVar[Usage | None] = ContextVar("dynamodb_usage", default=None)


@contextmanager
def track_usage() -> Iterator[Usage]:
    """Collect every DynamoDB call made in this block (this thread / context only)."""
    usage = Usage()
    token = _current_usage.set(usage)
    try:
        yield usage
    finally:
        _current_usage.reset(token)


_READ_UNIT = 4096
_WRITE_UNIT = 1024


def item_size(item: dict[str, Any]) -> int:
    """An item's size as DynamoDB bills it: UTF-8 names plus values (typed JSON in)."""
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def _value_size(value: dict[str, Any]) -> int:
    (kind, data), *_ = value.items()
    if kind == "S":
        return len(data.encode())
    if kind == "N":
        digits = data.lstrip("-").replace(".", "").strip("0") or "0"
        return (len(digits) + 1) // 2 + 1
    if kind == "B":
        return len(data)
    if kind in {"BOOL", "NULL"}:
        return 1
    if kind == "M":
        return 3 + sum(len(k.encode()) + _value_size(v) + 1 for k, v in data.items())
    if kind == "L":
        return 3 + sum(_value_size(v) + 1 for v in data)
    if kind == "SS":
        return sum(len(member.encode()) for member in data)
    if kind == "NS":
        return sum(_value_size({"N": member}) for member in data)
    return len(str(data))


def _units(size: int, unit: int) -> int:
    return max(1, -(-size // unit))


def _write_units_of(action: dict[str, Any]) -> int:
    # Put: the item written. Delete/Update/ConditionCheck: the request does not carry the
    # stored item, so they are counted at their key's size (one unit for our small items).
    (kind, body), *_ = action.items()
    return _units(item_size(body.get("Item") or body.get("Key") or {}), _WRITE_UNIT)


def _reported_units(response: dict[str, Any]) -> float:
    consumed = response.get("ConsumedCapacity") or []
    if isinstance(consumed, dict):
        consumed = [consumed]
    return sum(float(entry.get("CapacityUnits") or 0) for entry in consumed)


def _measure(
    operation: str, params: dict[str, Any], response: dict[str, Any], *, on_aws: bool
) -> CallUsage:
    """The capacity of one call: AWS's own figure on AWS, else computed by AWS's rules."""
    items = response.get("Items")
    if items is None:
        items = [response["Item"]] if response.get("Item") else []
    size = sum(item_size(item) for item in items)
    read_units = write_units = 0.0
    if operation in {"query", "scan", "get_item"}:
        # A Query or Scan rounds the summed size once; eventually consistent reads cost half.
        read_units = _units(size, _READ_UNIT) * (1.0 if params.get("ConsistentRead") else 0.5)
    elif operation == "transact_write_items":
        write_units = 2.0 * sum(_write_units_of(action) for action in params["TransactItems"])
    elif operation in {"put_item", "delete_item", "update_item"}:
        write_units = float(_write_units_of({"Put": params}))
    elif operation == "batch_write_item":
        write_units = float(
            sum(
                _write_units_of({"Put": request.get("PutRequest") or request["DeleteRequest"]})
                for requests in params["RequestItems"].values()
                for request in requests
            )
        )
    if on_aws and operation in _CAPACITY_OPERATIONS:
        reported = _reported_units(response)
        if operation in {"query", "scan", "get_item"}:
            read_units = reported
        else:
            write_units = reported
    return CallUsage(operation, len(items), size, read_units, write_units)


# --- building the gateway ---


@dataclass(frozen=True)
class _AwsSettings:
    endpoint_url: str | None
    region: str
    table_name: str
    max_attempts: int


def _read_settings() -> _AwsSettings:
    """Django settings, or the environment when no Django project is configured (Lambda)."""
    try:
        from django.conf import settings
        from django.core.exceptions import ImproperlyConfigured
    except ImportError:
        return _settings_from_environ()
    try:
        return _AwsSettings(
            endpoint_url=settings.AWS_ENDPOINT_URL or None,
            region=settings.AWS_DEFAULT_REGION,
            table_name=settings.DDB_MESSAGE_TABLE,
            max_attempts=int(settings.AWS_MAX_ATTEMPTS),
        )
    except ImproperlyConfigured:
        return _settings_from_environ()


def _settings_from_environ() -> _AwsSettings:
    return _AwsSettings(
        endpoint_url=os.environ.get("AWS_ENDPOINT_URL") or None,
        region=os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION") or "us-east-1",
        table_name=os.environ.get("DDB_MESSAGE_TABLE") or "cruddur-messages",
        max_attempts=int(os.environ.get("AWS_MAX_ATTEMPTS") or 4),
    )


_gateways: dict[tuple[Any, ...], MessagesGateway] = {}
_gateways_lock = threading.Lock()


def get_gateway(*, prod: bool = False) -> MessagesGateway:
    """The gateway built lazily from settings (prod=True ignores AWS_ENDPOINT_URL)."""
    config = _read_settings()
    endpoint_url = None if prod else config.endpoint_url
    key = (prod, endpoint_url, config.region, config.table_name, config.max_attempts)
    with _gateways_lock:
        gateway = _gateways.get(key)
        if gateway is None:
            # boto3 sessions are not thread-safe (clients are): a new one, under the lock. A
            # new session also reads credentials afresh.
            client = boto3.session.Session().client(
                "dynamodb",
                endpoint_url=endpoint_url,
                region_name=config.region,
                **emulator_credentials(endpoint_url),
                config=Config(
                    retries={"mode": "standard", "total_max_attempts": config.max_attempts},
                    connect_timeout=_CONNECT_TIMEOUT,
                    read_timeout=_READ_TIMEOUT,
                    max_pool_connections=_POOL_CONNECTIONS,
                    # Settings are the one source of the endpoint: botocore would otherwise
                    # also read AWS_ENDPOINT_URL from the environment, even for --prod.
                    ignore_configured_endpoint_urls=True,
                ),
            )
            gateway = MessagesGateway(client=client, table_name=config.table_name)
            _gateways[key] = gateway
    return gateway


def reset_gateways() -> None:
    """Forget every cached gateway (tests: handlers registered on a client must not leak)."""
    with _gateways_lock:
        _gateways.clear()
