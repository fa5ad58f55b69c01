"""The service handlers (metrics, health, the index), mixed into ``WorkflowApi``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Final

import anyio
import anyio.to_thread
from starlette.requests import Request
from starlette.responses import Response

from outlast import __version__
from outlast.http.errors import ERR_HEALTH_NOT_READY, ApiError, json_response
from outlast.redaction import redact_url

if TYPE_CHECKING:
    from outlast.client.client import WorkflowClient
    from outlast.runtime.runtime import WorkflowRuntime

API_PREFIXES: Final = ("/v1.0-alpha1", "/v1.0-beta1", "/v1.0")


class ServiceHandlers:
    """What a server says about itself: metrics, health, where its API is."""

    client: WorkflowClient
    runtime: WorkflowRuntime | None
    _metrics: Callable[[Request], Awaitable[Response]] | None

    async def metrics(self, request: Request) -> Response:
        """Prometheus metrics of the store and this process's runtime."""
        if self._metrics is None:
            from outlast.http.metrics import metrics_endpoint

            self._metrics = metrics_endpoint(self.client, self.runtime)
        return await self._metrics(request)

    async def health(self, request: Request) -> Response:
        """200 when the store answers a probe and the runtime (if any) runs its
        worker loop; else 503 with the reason. Open without a token, so it shows
        nothing secret: the store URL without its credentials."""
        try:
            await anyio.to_thread.run_sync(self.client.store.probe)
        except Exception as e:
            raise ApiError(503, ERR_HEALTH_NOT_READY, f"the store is not working: {e}") from e
        runtime = None if self.runtime is None else self.runtime.health()
        if runtime is not None and not runtime["healthy"]:
            raise ApiError(503, ERR_HEALTH_NOT_READY, str(runtime["reason"]))
        return json_response(
            {
                "status": "ok",
                "version": __version__,
                "store": redact_url(self.client.store.url),
                "runtime": "none" if runtime is None else "running",
            }
        )

    async def dapr_health(self, request: Request) -> Response:
        # Dapr SDKs probe the sidecar here before their first call; 204 is Dapr's answer.
        return Response(status_code=204)

    async def index(self, request: Request) -> Response:
        return json_response(
            {
                "name": "outlast",
                "version": __version__,
                "apiPrefixes": list(API_PREFIXES),
                "openapi": "/openapi.json",
                "health": "/healthz",
            }
        )
