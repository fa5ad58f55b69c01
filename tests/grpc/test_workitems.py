"""The work-item hub on its own: tokens (stale ignored, none means the turn in
flight), waiting while no stream is connected, a dropped stream's work back in line."""

from __future__ import annotations

import asyncio

from outlast.core import history as h
from outlast.core.turn import InstanceView, Turn
from outlast.grpc.gen.dapr import orchestrator_service_pb2 as svc
from outlast.grpc.workitems import WorkItemHub
from outlast.runtime.activities import ActivityResult
from outlast.runtime.executors import TurnWork
from outlast.store.base import ActivityRecord


class Sink:
    def __init__(self) -> None:
        self.done: list[tuple[str, int, Turn]] = []
        self.abandoned: list[tuple[str, int]] = []
        self.results: list[ActivityResult] = []

    def turn_done(self, instance_id: str, token: int, turn: Turn) -> bool:
        self.done.append((instance_id, token, turn))
        return True

    def turn_abandoned(self, instance_id: str, token: int) -> None:
        self.abandoned.append((instance_id, token))

    def activity_done(self, result: ActivityResult) -> None:
        self.results.append(result)

    def executor_ready(self) -> None:
        pass


def _work(iid: str, token: int) -> TurnWork:
    new = [h.OrchestratorStarted(1), h.ExecutionStarted(1, "wf")]
    return TurnWork(InstanceView(iid, "e1", "wf"), [], new, 1, token)


async def _next(stream: object) -> svc.WorkItem:
    return await asyncio.wait_for(stream.__anext__(), 5)  # type: ignore[attr-defined]


def test_tokens_waiting_and_a_dropped_stream() -> None:
    sink = Sink()
    hub = WorkItemHub(lambda: sink)

    async def scenario() -> None:
        hub.dispatch(_work("a", 5))  # no stream yet: it waits
        hub.submit(ActivityRecord("a", "e1", 1, "act", '"x"'))
        first = hub.stream({svc.WORKER_CAPABILITY_HEALTH_PING})
        item = await _next(first)
        assert item.completionToken == "5"
        assert item.workflowRequest.newEvents[0].HasField("workflowStarted")
        activity = await _next(first)
        assert activity.activityRequest.name == "act"
        # A stale token is ignored; no token (older SDKs) means the turn in flight.
        assert not hub.complete_turn(svc.WorkflowResponse(instanceId="a", completionToken="4"))
        assert hub.complete_turn(svc.WorkflowResponse(instanceId="a"))
        assert sink.done[0][:2] == ("a", 5)
        # The stream drops with a turn and an activity in flight.
        hub.dispatch(_work("b", 6))
        await _next(first)
        await first.aclose()
        assert sink.abandoned == [("b", 6)]
        second = hub.stream(set())
        again = await _next(second)
        assert again.activityRequest.taskId == 1  # handed to the next stream
        response = svc.ActivityResponse(instanceId="a", taskId=1)
        response.result.value = "1"
        assert hub.complete_activity(response)
        assert not hub.complete_activity(response)  # once
        assert sink.results[0].result == "1"
        await second.aclose()

    asyncio.run(scenario())


def test_an_activity_request_carries_the_runs_trace_context() -> None:
    hub = WorkItemHub(lambda: Sink())
    traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

    async def scenario() -> None:
        hub.submit(
            ActivityRecord("a", "e1", 1, "act", None, options=f'{{"traceparent":"{traceparent}"}}')
        )
        hub.submit(ActivityRecord("a", "e1", 2, "act", None))
        stream = hub.stream({svc.WORKER_CAPABILITY_HEALTH_PING})
        traced = await _next(stream)
        assert traced.activityRequest.parentTraceContext.traceParent == traceparent
        plain = await _next(stream)
        assert not plain.activityRequest.HasField("parentTraceContext")
        await stream.aclose()  # type: ignore[attr-defined]

    asyncio.run(scenario())


