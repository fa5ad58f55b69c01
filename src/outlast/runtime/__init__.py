"""The runtime layer: the worker loop that claims work, has it run, commits it and
dispatches what it asks for; activity dispatch, limits, housekeeping.

The runtime talks to whoever runs workflow code through the executor seam
(``outlast.runtime.executors``): the in-process generators kept in the sticky cache
are one implementation, connected SDK workers another.
"""

from outlast.runtime.runtime import WorkflowRuntime

__all__ = ["WorkflowRuntime"]
