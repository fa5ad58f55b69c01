"""Every command, against a store and against a server: output and exit codes."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner, Result

from outlast import WorkflowClient, WorkflowStatus
from outlast.cli import cli
from outlast.cli.commands import COMMANDS
from tests.cli.conftest import Outlast

ORDER = '{"Name":"Paperclips","Quantity":1,"TotalCost":9.95}'


def json_of(result: Result) -> Any:
    value = orjson.loads(result.stdout)
    assert isinstance(value, dict)
    return value


def start_order(outlast: Outlast, instance_id: str) -> None:
    outlast("start", "OrderProcessingWorkflow", "--input", ORDER, "--id", instance_id)
    outlast("wait", instance_id)


# --- start, status, wait -------------------------------------------------------------


def test_start_prints_the_id_for_shells_and_json_for_scripts(outlast: Outlast) -> None:
    plain = outlast("start", "approval", "--id", "a1")
    assert plain.stdout == "a1\n"
    assert json_of(outlast("start", "approval", "--json")).keys() == {"instanceID"}


def test_start_wait_and_status(outlast: Outlast) -> None:
    outlast("start", "OrderProcessingWorkflow", "--input", ORDER, "--id", "12345678")
    waited = json_of(outlast("wait", "12345678", "--json"))
    assert waited["runtimeStatus"] == "COMPLETED"
    status = json_of(outlast("status", "12345678", "--json"))
    assert status["instanceID"] == "12345678"
    assert status["workflowName"] == "OrderProcessingWorkflow"
    assert status["properties"] == {
        "dapr.workflow.custom_status": "",
        "dapr.workflow.input": ORDER,
        "dapr.workflow.output": '{"Processed":true}',
    }
    human = outlast("status", "12345678").stdout
    for text in ("12345678", "OrderProcessingWorkflow", "COMPLETED", '{"Processed":true}'):
        assert text in human
    assert re.search(r"Created .*Z \((just now|\d+s ago)\)", human)


def test_start_wait_flag_waits_and_shows_the_outcome(outlast: Outlast) -> None:
    result = outlast("start", "OrderProcessingWorkflow", "--input", ORDER, "--wait", "--json")
    assert json_of(result)["runtimeStatus"] == "COMPLETED"
    outlast("start", "failing", "--input", '"x"', "--wait", expect=5)


def test_input_from_a_file_and_from_stdin(outlast: Outlast, tmp_path: Path) -> None:
    (tmp_path / "order.json").write_text(ORDER)
    outlast("start", "approval", "--id", "f1", "--input", f"@{tmp_path / 'order.json'}")
    outlast("start", "approval", "--id", "s1", "--input", "-", stdin="[1, 2]")
    file_input = json_of(outlast("status", "f1", "--json"))["properties"]
    assert isinstance(file_input, dict) and file_input["dapr.workflow.input"] == ORDER
    stdin_input = json_of(outlast("status", "s1", "--json"))["properties"]
    assert isinstance(stdin_input, dict) and stdin_input["dapr.workflow.input"] == "[1,2]"


def test_wait_exit_codes(outlast: Outlast) -> None:
    outlast("start", "failing", "--input", '"x"', "--id", "bad")
    failed = outlast("wait", "bad", expect=5)
    assert "FAILED" in failed.stdout and "boom: x" in failed.stdout
    outlast("start", "approval", "--id", "slow")
    outlast("wait", "slow", "--for", "start")
    timed_out = outlast("wait", "slow", "--timeout", "0.2", expect=4)
    assert "still RUNNING" in timed_out.stderr
    missing = outlast("wait", "ghost", expect=3)
    assert "ghost" in missing.stderr


def test_status_of_an_unknown_instance_is_exit_3(outlast: Outlast) -> None:
    result = outlast("status", "ghost", expect=3)
    assert result.stdout == ""
    assert "Error:" in result.stderr and "ghost" in result.stderr


def test_bad_arguments_are_exit_2(outlast: Outlast) -> None:
    assert "not valid JSON" in outlast("start", "approval", "--input", "{oops", expect=2).stderr
    outlast("start", "approval", "--id", "not/valid", expect=2)
    outlast("list", "--status", "SLEEPING", expect=2)
    outlast("list", "--since", "last tuesday", expect=2)
    outlast("wait", "x", "--timeout", "soon", expect=2)


def test_starting_an_id_in_use_is_exit_1(outlast: Outlast) -> None:
    outlast("start", "approval", "--id", "dup")
    assert "dup" in outlast("start", "approval", "--id", "dup", expect=1).stderr


# --- list, history -------------------------------------------------------------------


def test_list_shows_a_table_and_filters(outlast: Outlast) -> None:
    start_order(outlast, "o1")
    start_order(outlast, "o2")
    outlast("start", "approval", "--id", "w1")
    outlast("wait", "w1", "--for", "start")

    table = outlast("list").stdout
    assert "INSTANCE" in table and "STATUS" in table
    for text in ("o1", "o2", "w1", "COMPLETED", "RUNNING", "OrderProcessingWorkflow"):
        assert text in table

    running = json_of(outlast("list", "--status", "running", "--json"))
    assert [s["instanceID"] for s in running["instances"]] == ["w1"]
    by_name = json_of(
        outlast("list", "--name", "OrderProcessingWorkflow", "--since", "1h", "--json")
    )
    assert [s["instanceID"] for s in by_name["instances"]] == ["o1", "o2"]
    future = json_of(outlast("list", "--created-before", "2000-01-01T00:00:00Z", "--json"))
    assert future == {"instances": [], "continuationToken": None}
    assert "No workflow instances match" in outlast("list", "--name", "nothing").stdout


def test_list_pages(outlast: Outlast) -> None:
    for name in ("p1", "p2", "p3"):
        start_order(outlast, name)
    first = json_of(outlast("list", "--limit", "2", "--json"))
    token = first["continuationToken"]
    assert isinstance(token, str)
    second = json_of(outlast("list", "--limit", "2", "--continuation-token", token, "--json"))
    assert [s["instanceID"] for s in second["instances"]] == ["p3"]
    assert second["continuationToken"] is None
    assert f"--continuation-token {token}" in outlast("list", "--limit", "2").stdout
    everything = json_of(outlast("list", "--limit", "1", "--all", "--json"))
    assert [s["instanceID"] for s in everything["instances"]] == ["p1", "p2", "p3"]


def test_history(outlast: Outlast) -> None:
    start_order(outlast, "h1")
    table = outlast("history", "h1").stdout
    for text in ("ExecutionStarted", "TaskScheduled", "process_order", "ExecutionCompleted"):
        assert text in table
    events = json_of(outlast("history", "h1", "--json"))["events"]
    assert isinstance(events, list)
    assert [e["eventId"] for e in events] == list(range(len(events)))
    outlast("history", "ghost", expect=3)


# --- raise, terminate, suspend, resume -----------------------------------------------


def test_raise_event(outlast: Outlast) -> None:
    outlast("start", "approval", "--id", "r1", "--input", '"req"')
    assert "approve" in outlast("raise", "r1", "approve", "--data", '{"by": "Jane"}').stdout
    done = json_of(outlast("wait", "r1", "--json"))
    props = done["properties"]
    assert isinstance(props, dict)
    assert orjson.loads(props["dapr.workflow.output"]) == {
        "request": "req",
        "decision": {"by": "Jane"},
    }
    outlast("raise", "r1", "approve", expect=1)
    outlast("raise", "ghost", "approve", expect=3)


def test_terminate(outlast: Outlast) -> None:
    outlast("start", "approval", "--id", "t1")
    assert json_of(outlast("terminate", "t1", "--output", '"ops"', "--json")) == {
        "instanceID": "t1",
        "accepted": True,
    }
    terminated = json_of(outlast("wait", "t1", "--json", expect=5))
    assert terminated["runtimeStatus"] == "TERMINATED"
    assert "already TERMINATED" in outlast("terminate", "t1", expect=1).stderr
    outlast("terminate", "ghost", "--non-recursive", expect=3)


def test_suspend_and_resume(outlast: Outlast, client: WorkflowClient) -> None:
    outlast("start", "approval", "--id", "z1")
    outlast("wait", "z1", "--for", "start")
    outlast("suspend", "z1", "--reason", "maintenance")
    state = client.get_workflow_state("z1")
    # The suspension is a message the worker takes: watch until it has.
    while state is not None and state.runtime_status is not WorkflowStatus.SUSPENDED:
        with client.store.watch("z1") as changed:
            changed.wait(0.5)
        state = client.get_workflow_state("z1")
    assert "SUSPENDED" in outlast("status", "z1").stdout
    outlast("raise", "z1", "approve")
    outlast("resume", "z1")
    outlast("wait", "z1")
    outlast("suspend", "z1", expect=1)
    outlast("resume", "ghost", expect=3)


# --- purge, rerun --------------------------------------------------------------------


def test_purge_one_and_by_filter(outlast: Outlast) -> None:
    for name in ("d1", "d2", "d3"):
        start_order(outlast, name)
    outlast("start", "approval", "--id", "live")
    assert "finished" in outlast("purge", "live", expect=1).stderr
    assert outlast("purge", "d1").stdout.strip() == "Purged d1."
    outlast("purge", "d1", expect=3)
    # Purging by filter asks first; with no terminal to ask on, it wants --yes.
    refused = outlast("purge", "--status", "completed", expect=2)
    assert "--yes" in refused.stderr
    assert len(json_of(outlast("list", "--json"))["instances"]) == 3
    purged = json_of(
        outlast("purge", "--status", "completed", "--created-before", "0s", "--json", "--yes")
    )
    assert purged == {"purged": 2}
    remaining = json_of(outlast("list", "--json"))["instances"]
    assert [s["instanceID"] for s in remaining] == ["live"]
    assert "Purged 0 instances." in outlast("purge", "--all", "-y").stdout


def test_purge_needs_an_id_or_filters_but_not_both(outlast: Outlast) -> None:
    outlast("purge", expect=2)
    outlast("purge", "x", "--all", expect=2)
    outlast("purge", "--status", "RUNNING", expect=2)


def test_rerun(outlast: Outlast) -> None:
    start_order(outlast, "src")
    events = json_of(outlast("history", "src", "--json"))["events"]
    assert isinstance(events, list)
    event_id = next(e["eventId"] for e in events if e["kind"] == "TaskScheduled")
    new = outlast("rerun", "src", str(event_id), "--new-id", "again", "--input", '{"Name":"X"}')
    assert new.stdout == "again\n"
    status = json_of(outlast("wait", "again", "--json"))
    assert status["runtimeStatus"] == "COMPLETED"
    props = status["properties"]
    assert isinstance(props, dict) and props["dapr.workflow.input"] == '{"Name":"X"}'
    outlast("rerun", "src", "0", expect=2)
    outlast("rerun", "ghost", "1", expect=3)


# --- help ----------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["", "serve", *[c.name or "" for c in COMMANDS]])
def test_help_everywhere(command: str) -> None:
    args = [command, "--help"] if command else ["--help"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0
    assert result.stdout.startswith("Usage: ")
    if not command:
        assert "Exit codes" in result.stdout
