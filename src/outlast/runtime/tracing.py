"""OpenTelemetry spans: one per workflow run, one per activity attempt.

Used only when ``opentelemetry-api`` is installed (``outlast[otel]``) and a
tracer provider is set (an SDK configured). Without the API the worker holds no
``Tracing`` and pays one ``is None`` check; with it but no provider yet, each
turn and attempt asks the API whether one has been set since (``Tracing.on``).

A run's span ("workflow NAME") starts with the run's first turn in this
process, as a child of the context its start recorded (``ExecutionStarted``'s
traceparent: the starter's span, an HTTP ``traceparent`` header, the gRPC
request's trace context), and ends when its completion commits. Its context is
written into what the run schedules: each activity's ``TaskScheduled`` and row
(so an attempt's span, "activity NAME", is its child in whatever process runs it,
after a restart too) and each child workflow's ``ExecutionStarted`` (so the
child's run span sits under the parent's). A run resumed in another process (or
after a restart) gets a new span there, attribute ``outlast.resumed``, under the
same starter context: a span cannot outlive the process that began it.
"""

from __future__ import annotations

import dataclasses
import json
from collections import OrderedDict
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from outlast.core import history as h
from outlast.core.turn import InstanceView, Turn, TurnRecords
from outlast.errors import FailureDetails
from outlast.runtime.inputs import Cached, Pending
from outlast.runtime.logs import describe
from outlast.store.base import ActivityRecord
from outlast.tracing import otel, span_context_of, traceparent_in, traceparent_of

# Runs kept open at most; the oldest is forgotten (never exported) past this.
_MAX_RUNS = 50_000


@dataclass(slots=True)
class _Run:
    execution_id: str
    span: Any
    traceparent: str | None  # the run's own span
    parent: str | None  # whoever started the run


@dataclass(slots=True)
class ActivitySpan:
    span: Any
    token: Any  # the context token to detach


def runtime_tracing(provider: Any = None) -> Tracing | None:
    """A Tracing when the OpenTelemetry API is installed, else None. ``provider``:
    a TracerProvider of one's own (else the global one, once an SDK sets it)."""
    trace = otel()
    return None if trace is None else Tracing(trace, provider)


