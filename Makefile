# Cruddur Messages: `make run` serves the local stack, `make test` runs every check.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/test
TEST_REDIS_URL ?= redis://127.0.0.1:6379/0

.PHONY: run test test-fast lint format install browser postgres redis bench clean

install: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

run: install
	bash scripts/run-local.sh

postgres:
	bash scripts/ensure-postgres.sh

redis:
	bash scripts/ensure-redis.sh $(TEST_REDIS_URL)

browser:
	bash scripts/ensure-chromium.sh

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Every run keys its cache entries with its own prefix, so runs side by side do not meet. Two
# workers (pytest-xdist), each with its own database, keys, emulator and browser: the suite
# waits on browsers, servers and sockets about as long as it computes.
TEST_WORKERS ?= 2
test: install postgres redis browser lint
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) CACHE_KEY_PREFIX=test-$$$$ \
		$(PY) -m pytest --numprocesses $(TEST_WORKERS)

# The unit tier alone: the in-memory store and SQLite in memory, no Postgres, no browser.
test-fast: install
	DATABASE_URL=sqlite://:memory: REDIS_URL= $(PY) -m pytest tests/unit -q

bench: install
	bash scripts/bench.sh

clean:
	rm -rf $(VENV) staticfiles .pytest_cache .ruff_cache
