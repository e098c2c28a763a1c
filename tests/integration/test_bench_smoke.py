"""The benchmark's machinery: a tiny end-to-end run and its deterministic data.

`make bench` itself is not part of the test run; this runs the same command at the `smoke`
size (a few hundred messages, fractions of a second per scenario) and checks what it wrote.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench import seed
from bench.run import ASGI_SCENARIOS

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = {
    *("floor", "inbox", "conversation", "conversation_page3", "send"),
    *("edit", "unsend", "hide"),
}


def run_bench(module: str, *argv: str, out: Path, timeout: float) -> Path:
    """`python -m <module> ... --out <out>`, which must succeed; returns `out`."""
    done = subprocess.run(
        [sys.executable, "-m", module, *argv, "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    return run_bench("bench.run", "--smoke", "--database", "sqlite", out=out, timeout=180)


def test_smoke_run_measures_every_scenario_on_both_gateways(smoke_run):
    results = json.loads((smoke_run / "bench-results.json").read_text())
    rows = {
        (row["backend"], row["scenario"]): row for row in results["sizes"]["smoke"]["scenarios"]
    }
    assert set(rows) == (
        {(backend, name) for backend in ("moto", "memory") for name in SCENARIOS}
        | {("asgi", name) for name in ASGI_SCENARIOS}
    ) - {("memory", "edit"), ("memory", "unsend")}  # only over a store the workers share
    for row in rows.values():
        assert row["samples"] > 0
        assert row["errors"] == 0, row["error_examples"]
        assert 0 < row["p50_ms"] <= row["p95_ms"] <= row["p99_ms"]
        assert row["cost"]["sql_queries"]["median"] >= 1  # at least the user


def test_smoke_run_reads_the_page_costs_from_the_server(smoke_run):
    results = json.loads((smoke_run / "bench-results.json").read_text())
    rows = {
        (row["backend"], row["scenario"]): row for row in results["sizes"]["smoke"]["scenarios"]
    }

    def dynamodb(backend, name, field="dynamodb_requests"):
        return rows[(backend, name)]["cost"][field]["median"]

    assert dynamodb("moto", "floor") == 0
    assert dynamodb("moto", "inbox") == 1
    assert dynamodb("moto", "inbox", "items") == 21  # a page of 20, plus one to see if more
    assert dynamodb("moto", "conversation") == 2  # the inbox sidebar and the messages
    assert dynamodb("moto", "conversation_page3") == 2
    assert dynamodb("moto", "send", "wcu") > 0
    # README "DynamoDB": the membership check, then the store's reads and one transaction.
    for control in ("edit", "unsend"):
        assert dynamodb("moto", control) == 8
        assert dynamodb("moto", control, "wcu") == 8  # the message, two previews, the record
    assert dynamodb("moto", "hide") == 3
    assert dynamodb("moto", "hide", "wcu") == 4  # the entry moved (delete + put)
    assert dynamodb("memory", "inbox") == 0  # the fake is not DynamoDB: nothing to count


def test_smoke_run_writes_the_report(smoke_run):
    document = (smoke_run / "BENCHMARKS.md").read_text()
    assert "| smoke | DynamoDB (moto) | inbox |" in document
    assert "| smoke | in-memory | inbox |" in document
    assert "| smoke | in-memory, ASGI (uvicorn) | inbox |" in document
    assert "| smoke | inbox |" in document  # gunicorn as deployed beside ASGI
    assert "## Targets" in document and "## How to read these numbers" in document
    assert "| inbox ≤ 1 RCU per page of 20 (size smoke) |" in document
    written = {path.name for path in smoke_run.iterdir()}
    assert written == {"BENCHMARKS.md", "bench-results.json", "bench.png"}  # the chart too
    assert (smoke_run / "bench.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_the_dataset_is_the_same_every_time():
    first = seed.build(seed.SIZES["smoke"], clients=2)
    second = seed.build(seed.SIZES["smoke"], clients=2)
    assert first == second
    assert first.message_count == seed.SIZES["smoke"].messages
    assert [user.handle for user in first.users[:2]] == ["bench0", "bench1"]
    inbox = [c for c in first.conversations if first.users[0] in c.participants]
    assert len(inbox) == seed.SIZES["smoke"].inbox
    main = max(inbox, key=lambda c: c.messages[-1].created_at)
    assert main.group_uuid == first.main_conversations[0]
    assert len(main.messages) == seed.SIZES["smoke"].long


def test_push_measurement_runs_and_sees_push_cost_nothing_while_idle(tmp_path):
    # bench/push.py at its smallest: two servers, Redis, Chromium, a few sends each way.
    argv = ["--sends", "3", "--polled", "1", "--browser-sends", "1", "--idle", "2",
            "--streams", "5", "--rounds", "1", "--clients", "2"]  # fmt: skip
    run_bench("bench.push", *argv, out=tmp_path, timeout=300)
    results = json.loads((tmp_path / "push-results.json").read_text())
    assert results["push_delivery"]["from_post"]["n"] == 3
    assert results["browser_push"]["idle_requests_per_minute"] == 0
    assert results["browser_polling"]["idle_requests_per_minute"] > 0
    assert results["streams"]["streams"] == 5
    assert set(results["pages"]["asgi"]) == {"floor", "inbox", "conversation"}


def test_group_send_measurement_runs_and_counts_every_member(tmp_path):
    # bench/groups.py at its smallest: one group of 5, a fraction of a second per pass.
    argv = ["--sizes", "5", "--seconds", "0.3", "--rounds", "1"]
    run_bench("bench.groups", *argv, out=tmp_path, timeout=120)
    results = json.loads((tmp_path / "groups-results.json").read_text())
    alone, reading = results["runs"]
    assert [(run["members"], run["readers"]) for run in (alone, reading)] == [(5, 0), (5, 4)]
    for run in (alone, reading):
        assert run["sends"] >= 2 and run["errors"] == 0, run["error_examples"]
        # The message, every member's entry moved (delete + put), the roster check and the
        # one-time key; and a counter update per entry going from read to unread or back.
        assert 2 * 5 + 3 <= run["actions_median"] <= run["actions_max"] <= 3 * 5 + 3
        assert run["wcu_median"] >= 2 * (2 * 5 + 3)  # a transaction writes at 2 units an item
        assert run["requests_median"] >= 3  # the participants, the roster, the transaction
        assert run["rcu_median"] > 0
    document = (tmp_path / "BENCHMARKS.md").read_text()
    assert "| 5 | 4 | " in document and "## Sends in groups" in document
    assert "## Emails about unread messages" in document  # the rest of the text kept
