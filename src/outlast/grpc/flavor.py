"""The two flavors of ``TaskHubSidecarService``: what differs between them.

Dapr's protos (``gen/dapr``, the Dapr SDKs) and Microsoft's (``gen/durabletask``,
the ``durabletask`` SDKs) share the service's paths and most field numbers, but
not all field types, so neither can read the other's bytes. They also name things
apart (``workflow*`` and ``childWorkflow*`` against ``orchestration*`` and
``subOrchestration*``), and Microsoft's timers and activities carry less. A
:class:`Flavor` names the messages and fields that differ; the conversions
(``convert.py``, ``actions.py``), the work-item streams (``workitems.py``) and the
client RPCs (``management.py``) are written once against it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from outlast.core.status import WorkflowStatus
from outlast.grpc.gen.dapr import history_events_pb2 as dapr_ev
from outlast.grpc.gen.dapr import orchestration_pb2 as dapr_orch
from outlast.grpc.gen.dapr import orchestrator_service_pb2 as dapr_svc
from outlast.grpc.gen.durabletask import orchestrator_service_pb2 as dt_svc


@dataclass(frozen=True, eq=False)
class Flavor:
    """The messages and field names of one flavor."""

    name: str
    svc: ModuleType  # the service's request and response messages
    HistoryEvent: Any
    TaskFailureDetails: Any
    enums: ModuleType  # where ORCHESTRATION_STATUS_* live
    # Field names that differ between the flavors.
    started: str  # HistoryEvent: the orchestrator-started event
    instance: str  # the (instanceId, executionId) pair in events and requests
    child_created: str
    child_completed: str
    child_failed: str
    status: str  # ExecutionCompletedEvent, CompleteAction, the instance state
    state: str  # GetInstanceResponse's state field
    State: Any  # its message
    turn_request: str  # WorkItem's field for a turn
    TurnRequest: Any
    TurnResponse: Any  # the SDK's answer to a turn
    actions: str  # the action's oneof
    create_child: str
    terminate: str
    complete: str
    # What only the Dapr flavor carries.
    execution_ids: bool  # taskExecutionId on tasks and activities
    timer_details: bool  # a timer's name and origin
    versions: bool  # workflow versions and patches on turns
    # Health pings go to workers that ask for them (None: to every worker).
    ping_capability: int | None
    status_to_proto: dict[str, int] = field(init=False)
    status_from_proto: dict[int, str] = field(init=False)

    def __post_init__(self) -> None:
        to: dict[str, int] = {}
        for s in WorkflowStatus:
            number = getattr(self.enums, f"ORCHESTRATION_STATUS_{s.value}", None)
            # Microsoft's enum has no STALLED: a stalled instance is still running there.
            to[s.value] = dapr_orch.ORCHESTRATION_STATUS_RUNNING if number is None else number
        object.__setattr__(self, "status_to_proto", to)
        back = {n: s for s, n in to.items()}
        back[to[WorkflowStatus.RUNNING.value]] = WorkflowStatus.RUNNING.value
        object.__setattr__(self, "status_from_proto", back)

    def pings(self, capabilities: set[int]) -> bool:
        """Whether a worker with ``capabilities`` gets health pings on its stream."""
        return self.ping_capability is None or self.ping_capability in capabilities


DAPR = Flavor(
    name="dapr",
    svc=dapr_svc,
    HistoryEvent=dapr_ev.HistoryEvent,
    TaskFailureDetails=dapr_orch.TaskFailureDetails,
    enums=dapr_orch,
    started="workflowStarted",
    instance="workflowInstance",
    child_created="childWorkflowInstanceCreated",
    child_completed="childWorkflowInstanceCompleted",
    child_failed="childWorkflowInstanceFailed",
    status="workflowStatus",
    state="workflowState",
    State=dapr_orch.WorkflowState,
    turn_request="workflowRequest",
    TurnRequest=dapr_svc.WorkflowRequest,
    TurnResponse=dapr_svc.WorkflowResponse,
    actions="workflowActionType",
    create_child="createChildWorkflow",
    terminate="terminateWorkflow",
    complete="completeWorkflow",
    execution_ids=True,
    timer_details=True,
    versions=True,
    ping_capability=dapr_svc.WORKER_CAPABILITY_HEALTH_PING,
)

# Microsoft's worker drops a stream that is silent for 120 s: it is always pinged.
DURABLETASK = Flavor(
    name="durabletask",
    svc=dt_svc,
    HistoryEvent=dt_svc.HistoryEvent,
    TaskFailureDetails=dt_svc.TaskFailureDetails,
    enums=dt_svc,
    started="orchestratorStarted",
    instance="orchestrationInstance",
    child_created="subOrchestrationInstanceCreated",
    child_completed="subOrchestrationInstanceCompleted",
    child_failed="subOrchestrationInstanceFailed",
    status="orchestrationStatus",
    state="orchestrationState",
    State=dt_svc.OrchestrationState,
    turn_request="orchestratorRequest",
    TurnRequest=dt_svc.OrchestratorRequest,
    TurnResponse=dt_svc.OrchestratorResponse,
    actions="orchestratorActionType",
    create_child="createSubOrchestration",
    terminate="terminateOrchestration",
    complete="completeOrchestration",
    execution_ids=False,
    timer_details=False,
    versions=False,
    ping_capability=None,
)
