"""The gRPC sidecar: durabletask's ``TaskHubSidecarService`` over a runtime.

:class:`SidecarServer` runs grpcio's asyncio server on a thread of its own, next
to ``outlast serve``'s HTTP server, over the same runtime and store, in one
flavor of the protocol (``flavor.py``): Dapr's (the default) or Microsoft's
(``dt_service.py`` adds its own RPCs). It attaches a
:class:`~outlast.grpc.workitems.WorkItemHub` to the runtime, so workflows and
activities that no in-process registry knows are run by the SDK workers
connected with ``GetWorkItems``; a second server (the other flavor) shares the
first one's hub, so both kinds of worker take work from one line.

The service is registered under the bare name the SDKs call
(``/TaskHubSidecarService/<Method>``: the protos declare no package).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

from google.protobuf import empty_pb2

import grpc
from outlast.client.aio.client import WorkflowClient as AsyncClient
from outlast.core.serialization import default_max_payload_bytes
from outlast.grpc.flavor import DAPR, Flavor
from outlast.grpc.gen.dapr import orchestrator_service_pb2 as svc
from outlast.grpc.management import Management
from outlast.grpc.workitems import WorkItemHub
from outlast.runtime.runtime import WorkflowRuntime

log = logging.getLogger("outlast.grpc")
if TYPE_CHECKING:
    Context = grpc.aio.ServicerContext[Any, Any]
    Handler = grpc.RpcMethodHandler[Any, Any]

SERVICE = "TaskHubSidecarService"
DEFAULT_DAPR_PORT = 50001
# Room for a turn's whole history around the largest payload.
_MESSAGE_OVERHEAD = 16 * 1024 * 1024


class _Token(grpc.aio.ServerInterceptor):
    """Checks ``dapr-api-token`` metadata, as the HTTP API checks its header."""

    def __init__(self, token: str) -> None:
        self._token = token.encode()

        async def deny(request: Any, context: Context) -> Any:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong dapr-api-token")

        self._deny: Handler = grpc.unary_unary_rpc_method_handler(deny)

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler | None]],
        details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        for key, value in details.invocation_metadata or ():
            if key == "dapr-api-token":
                given = value.encode() if isinstance(value, str) else value
                if hmac.compare_digest(given, self._token):
                    return await continuation(details)
        return self._deny


class SidecarServer:
    """``TaskHubSidecarService`` on ``host:port`` for ``runtime`` (``port`` 0: any)."""

    def __init__(
        self,
        runtime: WorkflowRuntime,
        *,
        host: str = "127.0.0.1",
        port: int = DEFAULT_DAPR_PORT,
        api_token: str | None = None,
        tls: tuple[bytes, bytes] | None = None,
        flavor: Flavor = DAPR,
        hub: WorkItemHub | None = None,
    ) -> None:
        """``tls``: (certificate chain, private key), PEM. ``hub``: another server's,
        to share its SDK workers' line (the other flavor on another port)."""
        self.runtime = runtime
        self.host = host
        self.port = port
        self.flavor = flavor
        self._token = api_token
        self._tls = tls
        self._owns_hub = hub is None
        if hub is None:
            hub = WorkItemHub(lambda: runtime.worker)
            runtime.attach(executor=hub, activities=hub)
        self.hub = hub
        max_payload = runtime._options.max_payload_bytes or default_max_payload_bytes()
        self._max_message = max_payload + _MESSAGE_OVERHEAD
        self._max_payload = max_payload
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: grpc.aio.Server | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._stopping: asyncio.Event | None = None
        self._grace = 2.0

    # --- lifecycle ---------------------------------------------------------------------

    def start(self, timeout: float = 30.0) -> int:
        """Start serving on a thread; return the bound port."""
        self._thread = threading.Thread(target=self._run, name="outlast-grpc", daemon=True)
        self._thread.start()
        self._ready.wait(timeout)
        if self._error is not None:
            raise self._error
        return self.port

    def _run(self) -> None:
        loop = self._loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(self._serve())
        except BaseException as e:
            self._error = e
            self._ready.set()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _serve(self) -> None:
        options = [
            ("grpc.max_send_message_length", self._max_message),
            ("grpc.max_receive_message_length", self._max_message),
            # The Dapr client pings every 30 s with no call open: accept it.
            ("grpc.keepalive_permit_without_calls", 1),
            ("grpc.http2.min_recv_ping_interval_without_data_ms", 10_000),
            ("grpc.http2.max_ping_strikes", 0),
            ("grpc.so_reuseport", 0),
        ]
        interceptors = [_Token(self._token)] if self._token else []
        server = self._server = grpc.aio.server(options=options, interceptors=interceptors)
        server.add_generic_rpc_handlers((self._handlers(),))
        address = f"{self.host}:{self.port}"
        try:
            if self._tls is not None:
                creds = grpc.ssl_server_credentials([(self._tls[1], self._tls[0])])
                self.port = server.add_secure_port(address, creds)
            else:
                self.port = server.add_insecure_port(address)
        except RuntimeError as e:  # grpcio's way of saying the port is taken
            raise OSError(f"cannot listen on {address} for gRPC: {e}") from e
        await server.start()
        self._stopping = asyncio.Event()
        self._ready.set()
        await self._stopping.wait()
        await server.stop(self._grace)

    def stop(self, grace: float = 2.0) -> None:
        """Close the streams and stop serving."""
        if self._owns_hub:
            self.hub.shutdown(grace)
        self._grace = grace
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None and not loop.is_closed():
            loop.call_soon_threadsafe(stopping.set)
        if self._thread is not None:
            self._thread.join(grace + 5)

    # --- the service -------------------------------------------------------------------

    def _handlers(self) -> grpc.GenericRpcHandler:
        f = self.flavor
        client = AsyncClient(self.runtime.store)
        if f is DAPR:
            m = Management(client, self._max_payload, f)
            extra = {
                "CompleteWorkflowTask": rpc(
                    self._complete_turn, f.TurnResponse, svc.CompleteTaskResponse
                ),
                "GetInstanceHistory": rpc(
                    m.history, svc.GetInstanceHistoryRequest, svc.GetInstanceHistoryResponse
                ),
                "ListInstanceIDs": rpc(
                    m.list_ids, svc.ListInstanceIDsRequest, svc.ListInstanceIDsResponse
                ),
                "RerunWorkflowFromEvent": rpc(
                    m.rerun, svc.RerunWorkflowFromEventRequest, svc.RerunWorkflowFromEventResponse
                ),
            }
        else:
            from outlast.grpc.dt_service import DurableTaskRpcs

            m = dt = DurableTaskRpcs(client, self._max_payload, f, self.hub)
            extra = dt.handlers()
        s = f.svc
        handlers = {
            "Hello": rpc(self._hello, empty_pb2.Empty, empty_pb2.Empty),
            "StartInstance": rpc(
                m.start_instance, s.CreateInstanceRequest, s.CreateInstanceResponse
            ),
            "GetInstance": rpc(m.get_instance, s.GetInstanceRequest, s.GetInstanceResponse),
            "WaitForInstanceStart": rpc(m.wait_start, s.GetInstanceRequest, s.GetInstanceResponse),
            "WaitForInstanceCompletion": rpc(
                m.wait_completion, s.GetInstanceRequest, s.GetInstanceResponse
            ),
            "RaiseEvent": rpc(m.raise_event, s.RaiseEventRequest, s.RaiseEventResponse),
            "TerminateInstance": rpc(m.terminate, s.TerminateRequest, s.TerminateResponse),
            "SuspendInstance": rpc(m.suspend, s.SuspendRequest, s.SuspendResponse),
            "ResumeInstance": rpc(m.resume, s.ResumeRequest, s.ResumeResponse),
            "PurgeInstances": rpc(m.purge, s.PurgeInstancesRequest, s.PurgeInstancesResponse),
            "GetWorkItems": grpc.unary_stream_rpc_method_handler(
                self._work_items, s.GetWorkItemsRequest.FromString, s.WorkItem.SerializeToString
            ),
            "CompleteOrchestratorTask": rpc(
                self._complete_turn, f.TurnResponse, s.CompleteTaskResponse
            ),
            "CompleteActivityTask": rpc(
                self._complete_activity, s.ActivityResponse, s.CompleteTaskResponse
            ),
            **extra,
        }
        return grpc.method_handlers_generic_handler(SERVICE, handlers)

    async def _hello(self, req: empty_pb2.Empty, context: Context) -> empty_pb2.Empty:
        return empty_pb2.Empty()

    async def _work_items(self, req: Any, context: Context) -> AsyncIterator[Any]:
        async for item in self.hub.stream(set(req.capabilities), self.flavor):
            yield item

    async def _complete_turn(self, req: Any, context: Context) -> Any:
        # A stale or unknown answer is ignored: the turn was dispatched again.
        self.hub.complete_turn(req, self.flavor)
        return self.flavor.svc.CompleteTaskResponse()

    async def _complete_activity(self, req: Any, context: Context) -> Any:
        self.hub.complete_activity(req)
        return self.flavor.svc.CompleteTaskResponse()


def rpc(fn: Any, req: Any, resp: Any) -> Handler:
    """A unary handler of ``fn`` reading ``req`` and writing ``resp`` messages."""
    return grpc.unary_unary_rpc_method_handler(fn, req.FromString, resp.SerializeToString)
