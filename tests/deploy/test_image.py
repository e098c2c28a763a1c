"""The image, checked without Docker: hadolint on the Dockerfile, then a stand-in run of it.

The stand-in reads the Dockerfile and .dockerignore rather than repeating them: it lays out
what the runtime stage COPYs (less what .dockerignore keeps out of the context) in a folder
standing for /app, builds a fresh venv from requirements.txt alone (the build stage's only
input) standing for /venv, runs the stage's collectstatic step with the stage's ENV, then
starts the ENTRYPOINT with its CMD (web) and with `events`, in the container's environment
(DEBUG off, a public ALLOWED_HOSTS, the password apart from DATABASE_URL) on this test's
database, Redis and emulator. It cannot check what only Docker does (the base image, USER,
file modes in layers): the README's first-deploy checklist has `docker build`.

The venv is the slow part: about 8 s of the module's 13 s here with pip's cache filled (the
first run fetches the wheels, about 20 s more); the whole module takes about 12 s of CPU.
"""

from __future__ import annotations

import http.client
import io
import json
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
PUBLIC_HOST = "messages.example.com"
PRIVATE_HOST = "10.0.1.23:8000"  # how the ALB's health check names a task


# --- the Dockerfile and .dockerignore, read ---


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    joined, parts = [], []
    for line in text.splitlines():
        if line.lstrip().startswith("#") or not line.strip():
            continue
        if line.endswith("\\"):
            parts.append(line[:-1].strip())
            continue
        joined.append(" ".join([*parts, line.strip()]))
        parts = []
    return [tuple(line.split(None, 1)) for line in joined]


def stages() -> list[list[tuple[str, str]]]:
    found: list[list[tuple[str, str]]] = []
    for keyword, arguments in instructions(DOCKERFILE.read_text()):
        if keyword == "FROM":
            found.append([])
        found[-1].append((keyword, arguments))
    return found


def copies(stage) -> list[tuple[str | None, list[str], str]]:
    """Each COPY of a stage: (the stage it copies from or None, sources, destination)."""
    found = []
    for keyword, arguments in stage:
        if keyword != "COPY":
            continue
        words = shlex.split(arguments)
        options = [word for word in words if word.startswith("--")]
        *sources, destination = [word for word in words if not word.startswith("--")]
        source_stage = next((o.split("=", 1)[1] for o in options if o.startswith("--from=")), None)
        found.append((source_stage, sources, destination))
    return found


def only(stage, keyword: str) -> str:
    (arguments,) = [arguments for each, arguments in stage if each == keyword]
    return arguments


def environment(stage) -> dict[str, str]:
    found = {}
    for keyword, arguments in stage:
        if keyword == "ENV":
            found.update(word.split("=", 1) for word in shlex.split(arguments))
    return found


def ignored(relative: str, patterns: list[str]) -> bool:
    """Whether .dockerignore keeps a path out of the build context: a pattern matches the path
    or one of its folders (Go's filepath.Match, plus ** for any number of folders)."""
    parts = relative.split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    for pattern in patterns:
        regex = re.escape(pattern).replace(r"\*\*/", "(?:.*/)?")
        regex = regex.replace(r"\*", "[^/]*").replace(r"\?", "[^/]")
        if any(re.fullmatch(regex, prefix) for prefix in prefixes):
            return True
    return False


def dockerignore() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    patterns = [line.strip().strip("/") for line in lines if line.strip()[:1] not in ("", "#")]
    assert not [p for p in patterns if p.startswith("!")], "exceptions: teach ignored() them"
    return patterns


# --- hadolint ---


