import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from outlast.errors import StoreError
from outlast.store import SqliteStore, open_store
from outlast.store.base import Store
from outlast.store.sqlite import MIGRATIONS
from outlast.testing.store_contract import StoreContract


class TestSqliteStore(StoreContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[Store]:
        s = SqliteStore(tmp_path / "contract.db")
        yield s
        s.close()


def test_durable_pragmas_by_default(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "x.db")
    conn = sqlite3.connect(tmp_path / "x.db")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.connections.read("PRAGMA synchronous")[0][0] == 2  # FULL
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    store.close()


def test_synchronous_is_configurable_by_url(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/y.db?synchronous=NORMAL")
    assert isinstance(store, SqliteStore)
    assert store.connections.read("PRAGMA synchronous")[0][0] == 1  # NORMAL


def test_reopening_keeps_data_and_schema(tmp_path: Path) -> None:
    path = tmp_path / "z.db"
    first = SqliteStore(path)
    first.register_worker("w", "h", 1, 10.0)
    first.close()
    second = SqliteStore(path)
    assert second.reap_workers(100.0, lambda h, p: False) == 1
    second.close()


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version={len(MIGRATIONS) + 1}")
    conn.close()
    with pytest.raises(StoreError, match="newer"):
        SqliteStore(path)


def test_open_store_shares_one_object_per_file(tmp_path: Path) -> None:
    a = open_store(f"sqlite:///{tmp_path}/s.db")
    b = open_store(f"sqlite:///{tmp_path}/./s.db")
    assert a is b


def test_open_store_rejects_unknown_scheme() -> None:
    with pytest.raises(ValueError, match="unsupported store URL"):
        open_store("redis://localhost")


def test_large_payloads_are_compressed_out_of_line(tmp_path: Path) -> None:
    from collections.abc import Generator
    from typing import Any

    import outlast

    url = f"sqlite:///{tmp_path}/big.db"
    rt = outlast.WorkflowRuntime(url)

    @rt.activity
    def count_words(ctx: outlast.ActivityContext, text: str) -> int:
        return len(text.split())

    @rt.workflow
    def wf(ctx: outlast.WorkflowContext, text: str) -> Generator[Any, Any, list[int]]:
        counts = []
        for _ in range(5):
            counts.append((yield ctx.call_activity(count_words, input=text)))
        return counts

    document = "lorem ipsum dolor sit amet " * 40_000  # ~1 MB
    with rt:
        client = outlast.WorkflowClient(url)
        iid = client.schedule_new_workflow(wf, input=document)
        state = client.wait_for_workflow_completion(iid, timeout_in_seconds=30)
    assert state is not None and state.output_as() == [200_000] * 5
    assert state.input_as() == document
    db = sqlite3.connect(tmp_path / "big.db")
    kinds = db.execute("SELECT typeof(event), COUNT(*) FROM history GROUP BY 1").fetchall()
    biggest = db.execute("SELECT MAX(length(event)) FROM history").fetchone()[0]
    db.close()
    assert dict(kinds)["blob"] == 6  # the start and the five scheduled activities
    assert biggest < len(document) / 50


def test_concurrent_writers_share_commits_and_fail_alone(tmp_path: Path) -> None:
    import threading

    from outlast.errors import InstanceAlreadyExistsError
    from outlast.testing.store_contract import message, record

    store = SqliteStore(tmp_path / "group.db")
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def writer(n: int) -> None:
        barrier.wait()
        for k in range(25):
            iid = f"w{n}-{k}" if k % 5 else "dup"  # everyone also races for "dup"
            try:
                store.create_instance(record(iid), message(iid))
            except InstanceAlreadyExistsError as e:
                errors.append(e)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    transactions = store.connections.commits
    store.close()
    # Writers that overlapped shared a commit (the counter includes the migration).
    assert transactions < 8 * 25
    reopened = SqliteStore(tmp_path / "group.db")
    from outlast.store.base import InstanceQuery

    ids = {r.instance_id for r in reopened.list_instances(InstanceQuery(limit=1000))}
    assert len(ids) == 8 * 20 + 1  # every unique write, and "dup" exactly once
    assert len(errors) == 8 * 5 - 1
    reopened.close()


def test_a_failing_first_write_leaves_the_rest_of_its_group(tmp_path: Path) -> None:
    import threading
    import time

    store = SqliteStore(tmp_path / "first.db")
    store.connections.transact(lambda c: c.execute("CREATE TABLE t (k TEXT PRIMARY KEY)"))
    store.connections.transact(lambda c: c.execute("INSERT INTO t VALUES ('taken')"))
    results: dict[str, object] = {}

    def write(key: str) -> None:
        try:
            # The first body inserts, then fails: its insert must not survive.
            def body(c: sqlite3.Connection) -> None:
                c.execute("INSERT INTO t VALUES (?)", (key + "-before",))
                c.execute("INSERT INTO t VALUES (?)", (key,))

            store.connections.transact(body)
            results[key] = "ok"
        except StoreError as e:
            results[key] = e

    # Hold the write connection so that all three queue up, in this order, and one
    # leader then runs them in a single transaction.
    store.connections._lock.acquire()
    threads = []
    for key in ("taken", "b", "c"):
        thread = threading.Thread(target=write, args=(key,))
        thread.start()
        threads.append(thread)
        while len(store.connections._queue) < len(threads):
            time.sleep(0.001)
    before = store.connections.commits
    store.connections._lock.release()
    for thread in threads:
        thread.join()
    assert isinstance(results["taken"], StoreError)
    assert results["b"] == results["c"] == "ok"
    assert store.connections.commits == before + 1
    rows = {r[0] for r in store._read("SELECT k FROM t")}
    assert rows == {"taken", "b-before", "b", "c-before", "c"}
    store.close()
