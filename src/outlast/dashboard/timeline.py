"""From an instance's history (``WorkflowClient.get_workflow_history``'s dicts) to
the bars of its timeline: one bar per activity attempt, retry wait, timer, child
workflow and wait for an external event, in lanes.

Pure: dicts in, dataclasses out. Unknown kinds and fields are ignored (the
history table still shows them), so histories written by newer engines or by
other SDKs draw what can be drawn.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from outlast.dashboard.values import Source, event_name_of_timer, source_of, time_of

# Beyond this many lanes, lanes of the same kind and label share one row.
GROUP_LANES_OVER: Final = 40
# Never draw more rows than this; the rest are counted.
MAX_LANES: Final = 200

ACTIVITY, RETRY, TIMER, CHILD, EVENT, SUSPENDED = (
    "activity",
    "retry",
    "timer",
    "child",
    "event",
    "suspended",
)
OPEN, DONE, FAILED, TIMED_OUT = "open", "done", "failed", "timed-out"
# Timer origins (durabletask's) of the waits between a call's attempts.
RETRY_ORIGINS: Final = ("activity_retry", "child_workflow_retry")


@dataclass
class Bar:
    """One span on the timeline. ``end`` None: still open (drawn up to now)."""

    kind: str
    label: str
    start: float
    end: float | None = None
    state: str = OPEN
    seq: int = 0  # index in the history of the event that opened it
    end_seq: int | None = None
    task_id: int | None = None
    attempt: int = 1
    detail: str = ""
    fire_at: float | None = None  # timers and timeouts
    child_id: str | None = None
    source: Source | None = None

    @property
    def rerun_seq(self) -> int | None:
        """The event an activity can be rerun from (its TaskScheduled)."""
        return self.seq if self.kind == ACTIVITY else None


@dataclass
class Marker:
    """A point in time: an event raised or sent, a patch, the end."""

    label: str
    at: float
    seq: int
    kind: str


@dataclass
class Lane:
    label: str
    kind: str
    bars: list[Bar] = field(default_factory=list)
    members: int = 1  # lanes folded into this one

    @property
    def start(self) -> float:
        return min(b.start for b in self.bars)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for b in self.bars:
            out[b.state] = out.get(b.state, 0) + 1
        return out


@dataclass
class Timeline:
    start: float | None
    end: float | None  # the last event's time (the caller extends open bars to now)
    lanes: list[Lane]
    markers: list[Marker]
    hidden_lanes: int = 0
    grouped: bool = False

    @property
    def bars(self) -> list[Bar]:
        return [b for lane in self.lanes for b in lane.bars]

    def open_bars(self) -> list[Bar]:
        return [b for b in self.bars if b.end is None]


class _Builder:
    def __init__(self) -> None:
        self.lanes: list[Lane] = []
        self.markers: list[Marker] = []
        self.by_task: dict[int, tuple[Lane, Bar]] = {}
        # Steps that failed, by the time of the turn that saw it: a timer started
        # in that turn may be their retry wait.
        self.failed_at: dict[float, list[Lane]] = {}
        # Timers that may be retry waits, and turns in which one fired.
        self.maybe_retry: dict[int, Lane] = {}
        self.retry_fired_at: dict[float, list[tuple[Lane, Bar]]] = {}
        # Lanes by what names a call across its attempts: an activity call's task
        # execution ID, a child's instance ID (what retry timers' origins name).
        self.calls: dict[str, Lane] = {}
        self.suspended: Bar | None = None
        self.start: float | None = None
        self.end: float | None = None

    # --- opening and closing bars ---------------------------------------------------

    def open(self, lane: Lane, bar: Bar) -> None:
        lane.bars.append(bar)
        if bar.task_id is not None:
            self.by_task[bar.task_id] = (lane, bar)

    def close(self, task_id: Any, at: float, seq: int, state: str) -> tuple[Lane, Bar] | None:
        found = self.by_task.pop(task_id, None) if isinstance(task_id, int) else None
        if found is not None and found[1].end is None:
            found[1].end, found[1].end_seq, found[1].state = at, seq, state
        return found

    def new_lane(self, label: str, kind: str) -> Lane:
        lane = Lane(label, kind)
        self.lanes.append(lane)
        return lane

    def step(self, kind: str, label: str, at: float, seq: int, e: Mapping[str, Any]) -> Bar:
        """An activity or child started: a new attempt of a step that failed and
        waited out a retry timer in this very turn, else a lane of its own."""
        bar = Bar(kind, label, at, seq=seq, task_id=_int(e.get("task_id")), source=source_of(e))
        call = e.get("task_execution_id") if kind == ACTIVITY else e.get("instance_id")
        known = self.calls.get(call) if isinstance(call, str) else None
        if known is not None and known.kind == kind:
            bar.attempt = 1 + sum(1 for b in known.bars if b.kind == kind)
            for fired in self.retry_fired_at.get(at, []):
                if fired[0] is known:
                    self.retry_fired_at[at].remove(fired)
                    break
            self.open(known, bar)
            return bar
        for lane, timer in self.retry_fired_at.get(at, []):
            last = lane.bars[-2] if len(lane.bars) > 1 else None
            if lane.label == label and lane.kind == kind and last is not None:
                bar.attempt = last.attempt + 1
                self.retry_fired_at[at].remove((lane, timer))
                self.open(lane, bar)
                return bar
        lane = self.new_lane(label, kind)
        if isinstance(call, str):
            self.calls[call] = lane
        self.open(lane, bar)
        return bar

    def failed(self, e: Mapping[str, Any], at: float, seq: int) -> None:
        found = self.close(e.get("task_id"), at, seq, FAILED)
        if found is not None:
            found[1].detail = _failure_text(e.get("failure"))
            self.failed_at.setdefault(at, []).append(found[0])


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _failure_text(failure: Any) -> str:
    if isinstance(failure, Mapping):
        kind, message = failure.get("error_type"), failure.get("message")
        return ": ".join(str(p) for p in (kind, message) if p)
    return "" if failure is None else str(failure)


# --- one handler per event kind -------------------------------------------------------

Handler = Callable[[_Builder, Mapping[str, Any], float, int], None]


def _started(b: _Builder, e: Mapping[str, Any], at: float, seq: int) -> None:
    if b.start is None:
        b.start = at


def _task_scheduled(b: _Builder, e: Mapping[str, Any], at: float, seq: int) -> None:
    b.step(ACTIVITY, str(e.get("name") or "activity"), at, seq, e)


def _task_completed(b: _Builder, e: Mapping[str, Any], at: float, seq: int) -> None:
    b.close(e.get("task_id"), at, seq, DONE)


def _task_failed(b: _Builder, e: Mapping[str, Any], at: float, seq: int) -> None:
    b.failed(e, at, seq)


def _child_created(b: _Builder, e: Mapping[str, Any], at: float, seq: int) -> None:
    bar = b.step(CHILD, str(e.get("name") or "child"), at, seq, e)
    child = e.get("instance_id")
    bar.child_id = child if isinstance(child, str) else None
    bar.detail = bar.child_id or ""


def _timer_created(b: _Builder, e: Mapping[str, Any], at: float, seq: int) -> None:
    fire_at = time_of(e.get("fire_at"))
    event = event_name_of_timer(e)
    task_id = _int(e.get("task_id"))
    source = source_of(e)
    if event is not None:
        bar = Bar(EVENT, event, at, seq=seq, task_id=task_id, fire_at=fire_at, source=source)
        bar.detail = "no timeout" if fire_at is None else "timeout"
        b.open(b.new_lane(f"event {event}", EVENT), bar)
        return
    name = e.get("name")
    label = str(name) if name else "timer"
    bar = Bar(TIMER, label, at, seq=seq, task_id=task_id, fire_at=fire_at, source=source)
    origin = e.get("origin")
    lane: Lane | None = None
    if origin in RETRY_ORIGINS:
        lane = b.calls.get(str(e.get("origin_name")))
    failed = b.failed_at.get(at)
    if lane is None and origin in (None, *RETRY_ORIGINS) and failed:
        # Histories without origins: a timer started in the turn a step failed is
        # the engine's retry wait.
        lane = failed.pop(0)
    if lane is None or task_id is None:
        b.open(b.new_lane(label, TIMER), bar)
        return
    # The step's next attempt joins this lane when the timer fires.
    bar.kind, bar.label = RETRY, f"retry {lane.label}"
    b.maybe_retry[task_id] = lane
    b.open(lane, bar)


def _timer_fired(b: _Builder, e: Mapping[str, Any], at: float, seq: int) -> None:
    task_id = e.get("task_id")
    found = b.close(task_id, at, seq, TIMED_OUT if _is_wait(b, task_id) else DONE)
    if found is not None and isinstance(task_id, int) and task_id in b.maybe_retry:
        b.retry_fired_at.setdefault(at, []).append(found)


def _is_wait(b: _Builder, task_id: Any) -> bool:
    found = b.by_task.get(task_id) if isinstance(task_id, int) else None
    return found is not None and found[1].kind == EVENT


def _event_raised(b: _Builder, e: Mapping[str, Any], at: float, seq: int) -> None:
    name = str(e.get("name") or "")
    b.markers.append(Marker(f"event {name}", at, seq, "raised"))
    for task_id, (_, bar) in list(b.by_task.items()):
        if bar.kind == EVENT and bar.end is None and bar.label.lower() == name.lower():
            b.close(task_id, at, seq, DONE)
            return


def _event_sent(b: _Builder, e: Mapping[str, Any], at: float, seq: int) -> None:
    target = e.get("instance_id")
    suffix = f" to {target}" if target else ""
    b.markers.append(Marker(f"sent {e.get('name') or 'event'}{suffix}", at, seq, "sent"))


def _suspended(b: _Builder, e: Mapping[str, Any], at: float, seq: int) -> None:
    if b.suspended is None:
        lane = next((ln for ln in b.lanes if ln.kind == SUSPENDED), None)
        if lane is None:
            lane = b.new_lane("suspended", SUSPENDED)
        b.suspended = Bar(SUSPENDED, "suspended", at, seq=seq, detail=str(e.get("reason") or ""))
        lane.bars.append(b.suspended)


def _resumed(b: _Builder, e: Mapping[str, Any], at: float, seq: int) -> None:
    if b.suspended is not None:
        b.suspended.end, b.suspended.end_seq, b.suspended.state = at, seq, DONE
        b.suspended = None


def _finished(b: _Builder, e: Mapping[str, Any], at: float, seq: int) -> None:
    status = e.get("status") or ("TERMINATED" if e.get("kind") == "ExecutionTerminated" else "")
    b.markers.append(Marker(str(status or e.get("kind")), at, seq, "end"))


def _patched(b: _Builder, e: Mapping[str, Any], at: float, seq: int) -> None:
    b.markers.append(Marker(f"patch {e.get('name')}", at, seq, "patch"))


HANDLERS: dict[str, Handler] = {
    "ExecutionStarted": _started,
    "TaskScheduled": _task_scheduled,
    "TaskCompleted": _task_completed,
    "TaskFailed": _task_failed,
    "SubOrchestrationCreated": _child_created,
    "SubOrchestrationCompleted": _task_completed,
    "SubOrchestrationFailed": _task_failed,
    "TimerCreated": _timer_created,
    "TimerFired": _timer_fired,
    "EventRaised": _event_raised,
    "EventSent": _event_sent,
    "ExecutionSuspended": _suspended,
    "ExecutionResumed": _resumed,
    "ExecutionCompleted": _finished,
    "ExecutionTerminated": _finished,
    "WorkflowPatched": _patched,
}


def build(history: Sequence[Mapping[str, Any]]) -> Timeline:
    """The timeline of a history, lanes in the order their first bar started.
    Lanes of the same kind and label are folded into one row when there are more
    than ``GROUP_LANES_OVER`` (a fan-out of a thousand activities is one row)."""
    b = _Builder()
    for seq, event in enumerate(history):
        at = time_of(event.get("timestamp"))
        if at is None:
            continue
        b.start = at if b.start is None else b.start
        b.end = at if b.end is None else max(b.end, at)
        handler = HANDLERS.get(str(event.get("kind")))
        if handler is not None:
            handler(b, event, at, seq)
    lanes = [lane for lane in b.lanes if lane.bars]
    grouped = len(lanes) > GROUP_LANES_OVER
    if grouped:
        lanes = _group(lanes)
    hidden = max(0, len(lanes) - MAX_LANES)
    return Timeline(b.start, b.end, lanes[:MAX_LANES], b.markers, hidden, grouped)


def _group(lanes: Iterable[Lane]) -> list[Lane]:
    folded: dict[tuple[str, str], Lane] = {}
    for lane in lanes:
        key = (lane.kind, lane.label)
        into = folded.get(key)
        if into is None:
            folded[key] = Lane(lane.label, lane.kind, list(lane.bars))
        else:
            into.bars.extend(lane.bars)
            into.members += 1
    return sorted(folded.values(), key=lambda lane: lane.start)
