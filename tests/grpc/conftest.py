"""A real sidecar (outlast's runtime + gRPC server on a free port) and the real Dapr
Python SDK pointed at it over loopback: its worker in a process of its own
(``dapr_app.py``), its client in the test."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import outlast
from outlast.grpc.flavor import DURABLETASK
from outlast.grpc.server import SidecarServer
from tests.conftest import RuntimeFactory

dapr_wf = pytest.importorskip("dapr.ext.workflow")
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Sidecar:
    runtime: outlast.WorkflowRuntime
    server: SidecarServer

    @property
    def port(self) -> str:
        return str(self.server.port)


@pytest.fixture
def sidecar(make_runtime: RuntimeFactory) -> Iterator[Sidecar]:
    rt = make_runtime()
    server = SidecarServer(rt, port=0)
    rt.start()
    server.start()
    yield Sidecar(rt, server)
    server.stop()


def start_worker(sidecar: Sidecar) -> subprocess.Popen[bytes]:
    """The Dapr SDK app in a process of its own; returns once its stream is open."""
    before = sidecar.server.hub.connected
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.grpc.dapr_app", sidecar.port],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    wait_connected(sidecar.server, before, proc)
    return proc


@pytest.fixture
def dapr_worker(sidecar: Sidecar) -> Iterator[subprocess.Popen[bytes]]:
    proc = start_worker(sidecar)
    yield proc
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture
def dapr_client(sidecar: Sidecar) -> object:
    return dapr_wf.DaprWorkflowClient(host="127.0.0.1", port=sidecar.port)


# --- the Microsoft flavor (tests/grpc/test_durabletask_*.py) -------------------------


class SdkError(Exception):
    """A TaskHubGrpcClient call failed in the SDK app (``code``: the gRPC status)."""

    def __init__(self, answer: dict[str, Any]) -> None:
        super().__init__(f"{answer['error']} ({answer.get('code')}): {answer['message']}")
        self.code = answer.get("code")
        self.message = answer["message"]


class DurableTaskApp:
    """``durabletask_app.py`` in its process: its worker runs the workflows, and
    :meth:`call` runs a ``TaskHubGrpcClient`` method there."""

    def __init__(self, port: int, *, tls_roots: Path | None = None) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        args = [sys.executable, "-m", "tests.grpc.durabletask_app", str(port)]
        if tls_roots is not None:
            env["GRPC_DEFAULT_SSL_ROOTS_FILE_PATH"] = str(tls_roots)
            args.append("--tls")
        self.proc = subprocess.Popen(
            args, cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert json.loads(self._line()) == {"ready": True}

    def _line(self) -> str:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line, f"the durabletask SDK app exited ({self.proc.poll()})"
        return line

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"call": method, "args": args, "kwargs": kwargs}) + "\n")
        self.proc.stdin.flush()
        answer = json.loads(self._line())
        if "error" in answer:
            raise SdkError(answer)
        return answer["result"]

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.terminate()  # the SDK worker's own stop takes a second
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        finally:
            assert self.proc.stdout is not None
            self.proc.stdout.close()


def wait_connected(
    server: SidecarServer, before: int, proc: subprocess.Popen[Any] | None = None
) -> None:
    """Until more than ``before`` streams are open on ``server``'s hub (``proc``:
    the worker's process, which must not exit meanwhile)."""
    deadline = time.monotonic() + 30
    while server.hub.connected <= before:
        assert proc is None or proc.poll() is None, "the SDK worker exited"
        assert time.monotonic() < deadline, "the SDK worker did not connect"
        time.sleep(0.05)


@pytest.fixture
def dt_sidecar(make_runtime: RuntimeFactory) -> Iterator[Sidecar]:
    """The Microsoft flavor's port (its own hub)."""
    rt = make_runtime()
    server = SidecarServer(rt, port=0, flavor=DURABLETASK)
    rt.start()
    server.start()
    yield Sidecar(rt, server)
    server.stop()


@pytest.fixture
def dt_app(dt_sidecar: Sidecar) -> Iterator[DurableTaskApp]:
    app = DurableTaskApp(dt_sidecar.server.port)
    wait_connected(dt_sidecar.server, 0)
    yield app
    app.close()
