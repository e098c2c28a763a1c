"""docs/bench.png from docs/bench-results.json: what each page costs beside the floor.

    python -m bench.chart docs/bench-results.json docs/bench.png

Four panels: requests per second and CPU per request of each page, for each store and size
(the floor, a trivial signed-in view on the same server, first); DynamoDB requests and read and
write capacity units per page over DynamoDB (moto), across sizes. Drawn with matplotlib's Agg
backend: no display, no network. `bench.run` calls it at its end.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

from bench.report import PAGES, STORES

# The picture's size in pixels is WIDTH x HEIGHT (inches x DPI); README shows it at this size.
WIDTH, HEIGHT, DPI = 13, 9, 100
# One hue per store, light for the first size and dark for the last (Okabe-Ito, readable
# with the common colour blindnesses).
COLOURS = {
    "memory": ("#56B4E9", "#0060A0"),
    "moto": ("#F0B050", "#B05A00"),
    "asgi": ("#A8DBA8", "#007A50"),
}
# Read and write capacity, light and dark for the sizes like the stores.
CAPACITY_COLOURS = {"rcu": ("#56B4E9", "#0060A0"), "wcu": ("#E69FBF", "#A0306A")}
PAGE_LABELS = {
    name: label.replace(" (", "\n(").replace(" page", "\npage") for name, label in PAGES.items()
}


def draw(results: dict[str, Any], path: Path) -> None:
    """Write the chart of `results` (bench-results.json, loaded) to `path` as a PNG."""
    import matplotlib

    matplotlib.use("Agg")  # before pyplot: no display
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    measured = {
        (row["size"], row["backend"], row["scenario"]): row
        for size in results["sizes"].values()
        for row in size["scenarios"]
    }
    sizes = list(results["sizes"])
    stores = [store for store in STORES if any(key[1] == store for key in measured)]
    pages = [page for page in PAGES if any(key[2] == page for key in measured)]
    costed = [page for page in pages if page != "floor"]  # the floor calls no store

    def bars_of(read, store: str | None = None, page_list=pages) -> list[list[float]]:
        """One row of heights per (store, size), or per size for one store."""
        return [
            [
                read(row) if (row := measured.get((size, each, page))) else math.nan
                for page in page_list
            ]
            for each in ([store] if store else stores)
            for size in sizes
        ]

    def cost(name: str):
        return lambda row: row["cost"][name]["median"]

    figure, ((rps, cpu), (requests, capacity)) = plt.subplots(
        2, 2, figsize=(WIDTH, HEIGHT), dpi=DPI
    )
    # Top: throughput and CPU, every store and size; one legend for both, above them.
    series = [
        (f"{STORES[store]}, {_size_label(results, size)}", _shade(COLOURS[store], i, sizes))
        for store in stores
        for i, size in enumerate(sizes)
    ]
    _bars(rps, pages, bars_of(lambda row: row["rps"]), series)
    _bars(cpu, pages, bars_of(lambda row: row["cpu_ms"]), series)
    rps.set_yscale("log")
    whole = FuncFormatter(lambda value, _: f"{value:,.0f}")
    rps.yaxis.set_major_formatter(whole)
    rps.yaxis.set_minor_formatter(
        FuncFormatter(lambda v, _: f"{v:,.0f}" if str(v)[0] in "25" else "")
    )
    _label(rps, "Requests per second (higher is better)", "requests per second (log scale)")
    _label(cpu, "Server CPU per request (lower is better)", "CPU milliseconds per request")
    figure.legend(
        *rps.get_legend_handles_labels(),
        loc="upper center",
        ncol=3,
        fontsize=9,
        bbox_to_anchor=(0.5, 0.955),
        frameon=False,
    )

    # Bottom: what each page costs in DynamoDB, per size (the in-memory store has no cost).
    by_size = [
        (_size_label(results, size), _shade(COLOURS["moto"], i, sizes))
        for i, size in enumerate(sizes)
    ]
    _bars(requests, costed, bars_of(cost("dynamodb_requests"), "moto", costed), by_size)
    _label(requests, "DynamoDB requests per page (moto)", "requests per page view")
    requests.legend(fontsize=8, loc="upper left")
    units = [
        (f"{name.upper()}, {_size_label(results, size)}", _shade(CAPACITY_COLOURS[name], i, sizes))
        for name in ("rcu", "wcu")
        for i, size in enumerate(sizes)
    ]
    heights = [row for name in ("rcu", "wcu") for row in bars_of(cost(name), "moto", costed)]
    _bars(capacity, costed, heights, units)
    _label(capacity, "DynamoDB capacity per page (moto)", "capacity units per page view")
    capacity.legend(fontsize=8, loc="upper left")

    config, machine = results["config"], results["machine"]
    figure.suptitle(
        f"Cruddur Messages: {config['clients']} clients, {config['workers']} gunicorn workers, "
        f"median of {config['repeats']} runs of {config['seconds']:g} s on "
        f"{machine['cpus_usable']} CPUs ({results['generated'][:10]})",
        fontsize=12,
    )
    figure.tight_layout(rect=(0, 0, 1, 0.92))  # room for the title and the legend above
    figure.savefig(path, format="png")  # not bbox_inches="tight": the size stays fixed
    plt.close(figure)


def _size_label(results: dict[str, Any], size: str) -> str:
    messages = results["sizes"][size].get("seed", {}).get("messages")
    return f"size {size}" + (f" ({messages:,} messages)" if messages else "")


def _shade(colours: tuple[str, str], index: int, sizes: list[str]) -> str:
    """Light for the first size, dark for the last."""
    light, dark = colours
    return dark if index and index == len(sizes) - 1 else light


def _bars(axis, pages: list[str], heights: list[list[float]], series: list[tuple[str, str]]):
    """Grouped bars: one group per page, one bar per series (label, colour)."""
    width = 0.8 / len(series)
    for index, ((label, colour), values) in enumerate(zip(series, heights, strict=True)):
        offsets = [x - 0.4 + width * (index + 0.5) for x in range(len(pages))]
        axis.bar(
            offsets, values, width, color=colour, label=label, edgecolor="#333333", linewidth=0.4
        )
    axis.set_xticks(range(len(pages)), [PAGE_LABELS[page] for page in pages])


def _label(axis, title: str, unit: str) -> None:
    axis.set_title(title, fontsize=11)
    axis.set_ylabel(unit)
    axis.grid(axis="y", alpha=0.35)
    axis.set_axisbelow(True)
    # Headroom above the tallest bar, for a legend in the corner (after the scale is set).
    bottom, top = axis.get_ylim()
    axis.set_ylim(bottom, top * (2 if axis.get_yscale() == "log" else 1.45))


def main(argv: list[str] | None = None) -> None:
    arguments = sys.argv[1:] if argv is None else argv
    if len(arguments) != 2:
        sys.exit("usage: python -m bench.chart RESULTS.json OUT.png")
    source, target = (Path(argument) for argument in arguments)
    draw(json.loads(source.read_text()), target)
    print(f"{target}: drawn from {source}")


if __name__ == "__main__":
    main()
