"""The benchmark's DynamoDB: moto's server, requests isolated, with two scale fixes.

moto 5.2.5 does two things that make its latency grow with the size of the whole table, which
DynamoDB does not do (a Query reads one partition; a transaction touches its own items):

- every Query sorts *every item of the table* (`Table.all_items()`) and then keeps the
  partition asked for: ~0.11 s per Query at 10,000 items, ~1 s at 100,000;
- every TransactWriteItems deep-copies the whole table once *per action*, for rollback:
  ~1.8 s for a send (5 or 6 actions) at 10,000 items, ~20 s at 100,000.

At 100,000 messages that is slower than the gateway's 5-second read timeout, so stock moto
cannot serve the large benchmark at all. In "scaled" mode (the default) this emulator:

- answers a table Query from the queried partition only, and a GSI Query from the items whose
  index key matches (a pass over the table, without the sort);
- backs up, for a transaction's rollback, only the items the transaction touches, once.

Results are identical: the same items, order, pages and errors (checked by
tests/test_bench_smoke.py); only the time changes. Stream records written by a cancelled
transaction are not rolled back (the benchmark's table has no stream). `POST /_bench/mode`
with body `stock` or `scaled` switches at run time, so the benchmark can time stock moto on
the same data.

Like management/emulator.py (the one `make run` uses), one lock serialises DynamoDB requests:
moto's server threads are otherwise not isolated, and a sort of the table while another
thread inserts fails with "dictionary changed size during iteration".

Usage: python -m bench.emulator --port 5002
"""

from __future__ import annotations

import argparse
import copy
import inspect
import threading
import urllib.request
from collections import defaultdict
from typing import Any

from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table

from management.emulator import isolate_dynamodb_requests

MODE_PATH = "/_bench/mode"


class _State(threading.local):
    # The items of the transaction being applied, by table: {table name: {(hash, range)}}.
    touched: dict[str, set[tuple[Any, Any]]] | None = None
    backups: dict[int, Table] | None = None


_state = _State()
_mode = {"scaled": True}
_originals: dict[str, Any] = {}


def set_scaled(scaled: bool) -> None:
    _mode["scaled"] = scaled


def is_scaled() -> bool:
    return _mode["scaled"]


# --- Query: read the partition (or the matching index items), not a sort of the table ---


def _partition_view(table: Table, hash_key: DynamoType) -> defaultdict:
    view: defaultdict = defaultdict(dict)
    if hash_key in table.items:
        view[hash_key] = table.items[hash_key]
    return view


def _matches(item: Any, wanted: dict[str, DynamoType]) -> bool:
    for name, value in wanted.items():
        found = item.attrs.get(name)
        if found is None or found != value:
            return False
    return True


def _index_view(table: Table, wanted: dict[str, DynamoType]) -> defaultdict:
    view: defaultdict = defaultdict(dict)
    for hash_key, partition in table.items.items():
        matching = {
            range_key: item for range_key, item in partition.items() if _matches(item, wanted)
        }
        if matching:
            view[hash_key] = matching
    return view


def _scaled_query(self: Table, *args: Any, **kwargs: Any):
    original = _originals["query"]
    if not is_scaled():
        return original(self, *args, **kwargs)
    bound = _originals["query_signature"].bind(self, *args, **kwargs)
    hash_key = bound.arguments.get("hash_key")
    index_name = bound.arguments.get("index_name")
    conditions = bound.arguments.get("hash_key_conditions") or []
    if index_name:
        index = self.get_index(index_name)
        hash_names = [key["AttributeName"] for key in index.schema if key["KeyType"] == "HASH"]
        wanted = dict(conditions) if conditions else {hash_names[0]: hash_key}
        view = _index_view(self, wanted)
    elif hash_key is not None and all(name == self.hash_key_attr for name, _ in conditions):
        view = _partition_view(self, hash_key)
    else:
        return original(self, *args, **kwargs)
    # moto's query reads self.items through all_items(); show it only what can match. The
    # emulator's lock makes this swap invisible to other requests.
    items = self.items
    self.items = view
    try:
        return original(self, *args, **kwargs)
    finally:
        self.items = items


# --- TransactWriteItems: back up the touched items once, not the table once per action ---


def _touched_keys(backend: DynamoDBBackend, transact_items: list[dict[str, Any]]):
    touched: dict[str, set[tuple[Any, Any]]] = defaultdict(set)
    for action in transact_items:
        _, operation = next(iter(action.items()))
        table = backend.tables.get(operation.get("TableName"))
        if table is None:
            continue
        key = operation.get("Item") or operation.get("Key") or {}
        if table.hash_key_attr not in key:
            continue
        hash_key = DynamoType(key[table.hash_key_attr])
        range_key = None
        if table.range_key_attr and table.range_key_attr in key:
            range_key = DynamoType(key[table.range_key_attr])
        touched[table.name].add((hash_key, range_key))
    return touched


