"""outlast history events to ``HistoryEvent`` messages, of either flavor (``flavor.py``).

Times are exact nanoseconds on both sides, so a timer's fire time round-trips bit
for bit. Events that record an action carry its task ID as ``eventId`` (what the
SDKs match on replay); other events carry -1, as the durabletask backends do.
``ExecutionCompleted`` is left out of the history handed to a worker: the Dapr
SDK fails a workflow whose history holds an orchestrator-completed event.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from google.protobuf import timestamp_pb2, wrappers_pb2

from outlast.core import history as h
from outlast.core.times import NS_PER_SECOND, Nanos
from outlast.errors import FailureDetails
from outlast.grpc.flavor import DAPR, Flavor


def timestamp(ns: Nanos) -> timestamp_pb2.Timestamp:
    seconds, nanos = divmod(ns, NS_PER_SECOND)
    return timestamp_pb2.Timestamp(seconds=seconds, nanos=nanos)


def nanos(ts: timestamp_pb2.Timestamp) -> Nanos:
    return int(ts.seconds) * NS_PER_SECOND + int(ts.nanos)


def utc(ts: timestamp_pb2.Timestamp) -> datetime:
    """``ts`` as an aware datetime (what the client's listing filters take)."""
    return datetime.fromtimestamp(nanos(ts) / 1e9, UTC)


def string(value: str | None) -> wrappers_pb2.StringValue | None:
    return None if value is None else wrappers_pb2.StringValue(value=value)


def failure_to_proto(f: FailureDetails | None, flavor: Flavor = DAPR) -> Any:
    if f is None:
        return None
    return flavor.TaskFailureDetails(
        errorType=f.error_type,
        errorMessage=f.message,
        stackTrace=string(f.stack_trace),
        innerFailure=failure_to_proto(f.inner, flavor),
        isNonRetriable=f.non_retriable,
    )


def _failure(f: FailureDetails, flavor: Flavor) -> Any:
    out = failure_to_proto(f, flavor)
    assert out is not None
    return out


def failure_from_proto(f: Any) -> FailureDetails:
    # Both flavors' TaskFailureDetails have these fields.
    return FailureDetails(
        f.errorType or "Error",
        f.errorMessage,
        f.stackTrace.value if f.HasField("stackTrace") else None,
        failure_from_proto(f.innerFailure) if f.HasField("innerFailure") else None,
        f.isNonRetriable,
    )


def _timer_origin(e: h.TimerCreated | h.StartTimer, msg: Any) -> None:
    # Shared by TimerCreatedEvent and CreateTimerAction (same oneof shape).
    if e.origin == h.ORIGIN_TIMER:
        msg.createTimer.SetInParent()
    elif e.origin == h.ORIGIN_EVENT:
        msg.externalEvent.name = e.origin_name or ""
    elif e.origin == h.ORIGIN_ACTIVITY_RETRY:
        msg.activityRetry.taskExecutionId = e.origin_name or ""
    elif e.origin == h.ORIGIN_CHILD_RETRY:
        msg.childWorkflowRetry.instanceId = e.origin_name or ""


def event_to_proto(
    e: h.Event,
    instance_id: str,
    execution_id: str,
    *,
    for_worker: bool = True,
    flavor: Flavor = DAPR,
) -> Any:
    """The message for ``e``; None for events the protocol has no place for."""
    task_id = getattr(e, "task_id", -1) if e.is_action_record else -1
    out = flavor.HistoryEvent(eventId=task_id, timestamp=timestamp(e.ts))
    if isinstance(e, h.OrchestratorStarted):
        started = getattr(out, flavor.started)
        started.SetInParent()
        if flavor.versions and (e.version is not None or e.patches):
            started.version.patches.extend(e.patches)
            if e.version is not None:
                started.version.name = e.version
    elif isinstance(e, h.ExecutionStarted):
        s = out.executionStarted
        s.name = e.name
        if e.version is not None:
            s.version.value = e.version
        if e.input is not None:
            s.input.value = e.input
        instance = getattr(s, flavor.instance)
        instance.instanceId = instance_id
        instance.executionId.value = execution_id
        if e.parent is not None:
            p = s.parentInstance
            p.taskScheduledId = e.parent.task_id
            if e.parent.name is not None:
                p.name.value = e.parent.name
            parent = getattr(p, flavor.instance)
            parent.instanceId = e.parent.instance_id
            parent.executionId.value = e.parent.execution_id
        if e.scheduled_start is not None:
            s.scheduledStartTimestamp.CopyFrom(timestamp(e.scheduled_start))
        if e.trace_context:
            s.parentTraceContext.traceParent = e.trace_context
        if e.tags:
            s.tags.update(e.tags)
    elif isinstance(e, h.TaskScheduled):
        t = out.taskScheduled
        t.name = e.name
        if e.version is not None:
            t.version.value = e.version
        if e.input is not None:
            t.input.value = e.input
        if e.trace_context:
            t.parentTraceContext.traceParent = e.trace_context
        if flavor.execution_ids:
            t.taskExecutionId = e.task_execution_id or ""
    elif isinstance(e, h.TaskCompleted):
        out.taskCompleted.taskScheduledId = e.task_id
        if e.result is not None:
            out.taskCompleted.result.value = e.result
        if flavor.execution_ids:
            out.taskCompleted.taskExecutionId = e.task_execution_id or ""
    elif isinstance(e, h.TaskFailed):
        out.taskFailed.taskScheduledId = e.task_id
        out.taskFailed.failureDetails.CopyFrom(_failure(e.failure, flavor))
        if flavor.execution_ids:
            out.taskFailed.taskExecutionId = e.task_execution_id or ""
    elif isinstance(e, h.TimerCreated):
        out.timerCreated.fireAt.CopyFrom(timestamp(e.fire_at))
        if flavor.timer_details:
            if e.name is not None:
                out.timerCreated.name = e.name
            _timer_origin(e, out.timerCreated)
    elif isinstance(e, h.TimerFired):
        out.timerFired.fireAt.CopyFrom(timestamp(e.fire_at))
        out.timerFired.timerId = e.task_id
    elif isinstance(e, h.EventRaised):
        out.eventRaised.name = e.name
        if e.input is not None:
            out.eventRaised.input.value = e.input
    elif isinstance(e, h.EventSent):
        out.eventSent.instanceId = e.instance_id
        out.eventSent.name = e.name
        if e.input is not None:
            out.eventSent.input.value = e.input
    elif isinstance(e, h.SubOrchestrationCreated):
        c = getattr(out, flavor.child_created)
        c.instanceId = e.instance_id
        c.name = e.name
        if e.version is not None:
            c.version.value = e.version
        if e.input is not None:
            c.input.value = e.input
        if e.trace_context:
            c.parentTraceContext.traceParent = e.trace_context
    elif isinstance(e, h.SubOrchestrationCompleted):
        done = getattr(out, flavor.child_completed)
        done.taskScheduledId = e.task_id
        if e.result is not None:
            done.result.value = e.result
    elif isinstance(e, h.SubOrchestrationFailed):
        failed = getattr(out, flavor.child_failed)
        failed.taskScheduledId = e.task_id
        failed.failureDetails.CopyFrom(_failure(e.failure, flavor))
    elif isinstance(e, h.ExecutionTerminated):
        if e.output is not None:
            out.executionTerminated.input.value = e.output
        out.executionTerminated.recurse = e.recursive
    elif isinstance(e, h.ExecutionSuspended):
        out.executionSuspended.SetInParent()
        if e.reason is not None:
            out.executionSuspended.input.value = e.reason
    elif isinstance(e, h.ExecutionResumed):
        out.executionResumed.SetInParent()
        if e.reason is not None:
            out.executionResumed.input.value = e.reason
    elif isinstance(e, h.ExecutionCompleted):
        if for_worker:
            return None
        c2 = out.executionCompleted
        setattr(c2, flavor.status, flavor.status_to_proto.get(e.status, 0))
        if e.result is not None:
            c2.result.value = e.result
        if e.failure is not None:
            c2.failureDetails.CopyFrom(_failure(e.failure, flavor))
    else:
        return None  # patches ride on workflowStarted; rerun markers are outlast's own
    return out


def events_to_proto(
    events: Iterable[h.Event],
    instance_id: str,
    execution_id: str,
    *,
    for_worker: bool = True,
    flavor: Flavor = DAPR,
) -> list[Any]:
    out = []
    for e in events:
        msg = event_to_proto(e, instance_id, execution_id, for_worker=for_worker, flavor=flavor)
        if msg is not None:
            out.append(msg)
    return out


def carryover_from_proto(msg: Any, now: Nanos) -> h.Event | None:
    """An event a continued-as-new run inherits (the SDKs carry raised events)."""
    if msg.HasField("eventRaised"):
        r = msg.eventRaised
        return h.EventRaised(now, r.name, r.input.value if r.HasField("input") else None)
    return None
