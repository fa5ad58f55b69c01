"""Helpers for testing workflows: a test environment whose time skips, a
controllable clock, and the store contract suite.

``WorkflowTestEnvironment`` runs workflows on a store of their own; waiting for
one to finish skips the time its timers would take::

    with WorkflowTestEnvironment(runtime) as env:
        iid = env.client.schedule_new_workflow(approval, input=order)
        state = env.client.wait_for_workflow_completion(iid)

``FakeClock`` lets a test fire a 24-hour timer by advancing time instead of sleeping::

    clock = FakeClock()
    runtime = WorkflowRuntime("memory://", clock=clock)   # a new, empty store
    client = runtime.client()                             # on its store and clock
    ...
    clock.advance(timedelta(hours=24))

See docs/testing.md.
"""

from outlast.testing.clock import FakeClock
from outlast.testing.environment import WorkflowTestEnvironment

__all__ = ["FakeClock", "WorkflowTestEnvironment"]
