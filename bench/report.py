"""docs/BENCHMARKS.md from the results of one run (and docs/bench.png when matplotlib is there).

Every figure in the document comes from bench-results.json, written in the same run; the
targets are checked here, and a missed one says by how much.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.chart import SCENARIO_LABELS

SCENARIO_NAMES = {name: label.replace("\n", " ") for name, label in SCENARIO_LABELS.items()}
PAGES = ("inbox", "conversation", "conversation_page3", "send")
PAGES_CPU = ("floor", "inbox", "conversation")
FLAT_FIELDS = ("dynamodb_requests", "items", "rcu", "wcu")
MIN_MEMORY_SHARE_OF_FLOOR = 0.5
MAX_INBOX_RCU = 1.0


def _rows(results: dict[str, Any]) -> dict[tuple[str, str, str], dict[str, Any]]:
    return {
        (row["size"], row["backend"], row["scenario"]): row
        for size in results["sizes"].values()
        for row in size["scenarios"]
    }


def _number(value: float) -> str:
    if value != value:  # NaN: no successful request
        return "–"
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}".rstrip("0").rstrip(".") if value % 1 else f"{value:.0f}"


def _cost(row: dict[str, Any] | None, name: str) -> str:
    if not row or not row["cost"]:
        return "–"
    figure = row["cost"][name]
    text = _number(figure["median"])
    if figure["min"] != figure["max"]:
        text += f" ({_number(figure['min'])}–{_number(figure['max'])})"
    return text


def check_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target with its figures and whether it is met."""
    rows = _rows(results)
    sizes = list(results["sizes"])
    checks: list[dict[str, Any]] = []
    if len(sizes) >= 2:
        first, last = sizes[0], sizes[-1]
        for page in PAGES:
            small, large = rows.get((first, "moto", page)), rows.get((last, "moto", page))
            if not (small and large and small["cost"] and large["cost"]):
                continue
            figures = {
                name: (small["cost"][name]["median"], large["cost"][name]["median"])
                for name in FLAT_FIELDS
            }
            differing = {name: pair for name, pair in figures.items() if pair[0] != pair[1]}
            checks.append(
                {
                    "target": f"{SCENARIO_NAMES[page]}: same DynamoDB requests, items, RCU, WCU "
                    f"per page at {first} and {last}",
                    "figures": ", ".join(
                        f"{name} {_number(a)} / {_number(b)}" for name, (a, b) in figures.items()
                    ),
                    "met": not differing,
                    "miss": ", ".join(
                        f"{name} {_number(a)} → {_number(b)}" for name, (a, b) in differing.items()
                    ),
                }
            )
    for size in sizes:
        row = rows.get((size, "moto", "inbox"))
        if row and row["cost"]:
            rcu = row["cost"]["rcu"]["max"]
            checks.append(
                {
                    "target": f"inbox ≤ {MAX_INBOX_RCU:g} RCU per page of 20 (size {size})",
                    "figures": f"{_number(rcu)} RCU (at most), "
                    f"{_number(row['cost']['bytes']['median'])} bytes read",
                    "met": rcu <= MAX_INBOX_RCU,
                    "miss": f"{_number(rcu - MAX_INBOX_RCU)} RCU over",
                }
            )
    for size, report in results["sizes"].items():
        for page in ("inbox", "conversation"):
            ratios = report["memory_rps_over_floor"][page]
            share = ratios["median"]
            floor, served = rows[(size, "memory", "floor")], rows[(size, "memory", page)]
            by_cpu, cpu_share = "", share
            if "server_cpu_ms" in floor and "server_cpu_ms" in served:
                cpu = (served["server_cpu_ms"], floor["server_cpu_ms"])
                cpu_share = cpu[1] / cpu[0]
                by_cpu = (
                    f"; by server CPU per request {cpu_share:.0%} ({cpu[0]:.1f} vs {cpu[1]:.1f} ms)"
                )
            # Met only if both agree: req/s on this shared machine is noisy and, for the
            # floor, partly limited by the clients; CPU per request is the steadier measure.
            shortfalls = [
                f"{(MIN_MEMORY_SHARE_OF_FLOOR - value) * 100:.0f} points short {how}"
                for value, how in ((share, "by req/s"), (cpu_share, "by server CPU"))
                if value < MIN_MEMORY_SHARE_OF_FLOOR
            ]
            checks.append(
                {
                    "target": f"in-memory {page} ≥ {MIN_MEMORY_SHARE_OF_FLOOR:.0%} of the floor's "
                    f"requests per second (size {size})",
                    "figures": f"{share:.0%}, median of rounds "
                    f"({min(ratios['per_round']):.0%}–{max(ratios['per_round']):.0%})" + by_cpu,
                    "met": not shortfalls,
                    "miss": ", ".join(dict.fromkeys(shortfalls)),
                }
            )
    return checks


