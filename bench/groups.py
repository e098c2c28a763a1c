"""python -m bench.groups: what one send costs in a conversation of 2, 5 and 10 members while
several of them read at once (docs/BENCHMARKS.md, "Sends in groups").

Against the emulator's HTTP server (devtools/emulator.py, as `make run` and bench.run serve
it), for each size: one conversation (a pair at 2, a group at 5 and 10) and two members
sending into it as the service does (the participants read, then `create_message` with them
and a one-time key); first alone, then while every other member (four at most) does what an
open page does, back to back: read their own inbox entry and mark it read, the writes that
cancel a send's transaction when they land between its read and its write. Per send: latency,
the DynamoDB requests, RCU and WCU that the project's metering records for it (`track_usage`),
the transactions cancelled and planned again before one committed, and that one's actions.
The sizes take turns in every round, so a ratio to the pair compares runs made seconds apart
on this noisy machine.

Writes the `<!-- bench:groups -->` block of BENCHMARKS.md and groups-results.json in --out
(docs/ by default: the block is replaced, the text around it kept), and prints the block.
`make bench` runs it after bench.notify.

    python -m bench.groups                                     # what `make bench` runs
    python -m bench.groups --sizes 5 --seconds 0.3 --rounds 1 --out /tmp/g  # the smoke test
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from bench import report
from bench.run import free_port, percentile, serving
from cruddur.request_cost import track_usage
from devtools import emulator
from messaging.domain import UserRef
from messaging.dynamo import DynamoStore, get_dynamo_store, schema
from messaging.dynamo.table import Rejected
from messaging.errors import StoreError

ROOT = Path(__file__).resolve().parent.parent
SIZES = (2, 5, 10)
SENDERS = 2
MAX_READERS = 4
Call = Callable[..., dict[str, Any]]  # Table.call
TEXT = "On my way: see you at the usual place at six?"  # about the seeded median (42 bytes)


def log(message: str) -> None:
    print(f"[bench.groups {time.strftime('%H:%M:%S')}] {message}", flush=True)


@dataclass(frozen=True)
class Send:
    seconds: float
    requests: int  # answered: a cancelled transaction is counted in `cancelled`, not here
    rcu: float
    wcu: float
    cancelled: int  # transactions cancelled (a condition failed) and planned again
    actions: int  # the committed transaction's actions


class Transactions(threading.local):
    """This thread's TransactWriteItems since it last reset them."""

    cancelled = 0
    actions = 0


def count_transactions(store: DynamoStore, seen: Transactions) -> None:
    """Wrap `call` of the store's table clients (the one way to DynamoDB, `Table.transact`'s
    too), so that each thread sees its transactions cancelled (metering records answered calls
    only) and the actions of the one that committed."""
    for table in {id(table): table for table in (store.table, store.interactive)}.values():
        table.call = _counted(table.call, seen)


def _counted(call: Call, seen: Transactions) -> Call:
    def counted(operation: str, **params: Any) -> dict[str, Any]:
        if operation != "transact_write_items":
            return call(operation, **params)
        try:
            response = call(operation, **params)
        except Rejected:  # cancelled: `transact` plans it again (or gives up)
            seen.cancelled += 1
            raise
        seen.actions = len(params["TransactItems"])
        return response

    return counted


def people(size: int) -> list[UserRef]:
    return [
        UserRef(str(uuid.uuid4()), f"member{number}", f"Member {number} of {size}")
        for number in range(size)
    ]


def start_conversation(store: DynamoStore, members: list[UserRef]) -> str:
    """A pair for two people (with its PAIR item), else a group: as the site starts them."""
    if len(members) == 2:
        conversation_uuid, _ = store.create_conversation(
            sender=members[0], recipient=members[1], text=TEXT
        )
    else:
        conversation_uuid, _ = store.create_group(
            sender=members[0], members=members[1:], name=f"Group of {len(members)}", text=TEXT
        )
    return conversation_uuid


