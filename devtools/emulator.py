"""The local AWS emulator: moto's server (DynamoDB, DynamoDB Streams, Cognito on one port) made
to behave like AWS where this project depends on it, and to stay fast as the table grows.

`make run` (scripts/run-local.sh) and the benchmark (bench/run.py) run this emulator; the tests
run moto as released with the isolation alone (tests/conftest.py), and check the speed-ups
apart. It is moto's own server plus three things:

1. Isolation. moto serves each HTTP request on its own thread and applies a TransactWriteItems
   item by item, so two concurrent transactions can both pass their conditions (measured:
   duplicate inbox entries). AWS isolates each request; one lock around moto's DynamoDB
   handler does the same here. Races *between* requests, the ones the store handles, remain.

2. Speed-ups (`install_speedups`). Stock moto sorts every item of the table for each Query and
   deep-copies the whole table once per action of each transaction (for its rollback): a send
   costs seconds at 10,000 items, and the lock makes everyone wait for it. It also parses each
   condition anew every time it meets one: a third of its time for a send, at any size. The
   speed-ups change how much moto reads, copies and parses, never what it decides: moto's own
   code still filters, sorts, pages, checks conditions and builds every answer and error.
   They are for the emulator's process: the test suite runs stock moto, and
   tests/integration/test_emulator.py installs them for its own tests only, to check that the
   answers are the same with and without them and to fail if a moto upgrade changes the
   functions patched here.

3. The server: `GET /_emulator/ping` answers "ok" at once, before moto's dispatcher, so that
   a liveness check never serialises moto's state (`/moto-api/data.json` takes a minute with
   data); and its process keeps garbage collection from walking moto's whole state
   (`_freeze_survivors`).

Usage: python -m devtools.emulator [--host 127.0.0.1] [--port 5001] [--stock]
(Development only: moto is in requirements-dev.txt, and nothing in the app imports this.)
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import functools
import gc
import inspect
import json
import threading
import urllib.request
import weakref
from collections import Counter, defaultdict
from types import SimpleNamespace
from typing import Any

import moto.dynamodb.comparisons as comparisons
import moto.dynamodb.models as dynamodb_models
import moto.dynamodb.models.table as table_module
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
from moto.dynamodb.responses import DynamoHandler
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server, run_simple

PING_PATH = "/_emulator/ping"

# --- 1. isolation --------------------------------------------------------------------------

# Reentrant: a request that (through moto) makes another DynamoDB call on its thread must not
# wait for itself.
_request_lock = threading.RLock()


def isolate_dynamodb_requests() -> None:
    """One DynamoDB request at a time, as AWS isolates each request (idempotent)."""
    call_action = DynamoHandler.call_action
    if getattr(call_action, "isolated", False):
        return

    def isolated_call_action(self):
        with _request_lock:
            return call_action(self)

    isolated_call_action.isolated = True
    DynamoHandler.call_action = isolated_call_action


# --- 2. speed-ups ---------------------------------------------------------------------------
#
# Query: moto's Table.query takes its candidates from `self.all_items()` (every item, sorted)
# and then keeps those whose keys match. While a Query runs, the patched `all_items` returns,
# for that table on that thread only, the items that *can* match, sorted by moto's own
# `all_items`: the queried partition for a table Query; for an index Query, the items whose
# index hash attribute has the queried value, from `_AttributeIndex`. moto's filter then keeps
# exactly what it kept before, in the same order.
#
# TransactWriteItems: moto backs a table up with `copy.deepcopy(table)` (in
# moto.dynamodb.models, once per action) and on failure puts the backup in the table's place.
# While a transaction runs, the `copy` that module sees makes that backup from the live table
# with only the items the transaction names copied (its actions can change no others), once
# per table and transaction.
#
# Conditions: moto parses a ConditionExpression (or FilterExpression) into a tree of
# operations every time it meets one, twice per action of a transaction (to check it, then
# in the write): a third of moto's time for a send. The tree depends only on the expression,
# its names and its values, and moto only evaluates it: each distinct one is parsed once
# (the last 1,024 kept).

# What the speed-ups did, for the tests to see that the fast path is taken (no timing).
stats: Counter[str] = Counter()

# The functions patched, with the parameters they had when the patches were written (moto
# 5.2.5). Another moto may call or use them differently: `check_moto` refuses it.
_EXPECTED = {
    (Table, "query"): (
        "self, hash_key, range_comparison, range_objs, limit, exclusive_start_key, "
        "scan_index_forward, projection_expressions, index_name, consistent_read, "
        "filter_expression, hash_key_conditions, range_key_conditions, filter_kwargs"
    ),
    (Table, "all_items"): "self",
    (Table, "put_item"): (
        "self, item_attrs, expected, condition_expression, expression_attribute_names, "
        "expression_attribute_values, overwrite, return_values_on_condition_check_failure"
    ),
    (DynamoDBBackend, "update_item"): (
        "self, table_name, key, update_expression, expression_attribute_names, "
        "expression_attribute_values, attribute_updates, expected, condition_expression, "
        "return_values_on_condition_check_failure"
    ),
    (DynamoDBBackend, "transact_write_items"): "self, transact_items",
    (comparisons, "get_filter_expression"): "expr, names, values",
}
_originals: dict[tuple[Any, str], Any] = {}
_query_signature = inspect.signature(Table.query)


class _State(threading.local):
    query_view: tuple[Table, defaultdict] | None = None  # the table queried, what it may read
    transaction: dict[Table, set[tuple[DynamoType, DynamoType | None]]] | None = None
    backups: dict[Table, Table] | None = None


_state = _State()


def _key_of(table: Table, attrs: dict[str, Any]) -> tuple[DynamoType, DynamoType | None] | None:
    """(hash, range) of a request's item or key, as moto keys `table.items`; None if absent."""
    if table.hash_key_attr not in attrs:
        return None
    range_key = None
    if table.range_key_attr is not None:
        if table.range_key_attr not in attrs:
            return None
        range_key = DynamoType(attrs[table.range_key_attr])
    return DynamoType(attrs[table.hash_key_attr]), range_key


