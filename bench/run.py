"""`make bench`: start a local stack, seed two sizes, drive the pages, write the report.

For each size it seeds a fresh database and emulator and serves the app twice with gunicorn
as deployed (deploy/gunicorn.conf.py, with this machine's workers and port): over DynamoDB (the
emulator `make run` uses, devtools/emulator.py) and over the in-memory store
(bench/wsgi_memory.py); and the in-memory pages once more under ASGI (uvicorn), beside them.
Every scenario runs on each, `repeats` rounds, interleaved, so that a ratio compares runs made
side by side on the same noisy machine; medians are reported.

    python -m bench.run                        # what `make bench` runs
    python -m bench.run --smoke --out /tmp/b   # seconds, tiny data (test_bench_smoke.py)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import secrets
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from functools import partial
from importlib import metadata
from pathlib import Path
from typing import Any

from bench import chart, report
from bench import client as bench_client
from bench.seed import PASSWORD
from devtools import emulator

ROOT = Path(__file__).resolve().parent.parent
WSGI_APPS = {"moto": "cruddur.wsgi:application", "memory": "bench.wsgi_memory:application"}
# What the in-memory pages cost under ASGI, where a synchronous view runs on a thread of its
# own: the same app as "memory", served as the event streams are (docs/PUSH.md). Three pages
# tell it, and keep the run short.
ASGI_APP, ASGI_SCENARIOS = "bench.asgi_memory:application", ("floor", "inbox", "conversation")
DEPLOYED_GUNICORN = ROOT / "deploy" / "gunicorn.conf.py"
POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def gunicorn(app: str, port: int, workers: int) -> list[str]:
    """gunicorn with the deployment's settings, on this machine's port and number of workers.
    Loaded before the workers fork (bench/wsgi_memory.py's data), and patient with a worker
    that the emulator keeps waiting under the benchmark's load."""
    return [
        sys.executable, "-m", "gunicorn", app, "--config", str(DEPLOYED_GUNICORN),
        "--workers", str(workers), "--bind", f"127.0.0.1:{port}", "--preload",
        "--timeout", "120", "--log-level", "warning",
    ]  # fmt: skip


def uvicorn(app: str, port: int, workers: int = 1) -> list[str]:
    return [
        sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port),
        "--workers", str(workers), "--lifespan", "off", "--log-level", "warning",
        "--timeout-graceful-shutdown", "1",
    ]  # fmt: skip


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:  # noqa: S310 (local)
            return answer.status == 200
    except OSError:  # not listening yet
        return False


