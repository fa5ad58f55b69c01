"""The client layer: start, inspect, signal and manage workflow instances.

A client needs only a store, so it works in the process that runs the workflows or
in any other process pointed at the same store.
"""

from outlast.client.client import WorkflowClient
from outlast.client.paging import StatusCounts, WorkflowPage
from outlast.client.state import PendingActivity, WorkflowState
from outlast.core.ids import validate_instance_id

__all__ = [
    "PendingActivity",
    "StatusCounts",
    "WorkflowClient",
    "WorkflowPage",
    "WorkflowState",
    "validate_instance_id",
]
