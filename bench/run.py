"""`make bench`: start a local stack, seed two sizes, drive the pages, write the report.

For each size (S ≈ 1,000 messages, L ≈ 100,000) it seeds a fresh database and emulator, serves
the app twice with gunicorn (sync workers, DEBUG off): once over DynamoDB (moto's server, see
bench/emulator.py) and once over the in-memory gateway (bench/wsgi_memory.py). Then it runs
each scenario with concurrent signed-in clients for a fixed time, `repeats` times, the two
servers and all scenarios interleaved, so every ratio compares runs made side by side on the
same noisy machine; it reports medians. The DynamoDB and SQL figures per page come from the
server's own X-DynamoDB-* / X-SQL-Queries headers (messaging/middleware.py).

    python -m bench.run                  # what `make bench` runs: docs/BENCHMARKS.md, ...
    python -m bench.run --smoke --out /tmp/b   # seconds, tiny data (tests/test_bench_smoke.py)
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
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from bench import client as bench_client
from bench import emulator
from bench.client import SCENARIOS, Client, RunResult
from bench.seed import PASSWORD

ROOT = Path(__file__).resolve().parent.parent
BACKENDS = ("moto", "memory")
WSGI_APPS = {"moto": "cruddur.wsgi:application", "memory": "bench.wsgi_memory:application"}
POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


@dataclass(frozen=True)
class Config:
    sizes: tuple[str, ...]
    seconds: float
    repeats: int
    clients: int
    workers: int
    warmup: float
    database: str  # auto | postgres | sqlite
    probe: bool
    profile_requests: int  # 0: no profile
    out: str


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


# --- processes ---


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def cpu_seconds(pid: int, *, with_children: bool = False) -> float:
    """User + system CPU time of a process (all its threads), and of its children if asked."""
    pids = [pid]
    if with_children:
        children = Path(f"/proc/{pid}/task/{pid}/children")
        pids += [int(child) for child in children.read_text().split()]
    ticks = 0
    for each in pids:
        try:
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:  # a worker that exited: its time is gone with it
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


class Processes:
    """The processes this run started; each in its own session, stopped by its id."""

    def __init__(self, logs: Path):
        self.logs = logs
        self.running: dict[str, subprocess.Popen] = {}

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen:
        output = (self.logs / f"{name}.log").open("ab")
        process = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        self.running[name] = process
        return process

    def stop(self, name: str) -> None:
        process = self.running.pop(name, None)
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, signal.SIGTERM)  # its own session: gunicorn and its workers
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def stop_all(self) -> None:
        for name in list(self.running):
            self.stop(name)


def wait_for(url: str, process: subprocess.Popen, *, seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: the server exited ({process.returncode}); see its log")
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:  # noqa: S310 (local)
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {seconds:.0f} s")


def python_json(argv: list[str], env: dict[str, str], log_file: Path) -> dict[str, Any]:
    """Run `python -m ...` with the bench environment; its stdout's last line is JSON."""
    with log_file.open("ab") as errors:
        done = subprocess.run(
            [sys.executable, *argv], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=errors,
            check=False,
        )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}); see {log_file}")
    return json.loads(done.stdout.decode().strip().splitlines()[-1])


# --- database ---


@dataclass(frozen=True)
class Database:
    url: str
    kind: str
    version: str
    name: str


def create_database(mode: str, name: str, workdir: Path) -> Database:
    if mode in ("auto", "postgres"):
        try:
            import psycopg

            with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=3) as db:
                db.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                db.execute(f'CREATE DATABASE "{name}"')
                version = db.execute("SHOW server_version").fetchone()[0]
            return Database(
                f"postgres://postgres@127.0.0.1:5432/{name}", "PostgreSQL", version, name
            )
        except Exception as error:
            if mode == "postgres":
                raise
            log(f"PostgreSQL at 127.0.0.1:5432 is not usable ({error}); using SQLite instead.")
    import sqlite3

    path = workdir / f"{name}.sqlite3"
    return Database(f"sqlite:///{path}", "SQLite", sqlite3.sqlite_version, name)


