"""The worker's loop: wait for work, run rounds (one at a time), commit each as one
batch, then dispatch what it started. Part of ``Worker`` (``worker.py``, its
lifecycle); how a round's turns are computed is ``rounds.py``.
"""

from __future__ import annotations

import logging
import time

from outlast.runtime.housekeeping import Housekeeping
from outlast.runtime.inputs import Abandoned, Pending
from outlast.runtime.isolation import Isolation
from outlast.runtime.remote import Remote
from outlast.runtime.rounds import Rounds
from outlast.runtime.stalls import Stalls
from outlast.store.admission import SLOT_TASK
from outlast.store.base import ActivityRecord, CommitBatch

log = logging.getLogger("outlast.worker")


class Loop(Rounds, Remote, Stalls, Isolation, Housekeeping):
    """Part of ``Worker``."""

    # --- the loop ------------------------------------------------------------------

    def _run(self, generation: int) -> None:
        while True:
            with self._cv:
                while not (self._results or self._answers or self._fetch or self._stopping):
                    if generation != self._generation:
                        return
                    timeout = self._idle_timeout()
                    if timeout <= 0:
                        self._fetch = True
                        break
                    self._cv.wait(timeout)
                if self._stopping or generation != self._generation:
                    return
            with self._round_lock:
                ok = self._guarded_round(housekeeping=True, generation=generation)
            if not ok:
                with self._cv:
                    self._cv.wait(min(1.0, self.options.poll_interval * 4))

    def _guarded_round(self, *, housekeeping: bool, generation: int) -> bool:
        """Run one round (the round lock held); False if it failed."""
        self._in_round.active = True
        try:
            if housekeeping:
                self._housekeeping()
            self._commit_round(fetch=True, generation=generation)
            self.last_error = None
            return True
        except Abandoned:
            return True  # a newer generation carries on
        except Exception as e:
            # The batch was rolled back; drop cached state it may have touched and
            # try again from the store.
            log.exception("worker round failed; retrying")
            self.last_error = f"{type(e).__name__}: {e}"
            self._cache.clear()
            self._last_reconcile = 0.0  # what the failed commit stored is unknown
            with self._cv:
                self._fetch = True
            return False
        finally:
            self._in_round.active = False

    def _idle_timeout(self) -> float:
        now = self.clock.now()
        wait = self._last_poll + self.options.poll_interval - time.monotonic()
        if self._next_due is not None:
            wait = min(wait, self._next_due - now)
        return max(0.0, min(wait, self.options.lease_seconds / 3))

    def _dispatch(self, record: ActivityRecord) -> None:
        if record.task_id == SLOT_TASK:
            # A workflow's slot, admitted: its start is visible again; go get it.
            with self._cv:
                self._fetch = True
            return
        self._inflight.add((record.instance_id, record.task_id))
        if self._flow.active:
            self._flow.started(record)
        remote = self._remote_activities
        if (
            remote is not None
            and record.name not in self.registry.activities
            and remote.runs(record.name)
        ):
            remote.submit(record)
            return
        self._activities.submit(record)

    # --- one round: gather, run turns, commit, dispatch ------------------------------

    def _commit_round(self, *, fetch: bool, generation: int) -> None:
        with self._cv:
            results, self._results = self._results, []
            answers, self._answers = self._answers, []
            fetch = fetch and self._fetch
            self._fetch = False
            self._round_results = results
        try:
            batch, pending = self._prepare(results, answers, fetch, generation)
            if generation != self._generation:
                raise Abandoned
            if not batch:
                return
            started = time.perf_counter()
            rejected = self._commit(batch)
            self.stats.committed(len(batch.turns), time.perf_counter() - started)
        except Abandoned:
            raise
        except BaseException:
            # Nothing of this round was saved: its activity results exist only here,
            # so they go back in line for the next round.
            with self._cv:
                if generation == self._generation:
                    # Less those a remote turn in flight now holds.
                    self._results[:0] = self._round_results
                    self._round_results = []
            raise
        with self._cv:
            self._round_results = []
        self._after_commit(batch, pending, rejected)

    def _after_commit(self, batch: CommitBatch, pending: list[Pending], rejected: set[str]) -> None:
        self._inflight.difference_update(batch.finished_activities)
        inserted = list(batch.messages)
        for turn in batch.turns:
            if turn.instance_id in rejected:
                inserted.extend(turn.fallback)
            else:
                inserted.extend(turn.messages)
                inserted.extend(c.start for c in turn.children)
        if inserted:
            soonest = min(m.visible_at for m in inserted)
            if soonest <= self.clock.now():
                with self._cv:
                    self._fetch = True
            elif self._next_due is None or soonest < self._next_due:
                self._next_due = soonest
        committed = {t.instance_id for t in batch.turns}
        for p in pending:
            if p.evict and p.instance_id not in rejected:
                self._activities.cancel_instance(p.instance_id)  # its isolated ones are killed
            if p.instance_id in committed and p.instance_id not in rejected:
                self._observe(p)
            if p.instance_id in rejected or p.evict or p.instance_id not in committed:
                self._evict(p.instance_id)
                continue
            cached = self._cache.get(p.instance_id)
            if cached is not None:
                cached.history_len = p.history_len
                cached.status = p.status
                if cached.past is not None:
                    cached.past.extend(p.recorded)
            for record in p.activities:
                if record.owner is not None:  # (queued ones wait for an admission)
                    self._dispatch(record)
        for record in batch.admitted:
            self._dispatch(record)
        while len(self._cache) > self.options.cache_size:
            iid, old = self._cache.popitem(last=False)
            if old.remote is not None and iid not in self._in_flight:
                old.remote.forget(iid)  # what it keeps for the instance (its history)
