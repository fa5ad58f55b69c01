"""The executor seam: how the worker talks to whoever runs workflow and activity code.

The worker claims work, leases instances, fetches their new events, commits turns
in groups and sets timers; it does not care who runs the code. For workflows it
hands a :class:`TurnWork` to a :class:`TurnExecutor`, which answers with a
:class:`~outlast.core.turn.Turn` at once (the in-process generators,
``runtime/local.py``) or later, through :meth:`TurnSink.turn_done` (an SDK
worker on a gRPC stream). For activities it hands an ``ActivityRecord`` to an
:class:`ActivityDispatcher`, whose results come back through the worker's result
callback. Either way, the answers of many instances go into one commit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from outlast.core import history as h
from outlast.core.times import Nanos
from outlast.core.turn import InstanceView, Turn
from outlast.runtime.activities import ActivityResult
from outlast.store.base import ActivityRecord


@dataclass(slots=True)
class TurnWork:
    """One turn to run: the instance, its committed history, and the new events
    (stamped with ``now``, led by an OrchestratorStarted marker)."""

    view: InstanceView
    past: list[h.Event]
    new: list[h.Event]
    now: Nanos
    token: int  # fresh for every dispatch; an answer with another token is stale


class TurnSink(Protocol):
    """Where a deferred answer goes (the worker)."""

    def turn_done(self, instance_id: str, token: int, turn: Turn) -> bool:
        """Commit ``turn`` for the turn in flight; False if ``token`` is stale."""
        ...

    def turn_abandoned(self, instance_id: str, token: int) -> None:
        """The turn will not be answered (its stream dropped): its events go back in
        line for a new dispatch."""
        ...


class TurnExecutor(Protocol):
    """Runs the workflow code of the names it ``runs``."""

    def runs(self, name: str) -> bool: ...

    def ready(self) -> bool:
        """Whether it can take work now (an SDK worker is connected, say). While it
        cannot, the worker claims only instances and activities its in-process
        registry runs, and leaves the others to workers that can run them."""
        ...

    def dispatch(self, work: TurnWork) -> None:
        """Start a turn; answer through the sink given at attach time."""
        ...

    def forget(self, instance_id: str) -> None:
        """The instance finished or its turn was taken back: drop what is held for it."""
        ...


class ActivityDispatcher(Protocol):
    """Runs the activities of the names it ``runs``; reports each result once."""

    def runs(self, name: str) -> bool: ...

    def submit(self, record: ActivityRecord) -> None: ...

    def shutdown(self, timeout: float) -> None: ...


ResultCallback = Callable[[ActivityResult, bool], None]
