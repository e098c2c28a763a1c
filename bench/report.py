"""Put one run's figures into docs/BENCHMARKS.md, whose text is written by hand.

Each `<!-- bench:NAME -->` ... `<!-- /bench:NAME -->` block of the document holds a table (or a
line) made from bench-results.json, and every run replaces them; the text around the blocks is
never generated, so it must hold whatever the figures say.
"""

from __future__ import annotations

import math
import re
import statistics
from itertools import product
from typing import Any

PAGES = {
    "floor": "floor (trivial view)",
    "inbox": "inbox",
    "conversation": "conversation",
    "conversation_page3": "conversation page 3",
    "send": "send (POST)",
    "edit": "edit (POST)",
    "unsend": "unsend (POST)",
    "hide": "hide (POST)",
}
# The servers measured, by the store each serves from; all gunicorn as deployed but "asgi".
STORES = {"moto": "DynamoDB (moto)", "memory": "in-memory", "asgi": "in-memory, ASGI (uvicorn)"}
COSTS = ("dynamodb_requests", "items", "bytes", "rcu", "wcu", "sql_queries")
FLAT = ("dynamodb_requests", "items", "rcu", "wcu")  # not bytes: they follow the texts read
WSGI_AND_ASGI = (("wsgi", "memory"), ("asgi", "asgi"))  # the same app under each
MAX_INBOX_RCU = 1.0
MIN_SHARE_OF_FLOOR = 0.6


def _number(value: float) -> str:
    if value != value:  # NaN: nothing was measured
        return "–"
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}".rstrip("0").rstrip(".")


def _cost(cost: dict[str, Any], name: str) -> str:
    if not cost:
        return "–"
    text, low, high = (_number(cost[name][key]) for key in ("median", "min", "max"))
    return text if low == high else f"{text} ({low}–{high})"


def _table(head: str, rows: list[list[Any]], text_columns: int) -> str:
    """A Markdown table; the columns after the first `text_columns` are right-aligned figures."""
    columns = head.split(" | ")
    align = ["---"] * text_columns + ["---:"] * (len(columns) - text_columns)
    return "\n".join(f"| {' | '.join(map(str, cells))} |" for cells in (columns, align, *rows))


def targets(row: dict[tuple[str, str, str], dict[str, Any]], sizes: list[str]) -> list[list]:
    checks = []
    for page in ("inbox", "conversation", "conversation_page3", "send"):
        costs = [row[(size, "moto", page)]["cost"] for size in (sizes[0], sizes[-1])]
        if len(sizes) > 1 and all(costs):
            pairs = {name: [cost[name]["median"] for cost in costs] for name in FLAT}
            target = f"{PAGES[page]}: same requests, items, RCU, WCU at {sizes[0]} and {sizes[-1]}"
            figures = ", ".join(
                f"{name} {_number(a)} / {_number(b)}" for name, (a, b) in pairs.items()
            )
            checks.append([target, figures, all(a == b for a, b in pairs.values())])
    for size in sizes:
        if cost := row[(size, "moto", "inbox")]["cost"]:
            target = f"inbox ≤ {MAX_INBOX_RCU:g} RCU per page of 20 (size {size})"
            figures = f"{_number(cost['rcu']['max'])} RCU at most, {_cost(cost, 'bytes')} bytes"
            checks.append([target, figures, cost["rcu"]["max"] <= MAX_INBOX_RCU])
        floor = row[(size, "memory", "floor")]["runs"]
        for page in ("inbox", "conversation"):
            # Within each round: the page ran seconds after its floor, under the same load.
            served = row[(size, "memory", page)]["runs"]
            for measure, share_of in (
                ("req/s", lambda page_run, floor_run: page_run["rps"] / floor_run["rps"]),
                (
                    "server CPU per request",
                    lambda page_run, floor_run: floor_run["cpu_ms"] / page_run["cpu_ms"],
                ),
            ):
                rounds = [share_of(a, b) for a, b in zip(served, floor, strict=True)]
                share = statistics.median(rounds)
                target = (
                    f"in-memory {page} ≥ {MIN_SHARE_OF_FLOOR:.0%} of the floor's {measure} ({size})"
                )
                figures = f"{share:.0%}, median of rounds ({min(rounds):.0%}–{max(rounds):.0%})"
                checks.append([target, figures, share >= MIN_SHARE_OF_FLOOR])
    return [[target, figures, "yes" if met else "**no**"] for target, figures, met in checks]


