"""``outlast worker APP``: a worker-only process, stopped by a signal."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import outlast
from tests.cli.test_cli_misc import invoke, outlast_command

REPO = Path(__file__).resolve().parents[2]


def test_a_worker_runs_the_apps_workflows_until_a_signal(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/work.db"
    (tmp_path / "release").touch()  # the app's activity need not wait
    env = {**os.environ, "HOSTED_DIR": str(tmp_path)}
    env.pop("OUTLAST_STORE", None)
    proc = subprocess.Popen(
        [*outlast_command(), "worker", "tests.runtime.hosted_app:runtime", "--store", url],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        banner = []
        while not banner or "Press Ctrl+C" not in banner[-1]:
            line = proc.stderr.readline()
            assert line, (banner, proc.wait())
            banner.append(line)
        assert any("workflows   job" in line for line in banner), banner
        client = outlast.WorkflowClient(url)
        iid = client.schedule_new_workflow("job", input=5)
        state = client.wait_for_workflow_completion(iid, timeout_in_seconds=30)
        assert state is not None and state.output_as() == 10
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "worker stopped" in err
    # The runtime's log lines (INFO by default), with no payloads.
    assert f"INFO: workflow job started: {iid}" in err
    assert f"INFO: workflow job completed: {iid}" in err


def test_a_worker_needs_an_app_that_loads() -> None:
    code, _, err = invoke("worker", "no_such_module_anywhere:runtime")
    assert code == 2 and "cannot import" in err
    code, _, err = invoke("worker")
    assert code == 2 and "APP" in err


def test_the_worker_command_does_not_load_the_http_server() -> None:
    probe = (
        "import sys\n"
        "from outlast.cli.main import cli\n"
        "import click\n"
        "command = cli.get_command(click.Context(cli), 'worker')\n"
        "assert command is not None and command.name == 'worker'\n"
        "print(sorted({'starlette', 'uvicorn', 'outlast.http'} & set(sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
