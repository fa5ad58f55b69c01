"""Hosting a runtime: in an ASGI app's lifespan (Starlette, FastAPI) behind a
real uvicorn server, and as a whole process until a signal (``run_forever``)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import outlast
from outlast.http import BackgroundServer
from tests.runtime import hosted_app

REPO = Path(__file__).resolve().parents[2]


def _greeting_runtime(store_url: str) -> outlast.WorkflowRuntime:
    runtime = outlast.WorkflowRuntime(store_url, poll_interval=0.05)

    @runtime.activity
    def greet(ctx: outlast.ActivityContext, name: str) -> str:
        return f"Hello {name}!"

    @runtime.workflow
    def hello(ctx: outlast.WorkflowContext, name: str) -> Generator[Any, Any, str]:
        greeting: str = yield ctx.call_activity(greet, input=name)
        return greeting

    return runtime


def _starlette(runtime: outlast.WorkflowRuntime) -> Starlette:
    client = runtime.async_client()

    async def hello(request: Request) -> JSONResponse:
        iid = await client.schedule_new_workflow("hello", input=request.path_params["name"])
        state = await client.wait_for_workflow_completion(iid, timeout_in_seconds=30)
        assert state is not None
        return JSONResponse(state.output_as())

    return Starlette(routes=[Route("/hello/{name}", hello)], lifespan=runtime.lifespan)


def _fastapi(runtime: outlast.WorkflowRuntime) -> Starlette:
    from fastapi import FastAPI

    client = runtime.async_client()
    app = FastAPI(lifespan=runtime.lifespan)

    @app.get("/hello/{name}")
    async def hello(name: str) -> Any:
        iid = await client.schedule_new_workflow("hello", input=name)
        state = await client.wait_for_workflow_completion(iid, timeout_in_seconds=30)
        assert state is not None
        return state.output_as()

    return app


@pytest.mark.parametrize("make_app", [_starlette, _fastapi], ids=["starlette", "fastapi"])
def test_the_runtime_runs_for_the_lifetime_of_an_asgi_app(
    make_app: Callable[[outlast.WorkflowRuntime], Starlette], store_url: str
) -> None:
    runtime = _greeting_runtime(store_url)
    app = make_app(runtime)
    assert not runtime.is_running
    with BackgroundServer(app) as server:
        assert runtime.is_running
        answers = [httpx.get(f"{server.url}/hello/{n}", timeout=30) for n in ("Ann", "Bo")]
        assert [a.json() for a in answers] == ["Hello Ann!", "Hello Bo!"]
    assert not runtime.is_running


def _wait_for(path: Path, proc: subprocess.Popen[str]) -> None:
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.01)


def _workers(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        (count,) = conn.execute("SELECT count(*) FROM workers").fetchone()
    return int(count)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_run_forever_stops_cleanly_on_a_signal(
    sig: signal.Signals, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "hosted.db"
    env = {**os.environ, "OUTLAST_STORE": f"sqlite:///{db}", "HOSTED_DIR": str(tmp_path)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.runtime.hosted_app"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "running\n"
        client = outlast.WorkflowClient(f"sqlite:///{db}")
        iid = client.schedule_new_workflow("job", input=21)
        _wait_for(tmp_path / "started", proc)
        # The signal lands while the activity runs: shutting down waits for it.
        proc.send_signal(sig)
        (tmp_path / "release").touch()
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert out == "stopped cleanly\n"
    assert _workers(db) == 0  # it deregistered, releasing what it owned

    # The activity's result was committed on the way out: a new runtime finishes the
    # workflow without running the activity again.
    monkeypatch.setenv("HOSTED_DIR", str(tmp_path))
    runtime = hosted_app.make_runtime(f"sqlite:///{db}")
    with runtime:
        state = runtime.client().wait_for_workflow_completion(iid, timeout_in_seconds=30)
    assert state is not None and state.output_as() == 42
    assert (tmp_path / "runs").read_text() == "21\n"


def test_run_forever_needs_the_main_thread() -> None:
    runtime = outlast.WorkflowRuntime("memory://")
    errors: list[BaseException] = []

    def run() -> None:
        try:
            runtime.run_forever()
        except RuntimeError as e:
            errors.append(e)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    assert "main thread" in str(errors[0]) and not runtime.is_running
