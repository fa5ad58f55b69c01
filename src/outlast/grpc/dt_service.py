"""The RPCs only the Microsoft flavor has (``durabletask`` SDKs, ``--durabletask-port``).

The RPCs both flavors share are :class:`~outlast.grpc.management.Management`'s;
this adds Microsoft's queries (``QueryInstances``, ``ListInstanceIds``), its
history stream, restart, rewind (outlast's rerun from the first failed activity,
on the same instance ID) and the ``Abandon*WorkItem`` calls (the work item goes
back in line). Entities are not supported: their RPCs answer UNIMPLEMENTED.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

import grpc
from outlast.client.aio.client import WorkflowClient as AsyncClient
from outlast.core import history as h
from outlast.core.codec import decode_event
from outlast.core.status import TERMINAL_STATUSES, WorkflowStatus
from outlast.errors import InvalidStateError
from outlast.grpc.convert import nanos, utc
from outlast.grpc.flavor import Flavor
from outlast.grpc.management import Management, state_of
from outlast.grpc.workitems import WorkItemHub
from outlast.store.base import InstanceRecord

if TYPE_CHECKING:
    Context = grpc.aio.ServicerContext[Any, Any]
    Handler = grpc.RpcMethodHandler[Any, Any]

# Events per HistoryChunk of StreamInstanceHistory.
HISTORY_CHUNK = 500
_ENTITIES = (
    "durable entities are not supported by outlast's sidecar "
    "(orchestrations and activities are); see docs/sidecar.md"
)
_UNSUPPORTED = {
    "CompleteEntityTask": _ENTITIES,
    "AbandonTaskEntityWorkItem": _ENTITIES,
    "SignalEntity": _ENTITIES,
    "GetEntity": _ENTITIES,
    "QueryEntities": _ENTITIES,
    "CleanEntityStorage": _ENTITIES,
    "CreateTaskHub": "outlast has one task hub per store: there is none to create",
    "DeleteTaskHub": "outlast has one task hub per store: purge instances instead",
    "SkipGracefulOrchestrationTerminations": "use TerminateInstance (termination is immediate)",
}


class DurableTaskRpcs(Management):
    """Management plus the Microsoft flavor's own RPCs."""

    def __init__(
        self, client: AsyncClient, max_payload_bytes: int | None, flavor: Flavor, hub: WorkItemHub
    ) -> None:
        super().__init__(client, max_payload_bytes, flavor)
        self.hub = hub

    def handlers(self) -> dict[str, Handler]:
        """This flavor's own methods, by name."""
        from outlast.grpc.server import rpc  # the server imports this module lazily

        s = self.svc
        out: dict[str, Handler] = {
            "QueryInstances": rpc(self.query, s.QueryInstancesRequest, s.QueryInstancesResponse),
            "ListInstanceIds": rpc(
                self.list_instance_ids, s.ListInstanceIdsRequest, s.ListInstanceIdsResponse
            ),
            "StreamInstanceHistory": grpc.unary_stream_rpc_method_handler(
                self.stream_history,
                s.StreamInstanceHistoryRequest.FromString,
                s.HistoryChunk.SerializeToString,
            ),
            "RestartInstance": rpc(
                self.restart, s.RestartInstanceRequest, s.RestartInstanceResponse
            ),
            "RewindInstance": rpc(self.rewind, s.RewindInstanceRequest, s.RewindInstanceResponse),
            "AbandonTaskOrchestratorWorkItem": rpc(
                self.abandon_turn,
                s.AbandonOrchestrationTaskRequest,
                s.AbandonOrchestrationTaskResponse,
            ),
            "AbandonTaskActivityWorkItem": rpc(
                self.abandon_activity, s.AbandonActivityTaskRequest, s.AbandonActivityTaskResponse
            ),
        }
        for name, why in _UNSUPPORTED.items():
            out[name] = grpc.unary_unary_rpc_method_handler(_refuse(why))
        return out

    # --- queries -----------------------------------------------------------------------

    async def query(self, req: Any, context: Context) -> Any:
        q = req.query
        size = q.maxInstanceCount or 100
        token = q.continuationToken.value if q.HasField("continuationToken") else None
        prefix = q.instanceIdPrefix.value if q.HasField("instanceIdPrefix") else None
        statuses = [self.flavor.status_from_proto[n] for n in q.runtimeStatus] or None

        def read() -> tuple[list[InstanceRecord], str | None]:
            page = self.sync.list_workflows(
                status=statuses,  # type: ignore[arg-type]
                created_after=utc(q.createdTimeFrom) if q.HasField("createdTimeFrom") else None,
                created_before=utc(q.createdTimeTo) if q.HasField("createdTimeTo") else None,
                instance_id_prefix=prefix or None,
                page_size=min(size, 10_000),
                continuation_token=token or None,
            )
            return self._records(s.instance_id for s in page.states), page.continuation_token

        records, next_token = await self._run(context, read)
        out = self.svc.QueryInstancesResponse(
            orchestrationState=[state_of(r, q.fetchInputsAndOutputs, self.flavor) for r in records]
        )
        if next_token:
            out.continuationToken.value = next_token
        return out

    def _records(self, ids: Any) -> list[InstanceRecord]:
        found = (self.store.get_instance(i) for i in ids)
        return [r for r in found if r is not None]  # purged meanwhile: left out

    async def list_instance_ids(self, req: Any, context: Context) -> Any:
        # The SDK lists finished instances, filtered on when they finished.
        statuses = [self.flavor.status_from_proto[n] for n in req.runtimeStatus]
        statuses = statuses or sorted(TERMINAL_STATUSES)
        after = nanos(req.completedTimeFrom) / 1e9 if req.HasField("completedTimeFrom") else None
        before = nanos(req.completedTimeTo) / 1e9 if req.HasField("completedTimeTo") else None
        size = req.pageSize or 100
        token = req.lastInstanceKey.value if req.HasField("lastInstanceKey") else None

        def read() -> tuple[list[str], str | None]:
            ids: list[str] = []
            nonlocal token
            # Filter pages until one page's worth matched (or the store ran out);
            # a page's states carry when each finished (no record to read again).
            while len(ids) < size:
                page = self.sync.list_workflows(
                    status=statuses,  # type: ignore[arg-type]
                    page_size=min(size, 10_000),
                    continuation_token=token or None,
                )
                for state in page.states:
                    if _finished_between(state.last_updated_at.timestamp(), after, before):
                        ids.append(state.instance_id)
                token = page.continuation_token
                if not token:
                    break
            return ids, token

        ids, next_token = await self._run(context, read)
        out = self.svc.ListInstanceIdsResponse(instanceIds=ids)
        if next_token:
            out.lastInstanceKey.value = next_token
        return out

    async def stream_history(self, req: Any, context: Context) -> AsyncIterator[Any]:
        events = await self.history_events(req.instanceId, context)
        for start in range(0, max(len(events), 1), HISTORY_CHUNK):
            yield self.svc.HistoryChunk(events=events[start : start + HISTORY_CHUNK])

    # --- restart, rewind ---------------------------------------------------------------

    async def restart(self, req: Any, context: Context) -> Any:
        """A new run of the instance's workflow with its input: under a new ID, or
        under the same one (an unfinished instance is terminated first)."""

        def restart() -> str:
            record = self.sync._require(req.instanceId)
            start = self.svc.CreateInstanceRequest(name=record.name)
            if not req.restartWithNewInstanceId:
                start.instanceId = record.instance_id
                start.orchestrationIdReusePolicy.replaceableStatus.extend(
                    sorted(set(self.flavor.status_to_proto.values()))
                )
            if record.input is not None:
                start.input.value = record.input
            return self._start(start)

        iid = await self._run(context, restart)
        return self.svc.RestartInstanceResponse(instanceId=iid)

    async def rewind(self, req: Any, context: Context) -> Any:
        """A FAILED instance runs again, under its ID, from its first failed activity:
        outlast's rerun from that activity's TaskScheduled event (what came before
        is replayed, not run again)."""

        def rewind() -> None:
            record = self.sync._require(req.instanceId)
            if record.status != WorkflowStatus.FAILED.value:
                raise InvalidStateError(
                    f"workflow instance {req.instanceId!r} is {record.status}; only a FAILED "
                    "instance can be rewound"
                )
            events = [decode_event(t) for t in self.store.get_history(req.instanceId)]
            failed = {e.task_id for e in events if isinstance(e, h.TaskFailed)}
            index = next(
                (
                    n
                    for n, e in enumerate(events)
                    if isinstance(e, h.TaskScheduled) and e.task_id in failed
                ),
                None,
            )
            if index is None:
                raise InvalidStateError(
                    f"workflow instance {req.instanceId!r} has no failed activity to rewind "
                    "to (rewind reruns from the first failed activity)"
                )
            self.sync.rerun_workflow_from_event(
                req.instanceId, index, new_instance_id=req.instanceId
            )

        await self._run(context, rewind)
        return self.svc.RewindInstanceResponse()

    # --- work items given back ---------------------------------------------------------

    async def abandon_turn(self, req: Any, context: Context) -> Any:
        # An unknown token: the turn was answered or dispatched again already.
        self.hub.abandon_turn(req.completionToken)
        return self.svc.AbandonOrchestrationTaskResponse()

    async def abandon_activity(self, req: Any, context: Context) -> Any:
        self.hub.abandon_activity(req.completionToken)
        return self.svc.AbandonActivityTaskResponse()


def _refuse(why: str) -> Callable[[Any, Context], Any]:
    async def refuse(request: Any, context: Context) -> Any:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, why)

    return refuse


def _finished_between(updated_at: float, after: float | None, before: float | None) -> bool:
    if after is not None and updated_at < after:
        return False
    return before is None or updated_at <= before
