"""Several ``outlast serve`` processes on one PostgreSQL database: an SDK worker
connected to one of them gets the work of instances started through another that
has no SDK worker (that server does not claim what it cannot run)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import pg
from tests.grpc.conftest import ROOT, dapr_wf, free_port
from tests.http.test_serve import outlast_serve

CHAIN = '["Hello Tokyo!", "Hello Seattle!", "Hello London!"]'


@pytest.fixture
def pg_url() -> Iterator[str]:
    pg.require_server()
    url = pg.create_database()
    yield url
    pg.drop_database(url)


def test_an_sdk_worker_on_one_server_runs_what_another_server_was_given(
    pg_url: str, tmp_path: Path
) -> None:
    with_worker, without = free_port(), free_port()
    args = ["--store", pg_url, "--log-level", "warning", "--grpc-port"]
    with (
        outlast_serve([*args, str(with_worker)], tmp_path),
        outlast_serve([*args, str(without)], tmp_path),
    ):
        worker = subprocess.Popen(
            [sys.executable, "-m", "tests.grpc.dapr_app", str(with_worker)], cwd=ROOT
        )
        try:
            # Started through the server with no SDK worker: it must leave them.
            client = dapr_wf.DaprWorkflowClient(host="127.0.0.1", port=str(without))
            ids = [client.schedule_new_workflow(workflow="chain") for _ in range(8)]
            for iid in ids:
                state = client.wait_for_workflow_completion(iid, timeout_in_seconds=60)
                assert state is not None, iid
                assert state.runtime_status.name == "COMPLETED", state
                assert state.serialized_output == CHAIN
        finally:
            worker.terminate()
            worker.wait(15)
