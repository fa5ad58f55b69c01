"""How fast list_workflows is with a million instances in the store.

    .venv/bin/python -m bench.list_million [--instances 1000000] [--store URL]

Fills a fresh store (a SQLite file by default; any store URL works, for example a
PostgreSQL database of your own) with instances spread over statuses, names and
creation times, then times the queries a dashboard or an operator runs: the first
page of a status, a page deep in the listing through the continuation token, a
name filter, a creation-time window, and a purge by filter. Prints figures; judges
nothing.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import outlast
from outlast.store import SqliteStore, open_store
from outlast.store.base import InstanceRecord, Message
from outlast.store.sql import INSTANCE_COLUMNS
from outlast.store.sqlite.rows import instance_row

STATUSES = ["COMPLETED"] * 6 + ["RUNNING"] * 2 + ["FAILED", "PENDING"]
NAMES = [f"workflow_{n}" for n in range(20)]
T0 = datetime(2026, 1, 1, tzinfo=UTC).timestamp()


def fill(url: str, count: int) -> None:
    """Insert ``count`` instances in large transactions (setup, not measured)."""
    store = open_store(url)
    rows = (
        InstanceRecord(
            instance_id=f"i{n:08d}",
            name=NAMES[n % len(NAMES)],
            status=STATUSES[n % len(STATUSES)],
            execution_id="e",
            created_at=T0 + n,  # one a second: a million cover about 11.5 days
            updated_at=T0 + n,
        )
        for n in range(count)
    )
    if isinstance(store, SqliteStore):
        chunk: list[tuple[Any, ...]] = []
        for record in rows:
            chunk.append(instance_row(record))
            if len(chunk) == 50_000:
                _bulk(store, chunk)
                chunk.clear()
        _bulk(store, chunk)
        # As a long-running database would be: the bulk load checkpointed out of the WAL.
        store.connections.read("PRAGMA wal_checkpoint(TRUNCATE)")
        return
    # Other stores through the interface; concurrent creates share commits.
    with ThreadPoolExecutor(8) as pool:
        list(
            pool.map(
                lambda r: store.create_instance(r, Message(r.instance_id, "e", "{}", 1e18)), rows
            )
        )


def _bulk(store: SqliteStore, chunk: list[tuple[Any, ...]]) -> None:
    store.connections.transact(
        lambda conn: conn.executemany(
            f"INSERT INTO instances ({INSTANCE_COLUMNS}) VALUES ({', '.join('?' * 12)})", chunk
        )
    )


def timed(label: str, fn: Callable[[], Any], repeat: int = 5) -> None:
    samples = []
    result = None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        samples.append((time.perf_counter() - start) * 1000)
    size = len(result) if hasattr(result, "__len__") else result
    print(f"  {label:<58} {statistics.median(samples):8.2f} ms  ({size} rows)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--instances", type=int, default=1_000_000)
    parser.add_argument("--store", help="store URL (default: a fresh SQLite file)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.store or f"sqlite:///{Path(tmp) / 'million.db'}"
        start = time.perf_counter()
        fill(url, args.instances)
        print(f"filled {args.instances:,} instances in {time.perf_counter() - start:.0f} s ({url})")
        client = outlast.WorkflowClient(url)
        deep = client.list_workflows(page_size=10_000)
        for _ in range(args.instances // 20_000):  # walk halfway through
            if deep.continuation_token is None:
                break
            deep = client.list_workflows(
                page_size=10_000, continuation_token=deep.continuation_token
            )
        token = deep.continuation_token
        middle = datetime.fromtimestamp(T0 + args.instances / 2, UTC)
        timed("first page of RUNNING (100)", lambda: client.list_workflows(status="RUNNING"))
        timed(
            "page of 100 halfway through, by continuation token",
            lambda: client.list_workflows(continuation_token=token),
        )
        timed(
            "name=workflow_8 and FAILED, first page of 100",
            lambda: client.list_workflows(name="workflow_8", status="FAILED"),
        )
        timed(
            "created within one hour in the middle, 5,000 a page",
            lambda: client.list_workflows(
                created_after=middle, created_before=middle + timedelta(hours=1), page_size=5000
            ),
        )
        timed(
            "purge FAILED created in one hour (first run purges)",
            lambda: client.purge_workflows(
                status="FAILED", created_before=datetime.fromtimestamp(T0 + 3600, UTC)
            ),
            repeat=1,
        )


if __name__ == "__main__":
    main()