def _safe_key(table: Table, attrs: Any) -> tuple[DynamoType, DynamoType | None] | None:
    try:
        return _key_of(table, attrs)
    except Exception:  # a malformed request, which moto rejects before storing anything
        return None


def _untracked_copy(model: Any) -> Any:
    """A shallow copy of a moto model object. Not `copy.copy`: moto keeps every model object
    it makes in a list until reset, and a backup per transaction would pile up there."""
    twin = object.__new__(type(model))
    twin.__dict__.update(model.__dict__)
    return twin


def _stored(table: Table, hash_key: DynamoType, range_key: DynamoType | None):
    # `.get`, never `[]`: `table.items` is a defaultdict and must not grow from a read.
    partition = table.items.get(hash_key)
    if partition is None or table.range_key_attr is None:
        return partition
    return partition.get(range_key)


class _AttributeIndex:
    """Which items of one table hold which value of one attribute: {value: {(hash, range)}}.

    Built on the first index Query on the attribute, then told of every item moto stores or
    updates (the patched `Table.put_item` and `DynamoDBBackend.update_item`: every write path
    of moto ends in one of them). It may list keys that no longer hold the value (deleted,
    replaced, updated since): each read checks the item and forgets those. It never misses
    one, which is all a Query needs from it.
    """

    def __init__(self, table: Table, name: str):
        self.name = name
        self.keys: defaultdict[DynamoType, set] = defaultdict(set)
        for hash_key, partition in table.items.items():
            if table.range_key_attr is None:
                self.note(hash_key, None, partition)
            else:
                for range_key, item in partition.items():
                    self.note(hash_key, range_key, item)
        stats["index_builds"] += 1

    def note(self, hash_key: DynamoType, range_key: DynamoType | None, item: Any) -> None:
        value = item.attrs.get(self.name)
        if value is None:
            return
        with contextlib.suppress(TypeError):  # a list or map: never equal to a key's value
            self.keys[value].add((hash_key, range_key))

    def holding(self, table: Table, value: DynamoType) -> defaultdict:
        """The items holding `value`, shaped like `table.items`."""
        found: defaultdict = defaultdict(dict)
        current = set()
        for hash_key, range_key in self.keys.get(value, ()):
            item = _stored(table, hash_key, range_key)
            held = None if item is None else item.attrs.get(self.name)
            if held is not None and held == value:
                current.add((hash_key, range_key))
                if table.range_key_attr is None:
                    found[hash_key] = item
                else:
                    found[hash_key][range_key] = item
        if current:
            self.keys[value] = current
        else:
            self.keys.pop(value, None)
        return found


