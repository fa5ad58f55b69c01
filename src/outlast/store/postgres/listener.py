"""LISTEN/NOTIFY: wake this process's workers and waiting clients when another
process commits.

Transactions that insert messages or change an instance's status notify
``CHANNEL`` with ``token|ids``: the notifying process's token (a process ignores
its own notifications, it signalled its waiters when it committed) and the IDs
of the instances whose status changed, comma-separated, or ``*`` for "maybe any".
A listener thread with its own connection turns the others' notifications into
``signal(ids)``. It reconnects with backoff and signals everyone once after
reconnecting, in case it missed something while it was away.
"""

from __future__ import annotations

import contextlib
import logging
import select
import socket
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import psycopg
from psycopg import Connection

from outlast.redaction import redact_text
from outlast.store.postgres.statements import CHANNEL

log = logging.getLogger("outlast.store.postgres")

_PING_SECONDS = 30.0
# PostgreSQL caps a notification at 8000 bytes; longer lists become "everything".
_MAX_PAYLOAD = 7000


def payload(token: str, instance_ids: Sequence[str] | None) -> str:
    """The notification of a transaction that touched ``instance_ids`` (None: maybe
    any), so that other processes' clients waiting on other instances sleep on."""
    touched = "*" if instance_ids is None else ",".join(dict.fromkeys(instance_ids))
    if len(touched) > _MAX_PAYLOAD:
        touched = "*"
    return f"{token}|{touched}"


class Listener:
    """The thread that LISTENs, started on construction; ``close`` stops it."""

    def __init__(
        self,
        conninfo: str,
        token: str,
        connect_timeout: float,
        signal: Callable[[Iterable[str] | None], None],
    ) -> None:
        self._conninfo = conninfo
        self._token = token
        self._connect_timeout = connect_timeout
        self._signal = signal
        self._closing = threading.Event()
        self._wake_r, self._wake_w = socket.socketpair()
        self._thread = threading.Thread(target=self._run, name="outlast-pg-listener", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._closing.set()
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")
        self._thread.join()
        self._wake_r.close()
        self._wake_w.close()

    def _run(self) -> None:
        delay = 0.05
        connected_before = False
        while not self._closing.is_set():
            try:
                conn = psycopg.connect(
                    self._conninfo,
                    autocommit=True,
                    connect_timeout=max(1, round(self._connect_timeout)),
                    keepalives=1,
                    keepalives_idle=10,
                    keepalives_interval=5,
                    keepalives_count=3,
                )
            except psycopg.Error as e:
                log.debug("LISTEN connection failed: %s", e)
                self._closing.wait(delay)
                delay = min(delay * 2, 5.0)
                continue
            try:
                with conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    delay = 0.05
                    if connected_before:
                        self._signal(None)  # commits we were not told about while away
                    connected_before = True
                    self._pump(conn)
            except Exception as e:  # the thread must outlive anything a server does
                if not self._closing.is_set():
                    log.warning(
                        "lost the LISTEN connection (%s); reconnecting", redact_text(str(e))
                    )
                    self._closing.wait(delay)
                    delay = min(delay * 2, 5.0)

    def _pump(self, conn: Connection[Any]) -> None:
        sock = conn.pgconn.socket
        while True:
            # Drained before waiting: notifications that arrived with a query's
            # reply are already read off the socket.
            self._deliver(conn.notifies(timeout=0))
            ready, _, _ = select.select([sock, self._wake_r.fileno()], [], [], _PING_SECONDS)
            if self._closing.is_set():
                return
            if not ready:
                conn.execute("SELECT 1")  # a dead server shows itself here

    def _deliver(self, notifies: Iterable[psycopg.Notify]) -> None:
        touched: set[str] | None = set()
        woken = False
        for n in notifies:
            token, _, ids = n.payload.partition("|")
            if token == self._token:
                continue  # ours: signalled when it committed
            woken = True
            if ids == "*":
                touched = None
            elif touched is not None and ids:
                touched.update(ids.split(","))
        if woken:
            self._signal(touched)
