"""`python -m bench.push`: live delivery by push against polling, measured side by side.

Starts its own emulator, database and Redis-connected servers (the size S data of
bench/seed.py), then measures, for the benchmark user `bench0` and its main conversation:

1. delivery: sends POSTed to server A; the same person's event stream open on server B (another
   process, Redis between them). Time from the POST's answer to the event on B; beside it, the
   same sends found by today's poll (`/messages/poll/` every 1.5 s, as live.js polls).
2. the browser: Chromium with the conversation open on B, sends POSTed on A; time until the
   message is on the page, by push and by polling (the page without EventSource).
3. an idle open tab for `--idle` seconds: its requests and DynamoDB reads, push and polling.
4. `--streams` idle streams held by one server process: its memory before and after.
5. the pages under ASGI (uvicorn) and WSGI (gunicorn), in-memory store: requests per second
   and server CPU per request, round by round.

Prints a Markdown summary and writes push-results.json to `--out`. docs/BENCHMARKS.md quotes
the figures of a run.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import socket
import statistics
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path

from bench import client as bench_client
from bench.run import (
    bench_env,
    emulator_and_database,
    free_port,
    group_cpu_seconds,
    gunicorn,
    log,
    percentile,
    redis_version,
    run_scenario,
    seed,
    serving,
    uvicorn,
)
from bench.seed import PASSWORD

CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip
_STATE = re.compile(r'name="since" value="([0-9a-f]*)"')  # the live form's inbox state
POLL_INTERVAL = 1.5  # live.js's


def figures(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50_ms": round(percentile(values, 0.5) * 1000, 1),
        "p95_ms": round(percentile(values, 0.95) * 1000, 1),
        "max_ms": round(max(values) * 1000, 1),
    }


class EventReader(threading.Thread):
    """A signed-in person's event stream, its `change` events' arrival times."""

    def __init__(self, port: int, cookies: dict[str, str]):
        super().__init__(daemon=True)
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        cookie = "; ".join(f"{name}={value}" for name, value in cookies.items())
        self.connection.request("GET", "/messages/events/", headers={"Cookie": cookie})
        self.response = self.connection.getresponse()
        if self.response.status != 200:
            raise RuntimeError(f"the event stream answered {self.response.status}")
        self.arrivals: list[float] = []

    def run(self) -> None:
        try:
            for line in iter(self.response.readline, b""):
                if line.startswith(b"event: change"):
                    self.arrivals.append(time.perf_counter())
        except (OSError, ValueError, AttributeError):  # closed under it: measuring is over
            return

    def close(self) -> None:
        self.connection.close()
        self.join(5)


def measure_delivery(sender: bench_client.Client, reader: EventReader, sends: int) -> dict:
    """Seconds from each POST to its event on the other server: from the POST's start, and
    from its answer (0 when the event came first: it is published before the answer)."""
    delays, from_start = [], []
    for _ in range(sends):
        before = len(reader.arrivals)
        started = time.perf_counter()
        answer = sender.request(
            "POST", f"/messages/{sender.main_conversation}/", sender.send_form()
        )
        if answer.status != 303:
            raise RuntimeError(f"a send answered {answer.status}")
        answered = time.perf_counter()
        deadline = answered + 5
        while len(reader.arrivals) == before and time.perf_counter() < deadline:
            time.sleep(0.001)
        if len(reader.arrivals) == before:
            raise RuntimeError("an event did not arrive within 5 s")
        delays.append(max(0.0, reader.arrivals[before] - answered))
        from_start.append(reader.arrivals[before] - started)
        time.sleep(0.05)
    return {"from_answer": figures(delays), "from_post": figures(from_start)}


def measure_polling(sender: bench_client.Client, poller: bench_client.Client, sends: int):
    """Seconds from each POST's answer to the poll (every 1.5 s, as live.js) that sees it."""
    state = _STATE.search(poller.request("GET", "/messages/").body.decode()).group(1)
    delays = []
    next_poll = time.perf_counter() + POLL_INTERVAL
    for _ in range(sends):
        sender.request("POST", f"/messages/{sender.main_conversation}/", sender.send_form())
        answered = time.perf_counter()
        while True:
            time.sleep(max(0.0, next_poll - time.perf_counter()))
            next_poll += POLL_INTERVAL
            update = poller.request("GET", f"/messages/poll/?since={state}").body.decode()
            fresh = _STATE.search(update).group(1)
            if fresh != state:
                state = fresh
                delays.append(time.perf_counter() - answered)
                break
    return delays


