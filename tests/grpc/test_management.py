"""The client RPCs through the Dapr SDK's own client: status, suspend/resume (visible
as soon as the call returns), terminate, purge, history, listing, rerun, the token."""

from __future__ import annotations

import os
import subprocess
from typing import Any

import dapr.ext.workflow as wf
import pytest

import grpc
from outlast.grpc.server import SidecarServer
from tests.conftest import RuntimeFactory
from tests.grpc.conftest import Sidecar

TIMEOUT = 60
Status = wf.WorkflowStatus


def test_an_unknown_instance_does_not_exist(dapr_client: Any) -> None:
    assert dapr_client.get_workflow_state("no-such-instance") is None


def test_suspend_resume_terminate_purge(
    sidecar: Sidecar, dapr_worker: subprocess.Popen[bytes], dapr_client: Any
) -> None:
    iid = dapr_client.schedule_new_workflow(workflow="waiter", instance_id="w-1")
    dapr_client.wait_for_workflow_start(iid, timeout_in_seconds=TIMEOUT)
    dapr_client.pause_workflow(iid)
    assert dapr_client.get_workflow_state(iid).runtime_status == Status.SUSPENDED
    dapr_client.resume_workflow(iid)
    state = dapr_client.get_workflow_state(iid)
    assert state.runtime_status == Status.RUNNING
    assert state.serialized_custom_status == "waiting"  # as the SDK sent it
    dapr_client.raise_workflow_event(iid, "go", data="Ada")
    state = dapr_client.wait_for_workflow_completion(iid, timeout_in_seconds=TIMEOUT)
    assert state.serialized_output == '"Hello Ada!"', state.failure_details

    other = dapr_client.schedule_new_workflow(workflow="waiter")
    dapr_client.wait_for_workflow_start(other, timeout_in_seconds=TIMEOUT)
    dapr_client.terminate_workflow(other, output="stopped")
    state = dapr_client.wait_for_workflow_completion(other, timeout_in_seconds=TIMEOUT)
    assert state.runtime_status == Status.TERMINATED
    # The open-ended wait's timer (9999-12-31) is in history, never fired.
    history = sidecar.runtime.client().get_workflow_history(other)
    assert any(e["kind"] == "TimerCreated" for e in history)
    assert not any(e["kind"] == "TimerFired" for e in history)

    dapr_client.purge_workflow(iid)
    assert dapr_client.get_workflow_state(iid) is None
    assert sidecar.runtime.client().get_workflow_state(iid) is None


def test_history_listing_and_rerun(dapr_worker: subprocess.Popen[bytes], dapr_client: Any) -> None:
    iid = dapr_client.schedule_new_workflow(workflow="chain", instance_id="c-1")
    dapr_client.wait_for_workflow_completion(iid, timeout_in_seconds=TIMEOUT)
    history = dapr_client.get_workflow_history(iid)
    types = [e.event_type.name for e in history]
    assert types.count("TASK_SCHEDULED") == 3 and types.count("TASK_COMPLETED") == 3
    assert types[-1] == "EXECUTION_COMPLETED"
    scheduled = [e for e in history if e.event_type.name == "TASK_SCHEDULED"]
    assert [e.event_id for e in scheduled] == [1, 2, 3]  # the SDK's task IDs
    page = dapr_client.list_workflow_instance_ids(page_size=10)
    assert "c-1" in page.instance_ids

    again = dapr_client.rerun_workflow_from_event(iid, scheduled[1].event_id, new_instance_id="c-2")
    assert again == "c-2"
    state = dapr_client.wait_for_workflow_completion(again, timeout_in_seconds=TIMEOUT)
    assert state.serialized_output == '["Hello Tokyo!", "Hello Seattle!", "Hello London!"]'
    rerun_types = [e.event_type.name for e in dapr_client.get_workflow_history(again)]
    # Only the activities from the rerun point on ran again.
    assert rerun_types.count("TASK_SCHEDULED") == 3


def test_the_api_token_is_required_when_set(
    make_runtime: RuntimeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    rt = make_runtime()
    server = SidecarServer(rt, port=0, api_token="s3cret")
    rt.start()
    server.start()
    try:
        channel = grpc.insecure_channel(f"127.0.0.1:{server.port}")
        hello = channel.unary_unary("/TaskHubSidecarService/Hello")
        with pytest.raises(grpc.RpcError) as denied:
            hello(b"", timeout=10)
        assert denied.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert hello(b"", metadata=(("dapr-api-token", "s3cret"),), timeout=10) == b""
        channel.close()
        monkeypatch.setenv("DAPR_API_TOKEN", "s3cret")
        from dapr.conf import settings

        monkeypatch.setattr(settings, "DAPR_API_TOKEN", "s3cret")
        client = wf.DaprWorkflowClient(host="127.0.0.1", port=str(server.port))
        assert client.get_workflow_state("nothing") is None
        assert os.environ["DAPR_API_TOKEN"] == "s3cret"
    finally:
        server.stop()


def test_enforce_unique_instance_id_keeps_even_a_finished_instance(
    sidecar: Sidecar, dapr_worker: subprocess.Popen[bytes], dapr_client: Any
) -> None:
    from outlast.grpc.gen.dapr import orchestrator_service_pb2 as svc

    iid = dapr_client.schedule_new_workflow(workflow="chain", instance_id="uniq-1")
    dapr_client.wait_for_workflow_completion(iid, timeout_in_seconds=TIMEOUT)
    with grpc.insecure_channel(f"127.0.0.1:{sidecar.port}") as channel:
        start = channel.unary_unary(
            "/TaskHubSidecarService/StartInstance",
            request_serializer=svc.CreateInstanceRequest.SerializeToString,
            response_deserializer=svc.CreateInstanceResponse.FromString,
        )
        unique = svc.CreateInstanceRequest(
            instanceId="uniq-1", name="chain", enforceUniqueInstanceId=True
        )
        with pytest.raises(grpc.RpcError) as e:
            start(unique, timeout=30)
        assert e.value.code() == grpc.StatusCode.ALREADY_EXISTS
        # Without it, outlast's rule: a finished instance is replaced.
        assert start(svc.CreateInstanceRequest(instanceId="uniq-1", name="chain")).instanceId
    state = dapr_client.wait_for_workflow_completion(iid, timeout_in_seconds=TIMEOUT)
    assert state.runtime_status == Status.COMPLETED