def send(store: DynamoStore, conversation_uuid: str, sender: UserRef, seen: Transactions) -> Send:
    """One send as messaging.services.send_message makes it: the membership read of every
    entry, then the store's transaction built on them, with a form's one-time key."""
    seen.cancelled = seen.actions = 0
    with track_usage() as usage:
        started = time.perf_counter()
        participants = store.get_participants(conversation_uuid=conversation_uuid)
        store.create_message(
            conversation_uuid=conversation_uuid,
            sender=sender,
            text=TEXT,
            participants=participants,
            idempotency_key=uuid.uuid4().hex,
        )
        seconds = time.perf_counter() - started
    return Send(
        seconds, usage.requests, usage.read_units, usage.write_units, seen.cancelled, seen.actions
    )


def read_and_mark(store: DynamoStore, reader: UserRef) -> bool | None:
    """What an open page does: read the reader's own entry (their one conversation here) and
    mark it read if it is unread. None: nothing was unread; False: the mark gave up."""
    entry = store.list_conversations(user_uuid=reader.uuid, limit=1).items[0]
    if not entry.unread:
        return None
    try:
        store.mark_read(
            owner_uuid=reader.uuid,
            conversation_uuid=entry.conversation_uuid,
            sort_key=entry.sort_key,
            unread=entry.unread,
        )
    except StoreError:  # lost to sends on its small budget: the page shows it unread
        return False
    return True


def run_round(
    store: DynamoStore,
    conversation_uuid: str,
    members: list[UserRef],
    readers: int,
    seconds: float,
    seen: Transactions,
) -> dict[str, Any]:
    """`seconds` of two members sending and `readers` members reading, all at once."""
    stop = threading.Event()
    sends: list[Send] = []
    errors: list[str] = []
    marks: list[bool | None] = []  # list.append is atomic: the threads share these

    def sending(sender: UserRef) -> None:
        while not stop.is_set():
            try:
                sends.append(send(store, conversation_uuid, sender, seen))
            except StoreError as error:  # a send that gave up after its 25 plans
                errors.append(f"{type(error).__name__}: {error}")

    def reading(reader: UserRef) -> None:
        while not stop.is_set():
            marks.append(read_and_mark(store, reader))

    threads = [threading.Thread(target=sending, args=(m,)) for m in members[:SENDERS]]
    threads += [threading.Thread(target=reading, args=(m,)) for m in members[1 : 1 + readers]]
    for thread in threads:
        thread.start()
    started = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    return {
        "sends": sends,
        "errors": errors,
        "sends_per_second": len(sends) / elapsed,
        "marks_per_second": marks.count(True) / elapsed,
        "marks_given_up": marks.count(False),
    }


def summarise(
    members: int, readers: int, rounds: list[dict[str, Any]], baseline: list[dict[str, Any]]
) -> dict[str, Any]:
    """One size and number of readers: latency and rates as medians of rounds, costs over
    every send, and the p50 beside the baseline's in the same round (the median of ratios)."""

    def p50(one_round: dict[str, Any]) -> float:
        return percentile([s.seconds for s in one_round["sends"]], 0.5)

    sends = [each for one_round in rounds for each in one_round["sends"]]
    per_round = [
        {
            "sends": len(one_round["sends"]),
            "p50_ms": round(p50(one_round) * 1000, 2),
            "p95_ms": round(percentile([s.seconds for s in one_round["sends"]], 0.95) * 1000, 2),
            "p50_to_baseline": round(p50(one_round) / p50(base), 3),
            **{key: round(one_round[key], 2) for key in ("sends_per_second", "marks_per_second")},
            "marks_given_up": one_round["marks_given_up"],
        }
        for one_round, base in zip(rounds, baseline, strict=True)
    ]

    def median_of_rounds(name: str) -> float:
        return statistics.median(each[name] for each in per_round)

    def over_sends(name: str) -> list[float]:
        return [getattr(each, name) for each in sends] or [float("nan")]

    return {
        "members": members,
        "readers": readers,
        "sends": len(sends),
        "errors": sum(len(one_round["errors"]) for one_round in rounds),
        "error_examples": sorted({e for r in rounds for e in r["errors"]})[:3],
        "actions_median": statistics.median(over_sends("actions")),
        "actions_max": max(over_sends("actions")),
        "requests_median": statistics.median(over_sends("requests")),
        "requests_mean": statistics.mean(over_sends("requests")),
        "rcu_median": statistics.median(over_sends("rcu")),
        "wcu_median": statistics.median(over_sends("wcu")),
        "wcu_max": max(over_sends("wcu")),
        "cancelled_mean": statistics.mean(over_sends("cancelled")),
        "cancelled_max": max(over_sends("cancelled")),
        "cancelled_share": statistics.mean([each.cancelled > 0 for each in sends] or [0]),
        **{
            name: median_of_rounds(name)
            for name in ("p50_ms", "p95_ms", "p50_to_baseline", "sends_per_second")
        },
        "marks_per_second": median_of_rounds("marks_per_second"),
        "marks_given_up": sum(each["marks_given_up"] for each in per_round),
        "rounds": per_round,
    }