class Tracing:
    """The spans of one worker's runs and activity attempts."""

    def __init__(self, trace: ModuleType, provider: Any = None) -> None:
        from opentelemetry import context

        self._trace = trace
        self._context = context
        self._provider = provider
        self._tracer = (provider or trace).get_tracer("outlast")
        self._runs: OrderedDict[str, _Run] = OrderedDict()
        self._on = provider is not None

    @property
    def on(self) -> bool:
        """A tracer provider is set (without one every span would be a no-op). Once
        it is, it stays: OpenTelemetry sets the global provider only once."""
        if not self._on:
            provider = self._trace.get_tracer_provider()
            self._on = not isinstance(
                provider, self._trace.ProxyTracerProvider | self._trace.NoOpTracerProvider
            )
        return self._on

    def _parent(self, traceparent: str | None) -> Any:
        span_context = span_context_of(traceparent)
        if span_context is None:
            return None
        return self._trace.set_span_in_context(self._trace.NonRecordingSpan(span_context))

    # --- workflow runs --------------------------------------------------------------

    def turn(self, cached: Cached, applied: list[h.Event], turn: Turn) -> Turn:
        """Open the run's span if this process has none yet; stamp its context on
        the activities and child workflows ``turn`` schedules."""
        view = cached.view
        run = self._runs.get(view.instance_id)
        if run is None or run.execution_id != view.execution_id:
            run = self._open(view, cached, applied)
        tp = run.traceparent
        if tp is None or not turn.actions:
            return turn
        actions: list[h.Action] = []
        changed = False
        for a in turn.actions:
            if type(a) is h.ScheduleActivity and a.trace_context is None:
                options = _with_traceparent(a.options, tp)
                a = dataclasses.replace(a, trace_context=tp, options=options)
                changed = True
            elif type(a) is h.StartChildWorkflow and a.trace_context is None:
                a = dataclasses.replace(a, trace_context=tp)
                changed = True
            actions.append(a)
        if changed:
            turn = dataclasses.replace(turn, actions=actions)
        return turn

    def continued(self, instance_id: str, records: TurnRecords) -> None:
        """A continue-as-new's next run keeps the trace: the same starter, or, for a
        run nobody traced, this run as its parent."""
        run = self._runs.get(instance_id)
        new = records.continue_as_new
        if run is None or new is None or new.started.trace_context is not None:
            return
        tp = run.parent or run.traceparent
        new.started = dataclasses.replace(new.started, trace_context=tp)

    def _open(self, view: InstanceView, cached: Cached, applied: list[h.Event]) -> _Run:
        started = next((e for e in applied if type(e) is h.ExecutionStarted), None)
        if isinstance(started, h.ExecutionStarted):
            parent_tp = started.trace_context
        elif cached.executor is not None:
            parent_tp = cached.executor.trace_context
        else:
            first = next((e for e in cached.past or () if type(e) is h.ExecutionStarted), None)
            parent_tp = first.trace_context if isinstance(first, h.ExecutionStarted) else None
        attributes: dict[str, Any] = {
            "outlast.instance_id": view.instance_id,
            "outlast.workflow_name": view.name,
            "outlast.execution_id": view.execution_id,
        }
        if started is None:
            attributes["outlast.resumed"] = True
        if view.parent is not None:
            attributes["outlast.parent_instance_id"] = view.parent.instance_id
        span = self._tracer.start_span(
            f"workflow {view.name}", context=self._parent(parent_tp), attributes=attributes
        )
        run = _Run(view.execution_id, span, traceparent_of(span.get_span_context()), parent_tp)
        self._runs[view.instance_id] = run
        if len(self._runs) > _MAX_RUNS:
            self._runs.popitem(last=False)
        return run

    def committed(self, p: Pending) -> None:
        """End the run's span once its completion is committed."""
        run = self._runs.get(p.instance_id)
        if run is None:
            return
        if p.continued_as_new:
            del self._runs[p.instance_id]
            run.span.set_attribute("outlast.status", "CONTINUED_AS_NEW")
            run.span.end()
            return
        for e in p.recorded:
            if type(e) is h.ExecutionCompleted:
                assert isinstance(e, h.ExecutionCompleted)
                del self._runs[p.instance_id]
                run.span.set_attribute("outlast.status", e.status)
                if e.status == "FAILED":
                    self._fail(run.span, e.failure)
                run.span.end()
                return

    def _fail(self, span: Any, failure: FailureDetails | None) -> None:
        if failure is not None:
            span.add_event(
                "exception",
                {"exception.type": failure.error_type, "exception.message": failure.message},
            )
        span.set_status(self._trace.Status(self._trace.StatusCode.ERROR, describe(failure)))

    # --- activity attempts ----------------------------------------------------------

    def activity_started(self, record: ActivityRecord) -> ActivitySpan | None:
        """Open the attempt's span and make it current on this thread (or task)."""
        if not self.on:
            return None
        span = self._tracer.start_span(
            f"activity {record.name}",
            context=self._parent(traceparent_in(record.options)),
            attributes={
                "outlast.instance_id": record.instance_id,
                "outlast.activity_name": record.name,
                "outlast.task_id": record.task_id,
                "outlast.attempt": record.attempt,
            },
        )
        token = self._context.attach(self._trace.set_span_in_context(span))
        return ActivitySpan(span, token)

    def activity_ended(self, started: ActivitySpan, failure: FailureDetails | None) -> None:
        self._context.detach(started.token)
        if failure is not None:
            self._fail(started.span, failure)
        started.span.end()


def _with_traceparent(options: str | None, traceparent: str) -> str:
    doc: dict[str, Any] = {} if not options else json.loads(options)
    doc["traceparent"] = traceparent
    return json.dumps(doc, separators=(",", ":"))
