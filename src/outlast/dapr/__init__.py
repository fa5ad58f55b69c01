"""Dapr's workflow names over outlast's engine.

Code written for ``dapr.ext.workflow`` runs with only its import line changed::

    import outlast.dapr as wf          # was: import dapr.ext.workflow as wf

    wfr = wf.WorkflowRuntime()         # embedded: state in ./outlast.db
    wfr.register_workflow(my_workflow)
    wfr.register_activity(my_activity)
    wfr.start()
    client = wf.DaprWorkflowClient()
    instance_id = client.schedule_new_workflow(workflow=my_workflow, input=42)

``host``/``port`` (the Dapr sidecar address) are accepted and ignored: there is no
sidecar. ``store=`` picks where state lives, as in :class:`outlast.WorkflowRuntime`.
The asyncio client is ``outlast.dapr.aio.DaprWorkflowClient``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from outlast.client.client import WorkflowClient
from outlast.client.state import WorkflowState
from outlast.clock import Clock
from outlast.core.context import ActivityContext, WorkflowContext
from outlast.core.retry import RetryPolicy
from outlast.core.status import WorkflowStatus
from outlast.core.task import Task, when_all, when_any
from outlast.errors import NonRetryableError, TaskFailedError, WorkflowTimeoutError
from outlast.runtime.runtime import WorkflowRuntime as _Runtime
from outlast.store import Store

DaprWorkflowContext = WorkflowContext
WorkflowActivityContext = ActivityContext
F = TypeVar("F", bound=Callable[..., Any])


class WorkflowRuntime(_Runtime):
    """Dapr's ``WorkflowRuntime`` signature, running embedded on outlast."""

    def __init__(
        self,
        host: str | None = None,
        port: str | None = None,
        logger_options: Any = None,
        *,
        store: str | Store | None = None,
        maximum_concurrent_activity_work_items: int | None = None,
        maximum_concurrent_orchestration_work_items: int | None = None,
        clock: Clock | None = None,
        **options: Any,
    ) -> None:
        super().__init__(
            store,
            max_concurrent_workflows=maximum_concurrent_orchestration_work_items or 1000,
            max_concurrent_activities=maximum_concurrent_activity_work_items,
            clock=clock,
            **options,
        )

    def wait_for_ready(self, timeout: float = 10) -> None:
        """Dapr waits for the sidecar here; an embedded runtime is ready once started."""


class DaprWorkflowClient(WorkflowClient):
    """Dapr's ``DaprWorkflowClient`` signature, talking to outlast's store directly."""

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


def alternate_name(name: str) -> Callable[[F], F]:
    """Register a workflow or activity under ``name`` instead of its function name."""

    def decorate(fn: F) -> F:
        fn.__outlast_name__ = name  # type: ignore[attr-defined]
        return fn

    return decorate


__all__ = [
    "DaprWorkflowClient",
    "DaprWorkflowContext",
    "NonRetryableError",
    "RetryPolicy",
    "Task",
    "TaskFailedError",
    "WorkflowActivityContext",
    "WorkflowRuntime",
    "WorkflowState",
    "WorkflowStatus",
    "WorkflowTimeoutError",
    "alternate_name",
    "when_all",
    "when_any",
]