def readers_of(size: int, *, reading: bool) -> int:
    """No one reading (what the two senders cost each other), or every other member reading
    (at most MAX_READERS: the emulator answers one request at a time)."""
    return min(size - 1, MAX_READERS) if reading else 0


def measure(
    store: DynamoStore, sizes: list[int], seconds: float, rounds: int
) -> list[dict[str, Any]]:
    """Each size's conversation, without readers then with them, `rounds` times over, the
    sizes taking turns; one summary per size and pass, beside the first size's same pass."""
    seen = Transactions()
    count_transactions(store, seen)
    conversations = {}
    for size in sizes:
        members = people(size)
        conversations[size] = (start_conversation(store, members), members)
    measured: dict[tuple[int, bool], list[dict[str, Any]]] = {}
    for number in range(rounds):
        for size in sizes:
            conversation_uuid, members = conversations[size]
            for reading in (False, True):
                readers = readers_of(size, reading=reading)
                result = run_round(store, conversation_uuid, members, readers, seconds, seen)
                measured.setdefault((size, reading), []).append(result)
                latencies = sorted(each.seconds for each in result["sends"])
                p50 = latencies[len(latencies) // 2] * 1000 if latencies else float("nan")
                log(f"round {number + 1}/{rounds} size {size:2} readers {readers}: "
                    f"{len(latencies)} sends, p50 {p50:.0f} ms, "
                    f"{sum(s.cancelled for s in result['sends'])} cancelled, "
                    f"{len(result['errors'])} errors")  # fmt: skip
    return [
        summarise(size, readers_of(size, reading=reading), runs, measured[(sizes[0], reading)])
        for (size, reading), runs in sorted(measured.items())
    ]


def _figure(value: float) -> str:
    if value != value:  # NaN: nothing measured
        return "–"
    return f"{value:.0f}" if value >= 100 else f"{value:.3g}"


def block(results: dict[str, Any]) -> str:
    config, machine = results["config"], results["machine"]
    base = config["sizes"][0]
    rows = []
    for f in results["runs"]:
        rows.append(
            [
                f["members"],
                f["readers"],
                f"{f['actions_median']:g} ({f['actions_max']})",
                f"{f['requests_median']:g} ({f['requests_mean']:.2f})",
                f"{f['rcu_median']:g}",
                f"{f['wcu_median']:g} ({f['wcu_max']:g})",
                f"{f['cancelled_mean']:.2f} ({f['cancelled_max']})",
                f"{f['cancelled_share']:.0%}",
                _figure(f["p50_ms"]),
                _figure(f["p95_ms"]),
                f"{f['p50_to_baseline']:.2f}",
                _figure(f["sends_per_second"]),
                f"{f['sends']:,}",
                f["errors"],
                f"{_figure(f['marks_per_second'])} ({f['marks_given_up']})",
            ]
        )
    head = [
        "members", "readers", "actions: median (max)", "DynamoDB requests: median (mean)",
        "RCU", "WCU: median (max)", "cancelled and planned again: mean (max)",
        "sends with one or more", "p50 ms", "p95 ms", f"p50 / size {base}", "sends per second",
        "sends", "errors", "marks read per second (given up)",
    ]  # fmt: skip
    load = ", ".join(map(str, machine["load_average_at_start"]))
    lines = [
        f"`{results['command']}` at {results['generated']} in {results['wall_seconds']:.0f} s: "
        f"{config['rounds']} rounds of {config['seconds']:g} s per size and number of readers, "
        f"the sizes taking turns in each round; {SENDERS} senders; the emulator "
        f"(devtools/emulator.py, moto {machine['moto']}); {machine['cpus_usable']} CPUs, load "
        f"average {load} at the start. Per send (over every send): the committed "
        "transaction's actions, the requests, RCU and WCU metered for it (the participants read "
        "included), the transactions cancelled before it; latency and rates: medians of rounds.",
        "",
        f"| {' | '.join(head)} |",
        f"| {' | '.join(['---:'] * len(head))} |",
        *(f"| {' | '.join(map(str, row))} |" for row in rows),
    ]
    return "\n".join(lines)


def run(args: argparse.Namespace, command: str) -> dict[str, Any]:
    started, load = time.perf_counter(), [round(load, 2) for load in os.getloadavg()]
    with tempfile.TemporaryDirectory(prefix="cruddur-bench-groups-") as logs:
        port = free_port()
        endpoint = f"http://127.0.0.1:{port}"
        argv = [sys.executable, "-m", "devtools.emulator", "--port", str(port)]
        with serving("emulator", argv, dict(os.environ), Path(logs), endpoint + emulator.PING_PATH):
            # The store reads its settings from the environment when no Django project is set
            # up (as the stream handler's Lambda does): only the emulator is ever called.
            for name in ("DJANGO_SETTINGS_MODULE", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
                os.environ.pop(name, None)
            os.environ.update(AWS_ENDPOINT_URL=endpoint, DDB_MESSAGE_TABLE="cruddur-messages")
            store = get_dynamo_store()
            schema.create(store.table)
            log(f"emulator at {endpoint}; sizes {args.sizes}, {args.rounds} rounds of "
                f"{args.seconds:g} s")  # fmt: skip
            runs = measure(store, args.sizes, args.seconds, args.rounds)
    return {
        "generated": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": command,
        "wall_seconds": round(time.perf_counter() - started, 1),
        "machine": {
            "cpus_usable": len(os.sched_getaffinity(0)),
            "load_average_at_start": load,
            "moto": metadata.version("moto"),
            "boto3": metadata.version("boto3"),
        },
        "config": {**vars(args), "out": str(args.out), "senders": SENDERS},
        "runs": runs,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", default=",".join(map(str, SIZES)), help="Members per conversation; the first "
        "is the baseline of the ratios (2: a pair).",
    )  # fmt: skip
    parser.add_argument(
        "--seconds", type=float, default=3.0, help="Seconds per pass (size, readers)."
    )
    parser.add_argument("--rounds", type=int, default=3, help="Rounds; medians are reported.")
    parser.add_argument("--out", type=Path, default=ROOT / "docs", help="Where results go.")
    args = parser.parse_args(argv)
    args.sizes = [int(size) for size in args.sizes.split(",")]
    command = "python -m bench.groups" + (" " + " ".join(argv or sys.argv[1:])).rstrip()
    results = run(args, os.environ.get("BENCH_COMMAND") or command)
    text = block(results)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "groups-results.json").write_text(json.dumps(results, indent=1) + "\n")
    document = args.out / "BENCHMARKS.md"
    # The hand-written text comes from the document replaced, or from docs/'s for a new --out.
    template = document if document.exists() else ROOT / "docs" / "BENCHMARKS.md"
    document.write_text(report.replace_block(template.read_text(), "groups", text))
    log(f"done in {results['wall_seconds']:.0f} s: {document}, {args.out / 'groups-results.json'}")


if __name__ == "__main__":
    main()
