"""A mixed workload run by worker processes and checked from a client: shared by
the scale-out tests and the crash loop. ``app`` is the module the workers run: it
has ``WORKFLOWS``, ``expected(name, n)``, ``event`` (the workflow that waits for
the event "go") and ``EVENT_DATA``."""

from __future__ import annotations

import time
from collections import Counter
from types import ModuleType

import outlast
from outlast.core import history as h

_SCHEDULED = h.TaskScheduled | h.TimerCreated | h.SubOrchestrationCreated
_ENDED = (
    h.TaskCompleted
    | h.TaskFailed
    | h.TimerFired
    | h.SubOrchestrationCompleted
    | h.SubOrchestrationFailed
)


def assert_recorded_once(iid: str, events: list[h.Event]) -> None:
    """No step of a finished history recorded twice: one start, one end, every task
    scheduled once and ended at most once."""
    assert isinstance(events[0], h.OrchestratorStarted), iid  # a turn's marker
    assert isinstance(events[1], h.ExecutionStarted), iid
    assert isinstance(events[-1], h.ExecutionCompleted), iid
    assert sum(isinstance(e, h.ExecutionStarted) for e in events) == 1, iid
    assert sum(isinstance(e, h.ExecutionCompleted) for e in events) == 1, iid
    scheduled = [e.task_id for e in events if isinstance(e, _SCHEDULED)]
    assert len(scheduled) == len(set(scheduled)), (iid, scheduled)
    ended = Counter(e.task_id for e in events if isinstance(e, _ENDED))
    assert all(n == 1 for n in ended.values()), (iid, ended)


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
