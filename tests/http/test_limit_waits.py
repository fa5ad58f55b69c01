"""An activity queued behind a limit shows as such on every surface: the HTTP
status (``waitingOnLimit``), ``outlast status`` (against the store and against a
server) and the dashboard's instance page."""

from __future__ import annotations

import threading
import time
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from click.testing import CliRunner

import outlast
from outlast.cli import cli
from outlast.http import BackgroundServer, create_app
from tests.http.fixtures import clean_env

__all__ = ["clean_env"]


class Queued:
    def __init__(self, url: str, server: BackgroundServer, iid: str) -> None:
        self.store_url, self.server, self.iid = url, server, iid


@pytest.fixture
def queued(tmp_path: Path) -> Iterator[Queued]:
    """A workflow with two calls under ``concurrency=1``: one runs (held), one waits."""
    url = f"sqlite:///{tmp_path}/limits.db"
    gate = threading.Event()
    rt = outlast.WorkflowRuntime(url, poll_interval=0.05)

    @rt.activity
    def charge(ctx: outlast.ActivityContext, n: int) -> int:
        gate.wait(20)
        return n

    @rt.workflow
    def pay(ctx: outlast.WorkflowContext) -> Generator[Any, Any, Any]:
        calls = [ctx.call_activity(charge, input=n, key="customer-42", priority=n) for n in (1, 2)]
        return (yield outlast.when_all(calls))

    rt.limit(charge, concurrency=1)
    rt.limit(pay, concurrency=1)
    rt.start()
    client = rt.client()
    try:
        iid = client.schedule_new_workflow(pay, instance_id="pay-1")
        # pay-1 takes the workflow limit's one slot first (started together,
        # pay-2's higher priority would win it).
        client.wait_for_workflow_start(iid, timeout_in_seconds=10)
        # A second payment waits for the workflow's own limit, PENDING.
        client.schedule_new_workflow(pay, instance_id="pay-2", key="customer-7", priority=4)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            waiting = [*client.get_pending_activities(iid), *client.get_pending_activities("pay-2")]
            if sum(a.waiting_on_limit for a in waiting) == 2:
                break
            time.sleep(0.02)
        else:
            pytest.fail(f"the two calls never both waited on their limits: {waiting}")
        with BackgroundServer(create_app(client, runtime=rt)) as server:
            yield Queued(url, server, iid)
        gate.set()
        for done in (iid, "pay-2"):
            state = client.wait_for_workflow_completion(done, timeout_in_seconds=10)
            assert state is not None and state.serialized_output == "[1,2]"
    finally:
        gate.set()
        rt.shutdown()


def test_the_http_status_reports_what_waits_on_a_limit(queued: Queued) -> None:
    body = httpx.get(f"{queued.server.url}/v1.0/workflows/dapr/{queued.iid}", timeout=10).json()
    assert body["runtimeStatus"] == "RUNNING"
    # Priority 2 was admitted first; the call with priority 1 (task 0) waits.
    assert body["waitingOnLimit"] == [
        {"activity": "charge", "taskID": 0, "key": "customer-42", "priority": 1}
    ]


@pytest.mark.parametrize("where", ["store", "url"])
def test_outlast_status_says_waiting_on_its_limit(queued: Queued, where: str) -> None:
    target = ["--store", queued.store_url] if where == "store" else ["--url", queued.server.url]
    runner = CliRunner()
    text = runner.invoke(cli, ["status", queued.iid, *target], catch_exceptions=False)
    assert text.exit_code == 0, text.stderr
    assert "activity charge (task 0): waiting on its limit (key customer-42, priority 1)" in (
        " ".join(text.stdout.split())
    )
    data = runner.invoke(cli, ["status", queued.iid, "--json", *target], catch_exceptions=False)
    assert orjson.loads(data.stdout)["waitingOnLimit"][0]["taskID"] == 0


def test_the_dashboard_page_says_waiting_on_its_limit(queued: Queued) -> None:
    page = httpx.get(
        f"{queued.server.url}/instances/{queued.iid}", headers={"Accept": "text/html"}, timeout=10
    )
    assert page.status_code == 200
    assert "charge (task 0): waiting on its limit (key customer-42, priority 1)" in page.text
    assert 'class="wait w-cap"' in page.text


def test_a_start_waiting_on_a_workflow_limit_shows_everywhere(queued: Queued) -> None:
    body = httpx.get(f"{queued.server.url}/v1.0/workflows/dapr/pay-2", timeout=10).json()
    assert body["runtimeStatus"] == "PENDING"
    assert body["waitingOnLimit"] == [{"workflow": "pay", "key": "customer-7", "priority": 4}]
    for target in (["--store", queued.store_url], ["--url", queued.server.url]):
        text = CliRunner().invoke(cli, ["status", "pay-2", *target], catch_exceptions=False)
        assert "the start of workflow pay: waiting on its limit (key customer-7, priority 4)" in (
            " ".join(text.stdout.split())
        )
    page = httpx.get(
        f"{queued.server.url}/instances/pay-2", headers={"Accept": "text/html"}, timeout=10
    )
    assert "its start: waiting on its limit (key customer-7, priority 4)" in page.text


def test_a_start_over_http_takes_a_key_and_a_priority(queued: Queued) -> None:
    base = f"{queued.server.url}/v1.0/workflows/dapr/pay/start"
    bad = httpx.post(f"{base}?instanceID=pay-x&priority=12", timeout=10)
    assert bad.status_code == 400 and "priority" in bad.json()["message"]
    ok = httpx.post(f"{base}?instanceID=pay-3&key=customer-9&priority=6", timeout=10)
    assert ok.status_code == 202
    deadline = time.monotonic() + 10
    body: dict[str, Any] = {}
    while time.monotonic() < deadline and "waitingOnLimit" not in body:
        body = httpx.get(f"{queued.server.url}/v1.0/workflows/dapr/pay-3", timeout=10).json()
        time.sleep(0.02)
    assert body["waitingOnLimit"] == [{"workflow": "pay", "key": "customer-9", "priority": 6}]
