"""AWS Lambda handler for the DynamoDB stream of the messages table (optional).

The original design moved both group items to a new message (pattern D) in a Lambda fed by
the table's stream. This app does that synchronously in `create_message`, so the handler is
only needed by deployments that still write messages without the move (the original's
`create_message`). It is safe beside the synchronous update: a message the app already
handled is a no-op here. Deployment: docs/STREAM_HANDLER.md.

The store does the work (`DynamoStore.advance_inboxes`, the same move as `create_message`),
so this module holds only the record handling. Without a Django project the store reads its
settings from the environment (DDB_MESSAGE_TABLE, AWS_REGION, optionally AWS_ENDPOINT_URL).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from messaging.dynamo import DynamoStore, get_dynamo_store
from messaging.dynamo.items import message_from_image
from messaging.errors import Conflict, Unavailable

logger = logging.getLogger("messaging.stream")


class StreamBatchError(Exception):
    """Some records could not be applied for now; Lambda retries the batch (idempotent)."""


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, int]:
    """Apply every record of the batch; raise if any failed transiently so Lambda retries."""
    return handle_records(event.get("Records", []), store=get_dynamo_store())


def handle_records(records: Iterable[dict[str, Any]], *, store: DynamoStore) -> dict[str, int]:
    """Move the conversations of the messages in `records` to them; returns a summary.

    Every record is taken (the original read only the first). REMOVE records and items that
    are not messages are skipped; a record that cannot be a message is logged and skipped
    (retrying would never help). Records are applied in any order: an older one never moves a
    conversation back, so replays and at-least-once delivery are harmless.
    """
    summary = {"records": 0, "moved": 0, "unchanged": 0, "skipped": 0, "invalid": 0, "failed": 0}
    for record in records:
        summary["records"] += 1
        outcome = _handle_record(record, store=store)
        summary[outcome] += 1
    logger.info("stream batch: %s", summary)
    if summary["failed"]:
        raise StreamBatchError(
            f"{summary['failed']} of {summary['records']} records could not be applied; "
            "the batch will be retried."
        )
    return summary


def _handle_record(record: dict[str, Any], *, store: DynamoStore) -> str:
    if record.get("eventName") == "REMOVE":
        return "skipped"
    change = record.get("dynamodb", {})
    image = change.get("NewImage")
    if image is None:
        logger.error(
            "stream record %s has no NewImage: set the stream view type to NEW_IMAGE",
            change.get("SequenceNumber"),
        )
        return "invalid"
    try:
        message = message_from_image(image)
    except (KeyError, TypeError, ValueError) as error:
        logger.error(
            "stream record %s is not a readable item: %s", change.get("SequenceNumber"), error
        )
        return "invalid"
    if message is None:
        return "skipped"
    try:
        moved = store.advance_inboxes(message=message)
    except (Unavailable, Conflict) as error:
        logger.warning("stream record %s not applied yet: %s", change.get("SequenceNumber"), error)
        return "failed"
    return "moved" if moved else "unchanged"
