"""The long-poll handlers (``.../waitForStart``, ``.../waitForCompletion``), mixed
into ``WorkflowApi``: each wait blocks a thread of its own (never one of the
quick calls'), in short slices so that a shutdown answers it at once."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

import anyio
import anyio.to_thread
from starlette.requests import Request
from starlette.responses import Response

from outlast.client.dapr_json import status_json
from outlast.client.state import WorkflowState
from outlast.core.status import WorkflowStatus
from outlast.errors import TimeoutError
from outlast.http import requests as rq
from outlast.http.errors import ERR_GET_WORKFLOW, from_exception, json_response, not_found

if TYPE_CHECKING:
    from outlast.client.client import WorkflowClient

DEFAULT_WAIT_SECONDS: Final = 30.0
# A long-poll re-checks for shutdown this often, so stopping the server never waits
# for a full poll timeout.
_WAIT_SLICE_SECONDS: Final = 0.5


class WaitHandlers:
    """Wait for an instance to start or finish, over HTTP."""

    client: WorkflowClient
    max_wait_seconds: float
    _max_concurrent_waits: int
    _wait_limiter: anyio.CapacityLimiter | None
    _stopping: threading.Event

    def _limiter(self) -> anyio.CapacityLimiter:
        # Long-polls get their own threads, so that many of them never starve the
        # quick calls of anyio's shared pool. Made lazily: a limiter belongs to the
        # event loop that first uses it.
        if self._wait_limiter is None:
            self._wait_limiter = anyio.CapacityLimiter(self._max_concurrent_waits)
        return self._wait_limiter

    async def wait_for_start(self, request: Request) -> Response:
        return await self._wait(
            request,
            self.client.wait_for_workflow_start,
            lambda s: s.runtime_status is not WorkflowStatus.PENDING,
        )

    async def wait_for_completion(self, request: Request) -> Response:
        return await self._wait(
            request,
            self.client.wait_for_workflow_completion,
            lambda s: s.runtime_status.is_terminal,
        )

    async def _wait(
        self,
        request: Request,
        wait: Callable[..., WorkflowState | None],
        done: Callable[[WorkflowState], bool],
    ) -> Response:
        """Long-poll: 200 with the status once ``done``; 202 with the status as it is
        when the timeout (or a server shutdown) comes first; 404 if there is no such
        instance."""
        iid = rq.instance_id(request.path_params["instanceID"])
        timeout = min(rq.seconds(request, "timeout", DEFAULT_WAIT_SECONDS), self.max_wait_seconds)
        try:
            state = await anyio.to_thread.run_sync(
                self._wait_blocking, wait, iid, timeout, limiter=self._limiter()
            )
        except Exception as e:
            raise from_exception(e, ERR_GET_WORKFLOW, iid) from e
        if state is None:
            raise not_found(iid)
        return json_response(status_json(state), 200 if done(state) else 202)

    def _wait_blocking(
        self, wait: Callable[..., WorkflowState | None], iid: str, timeout: float
    ) -> WorkflowState | None:
        # Waited in short slices, so that a shutdown is noticed promptly.
        deadline = time.monotonic() + timeout
        while True:
            slice_ = max(0.0, min(deadline - time.monotonic(), _WAIT_SLICE_SECONDS))
            try:
                return wait(iid, timeout_in_seconds=slice_, fetch_payloads=True)
            except TimeoutError:
                if self._stopping.is_set() or time.monotonic() >= deadline:
                    return self.client.get_workflow_state(iid)
