"""docs/bench.png: throughput and latency by scenario, size and backend (matplotlib, Agg)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

SCENARIO_LABELS = {
    "floor": "floor\n(trivial view)",
    "inbox": "inbox",
    "conversation": "conversation",
    "conversation_page3": "conversation\npage 3",
    "send": "send\n(POST)",
}
# Light for the first size, dark for the last: purple over DynamoDB (moto), green in memory.
COLOURS = {"moto": ("#9c8ad6", "#5a2bd6"), "memory": ("#8fd1b5", "#1f8a5b")}


def draw(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = {
        (row["backend"], row["size"], row["scenario"]): row
        for size in results["sizes"].values()
        for row in size["scenarios"]
    }
    sizes = list(results["sizes"])
    series = [
        (backend, size, COLOURS[backend][min(index, 1)])
        for backend in COLOURS
        for index, size in enumerate(sizes)
    ]
    scenarios = list(SCENARIO_LABELS)
    figure, (left, right) = plt.subplots(1, 2, figsize=(13, 5.2), dpi=110)
    width = 0.8 / len(series)
    for index, (backend, size, colour) in enumerate(series):
        offsets = [x - 0.4 + width * (index + 0.5) for x in range(len(scenarios))]
        found = [rows.get((backend, size, name)) for name in scenarios]
        rps = [row["rps"] if row else 0 for row in found]
        p50 = [row["p50_ms"] if row else 0 for row in found]
        p95 = [row["p95_ms"] if row else 0 for row in found]
        label = f"{'DynamoDB (moto)' if backend == 'moto' else 'in-memory gateway'}, size {size}"
        left.bar(offsets, rps, width, color=colour, label=label)
        right.bar(offsets, p50, width, color=colour, label=label)
        right.errorbar(
            offsets,
            p50,
            yerr=[[0] * len(p50), [high - low for high, low in zip(p95, p50, strict=True)]],
            fmt="none",
            ecolor="#333333",
            capsize=2,
            linewidth=0.8,
        )
    for axis, title, unit in (
        (left, "Throughput (higher is better)", "requests per second"),
        (right, "Latency: bar p50, whisker p95 (lower is better)", "milliseconds (log scale)"),
    ):
        axis.set_xticks(range(len(scenarios)), [SCENARIO_LABELS[name] for name in scenarios])
        axis.set_title(title, fontsize=11)
        axis.set_ylabel(unit)
        axis.grid(axis="y", alpha=0.3)
        axis.set_axisbelow(True)
    right.set_yscale("log")
    left.legend(fontsize=8, loc="upper right")
    config = results["config"]
    figure.suptitle(
        f"Cruddur Messages, {config['clients']} concurrent clients, gunicorn "
        f"{config['workers']} sync workers, median of {config['repeats']} runs of "
        f"{config['seconds']:g} s  ({results['machine']['cpus_usable']} CPUs, "
        f"{results['generated'][:10]})",
        fontsize=10,
    )
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
