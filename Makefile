# Cruddur Messages: `make run` serves the local stack, `make test` runs every check.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/test
TEST_REDIS_URL ?= redis://127.0.0.1:6379/0

.PHONY: run test test-fast lint format install browser postgres redis bench clean lambda-zip deploy

install: $(VENV)/.installed

# --no-compile: Python compiles what it imports when first imported, not all of boto3 and moto
# up front (a fresh install takes about half as long).
$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --no-compile -r requirements-dev.txt
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

# The stream handler's Lambda zip: only the modules messaging.stream imports (no Django),
# byte-for-byte the same for the same code (docs/STREAM_HANDLER.md).
lambda-zip: install
	$(PY) deploy/lambda_zip.py --output build/stream-handler.zip

# Deploy to AWS: the handler's zip, both stacks, the image, the migrate task (deploy/deploy.py
# says what each step needs). Options through ARGS, e.g. against the local emulator:
# make deploy ARGS="--endpoint-url http://127.0.0.1:5001"
deploy: install
	$(PY) -m deploy.deploy $(ARGS)

# The pages, the emails and a send's cost in groups of 2, 5 and 10 (scripts/bench.sh).
bench: install
	bash scripts/bench.sh

clean:
	rm -rf $(VENV) staticfiles .pytest_cache .ruff_cache build