def _partial_backup(table: Table, keys: set[tuple[Any, Any]]) -> Table:
    """A Table to roll back to: the live partitions, except the touched items, copied."""
    backup = copy.copy(table)
    backup.items = defaultdict(dict, table.items)
    for hash_key, range_key in keys:
        if hash_key not in table.items:
            continue
        if range_key is None or not table.range_key_attr:
            backup.items[hash_key] = copy.deepcopy(table.items[hash_key])
            continue
        partition = dict(table.items[hash_key])  # puts and deletes replace entries...
        if range_key in partition:  # ...updates change the item in place
            partition[range_key] = copy.deepcopy(partition[range_key])
        backup.items[hash_key] = partition
    return backup


class _CopyModule:
    """Stands in for `copy` inside moto.dynamodb.models, where the table backup is made."""

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)

    @staticmethod
    def deepcopy(value: Any, memo: dict[int, Any] | None = None) -> Any:
        if _state.touched is None or not isinstance(value, Table):
            return copy.deepcopy(value, memo)
        backups = _state.backups
        assert backups is not None
        if id(value) not in backups:
            backups[id(value)] = _partial_backup(value, _state.touched.get(value.name, set()))
        return backups[id(value)]


def _scaled_transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]):
    original = _originals["transact_write_items"]
    if not is_scaled():
        return original(self, transact_items)
    _state.touched = _touched_keys(self, transact_items)
    _state.backups = {}
    try:
        return original(self, transact_items)
    finally:
        _state.touched = _state.backups = None


def install_scale_fixes() -> None:
    """Patch moto (idempotent); `set_scaled(False)` turns the fixes off without unpatching."""
    if _originals:
        return
    import moto.dynamodb.models as models

    _originals["query"] = Table.query
    _originals["query_signature"] = inspect.signature(Table.query)
    _originals["transact_write_items"] = DynamoDBBackend.transact_write_items
    _originals["copy"] = models.copy
    Table.query = _scaled_query
    DynamoDBBackend.transact_write_items = _scaled_transact_write_items
    models.copy = _CopyModule()


def remove_scale_fixes() -> None:
    if not _originals:
        return
    import moto.dynamodb.models as models

    Table.query = _originals.pop("query")
    _originals.pop("query_signature")
    DynamoDBBackend.transact_write_items = _originals.pop("transact_write_items")
    models.copy = _originals.pop("copy")


def _post(url: str, body: bytes = b"") -> str:
    if not url.startswith("http://127.0.0.1:"):
        raise ValueError(f"Not the local emulator: {url}")
    request = urllib.request.Request(url, data=body, method="POST")  # noqa: S310 (checked)
    with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 (checked)
        return answer.read().decode().strip()


def reset(endpoint: str) -> None:
    """Wipe every table of the running emulator (moto's own reset)."""
    _post(f"{endpoint}/moto-api/reset")


def switch_mode(endpoint: str, mode: str) -> None:
    """Make the running emulator `stock` or `scaled`."""
    if _post(f"{endpoint}{MODE_PATH}", mode.encode()) != mode:
        raise RuntimeError(f"The emulator at {endpoint} did not switch to {mode}.")


def _with_mode_switch(app):
    def switching_app(environ, start_response):
        if environ.get("PATH_INFO") != MODE_PATH:
            return app(environ, start_response)
        if environ.get("REQUEST_METHOD") == "POST":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length).decode().strip()
            if body not in ("stock", "scaled"):
                start_response("400 Bad Request", [("Content-Type", "text/plain")])
                return [b"say stock or scaled\n"]
            set_scaled(body == "scaled")
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"scaled\n" if is_scaled() else b"stock\n"]

    return switching_app


def main() -> None:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from moto.server import MotoRequestHandler
    from werkzeug.serving import run_simple

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="Address to listen on.")
    parser.add_argument("--port", type=int, required=True, help="Port to listen on.")
    parser.add_argument("--stock", action="store_true", help="Start in stock mode.")
    args = parser.parse_args()
    isolate_dynamodb_requests()
    install_scale_fixes()
    set_scaled(not args.stock)
    app = _with_mode_switch(DomainDispatcherApplication(create_backend_app))
    run_simple(args.host, args.port, app, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
