"""Per-name workflow caps: at most N instances of a workflow run on this worker."""

from __future__ import annotations

from collections import defaultdict, deque

from outlast.core import history as h
from outlast.store.base import CommitBatch

# How long a start put off by a cap waits before it is retried, if no slot frees up
# on this worker first (the worker that parked it may go away).
PARK_SECONDS = 10.0


class WorkflowLimits:
    def __init__(self, caps: dict[str, int]) -> None:
        self._caps = caps
        self.active = bool(caps)  # no caps: nothing to track, on every turn
        self._active: dict[str, set[str]] = defaultdict(set)  # running here, per name
        self._parked: dict[str, deque[int]] = defaultdict(deque)  # start messages put off

    def put_off(
        self,
        instance_id: str,
        start: h.ExecutionStarted,
        message_ids: list[int],
        batch: CommitBatch,
        now: float,
    ) -> bool:
        """True (and the start's messages parked) if its workflow is at its cap."""
        cap = self._caps.get(start.name)
        if cap is None:
            return False
        active = self._active[start.name]
        if len(active) < cap or instance_id in active:
            return False
        batch.rescheduled.extend((mid, now + PARK_SECONDS) for mid in message_ids)
        self._parked[start.name].extend(message_ids)
        return True

    def track(
        self, name: str, instance_id: str, running: bool, batch: CommitBatch, now: float
    ) -> None:
        """Count a turn of an instance; once it stopped running (finished, stalled),
        bring a parked start forward."""
        cap = self._caps.get(name)
        if cap is None:
            return
        active = self._active[name]
        if running:
            active.add(instance_id)
            return
        active.discard(instance_id)
        parked = self._parked[name]
        for _ in range(max(0, cap - len(active))):
            if not parked:
                break
            batch.rescheduled.append((parked.popleft(), now))
