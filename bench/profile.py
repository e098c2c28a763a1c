"""Where a page's time goes with the in-memory gateway, in one process over Django's test client.

The same settings, middleware, views and templates as the served app. Two passes per page:
1. timed, without a profiler: the request's wall time split into exclusive phases (template
   rendering, SQL execution, the fake gateway's calls, the rest of Django and the view);
2. under cProfile (which slows everything about 2x): selected functions' cumulative time
   and the functions with the most own time.
Prints JSON.

    python -m bench.profile            # env as in run.py (BENCH_SIZE, BENCH_CLIENTS, ...)
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import sys
import time
from collections.abc import Callable
from contextlib import contextmanager
from functools import wraps
from typing import Any

# (label, file path suffix, function name): cumulative times worth reading on their own.
_SELECTED = (
    ("template rendering (all)", "django/template/backends/django.py", "render"),
    ("{% url %} / reverse()", "django/urls/base.py", "reverse"),
    ("|date filter", "django/template/defaultfilters.py", "date"),
    ("relative_time (row.when)", "messaging/selectors.py", "relative_time"),
    ("form widgets (BoundField.__str__)", "django/forms/utils.py", "__str__"),
    ("session load", "django/contrib/sessions/backends/db.py", "load"),
    ("people names query (_people)", "messaging/selectors.py", "_people"),
)
_GATEWAY_METHODS = (
    "list_conversations",
    "list_messages",
    "get_participants",
    "mark_read",
    "create_message",
    "find_conversation",
)


class _Phases:
    """Exclusive time per phase: entering a phase pauses the one it is called from."""

    def __init__(self) -> None:
        self.totals: dict[str, float] = {}
        self._stack: list[list[Any]] = []  # [phase, started]

    @contextmanager
    def phase(self, name: str):
        now = time.perf_counter()
        if self._stack:
            outer = self._stack[-1]
            self.totals[outer[0]] = self.totals.get(outer[0], 0.0) + now - outer[1]
        self._stack.append([name, now])
        try:
            yield
        finally:
            now = time.perf_counter()
            self.totals[name] = self.totals.get(name, 0.0) + now - self._stack.pop()[1]
            if self._stack:
                self._stack[-1][1] = now

    def wrap(self, owner: Any, attribute: str, name: str) -> None:
        original = getattr(owner, attribute)

        @wraps(original)
        def timed(*args, **kwargs):
            with self.phase(name):
                return original(*args, **kwargs)

        setattr(owner, attribute, timed)


def _instrument(phases: _Phases, fake: Any) -> None:
    from django.db.backends.utils import CursorWrapper
    from django.template.backends.django import Template

    phases.wrap(Template, "render", "template rendering")
    phases.wrap(CursorWrapper, "execute", "SQL execution (driver + database)")
    phases.wrap(CursorWrapper, "executemany", "SQL execution (driver + database)")
    for method in _GATEWAY_METHODS:
        phases.wrap(fake, method, "in-memory gateway calls")


def _timed_pass(get: Callable[[], Any], phases: _Phases, requests: int) -> dict[str, Any]:
    phases.totals.clear()
    started = time.perf_counter()
    for _ in range(requests):
        with phases.phase("rest: Django, middleware, sessions, auth, ORM, view code"):
            get()
    wall = time.perf_counter() - started
    per_request = {
        name: round(seconds / requests * 1000, 3)
        for name, seconds in sorted(phases.totals.items(), key=lambda item: -item[1])
    }
    return {"ms_per_request": round(wall / requests * 1000, 3), "phases_ms": per_request}


def _profiled_pass(get: Callable[[], Any], requests: int) -> dict[str, Any]:
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(requests):
        get()
    profiler.disable()
    stats = pstats.Stats(profiler).stats
    selected = {}
    for label, suffix, function in _SELECTED:
        cumulative = sum(
            row[3]
            for (filename, _line, name), row in stats.items()
            if filename.endswith(suffix) and name == function
        )
        selected[label] = round(cumulative / requests * 1000, 3)
    own = sorted(
        ((row[2], row[1], key) for key, row in stats.items()), key=lambda entry: -entry[0]
    )[:12]
    return {
        "selected_cumulative_ms": selected,
        "top_own_time": [
            {
                "ms_per_request": round(seconds / requests * 1000, 3),
                "calls_per_request": round(calls / requests, 1),
                "function": f"{filename.split('site-packages/')[-1]}:{line}({name})",
            }
            for seconds, calls, (filename, line, name) in own
        ],
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300, help="Requests per page and pass.")
    args = parser.parse_args(argv)

    from django.test import Client

    import bench.wsgi_memory  # noqa: F401 (sets Django up, installs the loaded fake)
    from messaging.store import get_store
    from users.models import User

    fake = get_store()
    me = User.objects.get(handle="bench0")
    client = Client()
    client.force_login(me)
    # bench0's newest conversation is its main one (bench.seed).
    group_uuid = fake.list_conversations(user_uuid=str(me.uuid)).items[0].conversation_uuid
    pages = {
        "floor": "/bench/floor/",
        "inbox": "/messages/",
        "conversation": f"/messages/{group_uuid}/",
    }
    phases = _Phases()
    _instrument(phases, fake)
    report = {}
    for page, path in pages.items():

        def get(path: str = path) -> None:
            answer = client.get(path)
            if answer.status_code != 200:
                raise RuntimeError(f"{path} answered {answer.status_code}")

        for _ in range(20):  # warm: templates compiled and cached, connection open
            get()
        report[page] = {
            "requests": args.requests,
            **_timed_pass(get, phases, args.requests),
            **_profiled_pass(get, args.requests),
        }
    json.dump(report, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
