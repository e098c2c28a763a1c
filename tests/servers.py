"""The site under uvicorn in a process of its own, as `make run` and production serve it, on
the test's database, Redis and emulator: for tests that need several processes, or a server
they can stop and start again."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from django.conf import settings
from django.db import connection


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def server_env(moto_endpoint: str, **overrides: str) -> dict[str, str]:
    """The environment of a server process sharing this test's data (committed: the test must
    use `transactional_db`), with `overrides`."""
    db = connection.settings_dict
    if db["ENGINE"] != "django.db.backends.postgresql":
        pytest.fail("This test needs Postgres: the server process shares the test database.")
    database_url = (
        f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:"
        f"{db['PORT'] or 5432}/{db['NAME']}"
    )
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "DATABASE_POOL": "false",
        "AWS_ENDPOINT_URL": moto_endpoint,
        "REDIS_URL": settings.REDIS_URL or "",
        "CACHE_KEY_PREFIX": settings.CACHE_KEY_PREFIX,
        "DEBUG": "true",  # static files from the app folders, as `make run`
        **overrides,
    }


class ServerProcess:
    """`cruddur.asgi:application` under uvicorn on a free port of its own. On SIGTERM uvicorn
    waits `graceful_shutdown_seconds` for the responses in flight, or as long as they take
    with None (uvicorn's default, as the production command in the README)."""

    def __init__(
        self, env: dict[str, str], log_path: Path, *, graceful_shutdown_seconds: float | None = 1
    ):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = env
        self.log_path = log_path
        self.graceful_shutdown_seconds = graceful_shutdown_seconds
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        command = [sys.executable, "-m", "uvicorn", "cruddur.asgi:application", "--host",
                   "127.0.0.1", "--port", str(self.port), "--lifespan", "off", "--log-level",
                   "warning"]  # fmt: skip
        if self.graceful_shutdown_seconds is not None:
            command += ["--timeout-graceful-shutdown", str(self.graceful_shutdown_seconds)]
        with open(self.log_path, "a") as log:  # the process keeps its own copy of the file
            self.process = subprocess.Popen(
                command, env=self.env, cwd=settings.BASE_DIR, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(f"{self.url}/health/", timeout=2)
                return
            except requests.ConnectionError:
                assert self.process.poll() is None, self.log_path.read_text()
                assert time.monotonic() < deadline, "uvicorn did not start"
                time.sleep(0.1)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
