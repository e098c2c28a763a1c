"""bench/chart.py draws docs/bench.png from the bench's JSON: here from a small made-up one."""

import json
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from bench import chart

ROOT = Path(__file__).resolve().parents[2]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def scenario(size, backend, page, rps, cpu_ms, requests=0.0, rcu=0.0, wcu=0.0):
    costs = {"dynamodb_requests": requests, "items": 0.0, "bytes": 0.0, "rcu": rcu, "wcu": wcu}
    return {
        "size": size,
        "backend": backend,
        "scenario": page,
        "rps": rps,
        "cpu_ms": cpu_ms,
        "cost": {name: {"median": value} for name, value in costs.items()},
    }


def results(sizes):
    return {
        "generated": "2026-12-03T00:00:00+00:00",
        "machine": {"cpus_usable": 2},
        "config": {"clients": 8, "workers": 4, "repeats": 5, "seconds": 3.0},
        "sizes": {
            size: {
                "seed": {"messages": messages},
                "scenarios": [
                    scenario(size, "memory", "floor", 1400, 1.0),
                    scenario(size, "memory", "inbox", 450, 3.6),
                    scenario(size, "moto", "floor", 1350, 1.0),
                    scenario(size, "moto", "inbox", 70, 7.0, requests=1, rcu=1),
                    scenario(size, "moto", "send", 130, 6.8, requests=2, rcu=0.5, wcu=12),
                ],
            }
            for size, messages in sizes.items()
        },
    }


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) from the PNG's header chunk, which comes first."""
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


@pytest.mark.parametrize(
    "sizes", [{"S": 1000, "L": 100_000}, {"smoke": 40}], ids=["two sizes", "one size"]
)
def test_draws_a_png_of_the_expected_size(tmp_path, sizes):
    path = tmp_path / "bench.png"

    chart.draw(results(sizes), path)

    assert png_size(path) == (chart.WIDTH * chart.DPI, chart.HEIGHT * chart.DPI)


def test_runs_as_a_module_from_the_json_file(tmp_path):
    source, target = tmp_path / "bench-results.json", tmp_path / "bench.png"
    source.write_text(json.dumps(results({"S": 1000, "L": 100_000})))

    subprocess.run(
        [sys.executable, "-m", "bench.chart", str(source), str(target)],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )

    assert png_size(target) == (1300, 900)
