"""``serve``: the runtime and the API in one process, stopped by a signal; and
``outlast serve`` as a real process."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from outlast import (
    ActivityContext,
    WorkflowClient,
    WorkflowContext,
    WorkflowRuntime,
    WorkflowStatus,
)
from outlast.http import AppLoadError, BackgroundServer, create_app, load_runtime, serve
from outlast.http.serve import exposure_warning
from outlast.store import Store, open_store
from tests.http.test_dapr_api import API
from tests.pg import fresh_database

__all__ = ["fresh_database"]

REPO = Path(__file__).resolve().parents[2]


def outlast_command() -> list[str]:
    script = Path(sys.executable).with_name("outlast")
    return [str(script)] if script.exists() else [sys.executable, "-m", "outlast.cli"]


# --- serve() in this process ---------------------------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_serve_and_in_flight_work_is_kept(
    store: Store, signum: signal.Signals
) -> None:
    runs: list[int] = []
    running = threading.Event()
    release = threading.Event()

    def slow(ctx: ActivityContext, x: int) -> int:
        runs.append(x)
        running.set()
        release.wait(30)
        return x * 2

    def doubler(ctx: WorkflowContext, x: int) -> object:
        return (yield ctx.call_activity(slow, input=x))

    def build() -> WorkflowRuntime:
        rt = WorkflowRuntime(store)
        rt.register_activity(slow)
        rt.register_workflow(doubler)
        return rt

    answers: list[int] = []

    def drive(url: str) -> None:
        with httpx.Client(base_url=url) as http:
            answers.append(
                http.post(f"{API}/doubler/start?instanceID=inflight", content=b"21").status_code
            )
        running.wait(30)
        # The activity is mid-flight when the signal arrives; it finishes afterwards.
        os.kill(os.getpid(), signum)
        release.set()

    drivers: list[threading.Thread] = []

    def on_ready(url: str) -> None:
        drivers.append(threading.Thread(target=drive, args=(url,)))
        drivers[0].start()

    previous = signal.getsignal(signum)
    serve(build(), port=0, log_level="warning", access_log=False, on_ready=on_ready)
    drivers[0].join()
    assert signal.getsignal(signum) is previous
    assert answers == [202]
    assert runs == [21]

    # A new process (here: a new runtime) picks up where the stopped one left off,
    # without running the finished activity again.
    with build():
        state = WorkflowClient(store).wait_for_workflow_completion(
            "inflight", timeout_in_seconds=30
        )
    assert state is not None and state.runtime_status is WorkflowStatus.COMPLETED
    assert state.output_as() == 42
    assert runs == [21]


def test_serve_reports_a_busy_port_before_starting_anything(store: Store) -> None:
    runtime = WorkflowRuntime(store)
    with socket.create_server(("127.0.0.1", 0)) as taken, pytest.raises(OSError):
        serve(runtime, port=taken.getsockname()[1])
    assert not runtime.is_running


# --- load_runtime ----------------------------------------------------------------------


def test_load_runtime_finds_a_runtime_by_import_string() -> None:
    runtime = load_runtime("tests.http.sample_app:runtime")
    assert "OrderProcessingWorkflow" in runtime.registry.workflows


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("tests.http.sample_app", "module:attribute"),
        (":runtime", "module:attribute"),
        ("tests.http.no_such_module:runtime", "cannot import"),
        ("tests.http.sample_app:nothing", "no attribute"),
        ("tests.http.sample_app:make_runtime", "not a WorkflowRuntime"),
    ],
)
def test_load_runtime_explains_what_is_wrong(target: str, message: str) -> None:
    with pytest.raises(AppLoadError, match=message):
        load_runtime(target)


# --- outlast serve, a real process -----------------------------------------------------


class Served(subprocess.Popen[str]):
    """An ``outlast serve`` process, with what it printed up to "Press Ctrl+C"."""

    banner = ""


@contextlib.contextmanager
def outlast_serve(
    args: list[str], cwd: Path, env: dict[str, str] | None = None
) -> Iterator[tuple[Served, str]]:
    """A running ``outlast serve`` and its URL, read from its banner."""
    proc = Served(
        [*outlast_command(), "serve", *args, "--port", "0", "--no-access-log"],
        cwd=cwd,
        env=None if env is None else {**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        url = ""
        seen = []
        for line in proc.stderr:
            seen.append(line)
            if " serving " in line:
                url = line.rsplit(" on ", 1)[1].strip()
            if line.startswith("Press Ctrl+C"):
                break
        proc.banner = "".join(seen)
        assert url, proc.banner
        yield proc, url
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def test_outlast_serve_runs_an_app_until_sigint(store_url: str, tmp_path: Path) -> None:
    with outlast_serve(["tests.http.sample_app:runtime", "--store", store_url], REPO) as (
        proc,
        url,
    ):
        with httpx.Client(base_url=url, timeout=60) as http:
            started = http.post(f"{API}/approval/start?instanceID=kept", content=b'"r"')
            assert started.status_code == 202
            assert http.get(f"{API}/kept/waitForStart?timeout=30").status_code == 200
            assert http.get("/healthz").json()["runtime"] == "running"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert "outlast stopped" in err
    store = open_store(store_url)
    try:
        state = WorkflowClient(store).get_workflow_state("kept")
        assert state is not None and state.runtime_status is WorkflowStatus.RUNNING
        assert state.input_as() == "r"
    finally:
        store.close()


def test_outlast_serve_without_app_serves_the_examples_for_the_seed_curl(
    store_url: str, tmp_path: Path
) -> None:
    with outlast_serve(["--store", store_url], tmp_path) as (proc, url):
        with httpx.Client(base_url=url, timeout=60) as http:
            response = http.post(
                "/v1.0-beta1/workflows/dapr/OrderProcessingWorkflow/start?instanceID=12345678",
                content=b'{"Name":"Paperclips","Quantity":1,"TotalCost":9.95}',
            )
            assert response.json() == {"instanceID": "12345678"}
            done = http.get("/v1.0-beta1/workflows/dapr/12345678/waitForCompletion?timeout=60")
            assert done.status_code == 200
            assert done.json()["runtimeStatus"] == "COMPLETED"
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=120)
        assert proc.returncode == 0


def test_a_background_server_runs_once(client: WorkflowClient) -> None:
    server = BackgroundServer(create_app(client))
    with server:
        assert httpx.get(f"{server.url}/v1.0/healthz").status_code == 204
    with pytest.raises(RuntimeError, match="runs once"):
        server.start()


def test_outlast_serve_shows_no_credentials(fresh_database: str) -> None:
    # Trust authentication ignores passwords: these only have to stay unseen.
    url = fresh_database.replace("postgres@", "postgres:userinfo-s3cret@", 1)
    url += "?password=query-s3cret"
    with outlast_serve(["tests.http.sample_app:runtime", "--store", url], REPO) as (proc, base):
        assert "postgres:***@" in proc.banner and "password=***" in proc.banner
        health = httpx.get(f"{base}/healthz", timeout=30)
        assert health.status_code == 200
        proc.send_signal(signal.SIGTERM)
        _, rest = proc.communicate(timeout=120)
    assert "s3cret" not in proc.banner + health.text + rest


@pytest.mark.parametrize(
    ("host", "exposed"),
    [
        ("127.0.0.1", False),
        ("127.0.0.9", False),
        ("localhost", False),
        ("::1", False),
        ("0.0.0.0", True),
        ("::", True),
        ("", True),
        ("192.0.2.10", True),
        ("workflows.example", True),
    ],
)
def test_serving_beyond_this_machine_without_a_token_is_warned_of(host: str, exposed: bool) -> None:
    assert (exposure_warning(host, None) is not None) is exposed
    assert exposure_warning(host, "a-token") is None


def test_outlast_serve_on_every_interface_warns_without_a_token(store_url: str) -> None:
    args = ["--store", store_url, "--host", "0.0.0.0"]
    with outlast_serve(args, REPO) as (proc, _):
        warned = proc.banner
    with outlast_serve(args, REPO, env={"OUTLAST_API_TOKEN": "t0ken"}) as (proc, _):
        quiet = proc.banner
    assert "WARNING" in warned and "without an API token" in warned
    assert "WARNING" not in quiet


# --- the socket ----------------------------------------------------------------------


def _raw_request(url: str, request: bytes) -> bytes:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(request)
        sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET /" + b"a" * 1024 * 1024 + b" HTTP/1.1\r\nHost: x\r\n\r\n", b"414"),
        (b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 1024 * 1024 + b"\r\n\r\n", b"431"),
        (b"NOT HTTP AT ALL\r\n\r\n", b"400"),
    ],
    ids=["1 MB request line", "1 MB header", "not HTTP"],
)
def test_a_request_head_it_cannot_take_gets_an_answer_not_a_reset(
    client: WorkflowClient, request_bytes: bytes, status: bytes
) -> None:
    with BackgroundServer(create_app(client)) as server:
        answer = _raw_request(server.url, request_bytes)
        assert answer.split(b" ", 2)[1] == status, answer[:200]
        assert b'"errorCode"' in answer
        # The server is none the worse for it.
        assert httpx.get(f"{server.url}/v1.0/healthz").status_code == 204


def test_served_connections_turn_nagle_off() -> None:
    """asyncio sets TCP_NODELAY only on sockets that name TCP as their protocol;
    without it each keep-alive response after the first waits for a delayed ACK."""
    import asyncio

    from outlast.http.serve import bind_socket

    listener = bind_socket("127.0.0.1", 0)
    seen: list[int] = []

    async def main() -> None:
        def connected(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            sock = writer.get_extra_info("socket")
            seen.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        server = await asyncio.start_server(connected, sock=listener)
        async with server:
            _, writer = await asyncio.open_connection(*listener.getsockname()[:2])
            while not seen:
                await asyncio.sleep(0.01)
            writer.close()

    asyncio.run(asyncio.wait_for(main(), 10))
    assert seen == [1]