def drop_database(database: Database) -> None:
    if database.kind != "PostgreSQL":
        return
    import psycopg

    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=3) as db:
        db.execute(f'DROP DATABASE IF EXISTS "{database.name}" WITH (FORCE)')


# --- measuring ---


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, math.ceil(fraction * len(ordered)) - 1))]


def summarise_run(result: RunResult, cpu: dict[str, float]) -> dict[str, Any]:
    latencies = result.latencies or [math.nan]
    per_request = {
        f"{name}_cpu_ms": round(seconds / len(result.latencies) * 1000, 3)
        for name, seconds in cpu.items()
        if result.latencies
    }
    return {
        "rps": round(result.rps, 2),
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 2),
        "p95_ms": round(percentile(latencies, 0.95) * 1000, 2),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
        "requests": len(result.latencies),
        "errors": len(result.errors),
        "seconds": round(result.seconds, 2),
        **per_request,
    }


def summarise(runs: list[dict[str, Any]], results: list[RunResult]) -> dict[str, Any]:
    costs = [cost for result in results for cost in result.costs]
    errors = [error for result in results for error in result.errors]
    medians = ("rps", "p50_ms", "p95_ms", "p99_ms", "server_cpu_ms", "emulator_cpu_ms")
    summary: dict[str, Any] = {
        name: statistics.median(run[name] for run in runs)
        for name in medians
        if all(name in run for run in runs)
    }
    summary.update(
        samples=sum(run["requests"] for run in runs),
        errors=len(errors),
        error_examples=sorted(set(errors))[:5],
        runs=runs,
        cost={
            name: {
                "median": statistics.median(cost[name] for cost in costs),
                "min": min(cost[name] for cost in costs),
                "max": max(cost[name] for cost in costs),
            }
            for name in bench_client.COST_HEADERS
        }
        if costs
        else {},
    )
    return summary


def signed_in_clients(port: int, count: int, main_conversations: list[str]) -> list[Client]:
    clients = []
    for number in range(count):
        client = Client("127.0.0.1", port)
        client.login(f"bench{number}", PASSWORD)
        client.main_conversation = main_conversations[number]
        client.page3_path = client.find_page3()
        clients.append(client)
    return clients


def start_servers(
    size: str, config: Config, processes: Processes, env: dict[str, str]
) -> dict[str, int]:
    """One gunicorn per gateway, both serving the same app; returns their ports when ready."""
    ports = {backend: free_port() for backend in BACKENDS}
    for backend in BACKENDS:
        processes.start(
            f"gunicorn-{backend}-{size}",
            [
                sys.executable, "-m", "gunicorn", WSGI_APPS[backend],
                "--workers", str(config.workers), "--bind", f"127.0.0.1:{ports[backend]}",
                "--preload", "--timeout", "120", "--log-level", "warning",
            ],
            {**env, "BENCH_SIZE": size},
        )  # fmt: skip
    for backend in BACKENDS:
        process = processes.running[f"gunicorn-{backend}-{size}"]
        wait_for(f"http://127.0.0.1:{ports[backend]}/accounts/login/", process)
    return ports


