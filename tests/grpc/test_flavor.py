"""The two flavors side by side: one hub behind both ports, so a Dapr SDK worker and
a durabletask SDK worker take turns from one line (a turn is encoded for the stream
it goes to); and the Microsoft flavor's generated messages match the SDK's."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import dapr.ext.workflow as dapr_wf
import pytest

from outlast.core import history as h
from outlast.errors import FailureDetails
from outlast.grpc.actions import turn_from_proto
from outlast.grpc.convert import event_to_proto, nanos
from outlast.grpc.flavor import DAPR, DURABLETASK
from outlast.grpc.gen.durabletask import orchestrator_service_pb2 as pb
from outlast.grpc.server import SidecarServer
from tests.conftest import RuntimeFactory
from tests.grpc.conftest import ROOT, DurableTaskApp, Sidecar, start_worker, wait_connected

TS = 1_700_000_000_123_456_789


def test_microsoft_messages_carry_what_their_protos_have() -> None:
    timer = event_to_proto(
        h.TimerCreated(TS, 7, TS + 1, "approve", h.ORIGIN_EVENT, "approve"),
        "i",
        "e",
        flavor=DURABLETASK,
    )
    assert isinstance(timer, pb.HistoryEvent) and timer.eventId == 7
    assert nanos(timer.timerCreated.fireAt) == TS + 1  # bit-exact; no name or origin here
    started = event_to_proto(h.ExecutionStarted(TS, "wf", '"x"'), "i", "e", flavor=DURABLETASK)
    assert started.executionStarted.orchestrationInstance.executionId.value == "e"
    turn = event_to_proto(h.OrchestratorStarted(TS), "i", "e", flavor=DURABLETASK)
    assert turn.WhichOneof("eventType") == "orchestratorStarted"
    child = event_to_proto(
        h.SubOrchestrationFailed(TS, 3, FailureDetails("E", "m")), "i", "e", flavor=DURABLETASK
    )
    assert child.subOrchestrationInstanceFailed.failureDetails.errorType == "E"


def test_a_stalled_instance_reads_as_running_in_the_microsoft_flavor() -> None:
    # Microsoft's status enum stops at SUSPENDED (7); Dapr's has STALLED (8).
    assert DURABLETASK.status_to_proto["STALLED"] == pb.ORCHESTRATION_STATUS_RUNNING
    assert DURABLETASK.status_from_proto[pb.ORCHESTRATION_STATUS_RUNNING] == "RUNNING"
    assert DAPR.status_from_proto[8] == "STALLED"


def test_microsoft_answers_become_turns() -> None:
    resp = pb.OrchestratorResponse(instanceId="i")
    resp.actions.add(id=0).createTimer.fireAt.CopyFrom(pb.CreateTimerAction().fireAt)
    sub = resp.actions.add(id=1).createSubOrchestration
    sub.name, sub.instanceId = "child", "i-c"
    done = resp.actions.add(id=2).completeOrchestration
    done.orchestrationStatus = pb.ORCHESTRATION_STATUS_COMPLETED
    done.result.value = '"ok"'
    resp.actions.add(id=3).sendEntityMessage.entityOperationSignaled.requestId = "r"
    resp.customStatus.value = '"s"'
    with pytest.raises(ValueError, match="sendEntityMessage"):
        turn_from_proto(resp, TS, DURABLETASK)
    del resp.actions[3]
    turn = turn_from_proto(resp, TS, DURABLETASK)
    timer, child, complete = turn.actions
    assert isinstance(timer, h.StartTimer) and timer.origin is None
    assert isinstance(child, h.StartChildWorkflow) and child.instance_id == "i-c"
    assert isinstance(complete, h.CompleteWorkflow) and complete.status == "COMPLETED"
    assert turn.custom_status == '"s"'


@pytest.fixture
def both(make_runtime: RuntimeFactory) -> Iterator[tuple[Sidecar, SidecarServer]]:
    rt = make_runtime()
    dapr = SidecarServer(rt, port=0, flavor=DAPR)
    dt = SidecarServer(rt, port=0, flavor=DURABLETASK, hub=dapr.hub)
    rt.start()
    dapr.start()
    dt.start()
    yield Sidecar(rt, dapr), dt
    dt.stop()
    dapr.stop()


def test_one_line_of_work_behind_both_ports(both: tuple[Sidecar, SidecarServer]) -> None:
    sidecar, dt = both
    assert dt.hub is sidecar.server.hub
    worker = start_worker(sidecar)
    app = DurableTaskApp(dt.port)
    try:
        wait_connected(dt, 1)  # both streams on the one hub
        # Both apps register "fan" (and its activity "square"): its turns and
        # activities go round robin to either worker, in either flavor's messages.
        dapr_client = dapr_wf.DaprWorkflowClient(host="127.0.0.1", port=str(sidecar.server.port))
        ids = [app.call("schedule_new_orchestration", "fan", input=6) for _ in range(3)]
        ids += [dapr_client.schedule_new_workflow(workflow="fan", input=6) for _ in range(3)]
        for iid in ids:
            state = app.call("wait_for_orchestration_completion", iid, timeout=60)
            assert state["runtime_status"] == "COMPLETED", state["failure_details"]
            assert state["serialized_output"] == str(sum(i * i for i in range(6)))
    finally:
        app.close()
        worker.terminate()
        worker.wait(15)


_COMPARE = """
from google.protobuf import descriptor_pb2
from durabletask.internal import orchestrator_service_pb2 as sdk
from outlast.grpc.gen.durabletask import orchestrator_service_pb2 as ours

def shape(module):
    fd = descriptor_pb2.FileDescriptorProto()
    module.DESCRIPTOR.CopyToProto(fd)
    out = {}
    for m in fd.message_type:
        stack = [(m.name, m)]
        while stack:
            name, msg = stack.pop()
            out[name] = sorted(
                (f.number, f.name, f.type, f.label, f.type_name.rsplit(".", 1)[-1],
                 f.HasField("oneof_index"))
                for f in msg.field
            )
            stack += [(name + "." + n.name, n) for n in msg.nested_type]
    for e in fd.enum_type:
        out[e.name] = sorted((v.number, v.name) for v in e.value)
    out["service"] = sorted(
        (m.name, m.input_type.rsplit(".", 1)[-1], m.output_type.rsplit(".", 1)[-1],
         m.server_streaming)
        for m in fd.service[0].method
    )
    return out

a, b = shape(sdk), shape(ours)
diff = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
print(diff)
"""


def test_the_generated_messages_match_the_sdk() -> None:
    # In a process of its own: the SDK's protos and the Dapr SDK's (imported here)
    # cannot share protobuf's default descriptor pool.
    done = subprocess.run(
        [sys.executable, "-c", _COMPARE],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", f"messages that differ: {done.stdout}"