# Per table object: moto replaces a table object on restore, on reset, and on a transaction's
# rollback (the backup below shares its table's indexes: it holds a subset of its items).
_indexes: weakref.WeakKeyDictionary[Table, dict[str, _AttributeIndex]] = weakref.WeakKeyDictionary()


def _note_write(table: Table, key: tuple[DynamoType, DynamoType | None] | None) -> None:
    indexes = _indexes.get(table)
    if not indexes or key is None:
        return
    item = _stored(table, *key)
    if item is not None:
        for index in indexes.values():
            index.note(*key, item)


def _put_item(self: Table, item_attrs: dict[str, Any], *args: Any, **kwargs: Any):
    key = _safe_key(self, item_attrs)
    try:
        return _originals[Table, "put_item"](self, item_attrs, *args, **kwargs)
    finally:  # also after an error: moto may have stored the item before raising it
        _note_write(self, key)


def _update_item(self: DynamoDBBackend, table_name: str, key: dict[str, Any], *args, **kwargs):
    try:
        table = self.get_table(table_name)
    except Exception:  # moto's own error follows
        table = None
    try:
        return _originals[DynamoDBBackend, "update_item"](self, table_name, key, *args, **kwargs)
    finally:  # an update changes the item in place, possibly its indexed attributes
        if table is not None:
            _note_write(table, _safe_key(table, key))


def _query_view(table: Table, arguments: dict[str, Any]) -> defaultdict | None:
    """The items a Query can return, shaped like `table.items`; None: let moto read them all."""
    index_name = arguments["index_name"]
    conditions = dict(arguments["hash_key_conditions"] or ())
    if not index_name:
        hash_key = arguments["hash_key"]
        if hash_key is None or set(conditions) - {table.hash_key_attr}:
            return None
        stats["partition_queries"] += 1
        view: defaultdict = defaultdict(dict)
        if hash_key in table.items:
            view[hash_key] = table.items[hash_key]
        return view
    index = {index.name: index for index in table.all_indexes()}.get(index_name)
    if index is None:
        return None  # moto's own error
    hash_names = [key["AttributeName"] for key in index.schema if key["KeyType"] == "HASH"]
    if not hash_names or hash_names[0] not in conditions:
        return None  # moto reads a query without the index's hash key differently
    name = hash_names[0]
    indexes = _indexes.setdefault(table, {})
    if name not in indexes:
        indexes[name] = _AttributeIndex(table, name)
    stats["index_queries"] += 1
    return indexes[name].holding(table, conditions[name])


def _query(self: Table, *args: Any, **kwargs: Any):
    original = _originals[Table, "query"]
    bound = _query_signature.bind(self, *args, **kwargs)
    bound.apply_defaults()
    view = _query_view(self, bound.arguments)
    if view is None:
        return original(self, *args, **kwargs)
    _state.query_view = (self, view)
    try:
        return original(self, *args, **kwargs)
    finally:
        _state.query_view = None


