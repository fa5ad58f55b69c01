"""History to protobuf and SDK answers to turns: exact times, timer origins, the
events a Dapr worker must never see, actions to core actions."""

from __future__ import annotations

from outlast.core import history as h
from outlast.core.times import NEVER
from outlast.grpc.actions import turn_from_proto
from outlast.grpc.convert import event_to_proto, events_to_proto, nanos, timestamp
from outlast.grpc.gen.dapr import orchestrator_actions_pb2 as act
from outlast.grpc.gen.dapr import orchestrator_service_pb2 as svc

TS = 1_700_000_000_123_456_789


def test_timer_fire_times_round_trip_bit_exact_with_name_and_origin() -> None:
    for fire_at in (TS, NEVER, TS + 1):
        created = h.TimerCreated(TS, 7, fire_at, "approve", h.ORIGIN_EVENT, "approve")
        msg = event_to_proto(created, "i", "e")
        assert msg is not None and msg.eventId == 7
        assert nanos(msg.timerCreated.fireAt) == fire_at
        assert msg.timerCreated.name == "approve"
        assert msg.timerCreated.externalEvent.name == "approve"
        assert nanos(msg.timestamp) == TS
    assert nanos(timestamp(NEVER)) == NEVER


def test_completed_events_are_kept_from_workers_but_not_from_history_reads() -> None:
    events = [
        h.OrchestratorStarted(TS),
        h.ExecutionStarted(TS, "wf", '"x"', tags={"a": "b"}),
        h.ExecutionCompleted(TS, "COMPLETED", '"y"'),
    ]
    to_worker = events_to_proto(events, "i", "e")
    assert [m.WhichOneof("eventType") for m in to_worker] == [
        "workflowStarted",
        "executionStarted",
    ]
    assert to_worker[1].executionStarted.workflowInstance.executionId.value == "e"
    assert dict(to_worker[1].executionStarted.tags) == {"a": "b"}
    assert to_worker[1].eventId == -1
    read = events_to_proto(events, "i", "e", for_worker=False)
    assert read[-1].executionCompleted.result.value == '"y"'


def test_an_answer_becomes_a_turn_of_core_actions() -> None:
    resp = svc.WorkflowResponse(instanceId="i")
    a = resp.actions.add(id=1)
    a.scheduleTask.name = "step"
    a.scheduleTask.input.value = "1"
    t = resp.actions.add(id=2)
    t.createTimer.fireAt.CopyFrom(timestamp(NEVER))
    t.createTimer.externalEvent.name = "go"
    c = resp.actions.add(id=3)
    c.completeWorkflow.workflowStatus = 2  # CONTINUED_AS_NEW
    c.completeWorkflow.result.value = "5"
    carried = c.completeWorkflow.carryoverEvents.add()
    carried.eventRaised.name = "go"
    resp.customStatus.value = "busy"
    turn = turn_from_proto(resp, TS)
    assert turn.actions[0] == h.ScheduleActivity(1, "step", "1")
    assert turn.actions[1] == h.StartTimer(2, NEVER, None, h.ORIGIN_EVENT, "go")
    done = turn.actions[2]
    assert isinstance(done, h.CompleteWorkflow) and done.status == "CONTINUED_AS_NEW"
    assert done.carryover == (h.EventRaised(TS, "go", None),)
    assert turn.custom_status == "busy" and turn.custom_status_set


def test_an_unsupported_action_is_refused_by_name() -> None:
    resp = svc.WorkflowResponse(instanceId="i")
    resp.actions.add(id=1, createDetachedWorkflow=act.CreateDetachedWorkflowAction(name="x"))
    try:
        turn_from_proto(resp, TS)
    except ValueError as e:
        assert "createDetachedWorkflow" in str(e)
    else:
        raise AssertionError("accepted")


def test_trace_contexts_go_out_where_the_dapr_protos_carry_them() -> None:
    tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    started = event_to_proto(h.ExecutionStarted(TS, "wf", trace_context=tp), "i", "e")
    scheduled = event_to_proto(h.TaskScheduled(TS, 1, "act", trace_context=tp), "i", "e")
    child = event_to_proto(
        h.SubOrchestrationCreated(TS, 2, "kid", "i-kid", trace_context=tp), "i", "e"
    )
    plain = event_to_proto(h.TaskScheduled(TS, 3, "act"), "i", "e")
    assert started is not None and scheduled is not None and child is not None
    assert started.executionStarted.parentTraceContext.traceParent == tp
    assert scheduled.taskScheduled.parentTraceContext.traceParent == tp
    assert child.childWorkflowInstanceCreated.parentTraceContext.traceParent == tp
    assert plain is not None and not plain.taskScheduled.HasField("parentTraceContext")
