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

CLIENTS = 32
# anyio retires a request thread idle this long, when the next request comes.
THREAD_IDLE_SECONDS = 10.5
# SQLite keeps the descriptor of a closed connection open while other connections
# of the process hold locks on the file (closing it would drop their POSIX locks)
# and hands it to the next connection it opens: the count follows the peak of
# concurrent connections, which varies a little from burst to burst. A connection
# per retired request thread, the leak this catches, adds twice as many as this.
SLACK = CLIENTS // 2


def _open_files() -> int:
    return len(os.listdir("/proc/self/fd"))


def _request_threads() -> set[threading.Thread]:
    # The threads themselves, not their idents: a new thread may reuse a retired
    # one's ident (the sets hold the old ones, so their objects stay distinct).
    return {t for t in threading.enumerate() if t.name.startswith("AnyIO worker")}


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


def _cycle(url: str, label: str) -> int:
    """Request threads retire (idle long enough), two bursts come: open files then."""
    time.sleep(THREAD_IDLE_SECONDS)
    _burst(url, f"{label}-1")
    _burst(url, f"{label}-2")
    return _open_files()


def test_file_descriptors_stay_flat_under_bursts_of_requests(
    runtime: WorkflowRuntime, client: WorkflowClient
) -> None:
    with BackgroundServer(create_app(client, runtime=runtime)) as server:
        _burst(server.url, "warm")
        _burst(server.url, "warmer")
        baseline = _open_files()
        threads = _request_threads()
        first = _cycle(server.url, "first")
        assert _request_threads() - threads, "no request thread was replaced"
        threads = _request_threads()
        second = _cycle(server.url, "second")
        assert _request_threads() - threads, "no request thread was replaced"
    # A leak grows with every cycle of new threads; the pool's count levels off.
    assert second <= first + SLACK, (baseline, first, second)
    assert first <= baseline + 2 * CLIENTS, (baseline, first, second)
