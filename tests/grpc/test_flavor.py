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

from outlast.grpc.flavor import DAPR, DURABLETASK
from outlast.grpc.server import SidecarServer
from tests.conftest import RuntimeFactory
from tests.grpc.conftest import ROOT, DurableTaskApp, Sidecar, start_worker, wait_connected


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