def _turn(iid: str, token: int, past: list[h.Event], new: list[h.Event]) -> TurnWork:
    return TurnWork(InstanceView(iid, "e1", "wf"), past, new, 1, token)


def test_stateful_history_sends_a_warm_stream_only_the_delta() -> None:
    hub = WorkItemHub(lambda: Sink())
    stateful = {svc.WORKER_CAPABILITY_STATEFUL_HISTORY}
    turn1 = [h.OrchestratorStarted(1), h.ExecutionStarted(1, "wf")]
    turn2 = [h.OrchestratorStarted(2), h.TaskCompleted(2, 1, '"a"')]
    past2 = [*turn1, h.TaskScheduled(1, 1, "act")]
    past3 = [*past2, *turn2, h.TaskScheduled(2, 2, "act")]

    async def scenario() -> None:
        warm = hub.stream(stateful)
        hub.dispatch(_turn("a", 1, [], turn1))
        first = (await _next(warm)).workflowRequest
        assert not first.HasField("cachedHistory") and len(first.pastEvents) == 0
        assert hub.complete_turn(svc.WorkflowResponse(instanceId="a", completionToken="1"))
        # A second stream opens; "b" alternates between them, "a" stays with the
        # stream that holds its past and gets only what was committed since.
        other = hub.stream(stateful)
        on_other = asyncio.ensure_future(_next(other))
        for _ in range(100):
            if hub.connected == 2:
                break
            await asyncio.sleep(0)
        assert hub.connected == 2
        hub.dispatch(_turn("b", 7, [], turn1))
        hub.dispatch(_turn("b2", 8, [], turn1))
        hub.dispatch(_turn("a", 2, past2, turn2))
        got = {r.instanceId: r for r in [(await _next(warm)).workflowRequest for _ in range(2)]}
        assert (await on_other).workflowRequest.instanceId in {"b", "b2"}
        second = got["a"]
        assert second.cachedHistory.eventCount == 0
        assert [e.WhichOneof("eventType") for e in second.pastEvents] == [
            "workflowStarted",
            "executionStarted",
            "taskScheduled",
        ]
        hub.dispatch(_turn("a", 3, past3, [h.OrchestratorStarted(3)]))
        third = (await _next(warm)).workflowRequest
        assert third.instanceId == "a"
        assert third.cachedHistory.eventCount == 3  # what turn 2 sent it in all
        assert [e.WhichOneof("eventType") for e in third.pastEvents] == [
            "workflowStarted",
            "taskCompleted",
            "taskScheduled",
        ]
        # The worker restarts: its new stream holds nothing and gets everything.
        await warm.aclose()
        await other.aclose()
        restarted = hub.stream(stateful)
        hub.dispatch(_turn("a", 4, past3, [h.OrchestratorStarted(4)]))
        item = (await _next(restarted)).workflowRequest
        assert item.instanceId == "a" and not item.HasField("cachedHistory")
        assert len(item.pastEvents) == 6
        await restarted.aclose()

    asyncio.run(scenario())


def test_a_worker_without_stateful_history_always_gets_the_full_history() -> None:
    hub = WorkItemHub(lambda: Sink())
    turn1 = [h.OrchestratorStarted(1), h.ExecutionStarted(1, "wf")]
    past2 = [*turn1, h.TaskScheduled(1, 1, "act")]

    async def scenario() -> None:
        stream = hub.stream({svc.WORKER_CAPABILITY_HEALTH_PING})
        hub.dispatch(_turn("a", 1, [], turn1))
        await _next(stream)
        assert hub.complete_turn(svc.WorkflowResponse(instanceId="a", completionToken="1"))
        hub.dispatch(_turn("a", 2, past2, [h.OrchestratorStarted(2)]))
        second = (await _next(stream)).workflowRequest
        assert not second.HasField("cachedHistory") and len(second.pastEvents) == 3
        await stream.aclose()

    asyncio.run(scenario())