def run_rounds(
    size: str, config: Config, clients: dict[str, list[Client]], pids: dict[str, int]
) -> tuple[dict[tuple[str, str], list[tuple[RunResult, dict[str, float]]]], dict[str, list]]:
    """Every scenario on both servers, `repeats` times; with each run's CPU seconds."""
    raw: dict[tuple[str, str], list[tuple[RunResult, dict[str, float]]]] = {}
    ratios: dict[str, list[float]] = {"inbox": [], "conversation": [], "conversation_page3": []}
    for repeat in range(config.repeats):
        rps_this_round: dict[tuple[str, str], float] = {}
        # One server's scenarios back to back: the in-memory pages run right after their floor.
        for backend in ("memory", "moto"):
            for scenario in SCENARIOS:
                if repeat == 0 and config.warmup:
                    bench_client.run(scenario, clients[backend], seconds=config.warmup)
                before = (cpu_seconds(pids[backend], with_children=True),
                          cpu_seconds(pids["emulator"]))  # fmt: skip
                result = bench_client.run(scenario, clients[backend], seconds=config.seconds)
                cpu = {"server": cpu_seconds(pids[backend], with_children=True) - before[0]}
                if backend == "moto":
                    cpu["emulator"] = cpu_seconds(pids["emulator"]) - before[1]
                raw.setdefault((backend, scenario.name), []).append((result, cpu))
                rps_this_round[(backend, scenario.name)] = result.rps
                log(f"size {size} round {repeat + 1}/{config.repeats} {backend:6} "
                    f"{scenario.name:18} {result.rps:8.1f} req/s  "
                    f"p50 {percentile(result.latencies or [math.nan], 0.5) * 1000:7.1f} ms"
                    + (f"  errors {len(result.errors)}" if result.errors else ""))  # fmt: skip
        floor = rps_this_round[("memory", "floor")]
        for name in ratios:
            ratios[name].append(round(rps_this_round[("memory", name)] / floor, 3))
    return raw, ratios


def measure_size(
    size: str, config: Config, processes: Processes, env: dict[str, str], logs: Path
) -> dict[str, Any]:
    emulator.reset(env["AWS_ENDPOINT_URL"])

    log(f"size {size}: seeding the database and DynamoDB...")
    started = time.perf_counter()
    seed = python_json(
        ["-m", "bench.seed", "--size", size, "--clients", str(config.clients)],
        env,
        logs / "seed.log",
    )
    seed["seed_seconds"] = round(time.perf_counter() - started, 1)
    log(f"size {size}: {seed['messages']:,} messages, {seed['conversations']:,} conversations, "
        f"{seed['users']:,} users in {seed['seed_seconds']} s")  # fmt: skip

    ports = start_servers(size, config, processes, env)
    clients = {
        backend: signed_in_clients(ports[backend], config.clients, seed["main_conversations"])
        for backend in BACKENDS
    }
    log(f"size {size}: servers up, {config.clients} clients signed in to each")
    pids = {backend: processes.running[f"gunicorn-{backend}-{size}"].pid for backend in BACKENDS}
    pids["emulator"] = processes.running["emulator"].pid
    raw, ratios = run_rounds(size, config, clients, pids)
    for backend in BACKENDS:
        processes.stop(f"gunicorn-{backend}-{size}")

    scenarios = []
    for (backend, name), measured in raw.items():
        runs = [summarise_run(result, cpu) for result, cpu in measured]
        results = [result for result, _cpu in measured]
        scenarios.append({"size": size, "backend": backend, "scenario": name,
                          **summarise(runs, results)})  # fmt: skip
    report: dict[str, Any] = {
        "seed": seed,
        "scenarios": scenarios,
        "memory_rps_over_floor": {
            name: {"per_round": values, "median": statistics.median(values)}
            for name, values in ratios.items()
        },
    }
    size_env = {**env, "BENCH_SIZE": size}
    if config.probe:
        log(f"size {size}: timing single DynamoDB calls, bench emulator vs stock moto...")
        report["probe"] = python_json(
            ["-m", "bench.probe", "--size", size, "--clients", str(config.clients)],
            size_env,
            logs / "probe.log",
        )
    if config.profile_requests:
        log(f"size {size}: profiling the in-memory pages...")
        report["profile"] = python_json(
            ["-m", "bench.profile", "--requests", str(config.profile_requests)],
            size_env,
            logs / "profile.log",
        )
    return report


# --- the run ---