@contextmanager
def serving(
    name: str, argv: list[str], env: dict[str, str], logs: Path, url: str, cwd: Path = ROOT
):
    """A server process run in `cwd`, answering `url` inside the block and stopped after it."""
    with (logs / f"{name}.log").open("ab") as output:
        # Its own session, so that stopping it stops gunicorn's workers too.
        process = subprocess.Popen(
            argv, cwd=cwd, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 180
        while not _answers(url):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not come up; see {logs / name}.log")
            time.sleep(0.2)
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


@contextmanager
def database(kind: str, name: str, logs: Path):
    """A new, empty database for the run, dropped after it; yields (kind, version, URL)."""
    if kind == "sqlite":
        import sqlite3

        yield "SQLite", sqlite3.sqlite_version, f"sqlite:///{logs}/{name}.sqlite3"
        return
    import psycopg

    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=3) as db:
        db.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        db.execute(f'CREATE DATABASE "{name}"')
        version = db.execute("SHOW server_version").fetchone()[0]
    try:
        yield "PostgreSQL", version, f"postgres://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as db:
            db.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def group_cpu_seconds(group: int) -> float:
    """CPU time (user + system) of the live processes of one process group: a server."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone since the listing
            continue
        if int(fields[2]) == group:  # after the name: state, ppid, pgrp, ..., utime, stime
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def signed_in_clients(port: int, count: int, mains: list[str]) -> list[bench_client.Client]:
    """`count` clients of the server at `port`, each signed in as its benchmark user."""
    clients = [bench_client.Client("127.0.0.1", port) for _ in range(count)]
    for number, client in enumerate(clients):
        client.login(f"bench{number}", PASSWORD)
        client.main_conversation = mains[number]
        client.page3_path = client.find_page3()
        client.other_conversation = client.find_other_conversation()
    return clients


def run_scenario(
    scenario: bench_client.Scenario, clients: list[bench_client.Client], group: int, seconds: float
) -> bench_client.RunResult:
    """One run of `scenario`, with the CPU that the server (process group `group`) spent."""
    cpu = group_cpu_seconds(group)
    result = bench_client.run(scenario, clients, seconds=seconds)
    result.server_cpu_seconds = group_cpu_seconds(group) - cpu
    return result


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values) or [math.nan]
    return ordered[max(0, min(len(ordered) - 1, math.ceil(fraction * len(ordered)) - 1))]


def summarise(measured: list[bench_client.RunResult]) -> dict[str, Any]:
    """One scenario on one server: each round's figures, their medians, and the page's cost."""
    runs = []
    for result in measured:
        runs.append({"rps": round(result.rps, 2), "requests": len(result.latencies)})
        runs[-1]["cpu_ms"] = round(result.cpu_ms_per_request, 3)
        for n in (50, 95, 99):
            runs[-1][f"p{n}_ms"] = round(percentile(result.latencies, n / 100) * 1000, 2)
        runs[-1]["max_ms"] = round(max(result.latencies, default=math.nan) * 1000, 2)
    costs = [cost for result in measured for cost in result.costs]
    cost = {}
    for name in bench_client.COST_HEADERS if costs else ():
        values = [each[name] for each in costs]
        cost[name] = {"median": statistics.median(values), "min": min(values), "max": max(values)}
    errors = [error for result in measured for error in result.errors]
    return {
        **{
            name: statistics.median(run[name] for run in runs)
            for name in ("rps", "p50_ms", "p95_ms", "p99_ms", "cpu_ms")
        },
        "samples": sum(run["requests"] for run in runs),
        "errors": len(errors),
        "error_examples": sorted(set(errors))[:5],
        "runs": runs,
        "cost": cost,
    }


def seed(size: str, clients: int, env: dict[str, str], logs: Path) -> dict[str, Any]:
    log(f"size {size}: seeding the database and DynamoDB...")
    emulator.reset(env["AWS_ENDPOINT_URL"])
    started = time.perf_counter()
    with (logs / "seed.log").open("ab") as errors:
        argv = [sys.executable, "-m", "bench.seed", "--size", size, "--clients", str(clients)]
        seeded = subprocess.run(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=errors)
    if seeded.returncode != 0:
        raise RuntimeError(f"seeding failed ({seeded.returncode}); see {logs / 'seed.log'}")
    data = json.loads(seeded.stdout.decode().splitlines()[-1])
    data["seed_seconds"] = round(time.perf_counter() - started, 1)
    log(f"size {size}: {data['messages']:,} messages seeded in {data['seed_seconds']} s")
    return data


def measure(size: str, args: argparse.Namespace, env: dict[str, str], logs: Path):
    data = seed(size, args.clients, env, logs)
    measured: dict[tuple[str, str], list] = {}
    commands = {backend: partial(gunicorn, app) for backend, app in WSGI_APPS.items()}
    commands["asgi"] = partial(uvicorn, ASGI_APP)
    with ExitStack() as servers:
        clients, groups = {}, {}
        for backend, command in commands.items():
            port = free_port()
            name, url = f"{backend}-{size}", f"http://127.0.0.1:{port}/accounts/login/"
            argv = command(port, args.workers)
            server = serving(name, argv, {**env, "BENCH_SIZE": size}, logs, url)
            groups[backend] = servers.enter_context(server).pid  # its own process group
            clients[backend] = signed_in_clients(port, args.clients, data["main_conversations"])
        log(f"size {size}: servers up, {args.clients} clients signed in to each")
        for repeat in range(args.repeats):
            # One server's scenarios back to back: each in-memory page right after its floor.
            for backend in ("memory", "asgi", "moto"):
                for scenario in bench_client.SCENARIOS:
                    if backend == "asgi" and scenario.name not in ASGI_SCENARIOS:
                        continue
                    if backend != "moto" and scenario.needs_shared_store:
                        continue
                    if repeat == 0 and args.warmup:
                        bench_client.run(scenario, clients[backend], seconds=args.warmup)
                    result = run_scenario(scenario, clients[backend], groups[backend], args.seconds)
                    measured.setdefault((backend, scenario.name), []).append(result)
                    p50 = percentile(result.latencies, 0.5) * 1000
                    cpu_ms = result.cpu_ms_per_request
                    log(f"size {size} round {repeat + 1}/{args.repeats} {backend:6} "
                        f"{scenario.name:18} {result.rps:8.1f} req/s  p50 {p50:7.1f} ms  "
                        f"cpu {cpu_ms:5.2f} ms/req  errors {len(result.errors)}")  # fmt: skip
    scenarios = [
        {"size": size, "backend": backend, "scenario": name, **summarise(runs)}
        for (backend, name), runs in measured.items()
    ]
    return {"seed": data, "scenarios": scenarios}


@contextmanager
def emulator_and_database(kind: str, name: str, logs: Path):
    """The AWS emulator on a free port and a new database; yields (endpoint, kind, version, URL)."""
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-m", "devtools.emulator", "--port", str(port)]
    with (
        serving("emulator", argv, dict(os.environ), logs, f"{endpoint}{emulator.PING_PATH}"),
        database(kind, name, logs) as (kind, version, url),
    ):
        yield endpoint, kind, version, url


def redis_version(url: str) -> str | None:
    """The version of the Redis at `url`, or None if nothing answers there."""
    import redis

    try:
        return redis.Redis.from_url(url, socket_connect_timeout=1).info("server")["redis_version"]
    except redis.RedisError:
        return None


def bench_env(
    database_url: str, endpoint: str, clients: int, redis_url: str = ""
) -> dict[str, str]:
    # Only the emulator is ever called: no AWS profile or session from the caller's shell.
    dropped = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN")
    env = {key: value for key, value in os.environ.items() if key not in dropped}
    env.update(
        DJANGO_SETTINGS_MODULE="bench.settings",
        DEBUG="false",  # the production settings, but over plain HTTP
        SECURE_SSL_REDIRECT="false",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="127.0.0.1",
        COST_HEADERS="true",
        DATABASE_URL=database_url,
        AWS_ENDPOINT_URL=endpoint,
        AWS_ACCESS_KEY_ID="testing",  # the emulator takes any; nothing leaves this machine
        AWS_SECRET_ACCESS_KEY="testing",
        BENCH_CLIENTS=str(clients),
        PYTHONPATH=str(ROOT),
        REDIS_URL=redis_url,  # "" = each worker's own memory
        CACHE_KEY_PREFIX=f"bench-{os.getpid()}",
    )
    return env


def run(args: argparse.Namespace, *, command: str) -> dict[str, Any]:
    started, load = time.perf_counter(), [round(load, 2) for load in os.getloadavg()]
    logs = Path(tempfile.mkdtemp(prefix="cruddur-bench-"))
    log(f"logs in {logs}")
    # A smoke run (the test suite) must not drop the database of a `make bench` under way.
    name = "bench" if args.sizes != ["smoke"] else f"bench_smoke_{os.getpid()}"
    with emulator_and_database(args.database, name, logs) as (endpoint, kind, version, url):
        cache = redis_version(args.redis_url) if args.redis_url else None
        redis_url = args.redis_url if cache else ""
        cache = f"Redis {cache}" if cache else "each worker's memory (no Redis answered)"
        log(f"database: {kind} {version}; emulator: {endpoint}; cache: {cache}")
        env = bench_env(url, endpoint, args.clients, redis_url)
        sizes = {size: measure(size, args, env, logs) for size in args.sizes}
    packages = ("Django", "gunicorn", "uvicorn", "moto", "boto3", "psycopg")
    return {
        "generated": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": command,
        "wall_seconds": round(time.perf_counter() - started, 1),
        "machine": {
            "cpus_usable": len(os.sched_getaffinity(0)),
            "load_average_at_start": load,
            "os": platform.platform(),
            "python": platform.python_version(),
            "versions": {package: metadata.version(package) for package in packages},
        },
        "database": {"kind": kind, "version": version},
        "cache": cache,
        "config": {key: value for key, value in vars(args).items() if key != "smoke"},
        "logs": str(logs),
        "sizes": sizes,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Benchmark the pages at two data sizes.")
    parser.add_argument("--sizes", default="S,L", help="Comma-separated sizes (S, M, L, smoke).")
    parser.add_argument("--seconds", type=float, default=3.0, help="Seconds per run.")
    parser.add_argument("--repeats", type=int, default=5, help="Rounds; medians are reported.")
    parser.add_argument("--clients", type=int, default=8, help="Concurrent clients.")
    parser.add_argument("--workers", type=int, default=4, help="Worker processes per server.")
    parser.add_argument("--warmup", type=float, default=1.0, help="Warm-up seconds (round 1).")
    parser.add_argument("--database", choices=("postgres", "sqlite"), default="postgres")
    parser.add_argument(
        "--redis-url",
        default="redis://127.0.0.1:6379/0",
        help="The cache's Redis (its own key prefix); '' or none answering: each worker's memory.",
    )
    parser.add_argument("--out", default=str(ROOT / "docs"), help="Where the results go.")
    parser.add_argument("--smoke", action="store_true", help="Tiny and quick: a self-check.")
    args = parser.parse_args(argv)
    args.sizes = args.sizes.split(",")
    if args.smoke:
        args.sizes, args.seconds, args.repeats, args.clients = ["smoke"], 0.25, 1, 2
        args.workers, args.warmup = 2, 0.0
    command = shlex.join(["python", "-m", "bench.run", *(argv or sys.argv[1:])])
    results = run(args, command=os.environ.get("BENCH_COMMAND") or command)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench-results.json").write_text(json.dumps(results, indent=1) + "\n")
    document = out / "BENCHMARKS.md"
    # The hand-written text comes from the document replaced, or from docs/'s for a new --out.
    template = document if document.exists() else ROOT / "docs" / "BENCHMARKS.md"
    document.write_text(report.render(results, template.read_text()))
    chart.draw(results, out / "bench.png")
    log(
        f"done in {results['wall_seconds']:.0f} s: {out}/BENCHMARKS.md, bench-results.json, "
        "bench.png"
    )


if __name__ == "__main__":
    main()
