"""``SqliteStore``: the Store interface over one SQLite file.

The pieces: tables and migrations (``schema.py``), the write connection's group
commit and the read pool (``writer.py``), rows in and out (``rows.py``), and a
worker's batch commit (``commit.py``). The class holds the connections; its
operations come by concern: clients' (``clients.py``), workers' leases and looks
for work (``workers.py``), schedules (``schedules.py``), and here a worker's
commits and admissions.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from outlast.core.flow import Limit
from outlast.store.admission import Budget, queued_in
from outlast.store.base import ActivityRecord, CommitBatch, Store
from outlast.store.sqlite.clients import SqliteClients
from outlast.store.sqlite.commit import commit_batch
from outlast.store.sqlite.flow import admit, queue_slots
from outlast.store.sqlite.schedules import SqliteSchedules
from outlast.store.sqlite.schema import migrate
from outlast.store.sqlite.workers import SqliteWorkers
from outlast.store.sqlite.writer import SYNCHRONOUS, Connections

T = TypeVar("T")


class SqliteStore(SqliteClients, SqliteWorkers, SqliteSchedules, Store):
    """A store in one SQLite file (WAL journal, ``synchronous=FULL`` by default)."""

    def __init__(self, path: str | Path, *, synchronous: str = "FULL") -> None:
        super().__init__()
        sync = synchronous.upper()
        if sync not in SYNCHRONOUS:
            raise ValueError(f"synchronous must be one of {sorted(SYNCHRONOUS)}")
        self.path = str(path)
        self.url = f"sqlite:///{self.path}"
        self._identities: dict[str, tuple[str, int]] = {}  # worker -> (host, pid)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self.connections = Connections(self.path, sync, self.io)
        self._transact(lambda conn: migrate(conn, self.path))

    def _transact(self, body: Callable[[sqlite3.Connection], T]) -> T:
        return self.connections.transact(body)

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return self.connections.read(sql, params)

    def close(self) -> None:
        self.connections.close()

    def probe(self) -> None:
        self.connections.check_file()
        super().probe()

    def admit_activities(
        self, worker_id: str, limits: Sequence[Limit], now: float, room: int, backlog: int = 0
    ) -> list[ActivityRecord]:
        budget = Budget(room, backlog)
        if budget.spent or not limits:
            return []
        names = [limit.name for limit in limits]
        marks = ", ".join("?" * len(names))
        # Most looks find no queue: a read keeps that answer off the write lock.
        if not self._read(
            f"SELECT 1 FROM activities WHERE name IN ({marks}) "
            "AND owner IS NULL AND queued_at IS NOT NULL LIMIT 1",
            names,
        ):
            return []
        return self._transact(lambda conn: admit(conn, worker_id, limits, now, budget))

    def commit(self, batch: CommitBatch) -> set[str]:
        def body(conn: sqlite3.Connection) -> set[str]:
            rejected = commit_batch(conn, batch)
            if batch.queued:
                queue_slots(conn, batch.queued)
            a = batch.admission
            if a is not None:
                budget = Budget(a.room, a.backlog)
                known = queued_in(batch)
                batch.admitted = admit(conn, batch.worker_id, a.limits, a.now, budget, known)
            return rejected

        rejected = self._transact(body)
        if batch.messages or batch.turns:
            changed = {
                t.instance_id: t.update.status for t in batch.turns if t.update.status_changed
            }
            self.signal(changed, changed)
        return rejected