def test_hadolint_finds_nothing():
    hadolint = shutil.which("hadolint", path=Path(sys.executable).parent)
    assert hadolint, "hadolint is pinned in requirements-dev.txt: make install"
    # It reads .hadolint.yaml from the working folder, if one is ever needed.
    done = subprocess.run(
        [hadolint, "--no-color", str(DOCKERFILE)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and not done.stdout.strip(), done.stdout + done.stderr


def test_the_build_stage_sees_only_the_production_requirements():
    build, runtime = stages()
    assert [sources for _, sources, _ in copies(build)] == [["requirements.txt"]]
    assert not ignored("requirements.txt", dockerignore())
    # The runtime stage takes the venv from the build stage, and never requirements-dev.txt.
    assert [stage for stage, _, _ in copies(runtime) if stage] == [only(build, "FROM").split()[-1]]
    assert ignored("requirements-dev.txt", dockerignore())


def test_the_servers_run_as_cruddur_not_root():
    runtime = stages()[-1]
    uid, _, gid = only(runtime, "USER").partition(":")
    (creates,) = [step for keyword, step in runtime if keyword == "RUN" and "useradd" in step]
    assert f"--uid {uid} " in creates and f"--gid {gid} cruddur" in creates
    assert creates.endswith(" cruddur") and int(uid) != 0


def test_the_context_keeps_out_secrets_caches_and_tests():
    patterns = dockerignore()
    for path in (".env", "db.sqlite3", ".venv/bin/python", "cruddur/__pycache__/x.pyc",
                 "messaging/dynamo/__pycache__/store.cpython-311.pyc", "tests/conftest.py",
                 "staticfiles/staticfiles.json", ".git/HEAD"):  # fmt: skip
        assert ignored(path, patterns), path
    for path in ("manage.py", "cruddur/settings.py", "messaging/dynamo/store.py",
                 "users/management/commands/seed_users.py", "templates/base.html",
                 "deploy/entrypoint.sh", "deploy/gunicorn.conf.py"):  # fmt: skip
        assert not ignored(path, patterns), path


# --- the stand-in run ---


class Image:
    """The runtime stage laid out in `root`: `app` stands for WORKDIR, `venv` for the venv."""

    def __init__(self, root: Path):
        self.stage = stages()[-1]
        self.workdir = only(self.stage, "WORKDIR")
        (self.venv_path,) = [dest for stage, _, dest in copies(self.stage) if stage]
        self.app, self.venv = root / "app", root / "venv"
        self.home = root / "home"

    def local(self, value: str) -> str:
        """A path or variable of the image, pointed at the stand-in's folders."""
        value = value.replace(self.venv_path, str(self.venv))
        return value.replace(self.workdir, str(self.app))

    def lay_out(self) -> None:
        patterns = dockerignore()
        for stage, sources, destination in copies(self.stage):
            if stage:
                continue
            target = self.app / destination
            for source in sources:
                assert not ignored(source.rstrip("/"), patterns), f"{source} is not in the context"
                origin = ROOT / source
                if origin.is_dir():
                    for path in sorted(origin.rglob("*")):
                        relative = path.relative_to(ROOT).as_posix()
                        if path.is_file() and not ignored(relative, patterns):
                            copied = target / path.relative_to(origin)
                            copied.parent.mkdir(parents=True, exist_ok=True)
                            shutil.copy2(path, copied)
                else:
                    target.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(origin, target / origin.name)

    def install(self) -> None:
        # A venv of its own with requirements.txt only, by this interpreter's pip (the venv
        # needs none of its own), from the configured index; pip's cache is kept. Bytecode is
        # written as the servers import what they use, not for every module installed.
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", self.venv], check=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "--python", self.venv / "bin" / "python", "install",
             "--quiet", "--disable-pip-version-check", "--only-binary=:all:", "--no-compile",
             "--requirement", ROOT / "requirements.txt"],
            check=True, timeout=600,
        )  # fmt: skip

    def env(self, **variables: str) -> dict[str, str]:
        """The stage's ENV and `variables`, and nothing of this test's own environment."""
        self.home.mkdir(exist_ok=True)
        base = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(self.home), "LANG": "C.UTF-8"}
        for name, value in environment(self.stage).items():
            base[name] = self.local(value).replace("$PATH", base["PATH"])
        return {**base, **variables}

    def run_build_steps(self) -> None:
        """The stage's RUN steps that build the app (not the user's creation: that needs root)."""
        steps = [step for keyword, step in self.stage if keyword == "RUN" and "manage.py" in step]
        assert steps, "the Dockerfile runs no manage.py step (collectstatic)"
        for step in steps:
            done = subprocess.run(
                ["/bin/sh", "-c", self.local(step)],
                cwd=self.app, env=self.env(), capture_output=True, text=True, timeout=300,
            )  # fmt: skip
            assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    def command(self, *cmd: str) -> list[str]:
        entrypoint = [self.local(word) for word in json.loads(only(self.stage, "ENTRYPOINT"))]
        return [*entrypoint, *(cmd or json.loads(only(self.stage, "CMD")))]


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    image = Image(tmp_path_factory.mktemp("image"))
    image.lay_out()
    image.install()
    image.run_build_steps()
    return image


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def container_env(image, moto_endpoint, db):
    """The container's environment (deploy/app.yaml sets it on ECS), pointed at this test's
    database, Redis and emulator, with the DynamoDB table created."""
    call_command("ddb_schema_load", stdout=io.StringIO())
    database = connection.settings_dict  # the test database
    return image.env(
        DEBUG="false",
        BEHIND_TLS_PROXY="true",
        ALLOWED_HOSTS=PUBLIC_HOST,
        SECRET_KEY=secrets.token_urlsafe(50),
        # The password apart, as from RDS's secret (the local server trusts local users).
        DATABASE_URL=f"postgres://{database['USER'] or 'postgres'}@"
        f"{database['HOST'] or '127.0.0.1'}:{database['PORT'] or 5432}/{database['NAME']}",
        DATABASE_PASSWORD="from-the-rds-secret",
        REDIS_URL=settings.REDIS_URL,
        CACHE_KEY_PREFIX=f"{settings.CACHE_KEY_PREFIX}-image",
        DDB_MESSAGE_TABLE=settings.DDB_MESSAGE_TABLE,
        AWS_DEFAULT_REGION="us-east-1",
        LOG_FORMAT="json",
        # Here only: the emulator instead of AWS, its fake credentials, a port of its own, and
        # one worker on a shared machine.
        AWS_ENDPOINT_URL=moto_endpoint,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        PORT=str(free_port()),
        WEB_CONCURRENCY="1",
    )


