"""Capacity metering: what each DynamoDB call read, wrote and cost.

`Table` hands every response to `record()`; `track_usage()` collects the calls made inside a
block (one web request, one command). On AWS the capacity is AWS's own figure; emulators
report made-up numbers, so elsewhere it is computed from the item sizes by AWS's rules.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

# Operations that can return ConsumedCapacity.
CAPACITY_OPERATIONS = frozenset(
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


def measure(
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
    if on_aws and operation in CAPACITY_OPERATIONS:
        reported = _reported_units(response)
        if operation in {"query", "scan", "get_item"}:
            read_units = reported
        else:
            write_units = reported
    return CallUsage(operation, len(items), size, read_units, write_units)


def record(
    operation: str, params: dict[str, Any], response: dict[str, Any], *, on_aws: bool
) -> CallUsage:
    """Account one call to the current `track_usage()` block, if any; returns its usage."""
    call = measure(operation, params, response, on_aws=on_aws)
    usage = _current_usage.get()
    if usage is not None:
        usage.calls.append(call)
        if on_aws:
            usage.capacity_source = "reported by AWS"
    return call
