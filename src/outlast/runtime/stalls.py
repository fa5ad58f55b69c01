"""Setting instances aside: STALLED with the reason (code that no longer fits its
history, a turn that hung, a turn that could not be computed), or quarantined in
this worker when even that cannot be written (its rows cannot be read)."""

from __future__ import annotations

import logging

from outlast.core import history as h
from outlast.core.times import Nanos
from outlast.runtime.inputs import Inputs
from outlast.runtime.state import WorkerState
from outlast.runtime.turns import result_message, stall_turn
from outlast.store.base import CommitBatch, InstanceRecord

log = logging.getLogger("outlast.worker")


class Stalls(WorkerState):
    """Part of ``Worker``."""

    def _stall(
        self,
        record: InstanceRecord,
        item: Inputs,
        error: BaseException,
        now: Nanos,
        batch: CommitBatch,
        history_len: int,
    ) -> None:
        batch.messages.extend(result_message(r, now) for r in item.local)
        # A remote instance's results were left for its answer to mark finished.
        finished = set(batch.finished_activities)
        batch.finished_activities.extend(
            k for k in ((r.instance_id, r.task_id) for r in item.local) if k not in finished
        )
        terminate = next((e for e, _ in item.events if isinstance(e, h.ExecutionTerminated)), None)
        if terminate is None:
            log.warning(
                "instance %s stalled: %s",
                record.instance_id,
                error,
                extra={"instance_id": record.instance_id, "workflow_name": record.name},
            )
        self._limits.track(record.name, record.instance_id, False, batch, self.clock.now())
        batch.turns.append(stall_turn(record, error, terminate, item.message_ids, history_len, now))

    def _stall_record(
        self,
        instance_id: str,
        item: Inputs,
        error: BaseException,
        batch: CommitBatch,
        now: Nanos,
        loaded: dict[str, tuple[InstanceRecord, list[str]]],
    ) -> None:
        """Stall an instance whose turn failed for a reason not its code's."""
        try:
            record = self.store.get_instance(instance_id)
            if record is None:
                batch.dropped_messages.extend(item.message_ids)
                return
            history_len = len(self.store.get_history(instance_id))
        except Exception as e:
            self._set_aside(instance_id, f"its stored state cannot be read: {e}")
            return
        reason = RuntimeError(f"internal error computing the turn: {type(error).__name__}: {error}")
        self._stall(record, item, reason, now, batch, history_len)

    def _set_aside(self, instance_id: str, reason: str) -> None:
        """Quarantine an instance in this worker: its rows cannot be used."""
        if instance_id not in self._quarantined:
            log.error(
                "instance %s is set aside: %s",
                instance_id,
                reason,
                extra={"instance_id": instance_id},
            )
        self._quarantined[instance_id] = reason
        self._cache.pop(instance_id, None)

    def _take_stuck(self) -> list[tuple[str, str]]:
        with self._cv:
            stuck, self._stuck = list(self._stuck.items()), {}
        return stuck

    def _stall_stuck(
        self,
        instance_id: str,
        where: str,
        item: Inputs | None,
        batch: CommitBatch,
        now: Nanos,
    ) -> None:
        """Stall an instance whose code blocked its turn (see ``watchdog.py``)."""
        error = RuntimeError(
            f"the workflow code blocked its turn for over {self.options.deadlock_timeout:g}s "
            f"at {where}; workflow code must not block (no sleeps, I/O or busy loops: "
            "use activities and timers)"
        )
        self._stall_record(instance_id, item or Inputs(), error, batch, now, {})
