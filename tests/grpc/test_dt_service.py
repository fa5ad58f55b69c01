"""The Microsoft flavor's work-item stream over a raw gRPC channel (outlast's own
generated messages): health pings without asking, Abandon*WorkItem putting a
turn and an activity back in line, and the API token."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from google.protobuf import empty_pb2

import grpc
from outlast.grpc import workitems
from outlast.grpc.flavor import DURABLETASK
from outlast.grpc.gen.durabletask import orchestrator_service_pb2 as pb
from outlast.grpc.server import SidecarServer
from tests.conftest import RuntimeFactory
from tests.grpc.conftest import Sidecar

PATH = "/TaskHubSidecarService/"


class Raw:
    def __init__(self, port: int) -> None:
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}")

    def unary(self, method: str, req: Any, resp: Any) -> Any:
        call = self.channel.unary_unary(
            PATH + method,
            request_serializer=req.SerializeToString,
            response_deserializer=resp.FromString,
        )
        return call(req, timeout=30)

    def work_items(self) -> Iterator[pb.WorkItem]:
        call = self.channel.unary_stream(
            PATH + "GetWorkItems",
            request_serializer=pb.GetWorkItemsRequest.SerializeToString,
            response_deserializer=pb.WorkItem.FromString,
        )
        return call(pb.GetWorkItemsRequest(), timeout=60)  # type: ignore[no-any-return]


@pytest.fixture
def raw(dt_sidecar: Sidecar) -> Iterator[Raw]:
    r = Raw(dt_sidecar.server.port)
    yield r
    r.channel.close()


def _next_work(items: Iterator[pb.WorkItem]) -> pb.WorkItem:
    for item in items:
        if not item.HasField("healthPing"):
            return item
    raise AssertionError("the stream ended")


def test_idle_streams_get_health_pings(
    raw: Raw, dt_sidecar: Sidecar, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The Microsoft worker advertises no ping capability and drops a silent stream.
    monkeypatch.setattr(workitems, "HEALTH_PING_SECONDS", 0.2)
    items = raw.work_items()
    assert next(items).HasField("healthPing")
    items.cancel()  # type: ignore[attr-defined]


def test_abandoned_turns_and_activities_come_back(raw: Raw, dt_sidecar: Sidecar) -> None:
    items = raw.work_items()
    start = pb.CreateInstanceRequest(instanceId="ab-1", name="remote_only")
    raw.unary("StartInstance", start, pb.CreateInstanceResponse)
    first = _next_work(items)
    assert first.orchestratorRequest.instanceId == "ab-1"
    raw.unary(
        "AbandonTaskOrchestratorWorkItem",
        pb.AbandonOrchestrationTaskRequest(completionToken=first.completionToken),
        pb.AbandonOrchestrationTaskResponse,
    )
    again = _next_work(items)
    assert again.orchestratorRequest.instanceId == "ab-1"
    assert again.completionToken != first.completionToken
    # The events handed out the first time are handed out again.
    kinds = [e.WhichOneof("eventType") for e in again.orchestratorRequest.newEvents]
    assert kinds[:2] == ["orchestratorStarted", "executionStarted"]
    schedule = pb.OrchestratorAction(id=0, scheduleTask=pb.ScheduleTaskAction(name="act"))
    answer = pb.OrchestratorResponse(
        instanceId="ab-1", actions=[schedule], completionToken=again.completionToken
    )
    raw.unary("CompleteOrchestratorTask", answer, pb.CompleteTaskResponse)
    activity = _next_work(items)
    assert activity.activityRequest.name == "act"
    assert activity.activityRequest.orchestrationInstance.instanceId == "ab-1"
    raw.unary(
        "AbandonTaskActivityWorkItem",
        pb.AbandonActivityTaskRequest(completionToken=activity.completionToken),
        pb.AbandonActivityTaskResponse,
    )
    retried = _next_work(items)
    assert retried.activityRequest.taskId == activity.activityRequest.taskId
    result = pb.ActivityResponse(
        instanceId="ab-1", taskId=0, completionToken=retried.completionToken
    )
    result.result.value = '"done"'
    raw.unary("CompleteActivityTask", result, pb.CompleteTaskResponse)
    turn = _next_work(items)
    new = [e.WhichOneof("eventType") for e in turn.orchestratorRequest.newEvents]
    assert new == ["orchestratorStarted", "taskCompleted"]
    complete = pb.OrchestratorAction(
        id=1,
        completeOrchestration=pb.CompleteOrchestrationAction(
            orchestrationStatus=pb.ORCHESTRATION_STATUS_COMPLETED
        ),
    )
    complete.completeOrchestration.result.value = '"done"'
    raw.unary(
        "CompleteOrchestratorTask",
        pb.OrchestratorResponse(
            instanceId="ab-1", actions=[complete], completionToken=turn.completionToken
        ),
        pb.CompleteTaskResponse,
    )
    state = dt_sidecar.runtime.client().wait_for_workflow_completion("ab-1", timeout_in_seconds=30)
    assert state is not None and state.serialized_output == '"done"'
    items.cancel()  # type: ignore[attr-defined]


def test_the_api_token_guards_this_port_too(make_runtime: RuntimeFactory) -> None:
    rt = make_runtime()
    server = SidecarServer(rt, port=0, flavor=DURABLETASK, api_token="s3cret")
    rt.start()
    server.start()
    try:
        raw = Raw(server.port)
        with pytest.raises(grpc.RpcError) as e:
            raw.unary("Hello", empty_pb2.Empty(), empty_pb2.Empty)
        assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED
        hello = raw.channel.unary_unary(
            PATH + "Hello",
            request_serializer=empty_pb2.Empty.SerializeToString,
            response_deserializer=empty_pb2.Empty.FromString,
        )
        hello(empty_pb2.Empty(), metadata=(("dapr-api-token", "s3cret"),), timeout=30)
        raw.channel.close()
    finally:
        server.stop()
