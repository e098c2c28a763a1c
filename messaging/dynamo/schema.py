"""Schema administration: create and drop the table, list tables, scan, describe."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from . import items
from .table import AwsError, Table

BILLING_MODES = ("PAY_PER_REQUEST", "PROVISIONED")


def create(table: Table, *, billing_mode: str = "PAY_PER_REQUEST", stream: bool = False) -> bool:
    """Create the table and its GSI and wait until ACTIVE; False if it already exists."""
    if billing_mode not in BILLING_MODES:
        raise ValueError(f"billing_mode is PAY_PER_REQUEST or PROVISIONED, not {billing_mode!r}.")
    throughput = {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
    index: dict[str, Any] = {
        "IndexName": items.GSI_NAME,
        "KeySchema": [
            {"AttributeName": "message_group_uuid", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        "Projection": {"ProjectionType": "ALL"},
    }
    params: dict[str, Any] = {
        "TableName": table.name,
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
        table.call("create_table", **params)
    except AwsError as error:
        if error.code == "ResourceInUseException":
            return False
        raise
    table.wait("table_exists", table.name)
    enable_expiry(table)
    mark_current(table)
    return True


def enable_expiry(table: Table) -> None:
    """Turn on DynamoDB's TTL for `expires_at` (idempotency keys); nothing if it is on."""
    try:
        table.call(
            "update_time_to_live",
            TableName=table.name,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": items.EXPIRES_AT},
        )
    except AwsError as error:
        if error.code != "ValidationException" or "already enabled" not in str(error):
            raise


def version(table: Table) -> int:
    """The table's schema version: `items.CURRENT_SCHEMA`, or 1 for the original's shape."""
    item = table.get(*items.SCHEMA_KEY)
    return int(item.get("version", 1)) if item else 1


def mark_current(table: Table) -> None:
    """Record that the table has this app's shape (PAIR items, unread fields and counters)."""
    pk, sk = items.SCHEMA_KEY
    table.call(
        "put_item",
        TableName=table.name,
        Item=items.to_typed({"pk": pk, "sk": sk, "version": items.CURRENT_SCHEMA}),
    )


def drop(table: Table, *, table_name: str | None = None) -> None:
    """Delete the table and wait until it is gone; TableNotFound if it does not exist."""
    name = table_name or table.name
    table.call("delete_table", TableName=name)
    table.wait("table_not_exists", name)


def list_tables(table: Table, *, page_size: int | None = None) -> list[str]:
    """Every table name, following every page (`page_size` mostly for tests)."""
    config = {"PageSize": page_size} if page_size else {}
    names: list[str] = []
    for page in table.pages("list_tables", PaginationConfig=config):
        names += page.get("TableNames", [])
    return names


def scan(table: Table, *, page_size: int | None = None) -> Iterator[dict[str, Any]]:
    """Every item of the table as plain Python (integral numbers as int), every page."""
    config = {"PageSize": page_size} if page_size else {}
    for page in table.pages("scan", TableName=table.name, PaginationConfig=config):
        for item in page.get("Items", []):
            yield items.to_plain(item)


def describe(table: Table) -> dict[str, Any]:
    """DescribeTable; raises Unavailable / TableNotFound."""
    return table.call("describe_table", TableName=table.name)["Table"]


def stream_arn(table: Table) -> str | None:
    """The ARN of the table's stream, or None when streams are off."""
    description = describe(table)
    if not description.get("StreamSpecification", {}).get("StreamEnabled"):
        return None
    return description.get("LatestStreamArn")
