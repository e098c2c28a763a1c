"""Capacity metering: what each DynamoDB call read, wrote and cost, by AWS's rules.

`Table` hands every response to `record()`, which measures the call and adds it to the
request's tally (cruddur/request_cost.py: `track_usage()` collects the calls of one web
request or one command run; the project reads the figures from there, never from here). On
AWS the capacity is AWS's own figure (the `ConsumedCapacity` the table asks for); emulators
report made-up numbers, so elsewhere it is computed from the item sizes by AWS's rules.
Each call answered also counts in `cruddur_dynamodb_requests_total` (cruddur/metrics.py).
"""

from __future__ import annotations

from typing import Any

from cruddur import metrics
from cruddur.request_cost import CallUsage, record_call

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
    return CallUsage(operation, len(items), size, read_units, write_units, reported=on_aws)


def record(
    operation: str, params: dict[str, Any], response: dict[str, Any], *, on_aws: bool
) -> CallUsage:
    """Measure one call and add it to the current `track_usage()` block, if any; count it
    (`cruddur_dynamodb_requests_total`, which every process keeps, in or out of a block)."""
    call = measure(operation, params, response, on_aws=on_aws)
    record_call(call)
    metrics.DYNAMODB_REQUESTS.labels(operation=operation).inc()
    return call
