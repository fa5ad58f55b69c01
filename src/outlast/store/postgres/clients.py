"""The PostgreSQL store's client side (mixed into ``PostgresStore``): creating,
reading, purging instances and sending them messages. Every write is one
statement and the COMMIT, and returns its transaction ID for the
commit-outcome check."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from outlast.errors import InstanceAlreadyExistsError
from outlast.store.base import (
    COUNT_CAP,
    ActivityRecord,
    InstanceCounts,
    InstanceQuery,
    InstanceRecord,
    Message,
    refuse_existing,
    refuse_unfinished,
)
from outlast.store.postgres import counts
from outlast.store.postgres import statements as sql
from outlast.store.postgres.connection import Conn, Database, Txn
from outlast.store.postgres.rows import (
    activity_rows,
    dumps,
    instance_row,
    message_row,
    message_rows,
)
from outlast.store.sql import list_query


class PostgresClients:
    """What clients ask of the store."""

    if TYPE_CHECKING:  # PostgresStore's and Store's
        _db: Database
        _prefix_sql: str

        def _payload(self, instance_ids: Sequence[str] | None) -> str: ...
        def _forget_fetched(self) -> None: ...
        def _forget_prefetched(self, instance_ids: Iterable[str]) -> None: ...
        def signal(
            self,
            instance_ids: Iterable[str] | None = None,
            statuses: Mapping[str, str] | None = None,
        ) -> None: ...

    def create_instance(
        self,
        record: InstanceRecord,
        start: Message,
        *,
        history: Sequence[str] = (),
        activities: Sequence[ActivityRecord] = (),
    ) -> None:
        self._forget_fetched()
        iid = record.instance_id
        doc: dict[str, Any] = {"r": instance_row(record), "m": message_row(start)}
        if history:
            doc["h"] = list(history)
        if activities:
            doc["a"] = activity_rows(activities)
        params = {"d": dumps(doc), "n": self._payload([iid])}

        attempts = 0

        def body(conn: Conn, txn: Txn) -> None:
            nonlocal attempts
            attempts += 1
            row = sql.CREATE.run(conn, params, params["d"]).fetchone()
            assert row is not None
            txn.xid = row[0]
            if row[1]:
                return
            # The ID is taken (nothing was written): refuse, or replace a
            # finished instance, holding its row meanwhile.
            taken = sql.LOCK_STATUS.run(conn, {"id": iid}).fetchone()
            if taken is not None and attempts > 1 and taken[1] == record.execution_id:
                # This very call, run again after a lost connection, finds what
                # its earlier attempt wrote: that one committed, its answer was
                # lost. Done, not refused.
                return
            if taken is not None:
                refuse_existing(iid, taken[0])
                sql.DELETE_INSTANCES.run(conn, {"ids": [iid]})
            row = sql.CREATE.run(conn, params, params["d"]).fetchone()
            if row is None or not row[1]:
                raise InstanceAlreadyExistsError(
                    f"workflow instance {iid!r} was just created by someone else"
                )

        self._forget_prefetched([iid])
        self._db.transact("create_instance", body)
        self.signal([iid])

    def send_messages(self, messages: Sequence[Message]) -> None:
        self._forget_fetched()
        ids = [m.instance_id for m in messages]
        params = {"m": dumps(message_rows(messages)), "n": self._payload(ids)}

        def body(conn: Conn, txn: Txn) -> None:
            row = sql.SEND.run(conn, params, params["m"]).fetchone()
            assert row is not None
            txn.xid = row[0]

        self._db.transact("send_messages", body)
        self.signal(ids)

    def get_instance(self, instance_id: str) -> InstanceRecord | None:
        rows = self._db.read(sql.GET_INSTANCE, (instance_id,))
        return InstanceRecord(*rows[0]) if rows else None

    def list_instances(self, query: InstanceQuery) -> list[InstanceRecord]:
        statement, params = list_query(query, "outlast_instances", "%s", self._prefix_sql)
        return [InstanceRecord(*row) for row in self._db.read(statement, params)]

    def count_instances(self, query: InstanceQuery, cap: int = COUNT_CAP) -> InstanceCounts:
        return counts.count(self._db, query, self._prefix_sql, cap)

    def pending_activities(self, instance_id: str) -> list[ActivityRecord]:
        rows = self._db.read(sql.PENDING_ACTIVITIES, (instance_id,))
        return [ActivityRecord(*r) for r in rows]

    def get_history(self, instance_id: str) -> list[str]:
        return [r[0] for r in self._db.read(sql.GET_HISTORY, (instance_id,))]

    def purge_instances(self, instance_ids: Sequence[str]) -> int:
        self._forget_fetched()

        def body(conn: Conn, txn: Txn) -> int:
            rows = sql.LOCK_FOR_PURGE.run(conn, {"ids": list(instance_ids)}).fetchall()
            for iid, status, xid in rows:
                refuse_unfinished(iid, status)
                txn.xid = xid
            if rows:
                sql.DELETE_INSTANCES.run(conn, {"ids": [r[0] for r in rows]})
            return len(rows)

        self._forget_prefetched(instance_ids)
        return self._db.transact("purge_instances", body)

    def set_status_if(self, instance_id: str, expected: str, status: str, now: float) -> bool:
        self._forget_fetched()
        params = {
            "id": instance_id,
            "expected": expected,
            "status": status,
            "now": now,
            "n": self._payload([instance_id]),
        }

        def body(conn: Conn, txn: Txn) -> bool:
            row = sql.SET_STATUS_IF.run(conn, params).fetchone()
            assert row is not None
            txn.xid = row[0]
            return bool(row[1])

        self._forget_prefetched([instance_id])
        changed = self._db.transact("set_status_if", body)
        if changed:
            self.signal([instance_id])
        return changed
