"""The client RPCs, onto outlast's client and store (both flavors: ``flavor.py``;
the Microsoft flavor's own ones are in ``dt_service.py``).

Payloads arrive as JSON text and are stored as they are (never decoded and
re-encoded). Blocking store calls run in worker threads; the waits hold none
(the asyncio client's waits sleep on the store's commit signal).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import orjson

import grpc
from outlast.client.aio.client import WorkflowClient as AsyncClient
from outlast.core import history as h
from outlast.core.codec import decode_event, encode_event
from outlast.core.ids import validate_instance_id
from outlast.core.status import TERMINAL_STATUSES, WorkflowStatus
from outlast.core.times import from_seconds, to_seconds
from outlast.errors import (
    FailureDetails,
    InstanceAlreadyExistsError,
    InstanceNotFoundError,
    InvalidStateError,
    TimeoutError,
)
from outlast.grpc.convert import events_to_proto, failure_to_proto, nanos, timestamp, utc
from outlast.grpc.flavor import DAPR, Flavor
from outlast.grpc.gen.dapr import orchestrator_service_pb2 as svc  # the Dapr-only RPCs
from outlast.store.base import InstanceRecord, Message, pending_record

T = TypeVar("T")
if TYPE_CHECKING:
    Context = grpc.aio.ServicerContext[Any, Any]
_WAIT_SLICE = 3600.0  # a deadline-less wait re-arms this often
_SUSPEND_VISIBLE = frozenset({WorkflowStatus.SUSPENDED.value, *TERMINAL_STATUSES})
_RESUME_VISIBLE = frozenset(s.value for s in WorkflowStatus) - {WorkflowStatus.SUSPENDED.value}


class Management:
    """The non-streaming RPCs (start, read, signal, purge, history)."""

    def __init__(
        self, client: AsyncClient, max_payload_bytes: int | None, flavor: Flavor = DAPR
    ) -> None:
        self.client = client
        self.sync = client.sync
        self.store = client.store
        self.max_payload = max_payload_bytes
        self.flavor = flavor
        self.svc: Any = flavor.svc

    async def _run(self, context: Context, fn: Callable[..., T], *a: Any) -> T:
        try:
            return await asyncio.to_thread(fn, *a)
        except Exception as e:
            await _abort(context, e)
            raise  # unreachable: abort raises

    def _check_size(self, value: str | None, what: str) -> None:
        if value is not None and self.max_payload and len(value.encode()) > self.max_payload:
            raise ValueError(f"{what} is {len(value)} bytes, over the limit of {self.max_payload}")

    # --- starting ----------------------------------------------------------------------

    async def start_instance(self, req: Any, context: Context) -> Any:
        iid = await self._run(context, self._start, req)
        return self.svc.CreateInstanceResponse(instanceId=iid)

    def _start(self, req: Any) -> str:
        if not req.name:
            raise ValueError("the workflow name is required")
        iid = validate_instance_id(req.instanceId) if req.instanceId else uuid.uuid4().hex
        payload = req.input.value if req.HasField("input") else None
        self._check_size(payload, "the workflow input")
        stamp = from_seconds(self.sync._clock.now())
        scheduled = None
        visible_at = to_seconds(stamp)
        # A start time at the epoch means "now" (@dapr/durabletask-js always sends one).
        if req.HasField("scheduledStartTimestamp") and nanos(req.scheduledStartTimestamp) > 0:
            scheduled = nanos(req.scheduledStartTimestamp)
            visible_at = max(visible_at, to_seconds(scheduled))
        execution_id = req.executionId.value if req.HasField("executionId") else uuid.uuid4().hex
        started = h.ExecutionStarted(
            stamp,
            req.name,
            payload,
            version=req.version.value if req.HasField("version") else None,
            scheduled_start=scheduled,
            trace_context=req.parentTraceContext.traceParent or None,
            tags=dict(req.tags) or None,
        )
        record = pending_record(iid, req.name, execution_id, to_seconds(stamp), payload)
        message = Message(iid, execution_id, encode_event(started), visible_at)
        replaceable = _replaceable(req, self.flavor)
        if replaceable is None:
            self.store.create_instance(record, message)
            return iid
        # orchestrationIdReusePolicy: an instance whose status is listed is replaced
        # (if_exists="terminate_and_restart" when it is unfinished); any other is kept
        # and the start refused, a finished one too.
        existing = self.store.get_instance(iid)
        if existing is not None and existing.status not in replaceable:
            raise InstanceAlreadyExistsError(
                f"workflow instance {iid!r} exists ({existing.status}) and the reuse "
                f"policy does not replace that status"
            )
        try:
            self.store.create_instance(record, message)
        except InstanceAlreadyExistsError:
            self.sync._terminate_for_restart(iid)
            self.store.create_instance(record, message)
        return iid

    # --- reading -----------------------------------------------------------------------

    async def get_instance(self, req: Any, context: Context) -> Any:
        record = await self._run(context, self.store.get_instance, req.instanceId)
        return _response(record, req.getInputsAndOutputs, self.flavor)

    async def _wait(self, req: Any, context: Context, finished: bool) -> Any:
        # The SDKs' waits have no deadline (or the call's own): wait until answered.
        wait = (
            self.client.wait_for_workflow_completion
            if finished
            else self.client.wait_for_workflow_start
        )
        while True:
            try:
                await wait(req.instanceId, timeout_in_seconds=_WAIT_SLICE)
                break
            except TimeoutError:
                continue
            except Exception as e:
                await _abort(context, e)
        return await self.get_instance(req, context)

    async def wait_start(self, req: Any, context: Context) -> Any:
        return await self._wait(req, context, finished=False)

    async def wait_completion(self, req: Any, context: Context) -> Any:
        return await self._wait(req, context, finished=True)

    # --- signalling --------------------------------------------------------------------

    def _send(self, instance_id: str, action: str, event: h.Event) -> None:
        self.sync._require_active(instance_id, action)
        now = self.sync._clock.now()
        self.store.send_messages([Message(instance_id, None, encode_event(event), now)])

    async def raise_event(self, req: Any, context: Context) -> Any:
        data = req.input.value if req.HasField("input") else None

        def send() -> None:
            if not req.name:
                raise ValueError("the event name is required")
            self._check_size(data, "the event data")
            self._send(
                req.instanceId,
                "raise an event to",
                h.EventRaised(self.sync._stamp(), req.name, data),
            )

        await self._run(context, send)
        return self.svc.RaiseEventResponse()

    async def terminate(self, req: Any, context: Context) -> Any:
        output = req.output.value if req.HasField("output") else None

        def terminate() -> None:
            self._check_size(output, "the termination output")
            record = self.sync._require_active(req.instanceId, "terminate")
            self._send(
                req.instanceId,
                "terminate",
                h.ExecutionTerminated(self.sync._stamp(), output, req.recursive),
            )
            if record.status == WorkflowStatus.STALLED.value:
                self.store.set_status_if(
                    req.instanceId, record.status, "RUNNING", self.sync._clock.now()
                )

        await self._run(context, terminate)
        return self.svc.TerminateResponse()

    async def _settle(self, iid: str, until: frozenset[str]) -> None:
        # Suspend and resume are visible in GetInstance as soon as the call returns.
        # If no worker runs it now, the status changes when one does.
        with contextlib.suppress(TimeoutError):
            await self.client._wait(iid, until, 10.0, False)

    async def suspend(self, req: Any, context: Context) -> Any:
        reason = req.reason.value if req.HasField("reason") else None
        await self._run(
            context, functools.partial(self.sync.pause_workflow, reason=reason), req.instanceId
        )
        await self._settle(req.instanceId, _SUSPEND_VISIBLE)
        return self.svc.SuspendResponse()

    async def resume(self, req: Any, context: Context) -> Any:
        reason = req.reason.value if req.HasField("reason") else None
        await self._run(
            context, functools.partial(self.sync.resume_workflow, reason=reason), req.instanceId
        )
        await self._settle(req.instanceId, _RESUME_VISIBLE)
        return self.svc.ResumeResponse()

    # --- purge, history, listing, rerun ------------------------------------------------

    async def purge(self, req: Any, context: Context) -> Any:
        which = req.WhichOneof("request")
        if which == "instanceBatch":
            await context.abort(
                grpc.StatusCode.UNIMPLEMENTED,
                "purging an instanceBatch is not supported: purge by instance ID or by filter",
            )
        if which == "purgeInstanceFilter":
            f = req.purgeInstanceFilter
            statuses = [self.flavor.status_from_proto[s] for s in f.runtimeStatus] or None

            def by_filter() -> int:
                return self.sync.purge_workflows(
                    status=statuses,  # type: ignore[arg-type]
                    created_after=utc(f.createdTimeFrom) if f.HasField("createdTimeFrom") else None,
                    created_before=utc(f.createdTimeTo) if f.HasField("createdTimeTo") else None,
                )

            count = await self._run(context, by_filter)
        else:

            def one() -> int:
                if self.store.get_instance(req.instanceId) is None:
                    return 0
                return int(self.sync.purge_workflow(req.instanceId, recursive=req.recursive))

            count = await self._run(context, one)
        out = self.svc.PurgeInstancesResponse(deletedInstanceCount=count)
        out.isComplete.value = True
        return out

    async def history_events(self, instance_id: str, context: Context) -> list[Any]:
        """The instance's whole history as the flavor's HistoryEvent messages."""

        def read() -> tuple[InstanceRecord, list[str]]:
            record = self.sync._require(instance_id)
            return record, self.store.get_history(instance_id)

        record, texts = await self._run(context, read)
        events = [decode_event(t) for t in texts]
        return events_to_proto(
            events, record.instance_id, record.execution_id, for_worker=False, flavor=self.flavor
        )

    async def history(
        self, req: svc.GetInstanceHistoryRequest, context: Context
    ) -> svc.GetInstanceHistoryResponse:
        events = await self.history_events(req.instanceId, context)
        return svc.GetInstanceHistoryResponse(events=events)

    async def list_ids(
        self, req: svc.ListInstanceIDsRequest, context: Context
    ) -> svc.ListInstanceIDsResponse:
        token = req.continuationToken if req.HasField("continuationToken") else None
        size = req.pageSize if req.HasField("pageSize") and req.pageSize else 100
        page = await self._run(
            context,
            lambda: self.sync.list_workflows(page_size=size, continuation_token=token or None),
        )
        out = svc.ListInstanceIDsResponse(instanceIds=[s.instance_id for s in page.states])
        if page.continuation_token:
            out.continuationToken = page.continuation_token
        return out

    async def rerun(
        self, req: svc.RerunWorkflowFromEventRequest, context: Context
    ) -> svc.RerunWorkflowFromEventResponse:
        kwargs: dict[str, Any] = {}
        if req.HasField("newInstanceID") and req.newInstanceID:
            kwargs["new_instance_id"] = req.newInstanceID
        if req.overwriteInput:
            kwargs["new_input"] = (
                None if not req.HasField("input") else orjson.loads(req.input.value)
            )

        def rerun() -> str:
            # The protocol names the event by its eventId (an activity's task ID);
            # outlast's client by its place in the history.
            events = [decode_event(t) for t in self.store.get_history(req.sourceInstanceID)]
            index = next(
                (
                    n
                    for n, e in enumerate(events)
                    if isinstance(e, h.TaskScheduled) and e.task_id == req.eventID
                ),
                None,
            )
            if index is None:
                self.sync._require(req.sourceInstanceID)
                raise ValueError(
                    f"{req.sourceInstanceID!r} has no scheduled activity with event ID "
                    f"{req.eventID}; rerun starts from an activity's taskScheduled event"
                )
            return self.sync.rerun_workflow_from_event(req.sourceInstanceID, index, **kwargs)

        iid = await self._run(context, rerun)
        return svc.RerunWorkflowFromEventResponse(newInstanceID=iid)


def _replaceable(req: Any, flavor: Flavor) -> frozenset[str] | None:
    """The statuses a start may replace by its orchestrationIdReusePolicy; None without
    one (outlast's rule: a finished instance is replaced, an unfinished one is not)."""
    if "orchestrationIdReusePolicy" not in req.DESCRIPTOR.fields_by_name:
        # The Dapr flavor has none; its enforceUniqueInstanceId replaces nothing.
        return frozenset() if req.enforceUniqueInstanceId else None
    if not req.HasField("orchestrationIdReusePolicy"):
        return None
    numbers = req.orchestrationIdReusePolicy.replaceableStatus
    return frozenset(flavor.status_from_proto[n] for n in numbers if n in flavor.status_from_proto)


def state_of(record: InstanceRecord, payloads: bool, flavor: Flavor) -> Any:
    """The flavor's WorkflowState / OrchestrationState message for ``record``."""
    state = flavor.State(
        instanceId=record.instance_id,
        name=record.name,
        createdTimestamp=timestamp(from_seconds(record.created_at)),
        lastUpdatedTimestamp=timestamp(from_seconds(record.updated_at)),
    )
    setattr(state, flavor.status, flavor.status_to_proto.get(record.status, 0))
    state.executionId.value = record.execution_id
    if record.parent_instance_id:
        state.parentInstanceId.value = record.parent_instance_id
    if WorkflowStatus(record.status).is_terminal:
        state.completedTimestamp.CopyFrom(timestamp(from_seconds(record.updated_at)))
    if payloads:
        if record.input is not None:
            state.input.value = record.input
        if record.output is not None:
            state.output.value = record.output
        if record.custom_status is not None:
            state.customStatus.value = record.custom_status
    if record.failure:
        f = FailureDetails.from_dict(orjson.loads(record.failure))
        state.failureDetails.CopyFrom(failure_to_proto(f, flavor))
    return state


def _response(record: InstanceRecord | None, payloads: bool, flavor: Flavor) -> Any:
    if record is None:
        return flavor.svc.GetInstanceResponse(exists=False)
    state = state_of(record, payloads, flavor)
    return flavor.svc.GetInstanceResponse(exists=True, **{flavor.state: state})


_CODES: list[tuple[type[BaseException], grpc.StatusCode]] = [
    (InstanceNotFoundError, grpc.StatusCode.NOT_FOUND),
    (InstanceAlreadyExistsError, grpc.StatusCode.ALREADY_EXISTS),
    (InvalidStateError, grpc.StatusCode.FAILED_PRECONDITION),
    (ValueError, grpc.StatusCode.INVALID_ARGUMENT),
    (LookupError, grpc.StatusCode.NOT_FOUND),
]


async def _abort(context: Context, e: Exception) -> None:
    for cls, code in _CODES:
        if isinstance(e, cls):
            await context.abort(code, str(e))
    await context.abort(grpc.StatusCode.INTERNAL, f"{type(e).__name__}: {e}")
