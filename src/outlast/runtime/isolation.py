"""A batch that will not commit: find the turn at fault and commit the rest.

A commit fails as a whole. When it fails for one turn's data (a row the database
cannot take, a corrupt page under one instance) every round would fail the same
way, and every instance on the worker would wait. So a failed batch is split:
its parts that are not turns first, then its turns in halves. If both halves fail
too, it is the database, not a turn, and the failure stands (the worker retries the
round). A single turn that fails is dropped and its instance is read afresh next
time; failing twice in a row, it is set aside (quarantined) with the reason, and
its activity results go to its inbox so nothing is lost.
"""

from __future__ import annotations

import logging

from outlast.errors import StoreError
from outlast.runtime.state import WorkerState
from outlast.store.base import CommitBatch, TurnWrite

log = logging.getLogger("outlast.worker")

# More turns than this failing alone means the database fails, not a turn.
_MOST_AT_FAULT = 3


class Isolation(WorkerState):
    """Part of ``Worker``."""

    def _commit(self, batch: CommitBatch) -> set[str]:
        try:
            rejected = self.store.commit(batch)
        except StoreError:
            if not batch.turns:
                raise
            log.warning(
                "a batch of %d turns failed to commit; looking for the turn at fault",
                len(batch.turns),
            )
            rejected = self._commit_split(batch)
        for turn in batch.turns:
            self._turn_failures.pop(turn.instance_id, None)
        return rejected

    def _commit_split(self, batch: CommitBatch) -> set[str]:
        rejected: set[str] = set()
        failed: list[TurnWrite] = []
        self._bisect(batch.turns, batch.worker_id, rejected, failed)
        gone = {t.instance_id for t in failed}
        # The parts that are not turns, with the results the failed turns carried (so
        # that results and their activities' ends commit together, or neither).
        rest = CommitBatch(
            batch.worker_id,
            finished_activities=batch.finished_activities,
            messages=batch.messages + [m for t in failed for m in t.fallback],
            dropped_messages=batch.dropped_messages,
            rescheduled=batch.rescheduled,
        )
        if rest:
            self.store.commit(rest)
        for turn in failed:
            self._turn_failed(turn)
        batch.turns = [t for t in batch.turns if t.instance_id not in gone]
        return rejected

    def _bisect(
        self,
        turns: list[TurnWrite],
        worker_id: str,
        rejected: set[str],
        failed: list[TurnWrite],
    ) -> None:
        try:
            rejected |= self.store.commit(CommitBatch(worker_id, turns=list(turns)))
            return
        except StoreError:
            if len(turns) == 1:
                failed.extend(turns)
                if len(failed) > _MOST_AT_FAULT:
                    # Turn after turn fails on its own: it is the database.
                    raise
                return
        half = len(turns) // 2
        self._bisect(turns[:half], worker_id, rejected, failed)
        self._bisect(turns[half:], worker_id, rejected, failed)

    def _turn_failed(self, turn: TurnWrite) -> None:
        iid = turn.instance_id
        self._cache.pop(iid, None)
        count = self._turn_failures.get(iid, 0) + 1
        self._turn_failures[iid] = count
        if count >= 2:
            self._set_aside(iid, "its turns cannot be committed (see the log for the error)")
        else:
            log.warning("the turn of %s could not be committed; reading it afresh", iid)
