"""``/healthz`` tells the truth: 503 with the reason when the store does not work or
the worker loop is not running, and never a credential (it is open without a token)."""

from __future__ import annotations

import time
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from outlast import WorkflowClient, WorkflowRuntime
from outlast.http import BackgroundServer, create_app
from outlast.http.errors import error_response
from outlast.store import SqliteStore
from outlast.store.base import Message
from outlast.store.postgres import PostgresStore
from tests.http.sample_app import make_runtime
from tests.http.test_dapr_api import assert_error
from tests.pg import fresh_database

__all__ = ["fresh_database"]


def _with_password(url: str) -> str:
    # Trust authentication ignores passwords: these only have to stay unseen.
    with_user = url.replace("postgres@", "postgres:userinfo-s3cret@", 1)
    return f"{with_user}?password=query-s3cret&sslmode=disable"


def test_health_shows_the_store_without_its_credentials(fresh_database: str) -> None:
    store = PostgresStore(_with_password(fresh_database))
    try:
        with BackgroundServer(create_app(WorkflowClient(store))) as server:
            response = httpx.get(f"{server.url}/healthz")
    finally:
        store.close()
    assert response.status_code == 200
    assert "s3cret" not in response.text
    assert response.json()["store"].startswith("postgresql://postgres:***@")


def test_error_answers_never_carry_credentials() -> None:
    response = error_response(500, "ERR_X", "lost postgresql://app:s3cret@db/x (password=s3cret)")
    assert b"s3cret" not in response.body and b"***" in response.body


def test_health_is_503_when_the_sqlite_file_is_deleted(tmp_path: Path) -> None:
    db = tmp_path / "gone.db"
    store = SqliteStore(db)
    try:
        with BackgroundServer(create_app(WorkflowClient(store))) as server:
            assert httpx.get(f"{server.url}/healthz").status_code == 200
            db.unlink()
            response = httpx.get(f"{server.url}/healthz")
    finally:
        store.close()
    assert_error(response, 503, "ERR_HEALTH_NOT_READY")
    assert "was deleted" in response.json()["message"]


class _FatalStore(SqliteStore):
    """Stands in for any error the worker loop cannot survive: once armed, the
    worker's next look for work raises SystemExit, which ends its thread."""

    armed = False

    def fetch_messages(
        self, worker_id: str, now: float, limit: int, names: Collection[str] | None = None
    ) -> list[Message]:
        if self.armed:
            raise SystemExit("a fatal error in the worker loop")
        return super().fetch_messages(worker_id, now, limit, names)


@pytest.fixture
def fatal_store(tmp_path: Path) -> Iterator[_FatalStore]:
    store = _FatalStore(tmp_path / "fatal.db")
    yield store
    store.close()


# The thread's death is the point here, not a stray failure.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_health_is_503_when_the_worker_loop_has_died(fatal_store: _FatalStore) -> None:
    runtime = make_runtime(fatal_store)
    client = WorkflowClient(fatal_store)
    with runtime, BackgroundServer(create_app(client, runtime=runtime)) as server:
        assert httpx.get(f"{server.url}/healthz").status_code == 200
        fatal_store.armed = True
        client.schedule_new_workflow("approval", input="r")  # wakes the worker
        _wait_for(lambda: runtime.health()["status"] == "failed")
        response = httpx.get(f"{server.url}/healthz")
    assert_error(response, 503, "ERR_HEALTH_NOT_READY")
    assert "worker loop has stopped" in response.json()["message"]


def test_runtime_health_follows_its_lifecycle(fatal_store: _FatalStore) -> None:
    runtime = WorkflowRuntime(fatal_store)
    assert runtime.health() == {
        "healthy": False,
        "status": "stopped",
        "reason": "the workflow runtime is not running",
    }
    with runtime:
        assert runtime.health() == {"healthy": True, "status": "running"}
    assert runtime.health()["status"] == "stopped"


def _wait_for(condition: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition never came true"
        time.sleep(0.01)