def get(port: int, path: str, host: str, **headers: str) -> tuple[int, str]:
    connection_ = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection_.request("GET", path, headers={"Host": host, **headers})
        response = connection_.getresponse()
        return response.status, response.read().decode()
    finally:
        connection_.close()


def wait_until_listening(process: subprocess.Popen, port: int, log: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            assert process.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, "the server did not start: " + log.read_text()
            time.sleep(0.1)


def setting(path: Path, pattern: str) -> int:
    (value,) = re.findall(pattern, path.read_text(), re.MULTILINE)
    return int(value)


GRACEFUL_STOP = {  # each server's graceful timeout, read from where it is set
    "web": lambda: setting(ROOT / "deploy/gunicorn.conf.py", r"^graceful_timeout = (\d+)"),
    "events": lambda: setting(ROOT / "deploy/entrypoint.sh", r"--timeout-graceful-shutdown (\d+)"),
}
# How each ends after a graceful stop: uvicorn, once done, raises again the signal it stopped on.
STOPPED = {"web": 0, "events": -signal.SIGTERM}


@pytest.mark.parametrize("role", ["web", "events"])
def test_the_image_serves_health_and_static_files_and_stops_on_sigterm(
    image, container_env, role, tmp_path
):
    argv = image.command() if role == "web" else image.command(role)
    port, log = int(container_env["PORT"]), tmp_path / f"{role}.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            argv, cwd=image.app, env=container_env, stdout=output, stderr=subprocess.STDOUT
        )
    try:
        wait_until_listening(process, port, log)
        # exec'd: the server itself is the process the container's signals reach.
        server = Path(f"/proc/{process.pid}/cmdline").read_bytes().decode()
        assert ("gunicorn" if role == "web" else "uvicorn") in server

        # Plain HTTP and a private address, as the ALB asks (liveness) and a monitor (readiness).
        for path in ("/health/live", "/health/ready"):
            status, body = get(port, path, PRIVATE_HOST)
            assert (status, json.loads(body)["status"]) == (200, "ok"), (path, body)
        assert get(port, "/accounts/login/", PRIVATE_HOST)[0] == 400
        healthcheck = json.loads(only(image.stage, "HEALTHCHECK").split(" CMD ", 1)[1])
        assert "/health/live" in healthcheck[-1]  # the process, not its dependencies
        probe = subprocess.run(healthcheck, env=container_env, capture_output=True, timeout=30)
        assert probe.returncode == 0, probe.stderr.decode()

        status, page = get(port, "/accounts/login/", PUBLIC_HOST, **{"X-Forwarded-Proto": "https"})
        assert status == 200, page[-2000:]
        if role == "web":  # the ALB sends the events container /messages/events/ only
            stylesheet = re.findall(r'href="(/static/[^"]+\.css)"', page)[0]
            assert re.search(r"\.[0-9a-f]{12}\.css$", stylesheet), stylesheet  # collectstatic's
            status, css = get(port, stylesheet, PUBLIC_HOST, **{"X-Forwarded-Proto": "https"})
            assert status == 200 and css.strip()

        process.send_signal(signal.SIGTERM)
        returncode = process.wait(timeout=GRACEFUL_STOP[role]())
        assert returncode == STOPPED[role], log.read_text()[-3000:]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_check_deploy_finds_nothing_in_the_containers_environment(image, container_env):
    # Any other command is run as given; REDIS_URL as ElastiCache's, with TLS.
    env = {**container_env, "REDIS_URL": "rediss://cache.example.com:6379/0"}
    argv = image.command("python", "manage.py", "check", "--deploy", "--fail-level", "DEBUG")
    done = subprocess.run(argv, cwd=image.app, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "System check identified no issues (0 silenced)." in done.stdout
