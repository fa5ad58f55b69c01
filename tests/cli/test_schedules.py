"""``outlast schedule ...``, against a store and against a server."""

from __future__ import annotations

from typing import Any

import orjson

from outlast import WorkflowClient
from outlast.cli.exit_codes import EXIT_NOT_FOUND, EXIT_USAGE
from tests.cli.conftest import Outlast
from tests.cli.test_commands import json_of


def test_create_get_list(outlast: Outlast) -> None:
    made = json_of(
        outlast(
            "schedule",
            "create",
            "nightly",
            "approval",
            "--cron",
            "30 2 * * *",
            "--timezone",
            "Europe/Paris",
            "--input",
            '{"who": "ops"}',
            "--jitter",
            "30s",
            "--overlap",
            "buffer_one",
            "--json",
        )
    )
    assert made["scheduleID"] == "nightly" and made["cron"] == "30 2 * * *"
    assert made["timezone"] == "Europe/Paris" and made["jitter"] == 30
    assert made["input"] == {"who": "ops"} and made["overlap"] == "buffer_one"
    shown = outlast("schedule", "get", "nightly").stdout
    assert "30 2 * * * (Europe/Paris)" in shown and "active" in shown and "buffer_one" in shown
    listed = outlast("schedule", "list").stdout
    assert "nightly" in listed and "approval" in listed
    data = orjson.loads(outlast("schedule", "list", "--json").stdout)
    assert [s["scheduleID"] for s in data["schedules"]] == ["nightly"]


def test_every_and_its_durations(outlast: Outlast) -> None:
    made = json_of(outlast("schedule", "create", "s", "approval", "--every", "5m", "--json"))
    assert made["every"] == 300 and made["cron"] is None
    assert "every 5m" in outlast("schedule", "get", "s").stdout
    outlast("schedule", "create", "t", "approval", "--every", "soon", expect=EXIT_USAGE)


def test_pause_resume_update_delete(outlast: Outlast) -> None:
    outlast("schedule", "create", "s", "approval", "--every", "1h")
    paused = json_of(outlast("schedule", "pause", "s", "--note", "release", "--json"))
    assert paused["paused"] and paused["note"] == "release"
    assert "paused" in outlast("schedule", "get", "s").stdout
    assert not json_of(outlast("schedule", "resume", "s", "--json"))["paused"]
    changed = json_of(outlast("schedule", "update", "s", "--cron", "0 * * * *", "--json"))
    assert changed["cron"] == "0 * * * *" and changed["every"] is None
    outlast("schedule", "update", "s", expect=EXIT_USAGE)
    assert "Deleted" in outlast("schedule", "delete", "s").stdout
    outlast("schedule", "delete", "s", expect=EXIT_NOT_FOUND)


def test_trigger_and_backfill(outlast: Outlast, client: WorkflowClient) -> None:
    outlast("schedule", "create", "s", "approval", "--cron", "0 0 * * *")
    iid = outlast("schedule", "trigger", "s").stdout.strip()
    assert iid.startswith("s-") and client.get_workflow_state(iid) is not None
    started = outlast(
        "schedule",
        "backfill",
        "s",
        "--start",
        "2030-01-01T00:00:00Z",
        "--end",
        "2030-01-03T00:00:00Z",
    ).stdout.split()
    assert started == ["s-20300101T000000Z", "s-20300102T000000Z"]
    again = outlast(
        "schedule",
        "backfill",
        "s",
        "--start",
        "2030-01-01T00:00:00Z",
        "--end",
        "2030-01-03T00:00:00Z",
    )
    assert "has run already" in again.stdout
    kinds: Any = {
        r["kind"] for r in json_of(outlast("schedule", "get", "s", "--json"))["recentRuns"]
    }
    assert kinds == {"trigger", "backfill"}


def test_errors_and_exit_codes(outlast: Outlast) -> None:
    outlast("schedule", "get", "nope", expect=EXIT_NOT_FOUND)
    outlast("schedule", "pause", "nope", expect=EXIT_NOT_FOUND)
    outlast("schedule", "trigger", "nope", expect=EXIT_NOT_FOUND)
    bad = outlast("schedule", "create", "s", "approval", "--cron", "every day", expect=EXIT_USAGE)
    assert "cron" in bad.stderr
    outlast("schedule", "create", "s", "approval", "--every", "1h")
    outlast("schedule", "create", "s", "approval", "--every", "1h", expect=1)
