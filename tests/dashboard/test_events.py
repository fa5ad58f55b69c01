"""History rows: filters, paging, payload previews, code-linked sources."""

from __future__ import annotations

from pathlib import Path

from outlast.dashboard import events
from outlast.dashboard.render import PREVIEW_CHARS
from tests.dashboard.histories import ev, started


def test_filters_by_kind_and_text_and_pages() -> None:
    history = [started()] + [
        ev("TaskScheduled", n, task_id=n, name="even" if n % 2 == 0 else "odd") for n in range(10)
    ]
    page = events.page(history, kind="TaskScheduled", text="ODD", limit=2)
    assert [r.seq for r in page.rows] == [2, 4]
    assert (page.matching, page.total, page.next_offset, page.prev_offset) == (5, 11, 2, None)
    later = events.page(history, kind="TaskScheduled", text="odd", offset=4, limit=2)
    assert [r.seq for r in later.rows] == [10] and later.next_offset is None
    assert page.kinds == ["ExecutionStarted", "TaskScheduled"]


def test_rows_summarise_fields_and_cut_payloads() -> None:
    big = '"' + "y" * (PREVIEW_CHARS * 2) + '"'
    [row] = events.page(
        [ev("TaskScheduled", 0, task_id=3, name="a", input=big, novel={"k": 1})]
    ).rows
    assert (row.kind, row.task_id, row.offset) == ("TaskScheduled", 3, 0.0)
    assert row.summary == 'name=a novel={"k":1}'
    [payload] = row.payloads
    assert payload.truncated and payload.size == len(big) and len(payload.preview) == PREVIEW_CHARS
    failure = events.page([ev("TaskFailed", 0, task_id=1, failure={"message": "m"})]).rows[0]
    assert failure.payloads[0].preview == '{\n  "message": "m"\n}'


def test_times_in_fields_read_as_times() -> None:
    [row] = events.page([ev("TimerCreated", 0, task_id=0, fire_at=1_000_000_000.5)]).rows
    assert row.summary == "fire_at=2001-09-09 01:46:40.500 UTC"


def test_source_lines_are_read_from_python_files_only(tmp_path: Path) -> None:
    code = tmp_path / "flow.py"
    code.write_text("def flow(ctx):\n    yield ctx.call_activity(charge)\n")
    secret = tmp_path / "secret.txt"
    secret.write_text("password\n")
    [row] = events.page(
        [ev("TaskScheduled", 0, task_id=0, name="charge", source={"file": str(code), "line": 2})]
    ).rows
    assert row.source is not None and row.source_line == "yield ctx.call_activity(charge)"
    [other] = events.page(
        [ev("TaskScheduled", 0, task_id=0, name="x", source={"file": str(secret), "line": 1})]
    ).rows
    assert other.source is not None and other.source_line is None
