"""Cluster-wide flow control on the worker's side (docs/flow-control.md).

The store enforces the limits (``outlast.store.admission``); the worker only
routes. An activity whose name has a limit is written unowned and queued
(``queued_at``) instead of owned by the worker that scheduled it, and the
commit that writes it asks the store, in the same transaction, to admit what
the limits allow to this worker: with a limit well above the load, the
activity is admitted by the very commit that scheduled it and starts right
after, as an unlimited one would. Commits that finish a limited activity admit
the next in line the same way; every look for work admits too (slots freed
elsewhere, the rate window moving on, a worker gone).
"""

from __future__ import annotations

from collections.abc import Mapping

from outlast.core.flow import Limit
from outlast.store.base import ActivityRecord, Admission, CommitBatch, Store, TurnWrite


class FlowControl:
    """The worker's limits, and which of its running activities they govern."""

    def __init__(self, limits: Mapping[str, Limit]) -> None:
        self.limits = dict(limits)
        self.active = bool(self.limits)
        self._all = list(self.limits.values())
        self._running: set[tuple[str, int]] = set()  # limited ones started here

    def queue(self, write: TurnWrite, now: float) -> bool:
        """Queue the turn's limited activities (unowned, in line from ``now``);
        True if it has any."""
        queued = False
        for a in write.activities:
            if a.name in self.limits:
                a.owner = None
                a.queued_at = now
                queued = True
        return queued

    def finished(self, instance_id: str, task_id: int) -> bool:
        """A result came in; True if a limit governed it (its slot frees up)."""
        key = (instance_id, task_id)
        if key in self._running:
            self._running.discard(key)
            return True
        return False

    def started(self, record: ActivityRecord) -> None:
        if record.queued_at is not None:
            self._running.add((record.instance_id, record.task_id))

    def ask(self, batch: CommitBatch, now: float, room: int, backlog: int) -> None:
        """Have the batch's commit admit queued activities to this worker."""
        batch.admission = Admission(self._all, now, room, backlog)

    def admit(
        self, store: Store, worker_id: str, now: float, room: int, backlog: int
    ) -> list[ActivityRecord]:
        """Queued activities admitted to this worker now (its own transaction)."""
        if backlog <= 0:
            return []
        return store.admit_activities(worker_id, self._all, now, room, backlog)
