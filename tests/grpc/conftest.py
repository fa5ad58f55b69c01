"""A real sidecar (outlast's runtime + gRPC server on a free port) and the real Dapr
Python SDK pointed at it over loopback: its worker in a process of its own
(``dapr_app.py``), its client in the test."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import outlast
from outlast.grpc.server import SidecarServer
from tests.conftest import RuntimeFactory

dapr_wf = pytest.importorskip("dapr.ext.workflow")
ROOT = Path(__file__).resolve().parents[2]


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
    deadline = time.monotonic() + 30
    while sidecar.server.hub.connected <= before:
        assert proc.poll() is None, "the Dapr SDK worker exited"
        assert time.monotonic() < deadline, "the Dapr SDK worker did not connect"
        time.sleep(0.05)
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
