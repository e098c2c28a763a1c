"""Time single gateway calls against the benchmark's emulator, stock moto and scaled.

The same calls a page makes, one at a time, on the data the benchmark seeded: so the docs
can show what moto itself costs at each size and why the benchmark's emulator patches it.
Prints JSON: {"scaled": {call: seconds}, "stock": {...}} (medians).

    python -m bench.probe --size L     # env as in run.py; the emulator from bench.emulator
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable

from bench.emulator import switch_mode

# Stock moto needs ~20 s for one send at 100,000 items: the app's 5 s would time out.
_PROBE_READ_TIMEOUT = 600
_BUDGET_SECONDS = 8.0  # per call and mode: up to 3 timings, fewer when one is this slow


def _timed(call: Callable[[], object]) -> float:
    spent: list[float] = []
    while len(spent) < 3 and sum(spent) < _BUDGET_SECONDS:
        started = time.perf_counter()
        call()
        spent.append(time.perf_counter() - started)
    return statistics.median(spent)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", required=True, help="Dataset size the emulator holds.")
    parser.add_argument("--clients", type=int, default=8, help="Benchmark users seeded.")
    args = parser.parse_args(argv)

    import django

    django.setup()
    from django.conf import settings

    from bench.seed import SIZES, build
    from messaging.dynamo import factory

    factory._READ_TIMEOUT = _PROBE_READ_TIMEOUT  # this process only, before the client exists
    factory.reset_dynamo_stores()
    gw = factory.get_dynamo_store()
    dataset = build(SIZES[args.size], clients=args.clients)
    me, group_uuid = dataset.users[0], dataset.main_conversations[0]
    cursor = None
    for _ in range(2):
        cursor = gw.list_messages(conversation_uuid=group_uuid, cursor=cursor).next_cursor
    calls: dict[str, Callable[[], object]] = {
        "inbox query": lambda: gw.list_conversations(user_uuid=me.uuid),
        "messages query": lambda: gw.list_messages(conversation_uuid=group_uuid),
        "messages query, page 3": lambda: gw.list_messages(
            conversation_uuid=group_uuid, cursor=cursor
        ),
        "participants query (GSI)": lambda: gw.get_participants(conversation_uuid=group_uuid),
        "send (GSI query + transaction)": lambda: gw.create_message(
            conversation_uuid=group_uuid, sender=me, text="probe"
        ),
    }
    report = {}
    try:
        for mode in ("scaled", "stock"):
            switch_mode(settings.AWS_ENDPOINT_URL, mode)
            report[mode] = {name: round(_timed(call), 4) for name, call in calls.items()}
    finally:
        switch_mode(settings.AWS_ENDPOINT_URL, "scaled")
    json.dump(report, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