def machine() -> dict[str, Any]:
    cpu = "unknown"
    with open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory_kb = 0
    with open("/proc/meminfo") as info:
        for line in info:
            if line.startswith("MemTotal:"):
                memory_kb = int(line.split()[1])
    versions = {}
    for package in ("Django", "gunicorn", "moto", "boto3", "psycopg", "matplotlib"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "cpu": cpu,
        "cpus_usable": len(os.sched_getaffinity(0)),
        "memory_gib": round(memory_kb / 1024 / 1024, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "load_average_at_start": [round(load, 2) for load in os.getloadavg()],
        "versions": versions,
    }


def bench_env(database: Database, endpoint: str, clients: int) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN")
    }
    env.update(
        DJANGO_SETTINGS_MODULE="bench.settings",
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="127.0.0.1,localhost,testserver",
        SECURE_SSL_REDIRECT="false",
        COST_HEADERS="true",
        DATABASE_URL=database.url,
        AWS_ENDPOINT_URL=endpoint,
        AWS_ACCESS_KEY_ID="testing",  # the emulator takes any; nothing leaves this machine
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        DDB_MESSAGE_TABLE="cruddur-messages",
        BENCH_CLIENTS=str(clients),
        MESSAGING_LOG_LEVEL="INFO",
        PYTHONPATH=str(ROOT),
    )
    return env


def run(config: Config, *, command: str) -> dict[str, Any]:
    started = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix="cruddur-bench-"))
    log(f"logs in {workdir}")
    processes = Processes(workdir)
    database = None
    try:
        port = free_port()
        emulator_process = processes.start(
            "emulator", [sys.executable, "-m", "bench.emulator", "--port", str(port)], os.environ
        )
        endpoint = f"http://127.0.0.1:{port}"
        wait_for(f"{endpoint}/moto-api/data.json", emulator_process, seconds=60)
        name = "bench" if config.sizes != ("smoke",) else f"bench_smoke_{os.getpid()}"
        database = create_database(config.database, name, workdir)
        log(f"database: {database.kind} {database.version}; emulator: {endpoint}")
        env = bench_env(database, endpoint, config.clients)
        sizes = {size: measure_size(size, config, processes, env, workdir) for size in config.sizes}
    finally:
        processes.stop_all()
        if database is not None:
            drop_database(database)
    return {
        "generated": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": command,
        "wall_seconds": round(time.perf_counter() - started, 1),
        "machine": machine(),
        "database": {"kind": database.kind, "version": database.version},
        "config": asdict(config),
        "logs": str(workdir),
        "sizes": sizes,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Benchmark the pages at two data sizes.")
    parser.add_argument("--sizes", default="S,L", help="Comma-separated sizes (S, L, smoke).")
    parser.add_argument("--seconds", type=float, default=3.0, help="Seconds per run.")
    parser.add_argument("--repeats", type=int, default=5, help="Rounds; medians are reported.")
    parser.add_argument("--clients", type=int, default=8, help="Concurrent clients.")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers per server.")
    parser.add_argument("--warmup", type=float, default=1.0, help="Warm-up seconds (round 1).")
    parser.add_argument("--database", choices=("auto", "postgres", "sqlite"), default="auto")
    parser.add_argument("--no-probe", action="store_true", help="Skip the per-call probe.")
    parser.add_argument("--profile-requests", type=int, default=200, help="0: no profile.")
    parser.add_argument("--out", default=str(ROOT / "docs"), help="Where the results go.")
    parser.add_argument("--smoke", action="store_true", help="Tiny and quick: a self-check.")
    args = parser.parse_args(argv)
    if args.smoke:
        config = Config(("smoke",), 0.25, 1, 2, 2, 0.0, args.database, True, 5, args.out)
    else:
        config = Config(
            tuple(args.sizes.split(",")), args.seconds, args.repeats, args.clients,
            args.workers, args.warmup, args.database, not args.no_probe, args.profile_requests,
            args.out,
        )  # fmt: skip
    command = os.environ.get("BENCH_COMMAND") or shlex.join(
        ["python", "-m", "bench.run", *(argv or sys.argv[1:])]
    )

    results = run(config, command=command)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench-results.json").write_text(json.dumps(results, indent=1) + "\n")
    from bench import report

    written = report.write(results, out)
    log(f"done in {results['wall_seconds']:.0f} s: {', '.join(str(path) for path in written)}")


if __name__ == "__main__":
    main()
