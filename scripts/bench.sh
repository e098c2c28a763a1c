#!/usr/bin/env bash
# `make bench`: benchmark the pages at two data sizes, the emails and sends in groups; writes
# docs/BENCHMARKS.md, docs/bench-results.json, docs/groups-results.json and docs/bench.png. Starts and stops its own
# emulator, database and servers.
# Extra arguments go to `python -m bench.run` (e.g. `bash scripts/bench.sh --sizes S`).
set -euo pipefail
cd "$(dirname "$0")/.."

# PostgreSQL if it is there (started like `make test` does); SQLite otherwise, said in the report.
database=postgres
if ! bash scripts/ensure-postgres.sh >/dev/null 2>&1; then
  echo "PostgreSQL unavailable: the benchmark uses SQLite."
  database=sqlite
fi

export BENCH_COMMAND="make bench${*:+ (python -m bench.run $*)}"
.venv/bin/python -m bench.run --database "$database" "$@"
# The emails about unread messages: a send's SQL, the worker's rate (docs/BENCHMARKS.md).
BENCH_COMMAND="make bench (python -m bench.notify)" .venv/bin/python -m bench.notify --database "$database"
# A send's cost in groups of 2, 5 and 10 members, with members reading at once.
BENCH_COMMAND="make bench (python -m bench.groups)" .venv/bin/python -m bench.groups
