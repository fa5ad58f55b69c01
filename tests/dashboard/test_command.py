"""``outlast dashboard``: the dashboard alone over a store, as a command; and the
dashboard mounted into an app of one's own."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

import outlast
from outlast.dashboard import create_dashboard
from outlast.http import BackgroundServer

OUTLAST = str(Path(sys.executable).parent / "outlast")


def _finished(store_url: str, iid: str) -> None:
    runtime = outlast.WorkflowRuntime(store_url)

    @runtime.workflow
    def hello(ctx: outlast.WorkflowContext, name: str) -> str:
        return f"hello {name}"

    with runtime:
        client = runtime.client()
        client.schedule_new_workflow(hello, input="you", instance_id=iid)
        client.wait_for_workflow_completion(iid)


def test_outlast_dashboard_serves_a_store_without_a_runtime(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/alone.db"
    _finished(url, "alone-1")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OUTLAST_", "DAPR_"))}
    with subprocess.Popen(
        [OUTLAST, "dashboard", "--store", url, "--port", "0"],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    ) as proc:
        _check_served(proc)


def _check_served(proc: subprocess.Popen[str]) -> None:
    try:
        assert proc.stderr is not None
        line = ""
        deadline = time.monotonic() + 30
        while "http://" not in line and time.monotonic() < deadline:
            line = proc.stderr.readline()
        match = re.search(r"http://[\d.]+:\d+/", line)
        assert match, line
        page = httpx.get(match.group(0), headers={"Accept": "text/html"}, timeout=10)
        assert page.status_code == 200 and "alone-1" in page.text and "COMPLETED" in page.text
        # The dashboard alone serves no API.
        assert httpx.get(match.group(0) + "v1.0/workflows/dapr/alone-1").status_code == 404
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0


def test_the_cli_loads_the_dashboard_only_to_run_it() -> None:
    code = (
        "import sys; from outlast.cli.main import cli;"
        "from click.testing import CliRunner;"
        "r = CliRunner().invoke(cli, ['--help']);"
        "assert 'dashboard' in r.output, r.output;"
        "assert 'outlast.dashboard' not in sys.modules and 'jinja2' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_mounted_in_an_app_of_ones_own(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/mine.db"
    _finished(url, "mine-1")
    client = outlast.WorkflowClient(url)

    async def home(request: Request) -> PlainTextResponse:
        return PlainTextResponse("my app")

    app = Starlette(routes=[Route("/", home), Mount("/workflows", app=create_dashboard(client))])
    with BackgroundServer(app) as server, httpx.Client(base_url=server.url) as http:
        assert http.get("/").text == "my app"
        listing = http.get("/workflows/", headers={"Accept": "text/html"})
        assert listing.status_code == 200
        assert 'href="/workflows/instances/mine-1"' in listing.text
        assert 'href="/workflows/static/dashboard.css"' in listing.text
        page = http.get("/workflows/instances/mine-1")
        assert page.status_code == 200 and "hello you" in page.text
        assert http.get("/workflows/static/dashboard.js").status_code == 200
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert csrf is not None
        assert "Path=/workflows" in listing.headers["set-cookie"]
        purged = http.post("/workflows/instances/mine-1/purge", data={"csrf": csrf.group(1)})
        assert purged.status_code == 200 and client.get_workflow_state("mine-1") is None
    client.store.close()
