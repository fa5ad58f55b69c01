"""The curl commands of the seeds' "Async HTTP APIs" section, run literally against
a real server: only host and port are changed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import httpx
import orjson
import pytest

from outlast import WorkflowClient, WorkflowStatus

# Verbatim from the seeds (000: the v1.12 docs page, 001: its markdown source).
SEED_COMMANDS = {
    "v1.0-beta1": (
        "curl -X POST http://localhost:3500/v1.0-beta1/workflows/dapr/OrderProcessingWorkflow/"
        "start?instanceID=12345678 -d "
        """'{"Name":"Paperclips","Quantity":1,"TotalCost":9.95}'""",
        "curl http://localhost:3500/v1.0-beta1/workflows/dapr/12345678",
    ),
    "v1.0-alpha1": (
        "curl -X POST http://localhost:3500/v1.0-alpha1/workflows/dapr/OrderProcessingWorkflow/"
        "start?instanceID=12345678 -d "
        """'{"Name":"Paperclips","Quantity":1,"TotalCost":9.95}'""",
        "curl http://localhost:3500/v1.0-alpha1/workflows/dapr/12345678",
    ),
}
# What the seeds show a completed instance looks like (times differ, of course).
SEED_COMPLETED = {
    "instanceID": "12345678",
    "workflowName": "OrderProcessingWorkflow",
    "runtimeStatus": "COMPLETED",
    "properties": {
        "dapr.workflow.custom_status": "",
        "dapr.workflow.input": '{"Name":"Paperclips","Quantity":1,"TotalCost":9.95}',
        "dapr.workflow.output": '{"Processed":true}',
    },
}


def run(command: str, base_url: str, cwd: Path) -> bytes:
    host_port = base_url.removeprefix("http://")
    result = subprocess.run(
        ["bash", "-c", command.replace("localhost:3500", host_port)],
        capture_output=True,
        check=True,
        cwd=cwd,
    )
    return result.stdout


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
@pytest.mark.parametrize("version", list(SEED_COMMANDS))
def test_the_seeds_curl_commands(
    version: str, base_url: str, client: WorkflowClient, tmp_path: Path
) -> None:
    start_command, status_command = SEED_COMMANDS[version]
    assert run(start_command, base_url, tmp_path) == b'{"instanceID":"12345678"}'

    # The seed's client polls until it sees a final status; so does this test, but
    # without spinning: it waits on the store between polls.
    while True:
        status = orjson.loads(run(status_command, base_url, tmp_path))
        if status["runtimeStatus"] != "RUNNING" and status["runtimeStatus"] != "PENDING":
            break
        client.wait_for_workflow_completion("12345678", timeout_in_seconds=30)

    assert {k: v for k, v in status.items() if not k.endswith("At")} == SEED_COMPLETED
    assert list(status) == [
        "instanceID",
        "workflowName",
        "createdAt",
        "lastUpdatedAt",
        "runtimeStatus",
        "properties",
    ]
    state = client.get_workflow_state("12345678")
    assert state is not None and state.runtime_status is WorkflowStatus.COMPLETED


def test_the_seeds_in_progress_status_shape(http: httpx.Client, client: WorkflowClient) -> None:
    """The seed's RUNNING example: custom status and input, no output yet."""
    http.post(
        "/v1.0-beta1/workflows/dapr/approval/start?instanceID=12345678",
        content=b'{"Name":"Paperclips","Quantity":1,"TotalCost":9.95}',
    )
    client.wait_for_workflow_start("12345678", timeout_in_seconds=30)
    status = http.get("/v1.0-beta1/workflows/dapr/12345678").json()
    assert status["runtimeStatus"] == "RUNNING"
    assert set(status["properties"]) == {"dapr.workflow.custom_status", "dapr.workflow.input"}
