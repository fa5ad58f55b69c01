"""The worker's housekeeping: its lease, taking over dead workers' work, retention,
reviving stalled instances, reconciling the activities it owns, and killing
isolated activities whose workflow ended."""

from __future__ import annotations

import logging
import os
import time

from outlast.core.status import WorkflowStatus
from outlast.runtime.state import WorkerState
from outlast.store.base import InstanceQuery

log = logging.getLogger("outlast.worker")

# How often the workflows of running process-isolated activities are looked up.
ENDED_CHECK_SECONDS = 1.0


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Housekeeping(WorkerState):
    """Part of ``Worker``; runs on the worker thread between rounds."""

    def _housekeeping(self) -> None:
        mono = time.monotonic()
        now = self.clock.now()
        if mono - self._last_heartbeat >= self.options.lease_seconds / 3:
            self.store.heartbeat(self.worker_id, now + self.options.lease_seconds)
            self._last_heartbeat = mono
        if mono - self._last_reap >= self.options.lease_seconds / 2:
            self._reap(now)
        if mono - self._last_reconcile >= self.options.lease_seconds:
            self._reconcile()
        if mono - self._last_ended_check >= ENDED_CHECK_SECONDS:
            self._kill_for_ended()
        if self.options.retention and mono - self._last_purge >= self.options.retention_interval:
            self._last_purge = mono
            self._apply_retention(now)

    def _revive_stalled(self, now: float) -> None:
        """Give stalled instances another try: this runtime may carry the fixed code
        or the missing workflow. Those that still don't fit stall again."""
        query = InstanceQuery(statuses=[WorkflowStatus.STALLED.value], limit=500)
        while records := self.store.list_instances(query):
            for record in records:
                self.store.set_status_if(
                    record.instance_id, record.status, WorkflowStatus.RUNNING.value, now
                )
            query.after = (records[-1].created_at, records[-1].instance_id)

    def _apply_retention(self, now: float) -> None:
        for status, age in self.options.retention.items():
            query = InstanceQuery(statuses=[status], updated_before=now - age, limit=500)
            while records := self.store.list_instances(query):
                purged = self.store.purge_instances([r.instance_id for r in records])
                log.info("retention purged %d %s instances", purged, status)

    def _reconcile(self) -> None:
        """Start the activities the store says this worker owns that it is not
        running. A commit whose outcome was lost with the connection, then taken
        for failed, may have stored activities that were never started; without
        this they would wait for this worker to die."""
        self._last_reconcile = time.monotonic()
        for record in self.store.owned_activities(self.worker_id):
            if (record.instance_id, record.task_id) not in self._inflight:
                log.warning(
                    "activity %s of %s was stored as ours but not running; starting it",
                    record.task_id,
                    record.instance_id,
                )
                self._dispatch(record)

    def _kill_for_ended(self) -> None:
        """Kill the process-isolated attempts whose workflow ended elsewhere (another
        worker terminated it): a few reads, and only while such attempts run."""
        self._last_ended_check = time.monotonic()
        for instance_id in self._activities.isolated_instances():
            record = self.store.get_instance(instance_id)
            if record is None or WorkflowStatus(record.status).is_terminal:
                self._activities.cancel_instance(instance_id)

    def _reap(self, now: float) -> None:
        self._last_reap = time.monotonic()
        self.store.reap_workers(now, lambda host, pid: host == self.host and not pid_alive(pid))
        _, activities = self._claimable_names()
        for record in self.store.claim_activities(self.worker_id, 10_000, activities):
            self._dispatch(record)
