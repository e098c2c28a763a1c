"""The per-request tally (cruddur/request_cost.py) and the middleware that shows it
(cruddur/middleware.py), with a stand-in adapter: the project's side of metering, which knows
no store. tests/integration/test_request_cost.py measures real pages over moto's server."""

import asyncio
import threading

import pytest
from asgiref.sync import sync_to_async
from django.http import HttpResponse
from django.test import Client, RequestFactory

from cruddur.middleware import RequestCostMiddleware
from cruddur.request_cost import CallUsage, record_call, track_usage
from tests.helpers import on_a_loop_of_its_own


def query(items: int = 2, *, reported: bool = False) -> CallUsage:
    """A call as an adapter would measure it."""
    return CallUsage("query", items, 100 * items, 0.5, 0.0, reported=reported)


def test_a_block_collects_the_calls_made_inside_it():
    record_call(query())  # outside any block: dropped
    with track_usage() as usage:
        record_call(query(2))
        record_call(CallUsage("put_item", 0, 0, 0.0, 1.0))
    record_call(query())

    assert [call.operation for call in usage.calls] == ["query", "put_item"]
    assert (usage.requests, usage.items_read, usage.bytes_read) == (2, 2, 200)
    assert (usage.read_units, usage.write_units) == (0.5, 1.0)
    assert usage.capacity_source == "computed from item sizes by AWS's rules"


def test_a_figure_reported_by_the_service_says_so():
    with track_usage() as usage:
        record_call(query(reported=True))
    assert usage.capacity_reported
    assert usage.capacity_source == "reported by AWS"


def test_an_inner_block_keeps_its_calls_from_the_outer_one():
    with track_usage() as outer:
        record_call(query())
        with track_usage() as inner:
            record_call(query())
        record_call(query())
    assert (outer.requests, inner.requests) == (2, 1)


def test_an_async_request_counts_calls_made_on_the_loop_and_in_asgiref_threads():
    async def request(calls: int) -> int:
        with track_usage() as usage:
            for _ in range(calls):
                record_call(query())
                await sync_to_async(record_call)(query())  # a sync view's thread
                await asyncio.sleep(0)  # let the other request run in between
        return usage.requests

    async def two_requests_at_once():
        return await asyncio.gather(request(1), request(3))

    assert on_a_loop_of_its_own(two_requests_at_once()) == [2, 6]


def test_a_thread_started_by_hand_adds_nothing():
    with track_usage() as usage:
        thread = threading.Thread(target=record_call, args=(query(),))
        thread.start()
        thread.join()
    assert usage.requests == 0


# --- the middleware ---


def adapter_view(request):
    """A view whose store makes two calls."""
    record_call(query(3))
    record_call(CallUsage("transact_write_items", 0, 0, 0.0, 10.0))
    return HttpResponse("<html><body><p>page</p></body></html>")


@pytest.fixture
def cost_of(settings):
    settings.COST_HEADERS = settings.COST_FOOTER = False

    def call(view):
        return RequestCostMiddleware(view)(RequestFactory().get("/page/"))

    return call


def test_the_headers_carry_what_the_adapter_recorded(settings, cost_of):
    settings.COST_HEADERS = True
    response = cost_of(adapter_view)
    assert {name: value for name, value in response.items() if name.startswith("X-")} == {
        "X-DynamoDB-Requests": "2",
        "X-DynamoDB-Items": "3",
        "X-DynamoDB-Bytes": "300",
        "X-DynamoDB-RCU": "0.5",
        "X-DynamoDB-WCU": "10",
        "X-SQL-Queries": "0",
    }


def test_the_footer_carries_the_same_figures(settings, cost_of):
    settings.COST_FOOTER = True
    html = cost_of(adapter_view).content.decode()
    assert html.startswith('<html><body><p>page</p><footer class="cost-footer">')
    assert "DynamoDB: 2 requests (3 items, 300 bytes read, 0.5 RCU, 10 WCU;" in html
    assert html.endswith("</footer></body></html>")


def test_one_log_line_names_the_calls(caplog, cost_of):
    with caplog.at_level("INFO", logger="cruddur.requests"):
        cost_of(adapter_view)
    (line,) = [record for record in caplog.records if record.name == "cruddur.requests"]
    assert (line.dynamodb_requests, line.dynamodb_items, line.dynamodb_bytes) == (2, 3, 300)
    assert (line.dynamodb_rcu, line.dynamodb_wcu, line.dynamodb_capacity) == (0.5, 10, "computed")
    assert line.dynamodb_calls == ["query", "transact_write_items"]


@pytest.mark.django_db
@pytest.mark.parametrize(("cost_footer", "shown"), [(False, False), (True, True)])
def test_the_footer_only_when_the_setting_asks(settings, cost_footer, shown):
    # DEBUG on, as `make run`: the footer is a developer's choice, not every local page's.
    settings.DEBUG = True
    settings.COST_FOOTER = cost_footer
    response = Client().get("/accounts/login/")
    assert response.status_code == 200
    assert (b'<footer class="cost-footer">' in response.content) is shown
