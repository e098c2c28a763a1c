#!/usr/bin/env bash
# `make bench`: benchmark the pages at two data sizes; writes docs/BENCHMARKS.md, docs/bench.png
# and docs/bench-results.json. Starts and stops its own emulator, database and servers.
# Extra arguments go to `python -m bench.run` (e.g. `bash scripts/bench.sh --sizes S`).
set -euo pipefail
cd "$(dirname "$0")/.."

PY=.venv/bin/python
$PY -m pip install --quiet --disable-pip-version-check -r requirements-bench.txt

# PostgreSQL if it is there (started like `make test` does); SQLite otherwise, said in the report.
bash scripts/ensure-postgres.sh >/dev/null 2>&1 || echo "PostgreSQL unavailable: the benchmark uses SQLite."

export BENCH_COMMAND="make bench${*:+ (python -m bench.run $*)}"
exec $PY -m bench.run "$@"
