"""``outlast serve --grpc-port`` / ``--durabletask-port``: one process serves the HTTP
API and the sidecar; a workflow started over HTTP is run by a connected SDK worker
(Dapr's, durabletask's)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.grpc.conftest import ROOT, DurableTaskApp, free_port
from tests.http.test_serve import outlast_serve


def test_http_start_runs_on_the_sdk_worker(store_url: str, tmp_path: Path) -> None:
    port = free_port()
    with outlast_serve(["--store", store_url, "--grpc-port", str(port)], tmp_path) as (proc, url):
        assert f"grpc       127.0.0.1:{port}" in proc.banner
        worker = subprocess.Popen(
            [sys.executable, "-m", "tests.grpc.dapr_app", str(port)], cwd=ROOT
        )
        try:
            started = httpx.post(
                f"{url}/v1.0/workflows/dapr/chain/start?instanceID=h-1", json=None, timeout=30
            )
            assert started.status_code == 202, started.text
            deadline = time.monotonic() + 60
            while True:
                body = httpx.get(f"{url}/v1.0/workflows/dapr/h-1", timeout=30).json()
                if body["runtimeStatus"] in ("COMPLETED", "FAILED", "TERMINATED"):
                    break
                assert time.monotonic() < deadline, body
                time.sleep(0.1)
            assert body["runtimeStatus"] == "COMPLETED", body
            assert body["properties"]["dapr.workflow.output"] == (
                '["Hello Tokyo!", "Hello Seattle!", "Hello London!"]'
            )
        finally:
            worker.terminate()
            worker.wait(15)


def test_a_busy_grpc_port_is_a_clean_error(store_url: str, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        from tests.http.test_serve import outlast_command

        done = subprocess.run(
            [
                *outlast_command(),
                "serve",
                "--store",
                store_url,
                "--port",
                "0",
                "--grpc-port",
                str(port),
            ],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode != 0
    assert f"127.0.0.1:{port}" in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_durabletask_port_from_the_environment_serves_the_microsoft_sdk(
    store_url: str, tmp_path: Path
) -> None:
    port = free_port()
    env = {"OUTLAST_DURABLETASK_PORT": str(port)}
    with outlast_serve(["--store", store_url, "--grpc-port", "0"], tmp_path, env) as (proc, url):
        assert f"grpc       127.0.0.1:{port} (durabletask SDKs)" in proc.banner
        assert "DAPR_GRPC_PORT" not in proc.banner  # --grpc-port 0: the Dapr port is off
        app = DurableTaskApp(port)
        try:
            # Started over HTTP, run by the durabletask SDK's worker.
            started = httpx.post(
                f"{url}/v1.0/workflows/dapr/chain/start?instanceID=dt-h", timeout=30
            )
            assert started.status_code == 202, started.text
            state = app.call("wait_for_orchestration_completion", "dt-h", timeout=60)
            assert (
                state["serialized_output"] == '["Hello Tokyo!", "Hello Seattle!", "Hello London!"]'
            )
        finally:
            app.close()
