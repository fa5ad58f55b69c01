"""Bursts of concurrent requests leave nothing open behind them: the file
descriptors of the serving process stay flat, also when the request threads that
served a burst retire and new ones serve the next."""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from outlast import WorkflowClient, WorkflowRuntime
from outlast.http import BackgroundServer, create_app
from tests.http.test_dapr_api import API, ORDER

CLIENTS = 48
# anyio retires a request thread idle this long, when the next request comes.
THREAD_IDLE_SECONDS = 10.5
# The read pool keeps up to 8 idle SQLite connections (two files each), and a
# closing socket may not be gone yet: growth beyond this is a leak.
SLACK = 8


def _open_files() -> int:
    return len(os.listdir("/proc/self/fd"))


def _request_threads() -> set[int]:
    return {t.ident or 0 for t in threading.enumerate() if t.name.startswith("AnyIO worker")}


def _burst(url: str, label: str) -> None:
    """Every client on a connection of its own: start, long-poll, status, history,
    list; then the connection closes."""

    def one(i: int) -> None:
        iid = f"{label}-{i}"
        with httpx.Client(base_url=url, timeout=60) as http:
            started = http.post(
                f"{API}/OrderProcessingWorkflow/start", params={"instanceID": iid}, content=ORDER
            )
            assert started.status_code == 202, started.text
            done = http.get(f"{API}/{iid}/waitForCompletion", params={"timeout": "30"})
            assert done.status_code == 200, done.text
            assert http.get(f"{API}/{iid}").status_code == 200
            assert http.get(f"{API}/{iid}/history").status_code == 200
            assert http.get(API, params={"pageSize": "5"}).status_code == 200

    with ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(one, range(CLIENTS)))


def test_file_descriptors_stay_flat_under_bursts_of_requests(
    runtime: WorkflowRuntime, client: WorkflowClient
) -> None:
    with BackgroundServer(create_app(client, runtime=runtime)) as server:
        _burst(server.url, "warm")
        baseline = _open_files()
        first_threads = _request_threads()
        counts = []
        for n in range(2):
            _burst(server.url, f"b{n}")
            counts.append(_open_files())
        # Let the request threads retire; the next burst is served by new ones.
        time.sleep(THREAD_IDLE_SECONDS)
        _burst(server.url, "after-idle")
        _burst(server.url, "last")
        counts.append(_open_files())
        assert _request_threads() - first_threads, "no request thread was replaced"
    assert max(counts) <= baseline + SLACK, (baseline, counts)
