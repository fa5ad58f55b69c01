"""What an instance is blocked on right now, from its status, its timeline (the
open bars of its history) and what the store says of its pending activities.

Pure: the caller reads the client and passes what it read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from outlast.client.state import PendingActivity
from outlast.dashboard import timeline as tl
from outlast.dashboard.values import Source


@dataclass(frozen=True)
class Wait:
    """One thing the instance waits for. ``until``: when it stops waiting for it
    at the latest (a timer's fire time, an event's timeout)."""

    kind: str  # activity, retry, timer, child, event, suspended, stalled, start, cap, unknown
    text: str
    until: float | None = None
    worker: str | None = None
    seq: int | None = None  # the history event that started the wait
    child_id: str | None = None
    source: Source | None = None
    source_line: str | None = None  # filled in by whoever can read the file


def concurrency_cap_waits(pending: Sequence[PendingActivity]) -> dict[int, str]:
    """The pending activities queued behind a limit (``runtime.limit``), by task ID:
    what the page says each waits for instead of "a worker"."""
    capped: dict[int, str] = {}
    for a in pending:
        if a.waiting_on_limit:
            capped[a.task_id] = a.limit_wait()
    return capped


def waiting_on(
    status: str,
    timeline: tl.Timeline,
    *,
    failure: Mapping[str, Any] | None = None,
    workers: Mapping[int, str | None] | None = None,
    suspended_reason: str | None = None,
    capped: Mapping[int, str] | None = None,
) -> list[Wait]:
    """The waits of an instance in ``status``. ``workers``: the pending activities'
    owners by task ID (``get_pending_activities``); an open activity absent from
    it has finished but its result is not in history yet. ``capped``: those
    queued behind a limit (``concurrency_cap_waits``)."""
    if status in ("COMPLETED", "FAILED", "TERMINATED", "CANCELED", "CONTINUED_AS_NEW"):
        return []
    waits: list[Wait] = []
    if status == "STALLED":
        reason = ""
        if failure:
            reason = ": ".join(
                str(failure.get(k)) for k in ("error_type", "message") if failure.get(k)
            )
        waits.append(
            Wait(
                "stalled",
                f"STALLED: {reason or 'its code does not match its history'}; "
                "fix the code and resume it, or terminate it",
            )
        )
    elif status == "SUSPENDED":
        why = f" ({suspended_reason})" if suspended_reason else ""
        waits.append(Wait("suspended", f"suspended{why}: resume it to go on"))
    elif status == "PENDING" and capped and -1 in capped:
        waits.append(Wait("cap", f"its start: {capped[-1]}"))
    elif status == "PENDING":
        waits.append(Wait("start", "a worker to start it (or its start time)"))
    waits.extend(
        _open_step(bar, workers, capped or {})
        for bar in timeline.open_bars()
        if bar.kind != tl.SUSPENDED
    )
    if status == "RUNNING" and not waits:
        waits.append(
            Wait(
                "unknown",
                "no open step: an external event it waits for without a timeout "
                "(this history does not name it), or its next turn",
            )
        )
    return waits


def _open_step(
    bar: tl.Bar, workers: Mapping[int, str | None] | None, capped: Mapping[int, str]
) -> Wait:
    if bar.kind == tl.ACTIVITY:
        attempt = f", attempt {bar.attempt}" if bar.attempt > 1 else ""
        worker = None if workers is None or bar.task_id is None else workers.get(bar.task_id)
        if bar.task_id is not None and bar.task_id in capped:
            return Wait(
                "cap",
                f"activity {bar.label} (task {bar.task_id}{attempt}): {capped[bar.task_id]}",
                seq=bar.seq,
                source=bar.source,
            )
        if workers is not None and bar.task_id is not None and bar.task_id not in workers:
            where = "finished; its result is on the way"
        elif worker:
            where = f"running on worker {worker}"
        else:
            where = "waiting for a worker"
        return Wait(
            "activity",
            f"activity {bar.label} (task {bar.task_id}{attempt}): {where}",
            worker=worker,
            seq=bar.seq,
            source=bar.source,
        )
    if bar.kind == tl.EVENT:
        timeout = "" if bar.fire_at is not None else " (no timeout)"
        return Wait(
            "event",
            f"external event {bar.label!r}{timeout}",
            bar.fire_at,
            seq=bar.seq,
            source=bar.source,
        )
    if bar.kind == tl.CHILD:
        return Wait(
            "child",
            f"child workflow {bar.label} ({bar.child_id})",
            seq=bar.seq,
            child_id=bar.child_id,
            source=bar.source,
        )
    kind = tl.RETRY if bar.kind == tl.RETRY else "timer"
    return Wait(kind, f"{bar.label}", bar.fire_at, seq=bar.seq, source=bar.source)
