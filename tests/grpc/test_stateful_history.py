"""STATEFUL_HISTORY with the real Dapr SDK: turns carry only the events committed
since the worker's last turn of the instance; a worker whose cache no longer
holds an instance asks ``GetInstanceHistory`` and gets the same history."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from outlast.grpc import management
from outlast.grpc.server import SidecarServer
from tests.conftest import RuntimeFactory
from tests.grpc.conftest import Sidecar, dapr_wf, start_worker


@pytest.fixture
def counted(make_runtime: RuntimeFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sidecar]:
    """A sidecar that counts the GetInstanceHistory calls and the delta work items."""
    calls: list[str] = []
    history = management.Management.history

    async def counting(self: management.Management, req: Any, context: Any) -> Any:
        calls.append(req.instanceId)
        return await history(self, req, context)

    monkeypatch.setattr(management.Management, "history", counting)
    rt = make_runtime()
    server = SidecarServer(rt, port=0)
    rt.start()
    server.start()
    sidecar = Sidecar(rt, server)
    sidecar.history_calls = calls  # type: ignore[attr-defined]
    yield sidecar
    server.stop()


def _run_chains(sidecar: Sidecar, count: int) -> None:
    client = dapr_wf.DaprWorkflowClient(host="127.0.0.1", port=sidecar.port)
    ids = [client.schedule_new_workflow(workflow="chain") for _ in range(count)]
    for iid in ids:
        state = client.wait_for_workflow_completion(iid, timeout_in_seconds=60)
        assert state is not None, iid
        assert state.serialized_output == '["Hello Tokyo!", "Hello Seattle!", "Hello London!"]'


def test_a_warm_worker_needs_no_history_fetch(counted: Sidecar) -> None:
    worker = start_worker(counted)
    try:
        _run_chains(counted, 5)
    finally:
        worker.terminate()
        worker.wait(15)
    assert counted.history_calls == []  # type: ignore[attr-defined]


def test_a_worker_that_evicted_the_history_fetches_it_and_completes(
    counted: Sidecar, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OUTLAST_TEST_HISTORY_CACHE", "1")
    worker = start_worker(counted)
    try:
        _run_chains(counted, 5)  # concurrent: a one-instance cache keeps missing
    finally:
        worker.terminate()
        worker.wait(15)
    assert counted.history_calls  # type: ignore[attr-defined]
