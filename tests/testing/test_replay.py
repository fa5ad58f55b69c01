"""The replay check: histories of running instances against changed code."""

from __future__ import annotations

import importlib
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from textwrap import dedent

import orjson
import pytest
from click.testing import CliRunner

import outlast
from outlast.cli import cli
from outlast.testing import ReplayFinding, replay_check
from outlast.testing.histories import (
    EVERY_STATUS,
    export_histories,
    read_histories,
    store_histories,
)

V1 = """
import outlast

runtime = outlast.WorkflowRuntime()

@runtime.activity
def reserve(ctx, item: str) -> str:
    return "reserved " + item

@runtime.activity
def ship(ctx, item: str) -> str:
    return "shipped " + item

@runtime.workflow
def order(ctx, item: str):
    yield ctx.call_activity(reserve, input=item)
    yield ctx.wait_for_external_event("paid")
    {after_paid}
    return (yield ctx.call_activity(ship, input=item))
"""
SAME = V1.format(after_paid="")
# A deploy that appends a step after the wait: running instances replay fine.
COMPATIBLE = V1.format(after_paid='yield ctx.call_activity(reserve, input="gift wrap")')
# Shipping before reserving: every instance past the first step would stall.
REORDERED = V1.replace(
    "yield ctx.call_activity(reserve, input=item)\n", "yield ctx.call_activity(ship, input=item)\n"
).format(after_paid="")
# Code that now raises where history went on.
BROKEN = V1.format(after_paid="").replace(
    'yield ctx.wait_for_external_event("paid")', 'raise KeyError("price")'
)


