"""Dapr's asyncio workflow client (``dapr.ext.workflow.aio``) over outlast::

    from outlast.dapr.aio import DaprWorkflowClient   # was: from dapr.ext.workflow.aio import ...

    client = DaprWorkflowClient()
    instance_id = await client.schedule_new_workflow(workflow=my_workflow, input=42)
    state = await client.wait_for_workflow_completion(instance_id, timeout_in_seconds=30)

Every method is a coroutine; waits hold no thread (see
:class:`outlast.aio.WorkflowClient`). ``host``/``port`` are accepted and ignored.
"""

from __future__ import annotations

from typing import Any

from outlast.client.aio import WorkflowClient
from outlast.client.state import WorkflowState
from outlast.clock import Clock
from outlast.core.status import WorkflowStatus
from outlast.store import Store


class DaprWorkflowClient(WorkflowClient):
    """Dapr's asyncio ``DaprWorkflowClient`` signature, on outlast's store."""

    def __init__(
        self,
        host: str | None = None,
        port: str | None = None,
        logger_options: Any = None,
        *,
        store: str | Store | None = None,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(store, clock=clock)


__all__ = ["DaprWorkflowClient", "WorkflowState", "WorkflowStatus"]
