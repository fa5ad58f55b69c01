"""Flow control in the store: which queued activities a limit admits now.

An activity a limit governs is written unowned with ``queued_at`` set: it waits
in its limit's queue. An admission (a worker's commit, or its look for work)
takes, under a lock that serializes admissions of the limit across processes:

- the running count: rows of the name that have an owner, per key;
- the rate window: starts logged for the name in ``(now - per, now]`` (older
  entries are deleted), a sliding window, so no ``per``-long span ever holds
  more than ``count`` starts;
- the queue, highest priority first, oldest first within a priority,

and gives the first rows that fit to the worker, logging their starts. Every
backend reads those three things its own way and calls :func:`choose`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from outlast.core.flow import Limit
from outlast.store.base import ActivityRecord, CommitBatch

# A workflow under a limit holds a slot while it runs: a row in the activities
# table with this task ID, named ``slot_name(workflow)``, queued and admitted like
# an activity. An admitted slot is owned by SLOT_OWNER, no worker: a worker that
# goes away does not release it (the instance runs on elsewhere); the turn that
# finishes the instance deletes it. Admitting one makes the instance's parked
# start visible again.
SLOT_TASK = -1
SLOT_OWNER = "(admitted)"


_SLOT_PREFIX = "workflow:"


def slot_name(workflow: str) -> str:
    return f"{_SLOT_PREFIX}{workflow}"


T = TypeVar("T")

# With a per-key cap, the queue is read this far ahead of what may be admitted:
# the rows of a key at its cap are passed over (they keep their place).
_LOOKAHEAD = 1000
# The most a logged start outlives its rate window by (see ``window_start``).
RATE_MARGIN = 0.1


@dataclass(frozen=True, slots=True)
class Queued:
    """A queued row as an admission sees it: its place, and its key."""

    instance_id: str
    task_id: int
    key: str | None


class Budget:
    """How many activities an admission may still give the worker.

    ``room``: what it can start now (free threads). ``backlog``: what it would
    hold if nothing limited it (an unlimited call is handed to its own worker's
    queue, however long). A limit with more headroom than the backlog does not
    bind: taking a whole backlog leaves the other workers room, so the worker
    takes as it would without a limit, and a limit declared well above the load
    costs nothing in throughput. A limit with less gives the worker no more than
    it can start: slots are not held in one worker's queue while others idle.
    """

    __slots__ = ("backlog", "room")

    def __init__(self, room: int, backlog: int = 0) -> None:
        self.room = room
        self.backlog = max(room, backlog)

    @property
    def spent(self) -> bool:
        return self.backlog <= 0

    def quota(self, limit: Limit, running: int, started: int) -> int:
        """How many rows this admission may take of ``limit``: what the worker may
        take, the concurrency left, the rate window's starts left."""
        headroom: int | None = None
        if limit.concurrency is not None:
            headroom = limit.concurrency - running
        if limit.rate is not None:
            left = limit.rate.count - started
            headroom = left if headroom is None else min(headroom, left)
        # A workflow's slot takes no thread of the admitting worker (any worker
        # runs the instance): only the backlog bounds it.
        if headroom is None or headroom > self.backlog or limit.name.startswith(_SLOT_PREFIX):
            return max(0, self.backlog if headroom is None else min(headroom, self.backlog))
        return max(0, min(headroom, self.room))

    def most(self, limit: Limit) -> int:
        """The most an admission of ``limit`` could take, before counting."""
        most = self.backlog
        if limit.concurrency is not None:
            most = min(most, limit.concurrency)
        if limit.rate is not None:
            most = min(most, limit.rate.count)
        return max(0, most)

    def spend(self, n: int) -> None:
        self.room -= n
        self.backlog -= n


def queue_depth(limit: Limit, take: int) -> int:
    """How many queued rows to read for an admission of up to ``take``."""
    return take if limit.per_key is None else max(take, _LOOKAHEAD)


Known = Mapping[tuple[str, int], ActivityRecord]


def queued_in(batch: CommitBatch) -> dict[tuple[str, int], ActivityRecord]:
    """The rows a batch queues, by (instance, task): an admission in its commit
    builds what it admits of them from these rather than reading them back."""
    return {
        (a.instance_id, a.task_id): a
        for t in batch.turns
        for a in t.activities
        if a.queued_at is not None
    }


def admitted_from(
    chosen: Sequence[Queued],
    taken: Iterable[tuple[str, int]],
    known: Known,
    worker_id: str,
) -> tuple[list[ActivityRecord], list[Queued]]:
    """What an admission took, in the order chosen: built from ``known`` rows
    where it can, and the rest (rows queued before this batch) to read back."""
    got = set(taken)
    admitted: list[ActivityRecord] = []
    unknown: list[Queued] = []
    for q in chosen:
        place = (q.instance_id, q.task_id)
        if place not in got:
            continue
        row = known.get(place)
        if row is None:
            unknown.append(q)
        else:
            owner = SLOT_OWNER if q.task_id == SLOT_TASK else worker_id
            # (the constructor: dataclasses.replace costs several times as much)
            admitted.append(
                ActivityRecord(
                    row.instance_id,
                    row.execution_id,
                    row.task_id,
                    row.name,
                    row.input,
                    owner,
                    row.attempt,
                    row.options,
                    row.key,
                    row.priority,
                    row.queued_at,
                )
            )
    return admitted, unknown


def in_order(
    admitted: list[T], chosen: Sequence[Queued], key: Callable[[T], tuple[str, int]]
) -> list[T]:
    """``admitted`` (as a statement returned them) in the order they were chosen."""
    place = {(q.instance_id, q.task_id): n for n, q in enumerate(chosen)}
    return sorted(admitted, key=lambda a: place.get(key(a), len(place)))


def choose(
    limit: Limit, queue: Iterable[Queued], running_by_key: Mapping[str | None, int], take: int
) -> list[Queued]:
    """The rows of ``queue`` (in its order) admitted: at most ``take``, and none
    that would put its key over ``per_key`` (a row without a key has none)."""
    chosen: list[Queued] = []
    if take <= 0:
        return chosen
    per_key = limit.per_key
    counts = dict(running_by_key)
    for row in queue:
        if per_key is not None and row.key is not None:
            n = counts.get(row.key, 0)
            if n >= per_key:
                continue
            counts[row.key] = n + 1
        chosen.append(row)
        if len(chosen) >= take:
            break
    return chosen


def window_start(limit: Limit, now: float) -> float:
    """Starts at or before this are out of the rate window at ``now``.

    A start is logged when it is admitted, and the activity begins a moment
    later (the commit, the hand-off to a thread), a moment that varies. So a
    logged start stays in the window a little longer than ``per`` (a tenth of
    it, at most 100 ms): the times the activities themselves see then keep the
    rate too, not just the log."""
    assert limit.rate is not None
    per = limit.rate.per.total_seconds()
    return now - per - min(per / 10, RATE_MARGIN)


def by_name(limits: Sequence[Limit]) -> list[Limit]:
    """The limits in the order admissions lock them (by name: no deadlocks)."""
    return sorted(limits, key=lambda limit: limit.name)
