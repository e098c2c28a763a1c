"""The table client: the one way to DynamoDB.

Every request goes through `Table.call` (or `Table.pages`, `Table.wait`): the one place for
error translation, capacity metering and logging (and `count_contention` counts throttles and
transaction conflicts in every answer, retried ones too). `Table.transact` is the one retry
loop for conditional transactions, and `Table.batch_write` the one batch writer.

A table's retry budget is its client's (botocore's attempts) and its `write_attempts` (how
often `transact` plans a write again after a lost race): the factory builds one table client
for what may wait and one for what a page waits on (cruddur/aws.py sets both budgets).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from botocore.exceptions import (
    ClientError,
    HTTPClientError,
    NoCredentialsError,
    PartialCredentialsError,
    WaiterError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

from cruddur import metrics
from cruddur.aws import is_aws

from ..errors import Conflict, StoreError, TableNotFound, Throttled, Unavailable
from . import metering
from .items import ONE_MICROSECOND, to_plain, to_typed, typed_key

T = TypeVar("T")

logger = logging.getLogger("messaging.dynamo")

# Conditional writes that lose to concurrent writers are retried: capped exponential backoff
# with full jitter. Measured: 50 concurrent senders on one conversation, the unluckiest needs
# ~12 attempts; a smaller cap means more wasted attempts, not less waiting.
_WRITE_ATTEMPTS = 25
_BACKOFF_BASE = 0.02
_BACKOFF_CAP = 1.0
_BATCH_SIZE = 25
_BATCH_ATTEMPTS = 10

_THROTTLING_CODES = frozenset(
    {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"}
)
_THROTTLING_REASONS = frozenset({"ProvisionedThroughputExceeded", "ThrottlingError"})
_RETRYABLE_REASONS = frozenset({"ConditionalCheckFailed", "TransactionConflict"})


class Rejected(Conflict):
    """A condition failed (or a transaction was cancelled); the caller decides on a retry."""

    def __init__(self, message: str, *, reasons: tuple[str, ...]):
        super().__init__(message)
        self.reasons = reasons  # one code per transaction action, "None" where it passed

    @property
    def retryable(self) -> bool:
        failed = [reason for reason in self.reasons if reason != "None"]
        return bool(failed) and all(reason in _RETRYABLE_REASONS for reason in failed)


class AwsError(StoreError):
    """Any other AWS error, keeping its code for the few callers that expect one."""

    def __init__(self, message: str, *, code: str):
        super().__init__(message)
        self.code = code


class Stale(Exception):
    """What was read cannot be written against (a lagging GSI): read again."""


def backoff(attempt: int) -> float:
    return random.uniform(0, min(_BACKOFF_CAP, _BACKOFF_BASE * 2**attempt))


def count_contention(response: tuple[Any, dict[str, Any]] | None = None, **kwargs: Any) -> None:
    """A botocore `needs-retry` handler: counts every answer of DynamoDB that was a throttle
    or a transaction conflict (cruddur/metrics.py), each attempt botocore retries included,
    which `translated_errors` never sees. Decides nothing (returns None: botocore's retry
    handler decides)."""
    if response is None:  # no answer (a connection error)
        return
    parsed = response[1]
    code = parsed.get("Error", {}).get("Code", "")
    reasons = {str(reason.get("Code")) for reason in parsed.get("CancellationReasons", ())}
    if code in _THROTTLING_CODES or _THROTTLING_REASONS & reasons:
        metrics.DYNAMODB_THROTTLES.inc()
    if code == "TransactionConflictException" or "TransactionConflict" in reasons:
        metrics.TRANSACTION_CONFLICTS.inc()


# --- transactions: a plan reads, decides and returns what to write; `transact` retries it ---


@dataclass(frozen=True)
class Write(Generic[T]):
    """A transaction to write, and what the plan returns if it commits."""

    actions: list[dict[str, Any]]
    result: T
    at: datetime | None = None  # the time the new items take, if the plan picks one


@dataclass(frozen=True)
class Done(Generic[T]):
    """Nothing to write: the plan's result as it stands."""

    result: T


@dataclass(frozen=True)
class Attempt(Generic[T]):
    number: int
    previous: Write[T] | None = None  # the last attempt that was sent and lost
    collided: bool = False  # ... because one of its new items landed on a taken key

    def not_before(self, moment: datetime) -> datetime:
        """`moment`, or just after the previous attempt's time if that key was taken (another
        conversation of the same owner in the same microsecond)."""
        if self.collided and self.previous is not None and self.previous.at is not None:
            return max(moment, self.previous.at + ONE_MICROSECOND)
        return moment


Plan = Callable[[Attempt[T]], "Write[T] | Done[T]"]


# --- the table ---


