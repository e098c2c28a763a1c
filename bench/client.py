"""Signed-in HTTP clients and the scenarios they run, with latency and the cost headers.

Each client is one browser-like session: its own cookie jar, logged in through the login form
(CSRF token included), on one `http.client` connection that is reopened whenever the server
closes it (gunicorn's sync workers close after every response, as behind a load balancer).
"""

from __future__ import annotations

import http.client
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from urllib.parse import urlencode

COST_HEADERS = {
    "dynamodb_requests": "X-DynamoDB-Requests",
    "items": "X-DynamoDB-Items",
    "bytes": "X-DynamoDB-Bytes",
    "rcu": "X-DynamoDB-RCU",
    "wcu": "X-DynamoDB-WCU",
    "sql_queries": "X-SQL-Queries",
}

_CSRF_FIELD = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
_EARLIER = re.compile(r'rel="prev" href="([^"]+)"')
_SEND_TEXTS = (
    "Sounds good, see you at the review tomorrow.",
    "Deploy is done, the inbox looks fine on my side!",
    "Can you check the table before lunch?",
    "Thanks, merged it.",
)


class BenchError(Exception):
    """The server answered something a scenario cannot go on with."""


@dataclass
class Response:
    status: int
    headers: http.client.HTTPMessage
    body: bytes
    seconds: float

    def cost(self) -> dict[str, float] | None:
        values = {name: self.headers.get(header) for name, header in COST_HEADERS.items()}
        if any(value is None for value in values.values()):
            return None
        return {name: float(value) for name, value in values.items()}


class Client:
    def __init__(self, host: str, port: int, *, timeout: float = 120):
        self.host, self.port = host, port
        self.timeout = timeout
        self.cookies: dict[str, str] = {}
        self.connection = http.client.HTTPConnection(host, port, timeout=timeout)
        self.main_conversation = ""
        self.page3_path = ""
        self.sent = 0

    def request(self, method: str, path: str, form: dict[str, str] | None = None) -> Response:
        headers = {"Host": f"{self.host}:{self.port}"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        for attempt in (1, 2):
            started = time.perf_counter()
            try:
                self.connection.request(method, path, body=body, headers=headers)
                answer = self.connection.getresponse()
                content = answer.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # The server closed the kept connection between requests: open a new one.
                self.connection.close()
                if attempt == 2:
                    raise
                continue
            seconds = time.perf_counter() - started
            if answer.will_close:
                self.connection.close()
            for cookie in answer.headers.get_all("Set-Cookie") or []:
                for name, morsel in SimpleCookie(cookie).items():
                    self.cookies[name] = morsel.value
            return Response(answer.status, answer.headers, content, seconds)
        raise AssertionError("unreachable")

    def login(self, handle: str, password: str) -> None:
        page = self.request("GET", "/accounts/login/")
        token = _CSRF_FIELD.search(page.body.decode())
        if page.status != 200 or not token:
            raise BenchError(f"login page answered {page.status}")
        answer = self.request(
            "POST",
            "/accounts/login/",
            {"username": handle, "password": password, "csrfmiddlewaretoken": token.group(1)},
        )
        if answer.status != 302 or "sessionid" not in self.cookies:
            raise BenchError(f"could not log in as {handle}: {answer.status}")

    def find_page3(self) -> str:
        """The path of the main conversation's third page, by following "Earlier" twice."""
        path = f"/messages/{self.main_conversation}/"
        for _ in range(2):
            page = self.request("GET", path)
            earlier = _EARLIER.search(page.body.decode())
            if page.status != 200 or not earlier:
                raise BenchError(f"{path} has no earlier page ({page.status})")
            path = earlier.group(1).replace("&amp;", "&")
        return path

    def send_form(self) -> dict[str, str]:
        # The token is the form's one-time uuid4; the server issues none, any fresh uuid4 is
        # what a browser would post, so the client makes one per send instead of a GET.
        self.sent += 1
        return {
            "text": f"{_SEND_TEXTS[self.sent % len(_SEND_TEXTS)]} ({self.sent})",
            "token": str(uuid.uuid4()),
            "csrfmiddlewaretoken": self.cookies["csrftoken"],
        }


@dataclass(frozen=True)
class Scenario:
    name: str
    method: str
    path: Callable[[Client], str]
    expected_status: int = 200
    form: Callable[[Client], dict[str, str]] | None = None


SCENARIOS = (
    Scenario("floor", "GET", lambda client: "/bench/floor/"),
    Scenario("inbox", "GET", lambda client: "/messages/"),
    Scenario("conversation", "GET", lambda client: f"/messages/{client.main_conversation}/"),
    Scenario("conversation_page3", "GET", lambda client: client.page3_path),
    Scenario(
        "send",
        "POST",
        lambda client: f"/messages/{client.main_conversation}/",
        expected_status=303,
        form=lambda client: client.send_form(),
    ),
)


@dataclass
class RunResult:
    seconds: float
    latencies: list[float] = field(default_factory=list)  # seconds, successful requests
    costs: list[dict[str, float]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0


def run(scenario: Scenario, clients: list[Client], *, seconds: float) -> RunResult:
    """Every client repeats the scenario for `seconds`; all requests that finished count."""
    lock = threading.Lock()
    start = threading.Barrier(len(clients) + 1)
    result = RunResult(seconds=0.0)

    def drive(client: Client) -> None:
        latencies, costs, errors = [], [], []
        start.wait()
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            form = scenario.form(client) if scenario.form else None
            try:
                answer = client.request(scenario.method, scenario.path(client), form)
            except OSError as error:
                errors.append(f"{type(error).__name__}: {error}")
                continue
            if answer.status != scenario.expected_status:
                errors.append(f"HTTP {answer.status}")
                continue
            latencies.append(answer.seconds)
            cost = answer.cost()
            if cost is not None:
                costs.append(cost)
        with lock:
            result.latencies += latencies
            result.costs += costs
            result.errors += errors

    threads = [threading.Thread(target=drive, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    result.seconds = time.perf_counter() - began
    return result
