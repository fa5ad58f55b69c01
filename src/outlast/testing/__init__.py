"""Helpers for testing workflows: a controllable clock, and the store contract suite.

``FakeClock`` lets a test fire a 24-hour timer by advancing time instead of sleeping::

    clock = FakeClock()
    runtime = WorkflowRuntime("memory://", clock=clock)
    client = WorkflowClient("memory://", clock=clock)
    ...
    clock.advance(timedelta(hours=24))
"""

from outlast.testing.clock import FakeClock

__all__ = ["FakeClock"]
