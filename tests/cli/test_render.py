"""What people and pipes see: piped tables keep every value whole, with RFC 3339
times; JSON keeps times as text too."""

from __future__ import annotations

import re

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
