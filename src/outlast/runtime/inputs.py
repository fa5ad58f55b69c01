"""What the worker keeps per instance between rounds, and what a round gathers."""

from __future__ import annotations

from dataclasses import dataclass, field

from outlast.core import history as h
from outlast.core.executor import WorkflowExecutor
from outlast.core.times import Nanos
from outlast.core.turn import InstanceView
from outlast.runtime.activities import ActivityResult
from outlast.runtime.executors import TurnExecutor
from outlast.store.base import ActivityRecord


class Abandoned(Exception):
    """A newer generation of the worker took over (a turn hung); stop this round."""


@dataclass(slots=True)
class Cached:
    view: InstanceView
    history_len: int
    status: str  # as last committed
    executor: WorkflowExecutor | None = None  # in-process code
    past: list[h.Event] | None = None  # remote code: the committed history
    remote: TurnExecutor | None = None


@dataclass(slots=True)
class InFlight:
    """A turn handed to a remote executor, not answered yet."""

    token: int
    cached: Cached
    events: list[h.Event]
    message_ids: list[int]
    now: Nanos
    # Activity results the turn carries that no inbox row holds: they are
    # committed with the answer (or go back in line if it never comes).
    local: list[tuple[ActivityResult, h.Event]] = field(default_factory=list)


@dataclass(slots=True)
class Inputs:
    """What one instance's next turn consumes."""

    # Inbox events, each with the execution it is addressed to (None: the current).
    events: list[tuple[h.Event, str | None]] = field(default_factory=list)
    message_ids: list[int] = field(default_factory=list)
    local: list[ActivityResult] = field(default_factory=list)
    broken: str | None = None  # why its turn cannot be computed (a corrupt message)


@dataclass(slots=True)
class Pending:
    """A turn written into the batch, with what to do once it commits."""

    instance_id: str
    activities: list[ActivityRecord]
    history_len: int
    evict: bool
    status: str
    recorded: list[h.Event]
    name: str = ""
    continued_as_new: bool = False  # the run ended; its next run starts afresh
