"""Checkouts of the app side by side: what a change costs each page, on this noisy machine.

    git archive HEAD | tar -x -C /tmp/before
    python -m bench.compare before=/tmp/before after=.                 # gunicorn, as make bench
    python -m bench.compare before=/tmp/before after=. --server asgi   # uvicorn, as make run

Each checkout (`NAME=PATH`, or a path) serves the in-memory store with its own code (its
bench/wsgi_memory.py or bench/asgi_memory.py, the same data), over one database this checkout
seeds and the same Redis, under a cache key prefix of its own. In each round every page runs
on every checkout back to back, in an order that turns from round to round, so that each
comparison is of runs made seconds apart. Printed, per page and checkout: the medians of rounds
of the latency (p50) and of the server's CPU per request, and that CPU against the first
checkout's (the median of the rounds' ratios). The checkouts must share the database schema
and bench/client.py's scenarios.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

from bench import client as bench_client
from bench.push import uvicorn
from bench.run import (
    bench_env,
    emulator_and_database,
    free_port,
    log,
    percentile,
    redis_version,
    run_scenario,
    seed,
    serving,
    signed_in_clients,
)


def server_argv(server: str, port: int, workers: int) -> list[str]:
    if server == "asgi":
        return uvicorn("bench.asgi_memory:application", port, workers)
    return [
        sys.executable, "-m", "gunicorn", "bench.wsgi_memory:application",
        "--workers", str(workers), "--bind", f"127.0.0.1:{port}", "--preload",
        "--timeout", "120", "--log-level", "warning",
    ]  # fmt: skip


def checkout(argument: str) -> tuple[str, Path]:
    name, _, path = argument.rpartition("=")
    path = Path(path).resolve()
    if not (path / "bench" / "wsgi_memory.py").exists() or not (path / "cruddur").is_dir():
        raise argparse.ArgumentTypeError(f"{path} is not a checkout of this app")
    return name or path.name, path


def measure(args: argparse.Namespace, env: dict[str, str], logs: Path, mains: list[str]):
    """{checkout name: {scenario name: [one dict per round]}}"""
    names = [name for name, _path in args.checkouts]
    rounds: dict[str, dict[str, list]] = {name: {} for name in names}
    with ExitStack() as servers:
        clients, groups = {}, {}
        for number, (name, path) in enumerate(args.checkouts):
            port = free_port()
            own = {
                **env,
                "BENCH_SIZE": args.size,
                "PYTHONPATH": str(path),
                "CACHE_KEY_PREFIX": f"{env['CACHE_KEY_PREFIX']}-{number}",
            }
            url = f"http://127.0.0.1:{port}/accounts/login/"
            argv = server_argv(args.server, port, args.workers)
            server = serving(f"{args.server}-{number}", argv, own, logs, url, cwd=path)
            groups[name] = servers.enter_context(server).pid
            clients[name] = signed_in_clients(port, args.clients, mains)
        log(f"{len(names)} {args.server} servers up, {args.clients} clients signed in to each")
        for repeat in range(args.rounds):
            order = names[repeat % len(names) :] + names[: repeat % len(names)]
            for scenario in bench_client.PAGE_SCENARIOS:  # the pages every checkout has
                for name in order:
                    if repeat == 0 and args.warmup:
                        bench_client.run(scenario, clients[name], seconds=args.warmup)
                    result = run_scenario(scenario, clients[name], groups[name], args.seconds)
                    figures = {
                        "rps": result.rps,
                        "p50_ms": percentile(result.latencies, 0.5) * 1000,
                        "cpu_ms": result.cpu_ms_per_request,
                        "errors": len(result.errors),
                    }
                    rounds[name].setdefault(scenario.name, []).append(figures)
                    log(
                        f"round {repeat + 1}/{args.rounds} {scenario.name:18} {name:12} "
                        f"{figures['rps']:7.1f} req/s  p50 {figures['p50_ms']:6.1f} ms  "
                        f"cpu {figures['cpu_ms']:5.2f} ms/req  errors {figures['errors']}"
                    )
    return rounds


def summarise(rounds: dict[str, dict[str, list]]) -> list[dict]:
    first = next(iter(rounds))
    rows = []
    for scenario in bench_client.PAGE_SCENARIOS:  # the pages every checkout has
        for name, scenarios in rounds.items():
            runs, baseline = scenarios[scenario.name], rounds[first][scenario.name]
            rows.append(
                {
                    "page": scenario.name,
                    "checkout": name,
                    **{
                        figure: round(statistics.median(run[figure] for run in runs), 2)
                        for figure in ("rps", "p50_ms", "cpu_ms")
                    },
                    "cpu_vs_first": round(
                        statistics.median(
                            run["cpu_ms"] / base["cpu_ms"]
                            for run, base in zip(runs, baseline, strict=True)
                        ),
                        3,
                    ),
                    "errors": sum(run["errors"] for run in runs),
                }
            )
    return rows


def table(rows: list[dict]) -> str:
    lines = [
        "| page | checkout | req/s | p50 ms | server CPU ms per request | CPU vs first | errors |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        lines.append(
            f"| {row['page']} | {row['checkout']} | {row['rps']:.0f} | {row['p50_ms']:.1f} | "
            f"{row['cpu_ms']:.2f} | {row['cpu_vs_first']:.2f} | {row['errors']} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Checkouts of the app, side by side.")
    parser.add_argument("checkouts", nargs="+", type=checkout, help="NAME=PATH or PATH.")
    parser.add_argument("--server", choices=("wsgi", "asgi"), default="wsgi")
    parser.add_argument("--size", default="S", help="Dataset size (S, M, L, smoke).")
    parser.add_argument("--rounds", type=int, default=5, help="Rounds; medians are reported.")
    parser.add_argument("--seconds", type=float, default=3.0, help="Seconds per run.")
    parser.add_argument("--clients", type=int, default=8, help="Concurrent clients.")
    parser.add_argument("--workers", type=int, default=2, help="Workers per server.")
    parser.add_argument("--warmup", type=float, default=1.0, help="Warm-up seconds (round 1).")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--out", help="A JSON file for the figures and every round's.")
    args = parser.parse_args(argv)
    if not redis_version(args.redis_url):
        raise SystemExit(f"bench.compare needs Redis at {args.redis_url}.")
    logs = Path(tempfile.mkdtemp(prefix="cruddur-compare-"))
    log(f"logs in {logs}")
    name = f"bench_compare_{os.getpid()}"
    with emulator_and_database("postgres", name, logs) as (endpoint, _kind, _version, url):
        env = bench_env(url, endpoint, args.clients, args.redis_url)
        data = seed(args.size, args.clients, env, logs)
        rounds = measure(args, env, logs, data["main_conversations"])
    rows = summarise(rounds)
    command = " ".join(["python -m bench.compare", *(argv or sys.argv[1:])])
    if args.out:
        Path(args.out).write_text(
            json.dumps({"command": command, "rows": rows, "rounds": rounds}, indent=1) + "\n"
        )
    print(f"`{command}`, size {args.size}, {args.rounds} rounds of {args.seconds:g} s:\n")
    print(table(rows))


if __name__ == "__main__":
    main()