@pytest.fixture
def apps(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "apps"
    folder.mkdir()
    for name, source in {
        "shop_same": SAME,
        "shop_compatible": COMPATIBLE,
        "shop_reordered": REORDERED,
        "shop_broken": BROKEN,
    }.items():
        (folder / f"{name}.py").write_text(dedent(source))
    sys.path.insert(0, str(folder))
    yield folder
    sys.path.remove(str(folder))
    for name in list(sys.modules):
        if name.startswith("shop_"):
            del sys.modules[name]


def app(name: str) -> outlast.WorkflowRuntime:
    runtime = importlib.import_module(name).runtime
    assert isinstance(runtime, outlast.WorkflowRuntime)
    return runtime


@pytest.fixture
def url(tmp_path: Path, apps: Path) -> str:
    """A store with two instances waiting to be paid and one completed."""
    url = f"sqlite:///{tmp_path}/shop.db"
    runtime = app("shop_same").copy(url)
    with runtime:
        client = runtime.client()
        for iid in ("waiting-1", "waiting-2", "done"):
            client.schedule_new_workflow("order", input=iid, instance_id=iid)
        client.raise_workflow_event("done", "paid")
        state = client.wait_for_workflow_completion("done", timeout_in_seconds=30)
        assert state is not None and state.output_as() == "shipped done"
        for iid in ("waiting-1", "waiting-2"):
            _wait_for_history(client, iid)
    return url


def _wait_for_history(client: outlast.WorkflowClient, iid: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        kinds_seen = {e["kind"] for e in client.get_workflow_history(iid)}
        if "TaskCompleted" in kinds_seen:
            return
        time.sleep(0.01)
    raise AssertionError(f"{iid} did not get past its first step")


def test_unchanged_code_replays_every_history(url: str) -> None:
    store = outlast.WorkflowRuntime(url).store
    histories = list(store_histories(store, statuses=EVERY_STATUS))
    assert len(histories) == 3
    assert replay_check(app("shop_same"), histories) == []


def test_a_step_added_after_the_wait_stalls_only_instances_past_it(url: str) -> None:
    store = outlast.WorkflowRuntime(url).store
    assert replay_check(app("shop_compatible"), store_histories(store)) == []
    # The finished instance went past the new step's place: --all shows it.
    every = store_histories(store, statuses=EVERY_STATUS)
    findings = replay_check(app("shop_compatible"), every)
    assert [(f.instance_id, f.step) for f in findings] == [("done", 1)]


def test_reordered_steps_are_found_with_the_step_and_the_reason(url: str) -> None:
    store = outlast.WorkflowRuntime(url).store
    findings = replay_check(app("shop_reordered"), store_histories(store))
    assert [f.instance_id for f in findings] == ["waiting-1", "waiting-2"]
    first = findings[0]
    assert first == ReplayFinding("waiting-1", "order", 0, first.reason)
    assert "'reserve'" in first.reason and "'ship'" in first.reason


def test_code_that_now_fails_is_found(url: str) -> None:
    store = outlast.WorkflowRuntime(url).store
    findings = replay_check(app("shop_broken"), store_histories(store))
    assert len(findings) == 2
    assert "already finished (KeyError: 'price')" in findings[0].reason


def test_a_workflow_no_longer_registered_is_found() -> None:
    events = {"gone": [b'["ExecutionStarted",{"ts":1,"name":"old_name"}]']}
    findings = replay_check(outlast.WorkflowRuntime("memory://"), events)
    assert len(findings) == 1
    assert findings[0].step is None and "old_name" in findings[0].reason


def test_exported_histories_round_trip(url: str, tmp_path: Path) -> None:
    store = outlast.WorkflowRuntime(url).store
    written = export_histories(store_histories(store), tmp_path / "exported")
    assert written == 2
    back = read_histories(tmp_path / "exported")
    assert [h.instance_id for h in back] == ["waiting-1", "waiting-2"]
    assert list(back[0].events) == [e.encode() for e in store.get_history("waiting-1")]
    assert len(replay_check(app("shop_reordered"), tmp_path / "exported")) == 2


def test_a_file_that_is_not_an_export_is_refused_with_its_name(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text('{"hello": 1}')
    with pytest.raises(ValueError, match=r"x\.json"):
        read_histories(tmp_path)


# --- the command line -------------------------------------------------------------


def run(*args: str, expect: int) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == expect, (result.stdout, result.stderr)
    return result.stdout


def test_outlast_check_lists_what_would_stall(url: str, apps: Path) -> None:
    out = run("check", "shop_reordered:runtime", "--store", url, "--app-dir", str(apps), expect=1)
    assert "waiting-1" in out and "waiting-2" in out and "2 of 2 histories would stall" in out
    out = run("check", "shop_same:runtime", "--store", url, "--all", expect=0)
    assert "3 histories replayed: none would stall" in out
    data = orjson.loads(
        run("--json", "check", "shop_reordered:runtime", "--store", url, "--all", expect=1)
    )
    assert data["checked"] == 3
    assert [f["instanceID"] for f in data["findings"]] == ["waiting-1", "waiting-2", "done"]
    assert data["findings"][0]["step"] == 0


def test_history_export_then_check_in_ci(url: str, tmp_path: Path) -> None:
    folder = tmp_path / "histories"
    out = run("history", "--export", str(folder), "--store", url, expect=0)
    assert "Exported 2 histories" in out
    run("history", "done", "--export", str(folder), "--store", url, expect=0)
    assert sorted(p.name for p in folder.iterdir()) == [
        "done.json",
        "waiting-1.json",
        "waiting-2.json",
    ]
    data = orjson.loads(
        run("check", "shop_reordered:runtime", "--histories", str(folder), "--json", expect=1)
    )
    # an instance exported on purpose is checked whatever its status
    assert [f["instanceID"] for f in data["findings"]] == ["done", "waiting-1", "waiting-2"]


def test_check_reads_a_store_that_does_not_exist_as_an_error(tmp_path: Path, apps: Path) -> None:
    missing = f"sqlite:///{tmp_path}/nothing.db"
    run("check", "shop_same:runtime", "--store", missing, expect=1)
    assert not (tmp_path / "nothing.db").exists()


def test_code_that_now_fails_where_history_stops_is_found(url: str) -> None:
    store = outlast.WorkflowRuntime(url).store
    events = store.get_history("waiting-1")
    kinds = [orjson.loads(e)[0] for e in events]
    # The history as it stood when the reservation came back, before the wait.
    cut = events[: kinds.index("TaskCompleted") + 1]
    findings = replay_check(app("shop_broken"), {"waiting-1": cut})
    assert len(findings) == 1
    assert findings[0].reason.startswith("the code now ends the workflow as FAILED (KeyError")
    assert replay_check(app("shop_same"), {"waiting-1": cut}) == []
