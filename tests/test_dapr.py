"""Code written for dapr.ext.workflow runs with only the import changed."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import outlast
import outlast.dapr as wf


def test_dapr_names_exist() -> None:
    for name in (
        "DaprWorkflowContext",
        "DaprWorkflowClient",
        "WorkflowRuntime",
        "when_all",
        "when_any",
        "RetryPolicy",
        "WorkflowState",
        "WorkflowStatus",
        "WorkflowActivityContext",
        "alternate_name",
    ):
        assert hasattr(wf, name), name
    assert wf.DaprWorkflowContext is outlast.WorkflowContext
    assert wf.WorkflowActivityContext is outlast.ActivityContext


def test_dapr_style_program(store_url: str) -> None:
    wfr = wf.WorkflowRuntime(host="localhost", port="50001", store=store_url)

    @wfr.workflow(name="hello_world_wf")
    def hello_world_wf(ctx: wf.DaprWorkflowContext, wf_input: str) -> Generator[Any, Any, str]:
        greeting = yield ctx.call_activity(hello_act, input=wf_input)
        return str(greeting)

    @wfr.activity(name="hello_act")
    def hello_act(ctx: wf.WorkflowActivityContext, name: str) -> str:
        assert ctx.workflow_id and ctx.task_id == 0
        return f"Hello {name}!"

    wfr.start()
    wfr.wait_for_ready(timeout=5)
    try:
        client = wf.DaprWorkflowClient(host="localhost", port="50001", store=store_url)
        instance_id = client.schedule_new_workflow(workflow=hello_world_wf, input="Dapr")
        state = client.wait_for_workflow_completion(instance_id, timeout_in_seconds=30)
        assert state is not None
        assert state.runtime_status == wf.WorkflowStatus.COMPLETED
        assert state.serialized_output == '"Hello Dapr!"'
    finally:
        wfr.shutdown()


def test_alternate_name(store_url: str) -> None:
    wfr = wf.WorkflowRuntime(store=store_url)

    @wf.alternate_name("PrettyName")
    def ugly_name(ctx: wf.DaprWorkflowContext) -> str:
        return "ok"

    wfr.register_workflow(ugly_name)
    assert "PrettyName" in wfr.registry.workflows
    with wfr:
        client = wf.DaprWorkflowClient(store=store_url)
        iid = client.schedule_new_workflow(ugly_name)
        state = client.wait_for_workflow_completion(iid)
        assert state is not None and state.name == "PrettyName"
