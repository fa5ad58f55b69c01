"""A mixed workload run by worker processes and checked from a client: shared by
the scale-out tests and the crash loop. ``app`` is the module the workers run: it
has ``WORKFLOWS``, ``expected(name, n)``, ``event`` (the workflow that waits for
the event "go") and ``EVENT_DATA``."""

from __future__ import annotations

import time
from types import ModuleType

import outlast


class Workload:
    """Instances scheduled, events to raise, and the results to expect."""

    def __init__(self, client: outlast.WorkflowClient, app: ModuleType) -> None:
        self.client = client
        self.app = app
        self.expected: dict[str, int] = {}
        self.events: list[str] = []

    def schedule(self, first: int, count: int) -> None:
        """Schedule ``count`` workflows of each kind, inputs from ``first`` on."""
        for n in range(first, first + count):
            for wf in self.app.WORKFLOWS:
                iid = f"{wf.__name__}-{n}"
                self.client.schedule_new_workflow(wf, input=n, instance_id=iid)
                self.expected[iid] = self.app.expected(wf.__name__, n)
                if wf is self.app.event:
                    self.events.append(iid)

    def raise_events(self) -> None:
        for iid in self.events:
            self.client.raise_workflow_event(iid, "go", data=self.app.EVENT_DATA)
        self.events = []

    def wait_all(self, deadline_seconds: float) -> None:
        """Every instance COMPLETED with its expected output, within the deadline."""
        deadline = time.monotonic() + deadline_seconds
        for iid, value in self.expected.items():
            remaining = max(1.0, deadline - time.monotonic())
            state = self.client.wait_for_workflow_completion(iid, timeout_in_seconds=remaining)
            assert state is not None, iid
            assert state.runtime_status is outlast.WorkflowStatus.COMPLETED, (iid, state)
            assert state.output_as() == value, iid
