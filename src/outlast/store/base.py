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
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from outlast.core.flow import Limit
from outlast.core.status import TERMINAL_STATUSES, WorkflowStatus
from outlast.errors import InstanceAlreadyExistsError, InvalidStateError
from outlast.store.schedules import ScheduleStore


@dataclass(slots=True)
class InstanceRecord:
    instance_id: str
    name: str
    status: str
    execution_id: str
    created_at: float
    updated_at: float
    input: str | None = None
    output: str | None = None
    custom_status: str | None = None
    failure: str | None = None  # FailureDetails as JSON
    parent_instance_id: str | None = None
    owner: str | None = None


def pending_record(
    instance_id: str,
    name: str,
    execution_id: str,
    now: float,
    input: str | None,
    parent_instance_id: str | None = None,
) -> InstanceRecord:
    """A new instance, not started yet: how clients and parent workflows create one."""
    return InstanceRecord(
        instance_id=instance_id,
        name=name,
        status=WorkflowStatus.PENDING.value,
        execution_id=execution_id,
        created_at=now,
        updated_at=now,
        input=input,
        parent_instance_id=parent_instance_id,
    )


@dataclass(slots=True)
class Message:
    """A new event for an instance, visible to workers from ``visible_at`` on."""

    instance_id: str
    execution_id: str | None  # None: whichever execution is current
    event: str  # an encoded history event
    visible_at: float
    id: int = 0  # assigned by the store
    # Set, by fetch_messages, on a message whose event the store cannot read (a
    # corrupt page): one such row must not make every fetch fail.
    error: str | None = None


@dataclass(slots=True)
class ActivityRecord:
    instance_id: str
    execution_id: str
    task_id: int
    name: str
    input: str | None
    owner: str | None = None
    # The attempt this row runs (1 for a first try; a worker that dies or stops
    # while holding the row counts as an attempt), and the call's options as JSON
    # (heartbeat timeout, the previous attempt's heartbeat details), None when the
    # call has none, as most do.
    attempt: int = 1
    options: str | None = None
    # Flow control (outlast.store.admission): the call's key and priority, and,
    # for an activity a limit governs, when it joined the limit's queue. Such a
    # row is written unowned and waits there until an admission gives it a worker.
    key: str | None = None
    priority: int = 0
    queued_at: float | None = None

    @property
    def waiting_on_limit(self) -> bool:
        """Queued behind a limit: no worker may take it until it is admitted."""
        return self.owner is None and self.queued_at is not None


@dataclass(slots=True)
class Admission:
    """Admit queued activities of these limits to the committing worker, in the
    commit's transaction, at ``now``: ``room`` and ``backlog`` as for
    ``Store.admit_activities``."""

    limits: Sequence[Limit]
    now: float
    room: int
    backlog: int = 0


@dataclass(slots=True)
class ChildStart:
    """A child instance a turn creates. If its ID is taken by an unfinished instance,
    ``on_conflict`` is delivered (to the parent) instead."""

    record: InstanceRecord
    start: Message
    on_conflict: Message


@dataclass(slots=True)
class InstanceUpdate:
    status: str
    updated_at: float
    output: str | None = None
    failure: str | None = None
    custom_status: str | None = None
    set_custom_status: bool = False
    release: bool = False  # give up ownership (the instance finished or stalled)
    # continue-as-new: a fresh execution with this ID and input replaces the old one
    new_execution_id: str | None = None
    new_input: str | None = None
    # False when the status and custom status are as they were: the store then
    # need not wake clients waiting on this instance.
    status_changed: bool = True


@dataclass(slots=True)
class TurnWrite:
    """Everything one workflow turn changes, applied atomically or not at all."""

    instance_id: str
    execution_id: str
    history_start: int  # the sequence number of the first appended event
    history: list[str]
    update: InstanceUpdate
    consumed: list[int] = field(default_factory=list)  # inbox message IDs
    activities: list[ActivityRecord] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    children: list[ChildStart] = field(default_factory=list)
    reset_history: bool = False  # drop all earlier history and pending work first
    # Inserted instead if the turn can't be applied (another worker owns the
    # instance), so locally produced activity results are not lost.
    fallback: list[Message] = field(default_factory=list)


@dataclass(slots=True)
class CommitBatch:
    worker_id: str
    turns: list[TurnWrite] = field(default_factory=list)
    finished_activities: list[tuple[str, int]] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)  # not tied to a turn
    dropped_messages: list[int] = field(default_factory=list)
    # (message ID, new visible_at): messages put off, or brought forward again.
    rescheduled: list[tuple[int, float]] = field(default_factory=list)
    # Flow control: after the writes, admit queued activities to this worker; the
    # store puts the admitted ones (now owned by it) in ``admitted``.
    admission: Admission | None = None
    admitted: list[ActivityRecord] = field(default_factory=list)
    # Rows queued outside any turn (a limited workflow's slot), if not there yet.
    queued: list[ActivityRecord] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(
            self.turns
            or self.finished_activities
            or self.messages
            or self.dropped_messages
            or self.rescheduled
            or self.queued
        )