def _targets_section(checks: list[dict[str, Any]]) -> list[str]:
    lines = ["| target | measured | met? |", "|---|---|---|"]
    for check in checks:
        verdict = "yes" if check["met"] else f"**no**: {check['miss']}"
        lines.append(f"| {check['target']} | {check['figures']} | {verdict} |")
    return lines


def _cost_section(results: dict[str, Any]) -> list[str]:
    rows = _rows(results)
    sizes = list(results["sizes"])
    head = "| page | size | DynamoDB requests | items read | bytes read | RCU | WCU | SQL queries |"
    lines = [head, "|---|---|---:|---:|---:|---:|---:|---:|"]
    for page in ("floor", *PAGES):
        for size in sizes:
            row = rows.get((size, "moto", page))
            cells = [_cost(row, name) for name in ("dynamodb_requests", "items", "bytes")]
            cells += [_cost(row, name) for name in ("rcu", "wcu", "sql_queries")]
            lines.append(f"| {SCENARIO_NAMES[page]} | {size} | " + " | ".join(cells) + " |")
    return lines


def _speed_section(results: dict[str, Any]) -> list[str]:
    rows = _rows(results)
    lines = [
        "| size | gateway | page | req/s | p50 ms | p95 ms | p99 ms | server CPU ms/req "
        "| emulator CPU ms/req | requests | errors |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for size in results["sizes"]:
        for backend in ("moto", "memory"):
            for page in SCENARIO_NAMES:
                row = rows.get((size, backend, page))
                if not row:
                    continue
                gateway = "DynamoDB (moto)" if backend == "moto" else "in-memory"
                names = ("rps", "p50_ms", "p95_ms", "p99_ms", "server_cpu_ms", "emulator_cpu_ms")
                figures = [row.get(name, math.nan) for name in names]
                lines.append(
                    f"| {size} | {gateway} | {SCENARIO_NAMES[page]} | "
                    + " | ".join(_number(value) for value in figures)
                    + f" | {row['samples']:,} | {row['errors']} |"
                )
    return lines


def _probe_section(results: dict[str, Any]) -> list[str]:
    sizes = [size for size, report in results["sizes"].items() if "probe" in report]
    if not sizes:
        return ["(skipped in this run)"]
    head = "| call | " + " | ".join(f"{s}: bench emulator | {s}: stock moto" for s in sizes) + " |"
    lines = [head, "|---|" + "---:|---:|" * len(sizes)]
    calls = list(results["sizes"][sizes[0]]["probe"]["scaled"])
    for call in calls:
        cells = []
        for size in sizes:
            probe = results["sizes"][size]["probe"]
            cells += [f"{probe[mode][call] * 1000:,.1f} ms" for mode in ("scaled", "stock")]
        lines.append(f"| {call} | " + " | ".join(cells) + " |")
    return lines


def _profile_section(results: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    for size, report in results["sizes"].items():
        profile = report.get("profile")
        if not profile:
            continue
        pages = list(profile)
        phases: list[str] = []
        for page in pages:
            phases += [name for name in profile[page]["phases_ms"] if name not in phases]
        lines += [
            f"Size {size}, in one process through Django's test client (no HTTP server, no "
            f"concurrency), {profile[pages[0]]['requests']} requests per page; ms per request, "
            "each phase's own time (a phase called from another pauses it):",
            "",
            "| phase | " + " | ".join(SCENARIO_NAMES[page] for page in pages) + " |",
            "|---|" + "---:|" * len(pages),
        ]
        for phase in phases:
            cells = [f"{profile[page]['phases_ms'].get(phase, 0):.2f}" for page in pages]
            lines.append(f"| {phase} | " + " | ".join(cells) + " |")
        totals = [f"**{profile[page]['ms_per_request']:.2f}**" for page in pages]
        lines += ["| **total** | " + " | ".join(totals) + " |", ""]
        selected = list(profile[pages[0]]["selected_cumulative_ms"])
        lines += [
            "Under cProfile (about 2x slower throughout), cumulative ms per request of "
            "selected functions:",
            "",
            "| function | " + " | ".join(SCENARIO_NAMES[page] for page in pages) + " |",
            "|---|" + "---:|" * len(pages),
        ]
        for label in selected:
            cells = [f"{profile[page]['selected_cumulative_ms'][label]:.2f}" for page in pages]
            escaped = label.replace("|", "\\|")  # a pipe would end the table cell
            lines.append(f"| {escaped} | " + " | ".join(cells) + " |")
        lines.append("")
        for page in ("inbox", "conversation"):
            if page not in profile:
                continue
            lines += [
                f"Most own time under cProfile, {SCENARIO_NAMES[page]} (size {size}), "
                "ms and calls per request:",
                "",
                "```",
                *(
                    f"{row['ms_per_request']:7.3f} ms {row['calls_per_request']:7.1f}  "
                    f"{row['function']}"
                    for row in profile[page]["top_own_time"][:10]
                ),
                "```",
                "",
            ]
    return lines or ["(skipped in this run)", ""]


def _machine_section(results: dict[str, Any]) -> list[str]:
    machine = results["machine"]
    versions = ", ".join(f"{name} {version}" for name, version in machine["versions"].items())
    return [
        f"- CPU: {machine['cpu']}, {machine['cpus_usable']} usable CPUs (shared, virtualised), "
        f"{machine['memory_gib']} GiB memory; load average at start "
        f"{', '.join(str(load) for load in machine['load_average_at_start'])}",
        f"- {machine['os']}; Python {machine['python']}; {versions}",
        f"- Database: {results['database']['kind']} {results['database']['version']} "
        "(127.0.0.1, same machine)",
    ]


def render(results: dict[str, Any], *, chart: bool, analysis: str) -> str:
    config = results["config"]
    checks = check_targets(results)
    missed = [check for check in checks if not check["met"]]
    seeds = {size: report["seed"] for size, report in results["sizes"].items()}
    data_lines = [
        f"- **{size}**: {seed['messages']:,} messages in {seed['conversations']:,} conversations "
        f"between {seed['users']:,} users; each benchmark user has "
        f"{seed['inbox_conversations_per_bench_user']} conversations, the main one "
        f"{seed['main_conversation_messages']:,} messages long; message text "
        f"{seed['message_text_bytes_median']:.0f} bytes median, "
        f"{seed['message_text_bytes_mean']:.0f} mean, {seed['message_text_bytes_max']} max; "
        f"seeded in {seed['seed_seconds']:.0f} s"
        for size, seed in seeds.items()
    ]
    lines = [
        "# Benchmarks",
        "",
        f"Generated by `{results['command']}` on {results['generated'][:10]} "
        f"({results['generated']}), wall time {results['wall_seconds'] / 60:.1f} minutes. "
        "Every figure below is in [bench-results.json](bench-results.json), written by the "
        "same run; this file is regenerated by every run.",
        "",
        *_machine_section(results),
        "",
        "## Targets",
        "",
        *_targets_section(checks),
        "",
        (
            "All targets met."
            if not missed
            else f"{len(missed)} of {len(checks)} targets missed; see the notes below."
        ),
        "",
        "## What a page costs",
        "",
        "Per request, from the server's own `X-DynamoDB-*` and `X-SQL-Queries` headers "
        "(`messaging/middleware.py`), over DynamoDB (moto): median, with the range when "
        "requests differed. Capacity is computed from the real item sizes by AWS's published "
        "rules (reads in 4 KB units summed over a Query and rounded once, eventually "
        "consistent reads at half; writes in 1 KB units; transactions doubled); moto's own "
        "`ConsumedCapacity` figures are hard-coded and ignored. On AWS the gateway logs AWS's "
        "figure instead.",
        "",
        *_cost_section(results),
        "",
        "## Throughput and latency",
        "",
        "![Throughput and latency by scenario, size and gateway](bench.png)"
        if chart
        else "(No chart: matplotlib is not installed in this environment.)",
        "",
        *_speed_section(results),
        "",
        analysis,
        "",
        "## The emulator: stock moto against the benchmark's",
        "",
        "One call at a time, through the gateway, on the seeded data (median of up to three; "
        "one when a call takes longer than 8 s):",
        "",
        *_probe_section(results),
        "",
        "## Where an in-memory page spends its time",
        "",
        *_profile_section(results),
        "## Method",
        "",
        *data_lines,
        f"- Each size starts from an empty database and table. Two gunicorn servers "
        f"({config['workers']} sync workers each, `--preload`, DEBUG off, `COST_HEADERS` on, "
        "the production settings otherwise) serve the same Django app: one over DynamoDB "
        "(moto's server through `bench/emulator.py`), one over the in-memory gateway "
        "(`bench/wsgi_memory.py`: the test suite's fake, loaded with the same data).",
        f"- {config['clients']} client threads, each signed in as its own benchmark user "
        "through the login form, repeat one request for "
        f"{config['seconds']:g} s per run: `floor` is a `login_required` view returning a "
        "few bytes from the same server (session, user, middleware, nothing else); `inbox` is "
        "`/messages/`; `conversation` the user's main conversation; `conversation page 3` its "
        "third page (`?before=` from following *Earlier* twice); `send` a POST of a new "
        "message (status 303), each with a fresh one-time token.",
        f"- {config['repeats']} rounds (the first after a {config['warmup']:g} s warm-up "
        "per scenario); in each round the in-memory server's five scenarios run back to "
        "back, each page seconds after its floor, then the DynamoDB server's; figures are "
        "medians over rounds, ratios are taken within a round. Latency is measured by the "
        "client around one request, reconnect included (sync workers close the connection "
        "after each response). Sends add messages, so the main conversations grow during a "
        "run; the pages read the same number of items regardless.",
        "- Server CPU ms/req is the user + system CPU time of the server's gunicorn workers "
        "during a run (from `/proc`) divided by the requests it served; emulator CPU ms/req "
        "the same for the emulator's process. Unlike requests per second, it hardly moves "
        "when other work shares the machine.",
        f"- Clients, servers, the emulator and {results['database']['kind']} share the same "
        "CPUs (other jobs ran on this machine too: see the load average): absolute numbers "
        "are this machine's; the per-page costs and the CPU per request are the point. The "
        "clients are threads of one Python process, so their latency includes waiting for "
        "it, and they limit the floor's requests per second before the server does.",
        "- The in-memory gateway is the test suite's fake (`tests/fakes.py`): each worker "
        "holds its own copy, so a send stays in the worker that served it, and its lists sort "
        "in Python (its share of a page is in the profile above).",
        "- `bench/emulator.py` patches moto so that it can hold size L at all (see the "
        "probe); results are the same, only faster.",
        "",
        "## Reproduce",
        "",
        "```bash",
        f"make bench          # {math.ceil(results['wall_seconds'] / 60)} minutes here; writes "
        "docs/BENCHMARKS.md, docs/bench.png,",
        "                    # docs/bench-results.json",
        ".venv/bin/python -m bench.run --sizes S --seconds 3 --repeats 1 --out /tmp/bench",
        ".venv/bin/python -m bench.report --out docs   # re-render from bench-results.json",
        "```",
        "",
        "Each run prints where it keeps its server, emulator, seed, probe and profile logs "
        "(the servers' logs hold one `messaging.cost` line per request that called DynamoDB).",
        "",
    ]
    return "\n".join(lines)


def write(results: dict[str, Any], out: Path, *, analysis: str = "") -> list[Path]:
    """Write BENCHMARKS.md (and bench.png if matplotlib is installed); returns the paths."""
    written = []
    chart = False
    try:
        from bench.chart import draw

        draw(results, out / "bench.png")
        written.append(out / "bench.png")
        chart = True
    except ImportError:
        pass
    document = out / "BENCHMARKS.md"
    document.write_text(render(results, chart=chart, analysis=analysis or findings(results)))
    written.append(document)
    return written


def _median_cost(rows, key, name) -> float | None:
    row = rows.get(key)
    return row["cost"][name]["median"] if row and row["cost"] else None


def findings(results: dict[str, Any]) -> str:
    """The notes under the tables: what the figures say, worked out from them."""
    rows = _rows(results)
    sizes = list(results["sizes"])
    first, last = sizes[0], sizes[-1]
    notes: list[str] = ["### Findings", ""]

    flat = [
        page
        for page in PAGES
        if all(
            _median_cost(rows, (first, "moto", page), name)
            == _median_cost(rows, (last, "moto", page), name)
            for name in FLAT_FIELDS
        )
    ]
    if len(sizes) > 1:
        messages = [results["sizes"][size]["seed"]["messages"] for size in (first, last)]
        notes.append(
            f"- **Flat cost.** From {messages[0]:,} to {messages[1]:,} messages, "
            + (
                "every page makes the same DynamoDB requests and reads the same number of "
                "items for the same capacity"
                if len(flat) == len(PAGES)
                else f"these pages keep the same DynamoDB cost: "
                f"{', '.join(SCENARIO_NAMES[page] for page in flat) or 'none'}"
            )
            + ": every read is one Query on one partition with `Limit` 20 (21 for the inbox: "
            "one more row says whether there is an older page, and reads the unread counter "
            "in the same request), and later pages start from an opaque `ExclusiveStartKey` "
            "cursor, never an offset. Only the bytes vary, with the texts read."
        )
    inbox_bytes = _median_cost(rows, (first, "moto", "inbox"), "bytes")
    text_bytes = results["sizes"][first]["seed"]["message_text_bytes_mean"]
    if inbox_bytes is not None:
        notes.append(
            f"- **Inbox capacity.** 21 inbox rows of ~{inbox_bytes / 21:.0f} bytes are "
            f"{inbox_bytes:,.0f} bytes: two 4 KB read units, eventually consistent, so "
            f"{_median_cost(rows, (first, 'moto', 'inbox'), 'rcu'):g} RCU. It stays at 1 RCU "
            f"up to 8,192 bytes, i.e. while the last-message previews average under about "
            f"{8192 / 21 - (inbox_bytes / 21 - text_bytes):.0f} bytes of text (they are the full "
            "last message today: truncating the stored preview would keep every inbox page "
            "at 1 RCU whatever people write)."
        )
    send_requests = _median_cost(rows, (first, "moto", "send"), "dynamodb_requests")
    if send_requests is not None:
        notes.append(
            f"- **A send** is {send_requests:g} DynamoDB requests: the view's membership check "
            "reads the conversation's two group items (GSI query) and hands them to the "
            "gateway, which builds the transaction's conditions from them (it reads them "
            "again only to retry after losing a race), then one `TransactWriteItems` (the "
            "message; both group items moved, a delete and a put each since `sk` is a key; the "
            "unread counter when it changes: "
            f"{_median_cost(rows, (first, 'moto', 'send'), 'wcu'):g} WCU, transactions cost "
            "double). It is also "
            f"{_median_cost(rows, (first, 'moto', 'send'), 'sql_queries'):g} SQL queries: the "
            "session and the user, then one save of the session when the one-time token is "
            "spent (the session middleware does not save it a second time)."
        )

    def each(figure: Callable[[str], str], over: list[str]) -> str:
        """`figure` for every size: "31% (S) / 29% (L)"."""
        return " / ".join(f"{figure(size)} ({size})" for size in over)

    profiled = [size for size in sizes if results["sizes"][size].get("profile")]
    served = [
        size
        for size in sizes
        if all("server_cpu_ms" in rows.get((size, "memory", page), {}) for page in PAGES_CPU)
    ]
    cpu = {
        size: {page: rows[(size, "memory", page)]["server_cpu_ms"] for page in PAGES_CPU}
        for size in served
    }
    if profiled and served:
        share = {size: results["sizes"][size]["memory_rps_over_floor"] for size in sizes}
        profile = {size: results["sizes"][size]["profile"] for size in profiled}

        def phase(size: str, page: str, name: str) -> float:
            return profile[size][page]["phases_ms"].get(name, 0.0)

        notes.append(
            "- **App overhead against the floor.** With the in-memory gateway the inbox serves "
            + each(lambda size: f"{share[size]['inbox']['median']:.0%}", sizes)
            + " and the conversation "
            + each(lambda size: f"{share[size]['conversation']['median']:.0%}", sizes)
            + " of the floor's requests per second (medians of rounds run side by side). "
            "Requests per second are noisy here, and the floor's are partly limited by the "
            "clients; the server's CPU per request is steadier: floor "
            + each(lambda size: f"{cpu[size]['floor']:.1f} ms", served)
            + "; inbox "
            + each(lambda size: f"{cpu[size]['inbox']:.1f} ms", served)
            + "; conversation "
            + each(lambda size: f"{cpu[size]['conversation']:.1f} ms", served)
            + ". A saturated server would serve about "
            + each(lambda size: f"{cpu[size]['floor'] / cpu[size]['inbox']:.0%}", served)
            + " as many inbox pages as floor requests, and "
            + each(lambda size: f"{cpu[size]['floor'] / cpu[size]['conversation']:.0%}", served)
            + " as many conversation pages. Size hardly matters: the cost is per page."
        )
        notes.append(
            "- **Where the time goes.** The profile (below) splits a page's time in one process. "
            "Template rendering is "
            + each(
                lambda size: (
                    f"{phase(size, 'inbox', 'template rendering'):.1f} of "
                    f"{profile[size]['inbox']['ms_per_request']:.1f} ms"
                ),
                profiled,
            )
            + " of the inbox and "
            + each(
                lambda size: (
                    f"{phase(size, 'conversation', 'template rendering'):.1f} of "
                    f"{profile[size]['conversation']['ms_per_request']:.1f} ms"
                ),
                profiled,
            )
            + " of the conversation; the in-memory gateway's calls are "
            + each(
                lambda size: f"{phase(size, 'inbox', 'in-memory gateway calls'):.2f} ms", profiled
            )
            + " of the inbox. The view models format each row's times once (the ISO "
            "`datetime`, the hover title and the relative label, against one clock per page, "
            "without the localised `|date` filters) and build the row links from one "
            "`reverse()` per page; the New message input is built without the form renderer's "
            "widget templates. What is left per row is the template engine's own work: "
            "resolving each variable (`_resolve_lookup`) and checking and escaping each value "
            "printed (`functional.py` `wrapper`, `html.escape`) lead the own-time lists beside "
            "the SQL driver's wait; per page, the session, the user and one SQL query for the "
            "current names of the people shown. Half the floor means the inbox costing "
            "about twice the floor's CPU, "
            + each(lambda size: f"{2 * cpu[size]['floor']:.1f} ms", served)
            + "; it costs "
            + each(lambda size: f"{cpu[size]['inbox']:.1f} ms", served)
            + ", the conversation "
            + each(lambda size: f"{cpu[size]['conversation']:.1f} ms", served)
            + "."
        )
    per_call = {}
    for size in served:
        if all("server_cpu_ms" in rows.get((size, "moto", page), {}) for page in PAGES_CPU):
            per_call[size] = statistics.median(
                (rows[(size, "moto", page)]["server_cpu_ms"] - cpu[size][page])
                / rows[(size, "moto", page)]["cost"]["dynamodb_requests"]["median"]
                for page in ("inbox", "conversation")
            )
    if per_call:
        notes.append(
            "- **A DynamoDB call costs the app server CPU too.** The same pages over moto use "
            "more of the server's CPU than in memory: about "
            + each(lambda size: f"{per_call[size]:.1f} ms", list(per_call))
            + " per DynamoDB call (botocore signing, JSON serialisation and parsing, the HTTP "
            "round trip, the gateway turning items into dataclasses and measuring their sizes for "
            "the capacity figures, the cost log line). That "
            "part is the app's own and stays on AWS (plus TLS); the emulator's CPU is counted "
            "separately."
        )
    probed = [size for size in sizes if results["sizes"][size].get("probe")]
    if probed and all(rows.get((size, "moto", "inbox")) for size in probed):
        notes.append(
            "- **Over moto, the emulator dominates.** The inbox's p50 over moto is "
            + each(lambda size: f"{rows[(size, 'moto', 'inbox')]['p50_ms']:,.0f} ms", probed)
            + ", against "
            + each(lambda size: f"{rows[(size, 'memory', 'inbox')]['p50_ms']:,.0f} ms", probed)
            + " in memory: one inbox Query alone takes "
            + each(
                lambda size: (
                    f"{results['sizes'][size]['probe']['scaled']['inbox query'] * 1000:.0f} ms"
                ),
                probed,
            )
            + " in the emulator, which parses, evaluates and serialises in Python with one "
            f"lock for all {results['config']['clients']} clients (its CPU per request is in "
            "the table), where DynamoDB's published latency is single-digit milliseconds. "
            "Read the moto rows for requests, items and capacity, not for speed."
        )
    if len(sizes) > 1 and all("probe" in results["sizes"][size] for size in (first, last)):
        stock = results["sizes"][last]["probe"]["stock"]
        scaled = {size: results["sizes"][size]["probe"]["scaled"] for size in (first, last)}
        gsi = "participants query (GSI)"
        send = "send (GSI query + transaction)"
        notes.append(
            f"- **Stock moto cannot serve size {last}.** On the same data stock moto takes "
            f"{stock['inbox query']:.1f} s per inbox Query and {stock[send]:.0f} s per send "
            "(it sorts the whole table for every Query and deep-copies it once per "
            "transaction action), beyond the gateway's 5 s read timeout. `bench/emulator.py` "
            "makes a Query read its partition and a transaction back up only its own items; "
            "answers are unchanged (tests/test_bench_smoke.py compares them). A GSI Query still "
            f"passes over the whole table there ({scaled[first][gsi] * 1000:.0f} ms at "
            f"{first}, {scaled[last][gsi] * 1000:.0f} ms at {last}), and every send makes one: the "
            f"send scenario at {last} over moto measures mostly the emulator, not the app."
        )
    return "\n".join(notes)


def main(argv: list[str] | None = None) -> None:
    """Render the documents again from an existing bench-results.json (no new measurements)."""
    import argparse
    import json

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--out", default="docs", help="Folder holding bench-results.json.")
    args = parser.parse_args(argv)
    out = Path(args.out)
    results = json.loads((out / "bench-results.json").read_text())
    for path in write(results, out):
        print(path)


if __name__ == "__main__":
    main()