def blocks(results: dict[str, Any]) -> dict[str, str]:
    sizes, host, config = list(results["sizes"]), results["machine"], results["config"]
    row = {
        (each["size"], each["backend"], each["scenario"]): each
        for measured in results["sizes"].values()
        for each in measured["scenarios"]
    }
    costs, speed, data = [], [], []
    for page in PAGES:
        for size in sizes:
            cost = row[(size, "moto", page)]["cost"]
            costs.append([PAGES[page], size, *(_cost(cost, name) for name in COSTS)])
    for size in sizes:
        for backend, page in product(STORES, PAGES):
            if (size, backend, page) not in row:  # ASGI: only some of the pages
                continue
            figures = row[(size, backend, page)]
            speed.append([size, STORES[backend], PAGES[page]])
            names = ("rps", "p50_ms", "p95_ms", "p99_ms", "cpu_ms")
            speed[-1] += [_number(figures.get(name, math.nan)) for name in names]
            speed[-1] += [f"{figures['samples']:,}", figures["errors"]]
        seed = results["sizes"][size]["seed"]
        counts = ("messages", "conversations", "users", "inbox_conversations_per_bench_user")
        data.append([size, *(f"{seed[name]:,}" for name in counts)])
        data[-1] += [f"{seed['main_conversation_messages']:,}", seed["message_text_bytes_median"]]
        data[-1].append(f"{seed['seed_seconds']:.0f} s")
    asgi = []
    for size, page in product(sizes, PAGES):
        if (size, "asgi", page) in row:
            under = {kind: row[(size, backend, page)] for kind, backend in WSGI_AND_ASGI}
            asgi.append([size, PAGES[page], *(_number(under[k]["rps"]) for k in ("wsgi", "asgi"))])
            asgi[-1].append(f"{under['asgi']['rps'] / under['wsgi']['rps']:.0%}")
            asgi[-1] += [_number(under[kind]["cpu_ms"]) for kind in ("wsgi", "asgi")]
    versions = ", ".join(f"{name} {version}" for name, version in host["versions"].items())
    database = f"{results['database']['kind']} {results['database']['version']}"
    return {
        "run": f"Generated by `{results['command']}` at {results['generated']} in "
        f"{results['wall_seconds'] / 60:.0f} minutes: {config['clients']} clients, runs of "
        f"{config['seconds']:g} s, {config['repeats']} rounds, {config['workers']} workers per "
        f"server (gunicorn with deploy/gunicorn.conf.py; uvicorn for ASGI); "
        f"{host['cpus_usable']} CPUs, load average "
        f"{', '.join(map(str, host['load_average_at_start']))} at the start; {host['os']}; "
        f"{database}; cache: {results.get('cache', 'not recorded')}; Python {host['python']}, "
        f"{versions}.",
        "data": _table(
            "size | messages | conversations | users | a client's conversations "
            "| messages in its main one | text bytes (median) | seeded in",
            data,
            1,
        ),
        "targets": _table("target | measured | met?", targets(row, sizes), 3),
        "costs": _table(
            "page | size | DynamoDB requests | items read | bytes read | RCU | WCU | SQL queries",
            costs,
            2,
        ),
        "speed": _table(
            "size | store | page | req/s | p50 ms | p95 ms | p99 ms | server CPU ms per request "
            "| requests | errors",
            speed,
            3,
        ),
        "asgi": _table(
            "size | page | gunicorn as deployed, req/s | ASGI (uvicorn), req/s | ASGI / gunicorn "
            "| gunicorn CPU ms per request | ASGI CPU ms per request",
            asgi,
            2,
        ),
    }


def replace_block(document: str, name: str, text: str) -> str:
    """`document` with its `<!-- bench:NAME -->` block holding `text` (ValueError if none)."""
    block = re.compile(rf"(<!-- bench:{name} -->\n).*?(<!-- /bench:{name} -->)", re.DOTALL)
    document, found = block.subn(lambda match: f"{match[1]}{text}\n{match[2]}", document)
    if not found:
        raise ValueError(f"BENCHMARKS.md has lost its <!-- bench:{name} --> block.")
    return document


def render(results: dict[str, Any], document: str) -> str:
    """`document` with its blocks replaced by this run's."""
    for name, text in blocks(results).items():
        document = replace_block(document, name, text)
    return document
