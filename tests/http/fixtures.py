"""Fixtures shared by the server and CLI tests: a runtime with the sample workflows
on the test's SQLite store, and a real HTTP server on a free port."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from outlast import WorkflowClient, WorkflowRuntime
from outlast.http import BackgroundServer, create_app
from outlast.store import Store, open_store
from tests.http.sample_app import make_runtime

ENV_VARS = ("OUTLAST_API_TOKEN", "DAPR_API_TOKEN", "OUTLAST_URL", "OUTLAST_STORE")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No token, server URL or store from the developer's shell leaks in, and none
    a test sets (``outlast serve --store`` sets OUTLAST_STORE) leaks out."""
    for name in ENV_VARS:
        # setenv first, so that teardown restores the variable even if it was unset.
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    opened = open_store(store_url)
    yield opened
    opened.close()


@pytest.fixture
def runtime(store: Store) -> Iterator[WorkflowRuntime]:
    rt = make_runtime(store)
    rt.start()
    yield rt
    rt.shutdown()


@pytest.fixture
def client(runtime: WorkflowRuntime) -> WorkflowClient:
    return WorkflowClient(runtime.store)


@pytest.fixture
def server(client: WorkflowClient, runtime: WorkflowRuntime) -> Iterator[BackgroundServer]:
    with BackgroundServer(create_app(client, runtime=runtime)) as running:
        yield running


@pytest.fixture
def base_url(server: BackgroundServer) -> str:
    return server.url


@pytest.fixture
def http(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=30) as c:
        yield c
