"""What people and pipes see: piped tables keep every value whole, with RFC 3339
times; JSON keeps times as text too; control characters from workflows are shown
escaped, never sent to the terminal raw; no credential is ever shown."""

from __future__ import annotations

import re

import orjson
import pytest
from click.testing import CliRunner

from outlast import WorkflowClient, WorkflowStatus
from outlast.cli import cli
from outlast.cli.render import clean
from tests.cli.conftest import Outlast
from tests.cli.test_commands import json_of

RFC3339 = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"
LONG_ID = "an-instance-id-that-is-sixty-four-characters-long-0123456789abcd"


def test_piped_lists_keep_ids_and_names_whole_with_rfc3339_times(outlast: Outlast) -> None:
    assert len(LONG_ID) == 64
    outlast("start", "OrderProcessingWorkflow", "--id", LONG_ID, "--input", "{}", "--wait")
    table = outlast("list").stdout
    [row] = [line for line in table.splitlines() if LONG_ID in line]
    assert re.search(
        rf"{LONG_ID}\s+OrderProcessingWorkflow\s+COMPLETED\s+{RFC3339}\s+{RFC3339}", row
    )


def test_status_and_history_show_rfc3339_times_and_whole_payloads(outlast: Outlast) -> None:
    request = "r" * 300
    outlast("start", "approval", "--id", "long-input", "--input", f'"{request}"')
    outlast("wait", "long-input", "--for", "start")
    status = outlast("status", "long-input").stdout
    assert re.search(rf"Created\s+{RFC3339} \(", status)
    assert request in status
    history = outlast("history", "long-input").stdout
    assert re.search(rf"^\s*0\s+{RFC3339}\s+\w+", history, re.M)  # the first, in full
    assert "ExecutionStarted" in history
    assert request in history  # piped: not shortened to 80 characters


def test_timer_times_are_rfc3339_not_epoch_seconds(outlast: Outlast) -> None:
    outlast("start", "failing", "--id", "timer", "--wait")
    events = json_of(outlast("history", "timer", "--json"))["events"]
    [created] = [e for e in events if e["kind"] == "TimerCreated"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00", created["fire_at"])
    assert "fire_at=" + created["fire_at"] in outlast("history", "timer").stdout


# --- control characters and credentials -------------------------------------------

ESC_NAME = "\x1b[2J\x1b]0;owned\x07"  # clear the screen, retitle the window, bell
RAW = ("\x1b", "\x07", "\x9b", "\u202e")


def _assert_tame(text: str) -> None:
    for char in RAW:
        assert char not in text, f"{char!r} reached the terminal: {text!r}"


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("\x1b[31mred", "\\x1b[31mred"),
        ("a\rb\x08c\x00", "a\\x0db\\x08c\\x00"),
        ("\x9b2J", "\\x9b2J"),
        ("abc\u202edef", "abc\\u202edef"),
        ("tab\tand\nnewline stay; ünïcödé too", "tab\tand\nnewline stay; ünïcödé too"),
    ],
)
def test_control_characters_are_shown_escaped(raw: str, shown: str) -> None:
    assert clean(raw) == shown


@pytest.fixture
def hostile(client: WorkflowClient) -> dict[str, str]:
    """Instances whose history, reasons, status and error carry escape sequences."""
    client.schedule_new_workflow("approval", input="\x1b[31mred", instance_id="esc")
    client.wait_for_workflow_start("esc", timeout_in_seconds=30)
    client.raise_workflow_event("esc", ESC_NAME, data="\x9b31m")
    client.pause_workflow("esc", reason="\x1b[5mblink\u202e")
    client.resume_workflow("esc", reason=ESC_NAME)
    client.raise_workflow_event("esc", "approve", data="\x1b[0m")
    client.schedule_new_workflow("failing", input="\x1b[41mboom", instance_id="bad")
    for iid in ("esc", "bad"):
        state = client.wait_for_workflow_completion(iid, timeout_in_seconds=30)
        assert state is not None and state.runtime_status.is_terminal
    bad = client.get_workflow_state("bad")
    assert bad is not None and bad.runtime_status is WorkflowStatus.FAILED
    return {"esc": "esc", "bad": "bad"}


@pytest.mark.parametrize(
    "command",
    [
        ["history", "esc"],
        ["status", "esc"],
        ["status", "bad"],
        ["list"],
        ["wait", "bad"],
    ],
)
def test_escape_sequences_from_workflows_are_never_printed_raw(
    outlast: Outlast, hostile: dict[str, str], command: list[str]
) -> None:
    expect = 5 if command[0] == "wait" else 0
    table = outlast(*command, expect=expect)
    _assert_tame(table.stdout + table.stderr)
    as_json = outlast(*command, "--json", expect=expect)
    _assert_tame(as_json.stdout + as_json.stderr)
    orjson.loads(as_json.stdout)  # still JSON


def test_history_shows_the_escaped_event_name(outlast: Outlast, hostile: dict[str, str]) -> None:
    shown = outlast("history", "esc").stdout
    assert "\\x1b[2J" in shown
    events = orjson.loads(outlast("history", "esc", "--json").stdout)["events"]
    # JSON keeps the value itself: a script reading it gets the name as it was.
    assert any(e.get("name") == ESC_NAME for e in events)


@pytest.mark.parametrize(
    "args",
    [
        ["list", "--store", "postgresql://app:s3cret@127.0.0.1:1/outlast?password=s3cret"],
        ["list", "--url", "http://app:s3cret@127.0.0.1:1"],
    ],
    ids=["store", "url"],
)
def test_errors_show_no_credentials(args: list[str]) -> None:
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 1, result.output
    assert "Error:" in result.stderr and "app:***@127.0.0.1:1" in result.stderr
    assert "s3cret" not in result.stdout + result.stderr
