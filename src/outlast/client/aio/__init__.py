"""The asyncio client (``outlast.aio.WorkflowClient``)."""

from outlast.client.aio.client import WorkflowClient

__all__ = ["WorkflowClient"]
