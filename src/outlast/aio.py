"""outlast for asyncio code: the client whose every method is a coroutine::

    import outlast.aio

    client = outlast.aio.WorkflowClient()            # the same store URLs as outlast.WorkflowClient
    instance_id = await client.schedule_new_workflow(hello, input=["Tokyo"])
    state = await client.wait_for_workflow_completion(instance_id)

Waiting holds no thread; see :class:`outlast.client.aio.WorkflowClient`. Run the
runtime in an ASGI app's lifespan with ``lifespan=runtime.lifespan``.
"""

from outlast.client.aio import WorkflowClient
from outlast.client.instance_id import InstanceID
from outlast.client.paging import WorkflowPage
from outlast.client.state import WorkflowState
from outlast.core.status import WorkflowStatus

__all__ = ["InstanceID", "WorkflowClient", "WorkflowPage", "WorkflowState", "WorkflowStatus"]