def _all_items(self: Table):
    original = _originals[Table, "all_items"]
    if _state.query_view is None or _state.query_view[0] is not self:
        return original(self)
    # moto's own all_items over the view: the same order as over the whole table. A stand-in,
    # not a copy of the Table: moto records every Table object ever made.
    stand_in = SimpleNamespace(items=_state.query_view[1], range_key_attr=self.range_key_attr)
    items = original(stand_in)
    stats["view_reads"] += 1
    stats["items_read"] += len(items)
    return items


def _backup(table: Table, keys: set[tuple[DynamoType, DynamoType | None]]) -> Table:
    """What moto puts back if the transaction fails: the table as it is now, sharing every
    partition the transaction cannot change, with the items it names copied."""
    backup = _untracked_copy(table)
    backup.items = defaultdict(dict, table.items)
    copied: set[DynamoType] = set()
    for hash_key, range_key in keys:
        if hash_key not in table.items:
            continue
        if table.range_key_attr is None:
            backup.items[hash_key] = copy.deepcopy(table.items[hash_key])
            continue
        if hash_key not in copied:  # a put or delete replaces an entry of the partition...
            backup.items[hash_key] = dict(table.items[hash_key])
            copied.add(hash_key)
        partition = backup.items[hash_key]
        if range_key in partition:  # ...an update changes the item in place
            partition[range_key] = copy.deepcopy(partition[range_key])
    if table.stream_shard is not None:
        # Stream records written by the failed transaction go with the table, as in moto.
        backup.stream_shard = _untracked_copy(table.stream_shard)
        backup.stream_shard.items = list(table.stream_shard.items)
        backup.stream_shard.table = backup
    if table in _indexes:
        _indexes[backup] = _indexes[table]
    stats["partial_backups"] += 1
    return backup


class _TransactionCopy:
    """The `copy` module as moto.dynamodb.models sees it while the speed-ups are installed."""

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)

    def deepcopy(self, value: Any, memo: dict[int, Any] | None = None) -> Any:
        touched, backups = _state.transaction, _state.backups
        if touched is None or backups is None or not isinstance(value, Table):
            return copy.deepcopy(value, memo)
        if value not in backups:
            backups[value] = _backup(value, touched.get(value, set()))
        return backups[value]


def _transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]):
    touched: dict[Table, set] = defaultdict(set)
    for action in transact_items:
        try:
            _, operation = next(iter(action.items()))
            table = self.get_table(operation["TableName"])
        except Exception:  # noqa: S112 (moto rejects the action itself, before writing)
            continue
        key = _safe_key(table, operation.get("Item") or operation.get("Key") or {})
        if key is not None:
            touched[table].add(key)
    _state.transaction, _state.backups = touched, {}
    try:
        return _originals[DynamoDBBackend, "transact_write_items"](self, transact_items)
    finally:
        _state.transaction = _state.backups = None


@functools.lru_cache(maxsize=1024)
def _parsed_condition(key: str):
    stats["conditions_parsed"] += 1
    return comparisons.get_filter_expression(*json.loads(key))


def _get_filter_expression(expr: str | None, names: Any = None, values: Any = None):
    if not expr:  # nothing to parse (a Query without a filter)
        return comparisons.get_filter_expression(expr, names, values)
    try:
        key = json.dumps([expr, names, values], sort_keys=True)
    except TypeError:  # not as a request's JSON holds it: parsed each time, as by moto
        return comparisons.get_filter_expression(expr, names, values)
    stats["conditions_met"] += 1
    return _parsed_condition(key)


_PATCHES = {
    (Table, "query"): _query,
    (Table, "all_items"): _all_items,
    (Table, "put_item"): _put_item,
    (DynamoDBBackend, "update_item"): _update_item,
    (DynamoDBBackend, "transact_write_items"): _transact_write_items,
    (dynamodb_models, "copy"): _TransactionCopy(),
    (dynamodb_models, "get_filter_expression"): _get_filter_expression,
    (table_module, "get_filter_expression"): _get_filter_expression,
}


