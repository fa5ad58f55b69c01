"""What each page shows, read through the client: plain data for the templates.

Blocking (the client is); the app runs these in worker threads.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from outlast.client.client import WorkflowClient
from outlast.client.state import WorkflowState
from outlast.core.status import WorkflowStatus
from outlast.dashboard import chart, events, timeline, waiting
from outlast.dashboard.filters import STATUSES, ListFilter
from outlast.errors import InstanceNotFoundError

LIST_PAGE_SIZE: Final = 50
_CHILDREN_PER_LEVEL: Final = 200
_GRANDCHILDREN_OF: Final = 20


@dataclass
class ListPage:
    filter: ListFilter
    counts: list[tuple[str, int]]
    total: int
    exact: bool
    states: list[WorkflowState]
    next_cursor: str | None
    cursor: str | None


def list_page(client: WorkflowClient, f: ListFilter, cursor: str | None) -> ListPage:
    """The counts (by the filter but its status, so every status shows what picking
    it would give) and one page of instances."""
    args = f.client_args()
    counting = dict(args, status=None)
    counted = client.count_workflows(**counting)
    counts = [(s, counted.counts.get(WorkflowStatus(s), 0)) for s in STATUSES]
    page = client.list_workflows(**args, page_size=LIST_PAGE_SIZE, continuation_token=cursor)
    return ListPage(
        f,
        counts,
        counted.total,
        counted.exact,
        list(page),
        page.continuation_token,
        cursor,
    )


@dataclass
class Child:
    state: WorkflowState
    children: list[Child] = field(default_factory=list)
    more: bool = False


@dataclass
class InstancePage:
    state: WorkflowState
    history_total: int
    chart: chart.Chart
    waits: list[waiting.Wait]
    history: events.HistoryPage
    children: list[Child]
    more_children: bool
    now: float
    rerun_choices: list[tuple[int, str]]

    @property
    def status(self) -> str:
        return self.state.runtime_status.value

    @property
    def terminal(self) -> bool:
        return self.state.runtime_status.is_terminal


def instance_page(
    client: WorkflowClient,
    instance_id: str,
    params: Mapping[str, str],
    now: float,
) -> InstancePage:
    """Everything on one instance's page; InstanceNotFoundError if there is none."""
    state = client.get_workflow_state(instance_id, fetch_payloads=True)
    if state is None:
        raise InstanceNotFoundError(f"no workflow instance with ID {instance_id!r}")
    history = client.get_workflow_history(instance_id)
    line = timeline.build(history)
    status = state.runtime_status.value
    workers: dict[int, str | None] | None = None
    capped: dict[int, str] = {}
    if not state.runtime_status.is_terminal:
        pending = client.get_pending_activities(instance_id)
        workers = {a.task_id: a.worker for a in pending}
        capped = waiting.concurrency_cap_waits(pending)
    failure = state.failure_details.to_dict() if state.failure_details else None
    waits = waiting.waiting_on(
        status,
        line,
        failure=failure,
        workers=workers,
        suspended_reason=_last_reason(history),
        capped=capped,
    )
    try:
        offset = int(params.get("offset") or 0)
    except ValueError:
        offset = 0
    rows = events.page(
        history, kind=params.get("kind") or "", text=params.get("q") or "", offset=offset
    )
    children, more = _children(client, instance_id, depth=2)
    drawn = chart.layout(line, now)
    for row in drawn.rows:
        row.source_line = None if row.source is None else events.source_line(row.source)
    waits = [
        dataclasses.replace(w, source_line=events.source_line(w.source)) if w.source else w
        for w in waits
    ]
    return InstancePage(
        state=state,
        history_total=len(history),
        chart=drawn,
        waits=waits,
        history=rows,
        children=children,
        more_children=more,
        now=now,
        rerun_choices=[
            (seq, f"{seq}: {e.get('name')} (task {e.get('task_id')})")
            for seq, e in enumerate(history)
            if e.get("kind") == "TaskScheduled"
        ][:1000],
    )


def _last_reason(history: list[dict[str, Any]]) -> str | None:
    for e in reversed(history):
        if e.get("kind") == "ExecutionSuspended":
            reason = e.get("reason")
            return str(reason) if reason else None
    return None


def _children(client: WorkflowClient, parent: str, depth: int) -> tuple[list[Child], bool]:
    """The child workflows of ``parent``, and theirs down to ``depth`` levels (for
    the first few, so a fan-out of thousands stays one query per level)."""
    page = client.list_workflows(parent_instance_id=parent, page_size=_CHILDREN_PER_LEVEL)
    kids = [Child(s) for s in page]
    if depth > 1:
        for kid in kids[:_GRANDCHILDREN_OF]:
            kid.children, kid.more = _children(client, kid.state.instance_id, depth - 1)
    return kids, page.continuation_token is not None


def payload(client: WorkflowClient, instance_id: str, seq: int, name: str) -> str | None:
    """One payload field of one history event, whole; None if there is none."""
    if name not in events.PAYLOAD_FIELDS:
        return None
    history = client.get_workflow_history(instance_id)
    if not 0 <= seq < len(history):
        return None
    value = history[seq].get(name)
    return None if value is None else events.payload_text(value)
