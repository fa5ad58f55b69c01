from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import outlast
from outlast.testing import FakeClock

# `outlast serve` also listens on the gRPC port 50001 by default; the servers the
# tests start take none (tests of the sidecar pick a free port themselves), so
# parallel runs never fight over it.
os.environ.setdefault("OUTLAST_GRPC_PORT", "0")


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/outlast.db"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


RuntimeFactory = Callable[..., outlast.WorkflowRuntime]


@pytest.fixture
def make_runtime(store_url: str) -> Iterator[RuntimeFactory]:
    """Build runtimes on the test's store; every one is shut down afterwards."""
    made: list[outlast.WorkflowRuntime] = []

    def make(**kwargs: object) -> outlast.WorkflowRuntime:
        kwargs.setdefault("store", store_url)
        kwargs.setdefault("poll_interval", 0.05)
        runtime = outlast.WorkflowRuntime(**kwargs)  # type: ignore[arg-type]
        made.append(runtime)
        return runtime

    yield make
    for runtime in made:
        runtime.shutdown()