def check_moto() -> list[str]:
    """What in the installed moto differs from what the speed-ups were written for."""
    problems = []
    for (owner, name), expected in _EXPECTED.items():
        function = _originals.get((owner, name), getattr(owner, name, None))
        if function is None:
            problems.append(f"{owner.__name__}.{name} is gone")
            continue
        found = ", ".join(inspect.signature(function).parameters)
        if found != expected:
            problems.append(f"{owner.__name__}.{name}({found}), expected ({expected})")
    module_copy = _originals.get((dynamodb_models, "copy"), dynamodb_models.copy)
    if module_copy is not copy:
        problems.append("moto.dynamodb.models no longer imports the copy module as `copy`")
    for module in (dynamodb_models, table_module):
        parse = _originals.get((module, "get_filter_expression"))
        if (parse or getattr(module, "get_filter_expression", None)) is not (
            comparisons.get_filter_expression
        ):
            problems.append(f"{module.__name__} no longer imports get_filter_expression")
    return problems


def install_speedups() -> None:
    """Patch moto (idempotent). Refuses a moto whose patched functions have changed."""
    if _originals:
        return
    if problems := check_moto():
        raise RuntimeError(
            "The emulator's speed-ups were written for another moto: "
            + "; ".join(problems)
            + ". Pin moto back in requirements-dev.txt, update devtools/emulator.py, "
            "or run the emulator with --stock."
        )
    for (owner, name), replacement in _PATCHES.items():
        _originals[owner, name] = getattr(owner, name)
        setattr(owner, name, replacement)


def remove_speedups() -> None:
    """Stock moto again (idempotent)."""
    for (owner, name), original in _originals.items():
        setattr(owner, name, original)
    _originals.clear()
    _indexes.clear()  # writes made without the patches are not in them
    _parsed_condition.cache_clear()


def speedups_installed() -> bool:
    return bool(_originals)


# --- 3. the server --------------------------------------------------------------------------


def make_app():
    """moto's WSGI app, with the ping answered before moto's dispatcher sees the request."""
    moto_app = DomainDispatcherApplication(create_backend_app)

    def app(environ, start_response):
        if environ.get("PATH_INFO") == PING_PATH:
            start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "3")])
            return [b"ok\n"]
        return moto_app(environ, start_response)

    return app


def _freeze_survivors(phase: str, info: dict[str, Any]) -> None:
    # A full garbage collection walks every object, and moto keeps each item as dozens of
    # them: at 10,000 messages one stalled every request for ~0.35 s (measured), and it grows
    # with the table. What survives a full collection is moto's long-lived state, so it is
    # frozen (left out of later collections; freed as usual once unreferenced): the next full
    # collection walks only what is newer (~0.05 s). For the emulator's own process only.
    if phase == "stop" and info["generation"] == 2:
        gc.freeze()


def install(*, speedups: bool = True) -> None:
    isolate_dynamodb_requests()
    if speedups:
        install_speedups()


class ThreadedEmulator:
    """The emulator on a thread of this process (port 0: a free one), for the tests: requests
    isolated, and moto as released unless `speedups` (which patch this whole process's moto)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, speedups: bool = False):
        install(speedups=speedups)
        self._server = make_server(
            host, port, make_app(), threaded=True, request_handler=MotoRequestHandler
        )
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> ThreadedEmulator:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join()
        self._server.server_close()


def reset(endpoint: str) -> None:
    """Wipe everything in the emulator at `endpoint` (moto's own reset)."""
    if not endpoint.startswith("http://127.0.0.1:"):
        raise ValueError(f"Not a local emulator: {endpoint}")
    request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")  # noqa: S310
    urllib.request.urlopen(request, timeout=30).close()  # noqa: S310 (http, checked above)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="Address to listen on.")
    parser.add_argument("--port", type=int, default=5001, help="Port to listen on.")
    parser.add_argument(
        "--stock", action="store_true", help="Without the speed-ups (slow at scale)."
    )
    args = parser.parse_args()
    install(speedups=not args.stock)
    gc.callbacks.append(_freeze_survivors)
    run_simple(args.host, args.port, make_app(), threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
