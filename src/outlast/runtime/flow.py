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

import dataclasses
from collections.abc import Collection, Mapping

from outlast.core import history as h
from outlast.core.flow import Limit
from outlast.core.status import TERMINAL_STATUSES
from outlast.core.times import NS_PER_SECOND
from outlast.store.admission import SLOT_TASK, slot_name
from outlast.store.base import ActivityRecord, Admission, CommitBatch, Store, TurnWrite

# A start put off by a workflow limit is looked at again after this long at the
# latest; its admission makes it visible at once (the worker that parked it may
# go away meanwhile).
PARK_SECONDS = 10.0


class FlowControl:
    """The worker's limits, and which of its running activities they govern.

    A limit on a workflow's name holds a slot per running instance: a row of the
    activities table (``outlast.store.admission.SLOT_TASK``) queued when the
    instance's start is first seen, admitted like an activity, deleted by the
    turn that finishes the instance. Until it is admitted the start is parked.
    """

    def __init__(self, limits: Mapping[str, Limit], workflows: Collection[str] = ()) -> None:
        self.limits = {n: lim for n, lim in limits.items() if n not in workflows}
        self.workflows = {
            n: dataclasses.replace(lim, name=slot_name(n))
            for n, lim in limits.items()
            if n in workflows
        }
        self.active = bool(limits)
        self._all = [*self.limits.values(), *self.workflows.values()]
        self._running: set[tuple[str, int]] = set()  # limited ones started here

    def gate(
        self,
        store: Store,
        instance_id: str,
        start: h.ExecutionStarted,
        batch: CommitBatch,
        message_ids: list[int],
        now: float,
    ) -> bool:
        """True (its messages parked, its slot queued) unless the instance of a
        limited workflow holds an admitted slot."""
        limit = self.workflows.get(start.name)
        if limit is None:
            return False
        slot = next(
            (a for a in store.pending_activities(instance_id) if a.task_id == SLOT_TASK), None
        )
        if slot is not None and slot.owner is not None:
            return False
        if slot is None:
            batch.queued.append(
                ActivityRecord(
                    instance_id,
                    "",
                    SLOT_TASK,
                    limit.name,
                    None,
                    key=start.key,
                    priority=start.priority,
                    # In line from when it was asked for: starts go first come,
                    # first served, whichever worker sees them first.
                    queued_at=start.ts / NS_PER_SECOND,
                )
            )
        batch.rescheduled.extend((mid, now + PARK_SECONDS) for mid in message_ids)
        return True

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

    def free_slots(self, batch: CommitBatch) -> bool:
        """Free the slots of the instances the batch finishes (however they end:
        a last turn, a terminate, one that never started), if they hold one; True
        if there are such instances."""
        if not self.workflows:
            return False
        ended = [t.instance_id for t in batch.turns if t.update.status in TERMINAL_STATUSES]
        batch.finished_activities.extend((iid, SLOT_TASK) for iid in ended)
        return bool(ended)

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
