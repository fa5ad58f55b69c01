"""The CLI's edges: choosing a target, tokens, serve's arguments, rendering, and
the real ``outlast`` console script."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from outlast import WorkflowClient, WorkflowRuntime
from outlast.cli import cli
from outlast.cli.options import TimeType
from outlast.cli.render import relative
from outlast.http import BackgroundServer, create_app
from outlast.store import Store, open_store

REPO = Path(__file__).resolve().parents[2]


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_store_and_url_together_is_a_usage_error(store_url: str) -> None:
    code, _, err = invoke("list", "--store", store_url, "--url", "http://127.0.0.1:9")
    assert code == 2 and "not both" in err


def test_an_unreachable_server_is_exit_1() -> None:
    # Port 9 (discard) is closed on the test machine: the connection is refused.
    code, _, err = invoke("status", "x", "--url", "http://127.0.0.1:9")
    assert code == 1 and "cannot reach the outlast server" in err


def test_a_url_that_is_not_an_outlast_server_is_exit_1(base_url: str) -> None:
    code, _, err = invoke("list", "--url", f"{base_url}/elsewhere")
    assert code == 1 and "outlast server" in err


def test_url_and_store_come_from_the_environment(
    store_url: str, runtime: WorkflowRuntime, base_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OUTLAST_STORE", store_url)
    code, out, _ = invoke("start", "approval", "--id", "env-store")
    assert (code, out) == (0, "env-store\n")
    monkeypatch.setenv("OUTLAST_URL", base_url)
    code, out, _ = invoke("status", "env-store", "--json")
    assert code == 0 and orjson.loads(out)["instanceID"] == "env-store"


@pytest.fixture
def secured_url(runtime: WorkflowRuntime) -> Iterator[str]:
    app = create_app(WorkflowClient(runtime.store), runtime=runtime, api_token="t0ken")
    with BackgroundServer(app) as server:
        yield server.url


def test_tokens_for_a_secured_server(secured_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    code, _, err = invoke("list", "--url", secured_url)
    assert code == 1 and "OUTLAST_API_TOKEN" in err
    assert invoke("list", "--url", secured_url, "--token", "t0ken")[0] == 0
    monkeypatch.setenv("DAPR_API_TOKEN", "t0ken")
    assert invoke("list", "--url", secured_url)[0] == 0


# --- serve's arguments ---------------------------------------------------------------


def test_serve_with_an_app_that_does_not_load_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sys, "path", list(sys.path))  # serve puts --app-dir on it
    code, _, err = invoke("serve", "tests.http.sample_app:nothing")
    assert code == 2 and "no attribute" in err
    code, _, err = invoke("serve", "no_such_module_anywhere:runtime")
    assert code == 2 and "cannot import" in err


def test_serve_refuses_a_store_the_app_cannot_use(
    tmp_path: Path, store: Store, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "pinned_app.py").write_text(
        "from outlast import WorkflowRuntime\nruntime = WorkflowRuntime('memory://')\n"
    )
    monkeypatch.setattr(sys, "path", list(sys.path))
    code, _, err = invoke(
        "serve", "pinned_app:runtime", "--app-dir", str(tmp_path), "--store", store_url
    )
    assert code == 2 and "--store cannot change" in err


# --- rendering -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(0), "just now"),
        (timedelta(seconds=5), "5s ago"),
        (timedelta(minutes=3, seconds=59), "3m ago"),
        (timedelta(hours=2), "2h ago"),
        (timedelta(days=3), "3d ago"),
        (timedelta(days=800), "2y ago"),
        (timedelta(seconds=-30), "in 30s"),
    ],
)
def test_relative_times(delta: timedelta, text: str) -> None:
    now = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    assert relative(now - delta, now) == text


def test_times_are_ages_or_rfc3339() -> None:
    parse = TimeType().convert
    assert parse("2024-01-31T12:00:00Z", None, None) == datetime(2024, 1, 31, 12, tzinfo=UTC)
    two_hours_ago = parse("2h", None, None)
    assert timedelta(hours=2) <= datetime.now(UTC) - two_hours_ago < timedelta(hours=3)


# --- the installed console script ----------------------------------------------------


def outlast_command() -> list[str]:
    script = Path(sys.executable).with_name("outlast")
    return [str(script)] if script.exists() else [sys.executable, "-m", "outlast.cli"]


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*outlast_command(), *args], capture_output=True, text=True, cwd=cwd)


def test_the_console_script_against_a_store(store_url: str, tmp_path: Path) -> None:
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    started = run(
        "start", "approval", "--id", "proc-1", "--input", "3", "--store", store_url, cwd=cwd
    )
    assert (started.returncode, started.stdout) == (0, "proc-1\n"), started.stderr
    status = run("status", "proc-1", "--store", store_url, "--json", cwd=cwd)
    assert status.returncode == 0
    body = orjson.loads(status.stdout)
    # No runtime runs on this store: the instance waits, PENDING, with its input.
    assert body["runtimeStatus"] == "PENDING"
    assert body["properties"]["dapr.workflow.input"] == "3"
    missing = run("status", "nope", "--store", store_url, cwd=cwd)
    assert missing.returncode == 3 and "nope" in missing.stderr
    # --store was used, not the default ./outlast.db
    assert list(cwd.iterdir()) == []
    store = open_store(store_url)
    try:
        state = WorkflowClient(store).get_workflow_state("proc-1")
        assert state is not None and state.input_as() == 3
    finally:
        store.close()


def test_the_console_script_against_a_server(base_url: str, tmp_path: Path) -> None:
    started = run(
        "start",
        "OrderProcessingWorkflow",
        "--input",
        "{}",
        "--wait",
        "--url",
        base_url,
        cwd=tmp_path,
    )
    assert started.returncode == 0, started.stderr
    assert "COMPLETED" in started.stdout
    listed = run("list", "--url", base_url, "--json", cwd=tmp_path)
    assert [s["workflowName"] for s in orjson.loads(listed.stdout)["instances"]] == [
        "OrderProcessingWorkflow"
    ]


def test_python_dash_m_and_version(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "outlast.cli", "--version"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.returncode == 0 and "outlast" in result.stdout


# --- global --json, read-only commands, completion -----------------------------------


def test_json_goes_before_or_after_the_command(store: Store, store_url: str) -> None:
    WorkflowClient(store).schedule_new_workflow("approval", instance_id="j1")
    for args in (["--json", "status", "j1"], ["status", "j1", "--json"]):
        code, out, _ = invoke(*args, "--store", store_url)
        assert code == 0 and orjson.loads(out)["instanceID"] == "j1", args
    code, out, _ = invoke("--json", "list", "--store", store_url)
    assert [s["instanceID"] for s in orjson.loads(out)["instances"]] == ["j1"]


@pytest.mark.parametrize(
    "args", [["status", "x"], ["list"], ["history", "x"], ["wait", "x", "--timeout", "0"]]
)
def test_read_only_commands_create_no_store(args: list[str], tmp_path: Path) -> None:
    missing = tmp_path / "typo.db"
    code, _, err = invoke(*args, "--store", f"sqlite:///{missing}")
    assert code == 1 and "does not exist" in err and "only reads" in err
    assert not missing.exists()


def test_commands_that_write_create_the_store(tmp_path: Path) -> None:
    created = tmp_path / "new.db"
    code, _, _ = invoke("start", "approval", "--store", f"sqlite:///{created}")
    assert code == 0 and created.exists()


def test_two_slashes_in_a_sqlite_url_are_explained(tmp_path: Path) -> None:
    code, _, err = invoke("list", "--store", "sqlite://x.db")
    assert code == 2 and "sqlite:///x.db" in err


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_shell_completion_scripts_as_docs_cli_md_shows(shell: str, tmp_path: Path) -> None:
    docs = (REPO / "docs" / "cli.md").read_text()
    assert f"_OUTLAST_COMPLETE={shell}_source outlast" in docs
    env = {**os.environ, "_OUTLAST_COMPLETE": f"{shell}_source"}
    out = subprocess.run(
        outlast_command(), capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60
    )
    assert out.returncode == 0 and "_OUTLAST_COMPLETE" in out.stdout, out.stderr
