"""What single parts of a page cost, in one process, in checkouts side by side.

    git archive HEAD | tar -x -C /tmp/before
    python -m bench.parts before=/tmp/before after=.

A page's figures in bench.compare move by more than a part's cost from run to run on a shared
machine; measured alone, in a process of its own, a part's cost is steady to a few percent.
Each checkout (`NAME=PATH`, or a path) is measured in turn, `--rounds` times, each time in a new
process that imports that checkout's code (DEBUG off, the cache in Redis): CPU microseconds
per call, in the fastest of five batches; printed are the medians of rounds. The parts:

- the New message box of the inbox, and the message box of a conversation (their includes);
- a cache GET, and an MGET of 20 keys (a page's session and profiles), on one backend;
- a page's first cache call on a new backend, as under ASGI, where Django makes a backend per
  request, with the Redis connections that each new backend opens.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

PARTS = {
    "new_box_us": "New message box (inbox), rendered",
    "compose_us": "message box (conversation), rendered",
    "cache_get_us": "cache GET",
    "cache_get_many_us": "cache MGET of 20 keys",
    "new_backend_get_us": "first GET on a new cache backend (per request under ASGI)",
    "connections_per_new_backend": "Redis connections opened per new backend",
}


def _per_call(operation, calls: int) -> float:
    """CPU microseconds per call in the fastest of five batches: the others lost time to
    whatever else the machine ran (timeit's advice)."""
    batches = []
    for _ in range(5):
        started = time.process_time()
        for _ in range(calls):
            operation()
        batches.append((time.process_time() - started) / calls * 1e6)
    return min(batches)


def measure(redis_url: str) -> dict[str, float]:
    """This process's checkout (the first entry of sys.path), part by part."""
    os.environ.update(
        DJANGO_SETTINGS_MODULE="cruddur.settings",
        DEBUG="false",
        SECRET_KEY="bench-parts-" + "x" * 50,
        ALLOWED_HOSTS="127.0.0.1",
        DATABASE_URL="sqlite:///:memory:",  # nothing here reads the database
        REDIS_URL=redis_url,
        CACHE_KEY_PREFIX=f"bench-parts-{uuid.uuid4().hex}",
    )
    import django

    django.setup()
    import redis
    from django.core.cache import cache, caches
    from django.template.loader import render_to_string
    from django.test import RequestFactory

    from messaging.forms import MessageForm, RecipientForm
    from users.models import User

    request = RequestFactory().get("/messages/")
    request.user = User(pk=1, handle="andrewbrown", display_name="Andrew Brown")

    def new_box():
        box = RecipientForm(user=request.user)
        render_to_string("messaging/_new_box.html", {"box": box}, request=request)

    def compose():
        context = {"form": MessageForm(), "action": "/messages/", "label": "Reply"}
        render_to_string("messaging/_compose.html", context, request=request)

    keys = [f"profile:{number}" for number in range(20)]
    cache.set_many(dict.fromkeys(keys, {"display_name": "Andrew Brown"}))
    cache.set("session", {"_auth_user_id": "1"})

    def new_backend_get():
        caches.create_connection("default").get("session")

    server = redis.Redis.from_url(redis_url)
    before = server.info("stats")["total_connections_received"]
    for _ in range(100):
        new_backend_get()
    opened = server.info("stats")["total_connections_received"] - before
    figures = {
        "new_box_us": _per_call(new_box, 2000),
        "compose_us": _per_call(compose, 2000),
        "cache_get_us": _per_call(lambda: cache.get("session"), 3000),
        "cache_get_many_us": _per_call(lambda: cache.get_many(keys), 3000),
        "new_backend_get_us": _per_call(new_backend_get, 1000),
        "connections_per_new_backend": opened / 100,
    }
    cache.delete_many([*keys, "session"])
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Parts of a page, checkouts side by side.")
    parser.add_argument("checkouts", nargs="*", help="NAME=PATH or PATH.")
    parser.add_argument("--rounds", type=int, default=5, help="Processes per checkout.")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)  # one process's part
    args = parser.parse_args(argv)
    if args.measure:
        sys.path[0] = str(args.measure)  # that checkout's code, not this file's folder
        print(json.dumps(measure(args.redis_url)))
        return
    from bench.compare import checkout  # not in a measuring process: its path is not ours

    args.checkouts = [checkout(argument) for argument in args.checkouts]
    rounds: dict[str, list[dict[str, float]]] = {name: [] for name, _path in args.checkouts}
    for _ in range(args.rounds):
        for name, path in args.checkouts:
            one = [sys.executable, __file__, "--measure", str(path), "--redis-url", args.redis_url]
            done = subprocess.run(one, cwd=path, capture_output=True, text=True, check=True)
            rounds[name].append(json.loads(done.stdout.splitlines()[-1]))
    names = list(rounds)
    command = " ".join(["python -m bench.parts", *(argv or sys.argv[1:])])
    print(f"`{command}`, CPU microseconds per call, medians of {args.rounds} processes:\n")
    print(f"| part | {' | '.join(names)} |")
    print(f"| --- |{' ---: |' * len(names)}")
    for part, label in PARTS.items():
        cells = [f"{statistics.median(run[part] for run in rounds[name]):.1f}" for name in names]
        print(f"| {label} | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