@dataclass(slots=True)
class InstanceQuery:
    statuses: Sequence[str] | None = None
    name: str | None = None
    created_after: float | None = None
    created_before: float | None = None
    parent_instance_id: str | None = None
    updated_before: float | None = None  # finished longer ago than this (retention)
    limit: int = 100
    after: tuple[float, str] | None = None  # keyset cursor: (created_at, instance_id)
    instance_id_prefix: str | None = None


@dataclass(slots=True)
class InstanceCounts:
    """How many instances there are in each status (statuses with none left out)."""

    by_status: dict[str, int]
    exact: bool = True  # False: lower bounds (a capped count) or estimates


@dataclass(slots=True)
class QueueStats:
    """Work waiting right now, for metrics: inbox messages visible (due) and the
    oldest one's ``visible_at``; activities scheduled and not finished."""

    ready_messages: int = 0
    oldest_ready_at: float | None = None
    activities: int = 0


# Filtered counts stop after this many instances (then they are lower bounds).
COUNT_CAP = 100_000


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


class Store(ScheduleStore, ABC):
    """A durable home for workflow instances (and schedules: ``ScheduleStore``).
    Thread-safe."""

    url: str
    # True when ``signal`` also reports the changes other processes make (there
    # are none, or the store hears of them, as PostgreSQL's LISTEN does): waiting
    # clients then re-read the store only as a safety net, not to see them.
    signals_other_processes: bool = False

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._version = 0
        self._listeners: list[Callable[[], None]] = []
        # Per instance: (wake-up, the statuses its waiter waits for; None: any change).
        self._watchers: dict[str, list[tuple[Callable[[], None], frozenset[str] | None]]] = {}
        self.io = IoGauge()

    # --- change notification (in-process; other processes poll) -----------------

    def add_listener(self, fn: Callable[[], None]) -> None:
        """Call ``fn`` after every change (workers use it to look for new work)."""
        with self._changed:
            self._listeners.append(fn)

    def remove_listener(self, fn: Callable[[], None]) -> None:
        with self._changed:
            if fn in self._listeners:
                self._listeners.remove(fn)

    @contextmanager
    def watch(
        self, instance_id: str, until: frozenset[str] | None = None
    ) -> Iterator[threading.Event]:
        """An event set whenever ``instance_id`` may have changed. Waiting clients use
        it so that a commit wakes only those waiting on what it touched. ``until``:
        the statuses the waiter waits for; a commit known to leave the instance in
        another status does not wake it."""
        event = threading.Event()
        with self.on_change(instance_id, until, event.set):
            yield event

    @contextmanager
    def on_change(
        self, instance_id: str, until: frozenset[str] | None, wake: Callable[[], None]
    ) -> Iterator[None]:
        """``watch`` with a callback: ``wake()`` is called, from the committing
        thread, whenever ``instance_id`` may have changed into one of ``until``.
        It must not block (an asyncio waiter hands it to its loop)."""
        entry = (wake, until)
        with self._changed:
            self._watchers.setdefault(instance_id, []).append(entry)
        try:
            yield
        finally:
            with self._changed:
                entries = self._watchers.get(instance_id, [])
                entries.remove(entry)
                if not entries:
                    self._watchers.pop(instance_id, None)

    def signal(
        self,
        instance_ids: Iterable[str] | None = None,
        statuses: Mapping[str, str] | None = None,
    ) -> None:
        """Wake in-process waiters after a commit: watchers of ``instance_ids`` (all
        watchers when not known) and every listener. ``statuses``: the instances'
        new statuses where known, so that waiters for other statuses sleep on."""
        woken: list[Callable[[], None]] = []
        with self._changed:
            self._version += 1
            self._changed.notify_all()
            listeners = list(self._listeners)
            if instance_ids is None:
                for entries in self._watchers.values():
                    woken.extend(wake for wake, _ in entries)
            elif self._watchers:
                for iid in instance_ids:
                    status = None if statuses is None else statuses.get(iid)
                    for wake, until in self._watchers.get(iid, ()):
                        if until is None or status is None or status in until:
                            woken.append(wake)
        for fn in (*woken, *listeners):
            fn()

    def wait_for_change(self, seen: int, timeout: float) -> int:
        """Block until a change after version ``seen`` or ``timeout``; return the
        version now."""
        with self._changed:
            if self._version == seen:
                self._changed.wait(timeout)
            return self._version

    @property
    def version(self) -> int:
        return self._version

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
