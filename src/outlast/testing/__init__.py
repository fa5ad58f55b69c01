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

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from outlast.testing.clock import FakeClock

if TYPE_CHECKING:
    from outlast.testing.environment import WorkflowTestEnvironment
    from outlast.testing.histories import StoredHistory, export_histories, read_histories
    from outlast.testing.replay import ReplayFinding, replay_check

# Loaded when first used: the CLI reads histories without loading the runtime.
_LAZY = {
    "WorkflowTestEnvironment": "outlast.testing.environment",
    "StoredHistory": "outlast.testing.histories",
    "export_histories": "outlast.testing.histories",
    "read_histories": "outlast.testing.histories",
    "ReplayFinding": "outlast.testing.replay",
    "replay_check": "outlast.testing.replay",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'outlast.testing' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


__all__ = [
    "FakeClock",
    "ReplayFinding",
    "StoredHistory",
    "WorkflowTestEnvironment",
    "export_histories",
    "read_histories",
    "replay_check",
]