def measure_browser(browser, base: str, sender: bench_client.Client, *, push: bool, sends: int,
                    idle: float) -> dict:  # fmt: skip
    """Time until a message shows in Chromium; then an idle minute's requests and reads."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    if not push:
        context.add_init_script("delete window.EventSource")  # the page polls
    for name, value in sender.cookies.items():
        context.add_cookies([{"name": name, "value": value, "url": base}])
    page = context.new_page()
    requests, reads = [], []
    page.on("request", lambda request: requests.append(request.url))
    page.on(
        "response",
        lambda response: reads.append(float(response.headers.get("x-dynamodb-rcu", 0) or 0)),
    )
    page.goto(f"{base}/messages/{sender.main_conversation}/")
    page.wait_for_timeout(2000)  # the stream opens, or the first polls go
    shown = []
    for _ in range(sends):
        form = sender.send_form()
        sender.request("POST", f"/messages/{sender.main_conversation}/", form)
        answered = time.perf_counter()
        page.wait_for_function(
            "text => [...document.querySelectorAll('.msg-text')].some(e => e.textContent === text)",
            arg=form["text"],
            polling="raf",
            timeout=10_000,
        )
        shown.append(time.perf_counter() - answered)
        page.wait_for_timeout(100)
    requests.clear()
    reads.clear()
    page.wait_for_timeout(idle * 1000)
    idle_requests, idle_rcu = len(requests), sum(reads)
    context.close()
    per_minute = 60 / idle
    return {
        "shown": figures(shown),
        "idle_requests_per_minute": round(idle_requests * per_minute, 1),
        "idle_rcu_per_minute": round(idle_rcu * per_minute, 1),
    }


def rss_mb(group: int) -> float:
    """Resident memory of the live processes of one process group (a server), in MB."""
    total = 0
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
            stat = (status.parent / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(stat[2]) == group and (match := re.search(r"VmRSS:\s+(\d+) kB", text)):
            total += int(match.group(1))
    return total / 1024


def measure_streams(port: int, group: int, cookies: dict[str, str], count: int) -> dict:
    cookie = "; ".join(f"{name}={value}" for name, value in cookies.items())
    request = f"GET /messages/events/ HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: {cookie}\r\n\r\n"
    before = rss_mb(group)
    sockets, answers = [], {}
    for start in range(0, count, 100):  # in batches, as pages open over time
        batch = []
        for _ in range(start, min(count, start + 100)):
            held = socket.create_connection(("127.0.0.1", port), timeout=30)
            held.sendall(request.encode())
            batch.append(held)
        for held in batch:  # each answered its status line and first event lines
            answer = b""
            while b"\r\n\r\n" not in answer and (chunk := held.recv(4096)):
                answer += chunk
            status = answer.split(b" ", 2)[1].decode() if answer else "closed"
            answers[status] = answers.get(status, 0) + 1
        sockets += batch
    if answers.get("200") != count:
        raise RuntimeError(f"streams refused: {answers}")
    time.sleep(2)
    after = rss_mb(group)
    cpu = group_cpu_seconds(group)
    time.sleep(10)
    idle_cpu = group_cpu_seconds(group) - cpu
    for held in sockets:
        held.close()
    return {
        "streams": count,
        "rss_before_mb": round(before, 1),
        "rss_after_mb": round(after, 1),
        "kb_per_stream": round((after - before) * 1024 / count, 1),
        "idle_cpu_percent_of_a_core": round(idle_cpu / 10 * 100, 1),
    }


def measure_pages(env: dict, logs: Path, args) -> dict:
    """The in-memory pages under uvicorn (ASGI) and gunicorn (WSGI), interleaved rounds."""
    ports = {"asgi": free_port(), "wsgi": free_port()}
    servers = {
        "asgi": uvicorn("bench.asgi_memory:application", ports["asgi"], args.workers),
        "wsgi": gunicorn("bench.wsgi_memory:application", ports["wsgi"], args.workers),
    }
    scenarios = [s for s in bench_client.SCENARIOS if s.name in ("floor", "inbox", "conversation")]
    results: dict[str, dict[str, list]] = {}
    with ExitStack() as stack:
        clients, groups = {}, {}
        for kind, argv in servers.items():
            port = ports[kind]
            url = f"http://127.0.0.1:{port}/accounts/login/"
            process = stack.enter_context(
                serving(f"pages-{kind}", argv, {**env, "BENCH_SIZE": "S"}, logs, url)
            )
            groups[kind] = process.pid
            clients[kind] = [bench_client.Client("127.0.0.1", port) for _ in range(args.clients)]
            for number, client in enumerate(clients[kind]):
                client.login(f"bench{number}", PASSWORD)
                client.main_conversation = env["MAIN_CONVERSATIONS"].split(",")[number]
        for _ in range(args.rounds):
            for kind in servers:
                for scenario in scenarios:
                    run = run_scenario(scenario, clients[kind], groups[kind], seconds=3)
                    rounds = results.setdefault(kind, {}).setdefault(scenario.name, [])
                    rounds.append((run.rps, run.cpu_ms_per_request, len(run.errors)))
    return {
        kind: {
            name: {
                "rps": round(statistics.median(r[0] for r in rounds), 1),
                "cpu_ms": round(statistics.median(r[1] for r in rounds), 2),
                "errors": sum(r[2] for r in rounds),
            }
            for name, rounds in scenarios_.items()
        }
        for kind, scenarios_ in results.items()
    }


def main(argv: list[str] | None = None) -> None:
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser(description="Push against polling, side by side.")
    parser.add_argument("--sends", type=int, default=100, help="Sends timed by push.")
    parser.add_argument("--polled", type=int, default=20, help="Sends timed by polling.")
    parser.add_argument("--browser-sends", type=int, default=20, help="Per mode, in Chromium.")
    parser.add_argument("--idle", type=float, default=60.0, help="Idle seconds per mode.")
    parser.add_argument("--streams", type=int, default=1000, help="Idle streams on one process.")
    parser.add_argument("--rounds", type=int, default=3, help="Rounds of the page comparison.")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2, help="Workers per page server.")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--out", help="Where results and logs go (default: a new temporary one).")
    args = parser.parse_args(argv)
    if not redis_version(args.redis_url):
        raise SystemExit(f"bench.push needs Redis at {args.redis_url}.")
    logs = Path(args.out or tempfile.mkdtemp(prefix="cruddur-push-"))
    logs.mkdir(parents=True, exist_ok=True)
    results: dict = {"command": " ".join(["python -m bench.push", *(argv or sys.argv[1:])])}
    name = f"bench_push_{os.getpid()}"
    with emulator_and_database("postgres", name, logs) as (endpoint, _kind, _version, url):
        env = bench_env(url, endpoint, args.clients, args.redis_url)
        data = seed("S", args.clients, env, logs)
        env["MAIN_CONVERSATIONS"] = ",".join(data["main_conversations"])
        a_port, b_port = free_port(), free_port()
        with ExitStack() as stack:
            for name, server_port in (("A", a_port), ("B", b_port)):
                stack.enter_context(
                    serving(f"server-{name}", uvicorn("cruddur.asgi:application", server_port),
                            env, logs, f"http://127.0.0.1:{server_port}/accounts/login/")
                )  # fmt: skip
            sender = bench_client.Client("127.0.0.1", a_port)
            sender.login("bench0", PASSWORD)
            sender.main_conversation = data["main_conversations"][0]
            watcher = bench_client.Client("127.0.0.1", b_port)
            watcher.login("bench0", PASSWORD)
            log("delivery by push: POST on A, event on B")
            reader = EventReader(b_port, watcher.cookies)
            reader.start()
            started = time.perf_counter()
            results["push_delivery"] = measure_delivery(sender, reader, args.sends)
            log(f"{args.sends} sends in {time.perf_counter() - started:.1f} s")
            reader.close()
            log("delivery by polling (every 1.5 s)")
            results["poll_delivery"] = figures(measure_polling(sender, watcher, args.polled))
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=args.chromium, args=CHROMIUM_ARGS
                )
                for mode in ("push", "polling"):
                    log(f"Chromium on B, {mode}: {args.browser_sends} sends, {args.idle:g} s idle")
                    results[f"browser_{mode}"] = measure_browser(
                        browser, f"http://127.0.0.1:{b_port}", sender,
                        push=mode == "push", sends=args.browser_sends, idle=args.idle,
                    )  # fmt: skip
                browser.close()
        streams_port = free_port()
        streams_argv = uvicorn("cruddur.asgi:application", streams_port)
        login_url = f"http://127.0.0.1:{streams_port}/accounts/login/"
        with serving("server-streams", streams_argv, env, logs, login_url) as process:
            holder = bench_client.Client("127.0.0.1", streams_port)
            holder.login("bench1", PASSWORD)
            log(f"{args.streams} idle streams on one process")
            results["streams"] = measure_streams(
                streams_port, process.pid, holder.cookies, args.streams
            )
        log("the pages under ASGI and WSGI (in-memory store)")
        results["pages"] = measure_pages(env, logs, args)
    (logs / "push-results.json").write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps(results, indent=1))
    log(f"done: {logs / 'push-results.json'} (server logs there too)")


if __name__ == "__main__":
    main()
