"""Signed-in HTTP clients and the scenarios they run, with latency and the cost headers.

Each client is one browser-like session, with its own cookies, logged in through the login form.
"""

from __future__ import annotations

import http.client
import math
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
_CONVERSATION_LINK = re.compile(r'class="convo[^"]*" href="/messages/([0-9a-f-]{36})/"')
_SENT_ROW = re.compile(r'data-message-uuid="([^"]+)".*?name="sort_key" value="([^"]+)"', re.S)
# An edit needs a message still inside the edit window (EDIT_WINDOW_SECONDS, 15 minutes by
# default): the client sends a new one when its last is older than this.
_EDITABLE_FOR = 600
_SEND_TEXTS = (
    "Sounds good, see you at the review tomorrow.",
    "Deploy is done, the inbox looks fine on my side!",
    "Can you check the table before lunch?",
    "Thanks, merged it.",
)


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
    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.cookies: dict[str, str] = {}
        self.main_conversation = ""
        self.page3_path = ""
        self.other_conversation = ""  # one the hide scenario hides, not the one the pages show
        self.sent = 0
        # The messages the next edit and the next unsend change: (uuid, sort key) each.
        self.to_edit, self.to_unsend = ("", ""), ("", "")
        self.to_edit_sent_at = -math.inf

    def control_path(self, action: str) -> str:
        message_uuid = (self.to_edit if action == "edit" else self.to_unsend)[0]
        return f"/messages/{self.main_conversation}/{message_uuid}/{action}/"

    def request(
        self,
        method: str,
        path: str,
        form: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        headers = {
            "Cookie": "; ".join(f"{name}={value}" for name, value in self.cookies.items()),
            **(headers or {}),
        }
        body = None if form is None else urlencode(form)
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        # A connection per request: the time measured includes connecting, as it would for a
        # browser's first request.
        started = time.perf_counter()
        connection = http.client.HTTPConnection(self.host, self.port, timeout=120)
        try:
            connection.request(method, path, body, headers)
            answer = connection.getresponse()
            content = answer.read()
        finally:
            connection.close()
        seconds = time.perf_counter() - started
        for cookie in answer.headers.get_all("Set-Cookie") or []:
            self.cookies.update(
                (name, morsel.value) for name, morsel in SimpleCookie(cookie).items()
            )
        return Response(answer.status, answer.headers, content, seconds)

    def login(self, handle: str, password: str) -> None:
        page = self.request("GET", "/accounts/login/")
        token = _CSRF_FIELD.search(page.body.decode())
        if page.status != 200 or not token:
            raise RuntimeError(f"login page answered {page.status}")
        answer = self.request(
            "POST",
            "/accounts/login/",
            {"username": handle, "password": password, "csrfmiddlewaretoken": token.group(1)},
        )
        if answer.status != 302 or "sessionid" not in self.cookies:
            raise RuntimeError(f"could not log in as {handle}: {answer.status}")

    def find_page3(self) -> str:
        """The path of the main conversation's third page, by following "Earlier" twice."""
        path = f"/messages/{self.main_conversation}/"
        for _ in range(2):
            page = self.request("GET", path)
            earlier = _EARLIER.search(page.body.decode())
            if page.status != 200 or not earlier:
                raise RuntimeError(f"{path} has no earlier page ({page.status})")
            path = earlier.group(1).replace("&amp;", "&")
        return path

    def find_other_conversation(self) -> str:
        """A conversation of the inbox's first page other than the main one."""
        page = self.request("GET", "/messages/").body.decode()
        others = [
            found for found in _CONVERSATION_LINK.findall(page) if found != self.main_conversation
        ]
        if not others:
            raise RuntimeError("the inbox has no conversation besides the main one")
        return others[0]

    def send_form(self) -> dict[str, str]:
        # The token is the form's one-time uuid4; the server issues none, any fresh uuid4 is
        # what a browser would post, so the client makes one per send instead of a GET.
        self.sent += 1
        return {
            "text": f"{_SEND_TEXTS[self.sent % len(_SEND_TEXTS)]} ({self.sent})",
            "token": str(uuid.uuid4()),
            "csrfmiddlewaretoken": self.cookies["csrftoken"],
        }

    def send_own_message(self, conversation: str = "") -> tuple[str, str]:
        """Send a message as the page's script does (its answer is the message's row): its
        uuid and sort key. Not timed: a scenario's preparation."""
        answer = self.request(
            "POST",
            f"/messages/{conversation or self.main_conversation}/",
            self.send_form(),
            headers={"X-Requested-With": "fetch"},
        )
        row = _SENT_ROW.search(answer.body.decode())
        if answer.status != 201 or not row:
            raise RuntimeError(f"a send to prepare an edit or unsend answered {answer.status}")
        return row.group(1), row.group(2)

    def edit_form(self) -> dict[str, str]:
        """A new text for the client's message (sent anew once it is getting old)."""
        if time.monotonic() - self.to_edit_sent_at > _EDITABLE_FOR:
            self.to_edit, self.to_edit_sent_at = self.send_own_message(), time.monotonic()
        self.sent += 1
        return {
            "text": f"Edited: {_SEND_TEXTS[self.sent % len(_SEND_TEXTS)]} ({self.sent})",
            "sort_key": self.to_edit[1],
            "csrfmiddlewaretoken": self.cookies["csrftoken"],
        }

    def unsend_form(self) -> dict[str, str]:
        """A fresh message to unsend each time (unsending one again writes nothing)."""
        self.to_unsend = self.send_own_message()
        return {"sort_key": self.to_unsend[1], "csrfmiddlewaretoken": self.cookies["csrftoken"]}

    def hide_form(self) -> dict[str, str]:
        """A message first, which brings the conversation back (hiding it again writes
        nothing). Another conversation than the main one, which the pages show."""
        self.send_own_message(self.other_conversation)
        return {"csrfmiddlewaretoken": self.cookies["csrftoken"]}


@dataclass(frozen=True)
class Scenario:
    name: str
    method: str
    path: Callable[[Client], str]
    expected_status: int = 200
    form: Callable[[Client], dict[str, str]] | None = None
    # Acts on a message the client sent moments before: only over DynamoDB, which all of a
    # server's workers share (each gunicorn worker has an in-memory store of its own).
    needs_shared_store: bool = False


PAGE_SCENARIOS = (
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
# Taking something back (issue 25). The form is made first (`run`): for unsend and hide that
# sends the message they act on, which is not timed but is in the server's CPU and in req/s
# (docs/BENCHMARKS.md).
CONTROL_SCENARIOS = (
    Scenario(
        "edit",
        "POST",
        lambda client: client.control_path("edit"),
        expected_status=303,
        form=lambda client: client.edit_form(),
        needs_shared_store=True,
    ),
    Scenario(
        "unsend",
        "POST",
        lambda client: client.control_path("unsend"),
        expected_status=303,
        form=lambda client: client.unsend_form(),
        needs_shared_store=True,
    ),
    Scenario(
        "hide",
        "POST",
        lambda client: f"/messages/{client.other_conversation}/hide/",
        expected_status=303,
        form=lambda client: client.hide_form(),
    ),
)
SCENARIOS = PAGE_SCENARIOS + CONTROL_SCENARIOS


@dataclass
class RunResult:
    seconds: float
    latencies: list[float] = field(default_factory=list)  # seconds, successful requests
    costs: list[dict[str, float]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    server_cpu_seconds: float = math.nan  # the server's processes, user + system

    @property
    def cpu_ms_per_request(self) -> float:
        return self.server_cpu_seconds * 1000 / len(self.latencies) if self.latencies else math.nan

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0


def run(scenario: Scenario, clients: list[Client], *, seconds: float) -> RunResult:
    """Every client repeats the scenario for `seconds`; all requests that finished count."""
    result = RunResult(seconds=0.0)  # its lists are shared: append is atomic in CPython
    start = threading.Barrier(len(clients) + 1)

    def drive(client: Client) -> None:
        start.wait()
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            try:
                form = scenario.form(client) if scenario.form else None
                answer = client.request(scenario.method, scenario.path(client), form)
            except (OSError, RuntimeError) as error:  # RuntimeError: a preparation failed
                result.errors.append(f"{type(error).__name__}: {error}")
                continue
            if answer.status != scenario.expected_status:
                result.errors.append(f"HTTP {answer.status}")
                continue
            result.latencies.append(answer.seconds)
            if (cost := answer.cost()) is not None:
                result.costs.append(cost)

    threads = [threading.Thread(target=drive, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    result.seconds = time.perf_counter() - began
    return result
