"""The store interface: records and bytes in, records out.

A store knows the shape of instances, their history, their inbox of new events, and
the activity queue; it does not know workflow semantics. Every backend passes the
contract suite in ``outlast.testing.store_contract``.

Ownership: a worker that commits a turn for an instance becomes its owner until the
instance finishes or the worker goes away (its row in ``workers`` expires or its
process is gone); only the owner commits turns for it, which is what keeps one
instance's turns from running on two workers at once.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Sequence

from outlast.core.flow import Limit
from outlast.core.status import TERMINAL_STATUSES
from outlast.errors import InstanceAlreadyExistsError, InvalidStateError
from outlast.store.records import (
    COUNT_CAP,
    ActivityRecord,
    Admission,
    ChildStart,
    CommitBatch,
    InstanceCounts,
    InstanceQuery,
    InstanceRecord,
    InstanceUpdate,
    Message,
    QueueStats,
    TurnWrite,
    pending_record,
)
from outlast.store.schedules import ScheduleStore
from outlast.store.signals import ChangeSignals

# The records live in outlast.store.records; they are imported from here, with the
# interface they travel through.
__all__ = [
    "COUNT_CAP",
    "ActivityRecord",
    "Admission",
    "ChildStart",
    "CommitBatch",
    "InstanceCounts",
    "InstanceQuery",
    "InstanceRecord",
    "InstanceUpdate",
    "IoGauge",
    "Message",
    "QueueStats",
    "Store",
    "TurnWrite",
    "pending_record",
    "refuse_existing",
    "refuse_unfinished",
]


class IoGauge:
    """How many threads are inside a blocking store call right now.

    Each database call releases the GIL and must win it back, so a worker running
    turns yields the GIL between turns while this is non-zero: otherwise a client's
    call of a few statements waits out a switch interval (5 ms) at every one of
    them behind a long round of turns.
    """

    __slots__ = ("_lock", "waiting")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.waiting = 0

    def __enter__(self) -> None:
        with self._lock:
            self.waiting += 1

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self.waiting -= 1


class Store(ChangeSignals, ScheduleStore, ABC):
    """A durable home for workflow instances (and schedules: ``ScheduleStore``;
    waking in-process waiters after a change: ``ChangeSignals``). Thread-safe."""

    url: str
    # True when ``signal`` also reports the changes other processes make (there
    # are none, or the store hears of them, as PostgreSQL's LISTEN does): waiting
    # clients then re-read the store only as a safety net, not to see them.
    signals_other_processes: bool = False

    def __init__(self) -> None:
        super().__init__()
        self.io = IoGauge()

    # --- client side --------------------------------------------------------------

    @abstractmethod
    def create_instance(
        self,
        record: InstanceRecord,
        start: Message,
        *,
        history: Sequence[str] = (),
        activities: Sequence[ActivityRecord] = (),
    ) -> None:
        """Insert a new instance and its start message. An existing instance that has
        finished is replaced; an unfinished one raises InstanceAlreadyExistsError.
        ``history`` and ``activities`` seed an instance that starts part-way (a
        rerun of another instance's history)."""

    @abstractmethod
    def send_messages(self, messages: Sequence[Message]) -> None:
        """Append messages to instances' inboxes."""

    @abstractmethod
    def get_instance(self, instance_id: str) -> InstanceRecord | None: ...

    @abstractmethod
    def list_instances(self, query: InstanceQuery) -> list[InstanceRecord]:
        """Instances matching ``query``, oldest first by (created_at, instance_id)."""

    @abstractmethod
    def count_instances(self, query: InstanceQuery, cap: int = COUNT_CAP) -> InstanceCounts:
        """How many instances match ``query``'s filters, by status; its ``limit``
        and ``after`` are ignored. Without filters but statuses, each status is one
        index-only count, exact; with others, at most ``cap`` instances are
        counted (``exact`` False when that many were)."""

    @abstractmethod
    def get_history(self, instance_id: str) -> list[str]: ...

    @abstractmethod
    def pending_activities(self, instance_id: str) -> list[ActivityRecord]:
        """The instance's scheduled activities that have not finished, each with the
        worker that owns (runs) it; owner None: waiting for a worker to claim it."""

    @abstractmethod
    def purge_instances(self, instance_ids: Sequence[str]) -> int:
        """Delete finished instances with their history; return how many were."""

    @abstractmethod
    def set_status_if(self, instance_id: str, expected: str, status: str, now: float) -> bool:
        """Compare-and-set an instance's status (used to revive STALLED instances)."""

    # --- worker side --------------------------------------------------------------

    @abstractmethod
    def register_worker(self, worker_id: str, host: str, pid: int, expires_at: float) -> None: ...

    @abstractmethod
    def heartbeat(self, worker_id: str, expires_at: float) -> None:
        """Extend the lease of a worker registered through this store object; if its
        row was reaped meanwhile, put it back."""

    @abstractmethod
    def remove_worker(self, worker_id: str) -> None:
        """Forget a worker and release what it owned (a clean shutdown)."""

    @abstractmethod
    def reap_workers(self, now: float, is_dead: Callable[[str, int], bool]) -> int:
        """Remove workers whose lease expired or that ``is_dead(host, pid)`` says are
        gone, releasing their instances and activities; return how many."""

    @abstractmethod
    def fetch_messages(
        self, worker_id: str, now: float, limit: int, names: Collection[str] | None = None
    ) -> list[Message]:
        """Visible messages of instances this worker owns or may claim, oldest first.
        A message whose event cannot be read comes back with ``error`` set rather
        than failing the whole fetch. ``names``: claim only instances of these
        workflows (those this worker owns come whatever their name)."""

    @abstractmethod
    def next_visible_at(self, worker_id: str, now: float) -> float | None:
        """When the next not-yet-visible message this worker could take becomes visible."""

    @abstractmethod
    def load_instance(self, instance_id: str) -> tuple[InstanceRecord, list[str]] | None:
        """An instance and its history, or None if it does not exist."""

    def load_instances(
        self, instance_ids: Sequence[str]
    ) -> dict[str, tuple[InstanceRecord, list[str]]]:
        """``load_instance`` for many: those that exist, by ID. Stores override it
        to read them all at once (a round starts many workflows)."""
        loaded = {}
        for iid in instance_ids:
            one = self.load_instance(iid)
            if one is not None:
                loaded[iid] = one
        return loaded

    @abstractmethod
    def claim_activities(
        self, worker_id: str, limit: int, names: Collection[str] | None = None
    ) -> list[ActivityRecord]:
        """Take unowned activities (their worker went away) for this worker; only
        those of ``names`` if given; not those queued behind a limit
        (``admit_activities`` takes those)."""

    @abstractmethod
    def admit_activities(
        self, worker_id: str, limits: Sequence[Limit], now: float, room: int, backlog: int = 0
    ) -> list[ActivityRecord]:
        """Give this worker the queued activities that ``limits`` admit at ``now``
        (running counts across all workers, per key, starts in the rate window),
        highest priority first, oldest first within a priority; one transaction,
        serialized with every other admission of those limits. ``room``: what the
        worker can start now; ``backlog`` (at least ``room``): what it would hold
        if nothing limited it, taken where a limit has more headroom than that
        (``outlast.store.admission.Budget``)."""

    @abstractmethod
    def owned_activities(self, worker_id: str) -> list[ActivityRecord]:
        """The unfinished activities this worker owns. A worker compares them with
        what it is running: after a commit whose outcome it could not learn (a
        lost connection), some may have been committed without being started."""

    @abstractmethod
    def commit(self, batch: CommitBatch) -> set[str]:
        """Apply a batch in one transaction; return the IDs of instances whose turns
        were not applied because another worker owns them."""

    def queue_stats(self, now: float) -> QueueStats:
        """What waits to be worked on at ``now`` (a metrics scrape asks; not on a
        hot path). Stores override it; this default knows nothing."""
        return QueueStats()

    def probe(self) -> None:
        """Raise :class:`StoreError` unless the store works right now: one cheap
        read, for health checks. Stores override it to look closer."""
        self.get_instance("")

    def close(self) -> None:  # stores without connections need nothing
        """Release connections; the store is unusable afterwards."""


def refuse_existing(instance_id: str, status: str) -> None:
    """Creating over an instance is allowed only once it has finished."""
    if status not in TERMINAL_STATUSES:
        raise InstanceAlreadyExistsError(
            f"workflow instance {instance_id!r} already exists and is {status}"
        )


def refuse_unfinished(instance_id: str, status: str) -> None:
    if status not in TERMINAL_STATUSES:
        raise InvalidStateError(
            f"workflow instance {instance_id!r} is {status}; only finished instances can be purged"
        )