@dataclass
class Table:
    """One DynamoDB table through one client."""

    client: Any
    name: str
    write_attempts: int = _WRITE_ATTEMPTS  # plans `transact` writes before it gives up
    on_aws: bool = field(init=False)  # on AWS, ConsumedCapacity is the bill

    def __post_init__(self) -> None:
        self.on_aws = is_aws(self.client.meta.endpoint_url)
        self.client.meta.events.register(
            "needs-retry.dynamodb", count_contention, unique_id="cruddur-count-contention"
        )

    def call(self, operation: str, **params: Any) -> dict[str, Any]:
        """Send one request: error translation, consumed capacity and logging happen here."""
        if operation in metering.CAPACITY_OPERATIONS:
            params.setdefault("ReturnConsumedCapacity", "TOTAL")
        with self.translated_errors(operation, params.get("TableName", self.name)):
            response = getattr(self.client, operation)(**params)
        self._record(operation, params, response)
        return response

    def pages(self, operation: str, **params: Any) -> Iterator[dict[str, Any]]:
        """Every page of a paginated operation (botocore's paginator), each one recorded."""
        if operation in metering.CAPACITY_OPERATIONS:
            params.setdefault("ReturnConsumedCapacity", "TOTAL")
        pages = self.client.get_paginator(operation).paginate(**params)
        with self.translated_errors(operation, params.get("TableName", self.name)):
            for page in pages:
                self._record(operation, params, page)
                yield page

    def query(self, **params: Any) -> dict[str, Any]:
        return self.call("query", TableName=self.name, **params)

    def get(self, pk: str, sk: str) -> dict[str, Any] | None:
        """One item by its key (a consistent read), as plain Python; None if there is none."""
        response = self.call(
            "get_item", TableName=self.name, Key=typed_key(pk, sk), ConsistentRead=True
        )
        item = response.get("Item")
        return to_plain(item) if item else None

    def wait(self, waiter_name: str, table_name: str) -> None:
        waiter = self.client.get_waiter(waiter_name)
        with self.translated_errors(waiter_name, table_name):
            try:
                waiter.wait(TableName=table_name, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
            except WaiterError as error:
                raise StoreError(
                    f"Table '{table_name}' did not reach the expected state: {error}"
                ) from error

    def _record(self, operation: str, params: dict[str, Any], response: dict[str, Any]) -> None:
        call = metering.record(operation, params, response, on_aws=self.on_aws)
        logger.debug(
            "dynamodb %s items=%d bytes=%d rcu=%g wcu=%g (%s)",
            operation,
            call.items,
            call.bytes_read,
            call.read_units,
            call.write_units,
            "reported by AWS" if self.on_aws else "computed",
        )

    # --- errors ---

    @contextmanager
    def translated_errors(self, operation: str, table_name: str) -> Iterator[None]:
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
        if self.on_aws:
            region = self.client.meta.region_name
            return (
                f"Cannot reach DynamoDB in region {region} ({endpoint}). Check the network "
                "connection and that AWS_DEFAULT_REGION is right."
            )
        return (
            f"Cannot reach DynamoDB at {endpoint}. Is the local stack running? "
            "Start it with `make run`."
        )

    def _translate(self, error: ClientError, operation: str, table_name: str) -> StoreError:
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
            return Rejected(message, reasons=("ConditionalCheckFailed",))
        if code == "TransactionConflictException":
            return Rejected(message, reasons=("TransactionConflict",))
        if code == "TransactionCanceledException":
            reasons = tuple(
                str(reason.get("Code") or "None")
                for reason in error.response.get("CancellationReasons", ())
            )
            if _THROTTLING_REASONS.intersection(reasons):
                return Throttled(
                    f"DynamoDB is throttling writes to table '{table_name}'; try again in a moment."
                )
            return Rejected(f"DynamoDB cancelled the transaction: {message}", reasons=reasons)
        return AwsError(f"DynamoDB {operation} failed ({code}): {message}", code=code)

    # --- writes ---

    def transact(self, plan: Plan[T], *, what: str) -> T:
        """Run `plan` and write its transaction, reading again and retrying while it loses a
        race; returns the result of the plan that was written (or had nothing to write).

        `plan(attempt)` reads what it needs and returns a `Write` or, when there is nothing to
        write, `Done`; it raises `Stale` when what it read cannot be written against yet.
        """
        attempt: Attempt[T] = Attempt(number=0)
        for number in range(self.write_attempts):
            try:
                step = plan(attempt)
            except Stale as stale:
                logger.debug("retrying %s: %s", what, stale)
                time.sleep(backoff(number))
                attempt = Attempt(number + 1, attempt.previous, attempt.collided)
                continue
            if isinstance(step, Done):
                return step.result
            try:
                self.call("transact_write_items", TransactItems=step.actions)
                return step.result
            except Rejected as rejected:
                if not rejected.retryable:
                    raise StoreError(f"Could not {what}: {rejected}") from rejected
                collided = any(
                    reason == "ConditionalCheckFailed" and "Put" in action
                    for reason, action in zip(rejected.reasons, step.actions, strict=False)
                )
                logger.debug("retrying %s after %s", what, rejected.reasons)
                time.sleep(backoff(number))
                attempt = Attempt(number + 1, step, collided)
        raise Conflict(
            f"Could not {what}: too many people changed this conversation at once; try again."
        )

    def batch_put(self, items: list[dict[str, Any]]) -> None:
        """Put plain items with BatchWriteItem (see `batch_write`)."""
        self.batch_write([{"PutRequest": {"Item": to_typed(item)}} for item in items])

    def batch_delete(self, keys: list[tuple[str, str]]) -> None:
        """Delete items by (pk, sk) with BatchWriteItem (see `batch_write`); deleting an item
        that is not there is no error."""
        self.batch_write([{"DeleteRequest": {"Key": typed_key(pk, sk)}} for pk, sk in keys])

    def batch_write(self, requests: list[dict[str, Any]]) -> None:
        """BatchWriteItem in chunks of 25; unprocessed requests are sent again, never dropped.

        Not a transaction: a failure leaves the chunks before it written, so callers write
        what is safe to write again (puts of fixed items, deletes).
        """
        for start in range(0, len(requests), _BATCH_SIZE):
            pending = {self.name: requests[start : start + _BATCH_SIZE]}
            for attempt in range(_BATCH_ATTEMPTS):
                response = self.call("batch_write_item", RequestItems=pending)
                pending = response.get("UnprocessedItems") or {}
                if not pending:
                    break
                time.sleep(backoff(attempt))
            else:
                left = sum(len(waiting) for waiting in pending.values())
                raise Throttled(
                    f"DynamoDB left {left} items unprocessed after {_BATCH_ATTEMPTS} attempts; "
                    "run the same command again (it is idempotent)."
                )
