"""Store URLs (``outlast.store.open_store``): which store each one opens."""

from __future__ import annotations

from pathlib import Path

import pytest

import outlast
from outlast.errors import StoreError
from outlast.store import MemoryStore, SqliteStore, is_store_of, open_store
from outlast.testing.store_contract import message, record


def test_a_bare_memory_url_opens_a_new_isolated_store_each_time() -> None:
    a, b = open_store("memory://"), open_store("memory://")
    assert isinstance(a, MemoryStore) and a is not b
    a.create_instance(record("x"), message("x"))
    assert a.get_instance("x") is not None and b.get_instance("x") is None


def test_a_named_memory_store_is_shared_until_closed() -> None:
    a = open_store("memory://shared-by-test")
    try:
        assert open_store("memory://shared-by-test") is a
        assert open_store("memory://other-name") is not a
        a.create_instance(record("x"), message("x"))
        # Kept while nobody holds it: a client dropped after starting an instance
        # does not take the instance with it.
        del a
        again = open_store("memory://shared-by-test")
        assert again.get_instance("x") is not None
    finally:
        again.close()
    assert open_store("memory://shared-by-test").get_instance("x") is None


def test_a_runtime_and_a_client_share_a_named_memory_store() -> None:
    runtime = outlast.WorkflowRuntime("memory://together")

    @runtime.workflow
    def echo(ctx: outlast.WorkflowContext, value: int) -> int:
        return value

    try:
        with runtime:
            client = outlast.WorkflowClient("memory://together")
            iid = client.schedule_new_workflow("echo", input=7)
            state = client.wait_for_workflow_completion(iid, timeout_in_seconds=10)
            assert state is not None and state.output_as() == 7
    finally:
        runtime.store.close()


def test_two_slashes_after_sqlite_is_explained() -> None:
    with pytest.raises(ValueError, match=r"sqlite:///x\.db.*sqlite:////abs/path/x\.db"):
        open_store("sqlite://x.db")


def test_must_exist_refuses_to_create_a_sqlite_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/absent.db"
    with pytest.raises(StoreError, match="does not exist"):
        open_store(url, must_exist=True)
    assert not (tmp_path / "absent.db").exists()
    created = open_store(url)
    assert open_store(url, must_exist=True) is created
    created.close()


def test_is_store_of_compares_what_urls_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    store = SqliteStore(tmp_path / "a.db")
    try:
        assert is_store_of(store, f"sqlite:///{tmp_path}/a.db")
        assert is_store_of(store, "sqlite:///a.db")  # relative to the working directory
        assert not is_store_of(store, "sqlite:///b.db")
    finally:
        store.close()
    assert is_store_of(MemoryStore(), "memory://")
    assert not is_store_of(MemoryStore("n"), "memory://")
    assert is_store_of(MemoryStore("n"), "memory://n")
