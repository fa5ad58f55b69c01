"""Helpers for testing workflows: a controllable clock, and the store contract suite.

``FakeClock`` lets a test fire a 24-hour timer by advancing time instead of sleeping::

    clock = FakeClock()
    runtime = WorkflowRuntime("memory://", clock=clock)   # a new, empty store
    client = runtime.client()                             # on its store and clock
    ...
    clock.advance(timedelta(hours=24))

See docs/testing.md.
"""

from outlast.testing.clock import FakeClock

__all__ = ["FakeClock"]
