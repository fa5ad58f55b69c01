"""Output: rich tables for people, JSON for scripts.

Whatever is printed may come from workflow code or a remote server (names,
reasons, payloads, error texts), so control characters are shown escaped, never
sent raw: an ESC in an event name must not drive the terminal.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import click
import orjson
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from outlast.client.state import PendingActivity, WorkflowState
from outlast.core.status import WorkflowStatus
from outlast.redaction import redact_text

STATUS_STYLES: dict[WorkflowStatus, str] = {
    WorkflowStatus.PENDING: "yellow",
    WorkflowStatus.RUNNING: "cyan",
    WorkflowStatus.SUSPENDED: "yellow",
    WorkflowStatus.COMPLETED: "green",
    WorkflowStatus.CONTINUED_AS_NEW: "blue",
    WorkflowStatus.FAILED: "bold red",
    WorkflowStatus.TERMINATED: "magenta",
    WorkflowStatus.CANCELED: "magenta",
    WorkflowStatus.STALLED: "bold red",
}


# C0 controls but tab and newline, DEL, C1 controls (U+009B is a CSI of its own), and
# the bidirectional overrides that make text read other than it is stored.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _escape_char(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def clean(text: str) -> str:
    """``text`` with every control character shown as an escape (``\\x1b``)."""
    return _UNSAFE.sub(_escape_char, text)


def _cell(text: str) -> str:
    """A table cell of untrusted text: no control characters, no rich markup."""
    return escape(clean(text))


cell = _cell  # for the commands loaded by name (check)


def plain(text: str) -> None:
    """One line of untrusted text on stdout."""
    click.echo(clean(text))


# Wide enough that no ID, name or payload is folded or cut when output is piped.
_PIPE_WIDTH = 1_000_000


def console(*, stderr: bool = False, soft_wrap: bool = False) -> Console:
    """A console on stdout (or stderr). On a terminal, tables fit its width; piped,
    they keep every value whole."""
    # Rich reads sys.stdout at print time, so click's test runner captures it.
    out = Console(stderr=stderr, highlight=False, soft_wrap=soft_wrap)
    if not out.is_terminal:
        out.width = _PIPE_WIDTH
    return out


def rfc3339(moment: datetime) -> str:
    """``2026-01-31T12:00:00Z``: UTC, to the second (the JSON output has the rest)."""
    return f"{moment.astimezone(UTC):%Y-%m-%dT%H:%M:%S}Z"


def print_json(value: Any) -> None:
    # orjson escapes C0 controls itself; the rest become \\u escapes: the same JSON.
    text = orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()
    click.echo(_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text))


def status_text(status: WorkflowStatus) -> Text:
    return Text(status.value, style=STATUS_STYLES.get(status, ""))


def relative(moment: datetime, now: datetime | None = None) -> str:
    """``3m ago``, ``2h ago``, ``just now``, ``in 5s``."""
    now = now or datetime.now(UTC)
    seconds = (now - moment).total_seconds()
    future = seconds < 0
    seconds = abs(seconds)
    if seconds < 1:
        return "just now"
    for size, unit in ((86_400 * 365, "y"), (86_400, "d"), (3600, "h"), (60, "m"), (1, "s")):
        if seconds >= size:
            amount = f"{int(seconds // size)}{unit}"
            return f"in {amount}" if future else f"{amount} ago"
    return "just now"  # pragma: no cover - the loop always returns


def _timestamp(moment: datetime) -> str:
    return f"{rfc3339(moment)} ({relative(moment)})"


def _payload(text: str | None) -> str:
    return "-" if text is None else text


def render_status(state: WorkflowState, waiting: Sequence[PendingActivity] = ()) -> None:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    table.add_row("Instance", _cell(state.instance_id))
    table.add_row("Workflow", _cell(state.name))
    table.add_row("Status", status_text(state.runtime_status))
    table.add_row("Created", _timestamp(state.created_at))
    table.add_row("Updated", _timestamp(state.last_updated_at))
    if state.parent_instance_id:
        table.add_row("Parent", _cell(state.parent_instance_id))
    table.add_row("Input", _cell(_payload(state.serialized_input)))
    if state.serialized_output is not None:
        table.add_row("Output", _cell(state.serialized_output))
    if state.serialized_custom_status is not None:
        table.add_row("Custom status", _cell(state.serialized_custom_status))
    failure = state.failure_details
    if failure is not None:
        table.add_row("Error", Text(clean(f"{failure.error_type}: {failure.message}"), style="red"))
    for w in waiting:
        table.add_row("Waiting", Text(clean(limit_wait_text(w)), style="yellow"))
    console().print(table)


def limit_wait_text(w: PendingActivity) -> str:
    """``activity charge (task 3): waiting on its limit (key customer-42, priority 5)``."""
    if w.task_id < 0:
        return f"the start of workflow {w.name}: {w.limit_wait()}"
    return f"activity {w.name} (task {w.task_id}): {w.limit_wait()}"


def render_list(states: list[WorkflowState], continuation_token: str | None) -> None:
    out = console()
    if not states:
        out.print("No workflow instances match.")
        return
    # People see ages; a pipe gets times it can sort and compare.
    when = relative if out.is_terminal else rfc3339
    table = Table(box=None, header_style="bold", pad_edge=False)
    table.add_column("INSTANCE", no_wrap=True)
    table.add_column("WORKFLOW")
    table.add_column("STATUS", no_wrap=True)
    table.add_column("CREATED", no_wrap=True)
    table.add_column("UPDATED", no_wrap=True)
    for state in states:
        table.add_row(
            _cell(state.instance_id),
            _cell(state.name),
            status_text(state.runtime_status),
            when(state.created_at),
            when(state.last_updated_at),
        )
    out.print(table)
    if continuation_token:
        out.print(
            f"More instances: add --continuation-token {clean(continuation_token)}", markup=False
        )


_HIDDEN_FIELDS = frozenset({"kind", "timestamp"})


def _details(event: dict[str, Any], *, shorten: bool) -> str:
    parts = []
    for key, value in event.items():
        if key in _HIDDEN_FIELDS or value is None:
            continue
        text = value if isinstance(value, str) else orjson.dumps(value).decode()
        if shorten and len(text) > 80:
            text = text[:77] + "..."
        parts.append(f"{key}={text}")
    return " ".join(parts)


def render_history(events: Iterable[dict[str, Any]]) -> None:
    table = Table(box=None, header_style="bold", pad_edge=False)
    table.add_column("#", justify="right")
    table.add_column("TIME", no_wrap=True)
    table.add_column("EVENT", no_wrap=True)
    table.add_column("DETAILS", overflow="fold")
    out = console()
    first: datetime | None = None
    for number, event in enumerate(events):
        moment = datetime.fromisoformat(event["timestamp"])
        first = first or moment
        offset = (moment - first).total_seconds()
        when = rfc3339(moment) if number == 0 else f"+{offset:.3f}s"
        details = _details(event, shorten=out.is_terminal)
        table.add_row(str(number), when, _cell(str(event["kind"])), _cell(details))
    out.print(table)


def done(message: str) -> None:
    console().print(clean(message), markup=False)


def error(message: str) -> None:
    click.echo(f"Error: {clean(redact_text(message))}", err=True)
