"""The package as users get it: a wheel built from this tree, installed into fresh
virtual environments, without extras and with ``[server]``."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[1]
PIP_QUIET = ["--quiet", "--disable-pip-version-check"]


def _run(*args: str | Path, cwd: Path | None = None, timeout: float = 600) -> str:
    out = subprocess.run(
        [str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=timeout
    )
    assert out.returncode == 0, f"{args} failed:\n{out.stdout}\n{out.stderr}"
    return out.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    _run(sys.executable, "-m", "pip", "wheel", *PIP_QUIET, "--no-deps", "-w", out, REPO)
    (built,) = out.glob("outlast-*.whl")
    return built


def _venv(path: Path, requirement: str) -> Path:
    _run(sys.executable, "-m", "venv", path)
    python = path / "bin" / "python"
    _run(python, "-m", "pip", "install", *PIP_QUIET, requirement)
    return python


def test_the_wheel_carries_the_demo_workflows_and_its_type_marker(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert "outlast/py.typed" in names
    assert "outlast/examples/app.py" in names
    assert "outlast/examples/order_processing.py" in names
    assert any(n.endswith("licenses/LICENSE") for n in names)
    for shipped in (
        "outlast/dashboard/templates/instance.html",
        "outlast/dashboard/templates/list.html",
        "outlast/dashboard/static/dashboard.css",
        "outlast/dashboard/static/dashboard.js",
    ):
        assert shipped in names


FIRST_WORKFLOW = """
import sys
import outlast

lazy = {"asyncio", "ssl", "starlette", "uvicorn", "psycopg"} & set(sys.modules)
assert not lazy, f"import outlast loaded {lazy}"

runtime = outlast.WorkflowRuntime("sqlite:///plain.db")

@runtime.activity
def greet(ctx, name: str) -> str:
    return f"Hello {name}!"

@runtime.workflow
def hello(ctx, names: list[str]):
    out = []
    for n in names:
        out.append((yield ctx.call_activity(greet, input=n)))
    return out

with runtime:
    client = runtime.client()
    iid = client.schedule_new_workflow(hello, input=["Tokyo", "London"])
    print(client.wait_for_workflow_completion(iid, timeout_in_seconds=30).serialized_output)

try:
    outlast.WorkflowClient("postgresql://nobody@127.0.0.1:1/none")
except outlast.MissingExtraError as e:
    print("postgres:", e)
"""


def test_without_extras_the_engine_runs_on_sqlite_and_missing_extras_are_named(
    wheel: Path, tmp_path: Path
) -> None:
    python = _venv(tmp_path / "venv", str(wheel))
    installed = _run(python, "-m", "pip", "list", "--format=freeze")
    for heavy in ("starlette", "uvicorn", "psycopg"):
        assert heavy not in installed.lower()
    script = tmp_path / "first.py"
    script.write_text(FIRST_WORKFLOW)
    out = _run(python, script, cwd=tmp_path, timeout=120)
    assert '["Hello Tokyo!","Hello London!"]' in out
    assert "pip install 'outlast[postgres]'" in out
    served = subprocess.run(
        [tmp_path / "venv" / "bin" / "outlast", "serve"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert served.returncode == 2
    assert "pip install 'outlast[server]'" in served.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def served(wheel: Path, tmp_path: Path) -> Iterator[str]:
    _venv(tmp_path / "venv", f"outlast[server] @ {wheel.as_uri()}")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OUTLAST_")}
    log = tmp_path / "serve.log"
    with log.open("w") as sink:
        proc = subprocess.Popen(
            [
                tmp_path / "venv" / "bin" / "outlast",
                "serve",
                "--port",
                str(port),
                "--grpc-port",
                "0",
            ],
            cwd=tmp_path,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(url + "/healthz", timeout=1)
                break
            except httpx.TransportError:
                assert proc.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "outlast serve did not come up"
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(30)


def test_with_the_server_extra_outlast_serve_answers_the_demo(served: str) -> None:
    start = httpx.post(
        served + "/v1.0-beta1/workflows/dapr/OrderProcessingWorkflow/start?instanceID=wheel1",
        content=b'{"Name":"Paperclips","Quantity":1,"TotalCost":9.95}',
        timeout=10,
    )
    assert start.status_code == 202, start.text
    deadline = time.monotonic() + 30
    while True:
        status = httpx.get(served + "/v1.0-beta1/workflows/dapr/wheel1", timeout=10).json()
        if status["runtimeStatus"] == "COMPLETED" or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert status["runtimeStatus"] == "COMPLETED"
    assert re.search(r"Processed", status["properties"]["dapr.workflow.output"])
    # The installed package serves the dashboard from its own files.
    page = httpx.get(served + "/", headers={"Accept": "text/html"}, timeout=10)
    assert page.status_code == 200 and "wheel1" in page.text
    assert httpx.get(served + "/static/dashboard.js", timeout=10).status_code == 200
