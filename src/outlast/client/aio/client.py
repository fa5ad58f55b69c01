"""``outlast.aio.WorkflowClient``: every client method as a coroutine."""

from __future__ import annotations

import asyncio
import functools
import weakref
from collections.abc import Callable, Generator
from datetime import datetime
from typing import Any, TypeVar, overload

from outlast.client.aio.hub import WaitHub
from outlast.client.aio.schedules import AsyncSchedules
from outlast.client.client import IfExists
from outlast.client.client import WorkflowClient as SyncClient
from outlast.client.instance_id import InstanceID, output_type_of
from outlast.client.paging import StatusCounts, StatusFilter, WorkflowPage
from outlast.client.state import PendingActivity, WorkflowState, state_of
from outlast.client.waits import FINISHED, STARTED, check_timeout, poll_seconds, wait_timeout
from outlast.clock import Clock
from outlast.store import Store

R = TypeVar("R")
InT = TypeVar("InT")
_UNSET: Any = object()


class WorkflowClient(AsyncSchedules):
    """The asyncio client: the methods of :class:`outlast.WorkflowClient`, each a
    coroutine, for code running on an event loop (FastAPI, Starlette, aiohttp).

    Waits hold no thread: ``wait_for_workflow_start`` and
    ``wait_for_workflow_completion`` sleep on an asyncio event that the store's
    commit signal sets (this process's commits, and on PostgreSQL other
    processes' through LISTEN/NOTIFY), re-reading the store at a poll interval
    only for what a store cannot signal (another process writing the same SQLite
    file); the reads of many concurrent waiters are made together, in one worker
    thread. ``get_workflow_state`` reads the same way.

    The other methods are short store calls on synchronous drivers (sqlite3,
    psycopg's blocking connections): each runs in a worker thread
    (``asyncio.to_thread``), so the event loop never blocks on the disk or the
    network. Constructing a client opens the store (as the synchronous client
    does): make one at startup and share it.
    """

    def __init__(
        self,
        store: str | Store | None = None,
        *,
        clock: Clock | None = None,
        max_payload_bytes: int | None = None,
    ) -> None:
        self._sync = SyncClient(store, clock=clock, max_payload_bytes=max_payload_bytes)
        self._hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, WaitHub] = (
            weakref.WeakKeyDictionary()
        )

    @property
    def store(self) -> Store:
        return self._sync.store

    @property
    def sync(self) -> SyncClient:
        """The synchronous client on the same store, clock and payload limit."""
        return self._sync

    def _hub(self) -> WaitHub:
        loop = asyncio.get_running_loop()
        hub = self._hubs.get(loop)
        if hub is None:
            hub = self._hubs[loop] = WaitHub(self.store, poll_seconds(self.store))
        return hub

    # --- starting ------------------------------------------------------------------

    @overload
    async def schedule_new_workflow(
        self,
        workflow: Callable[[Any, InT], Generator[Any, Any, R]],
        *,
        input: InT,
        instance_id: str | None = None,
        start_at: datetime | None = None,
        if_exists: IfExists = "error",
        key: str | None = None,
        priority: int = 0,
    ) -> InstanceID[R]: ...
    @overload
    async def schedule_new_workflow(
        self,
        workflow: Callable[[Any], Generator[Any, Any, R]],
        *,
        input: None = None,
        instance_id: str | None = None,
        start_at: datetime | None = None,
        if_exists: IfExists = "error",
        key: str | None = None,
        priority: int = 0,
    ) -> InstanceID[R]: ...
    @overload
    async def schedule_new_workflow(
        self,
        workflow: str,
        *,
        input: Any = None,
        instance_id: str | None = None,
        start_at: datetime | None = None,
        if_exists: IfExists = "error",
        key: str | None = None,
        priority: int = 0,
    ) -> InstanceID[Any]: ...
    async def schedule_new_workflow(
        self,
        workflow: Callable[..., Any] | str,
        *,
        input: Any = None,
        instance_id: str | None = None,
        start_at: datetime | None = None,
        if_exists: IfExists = "error",
        key: str | None = None,
        priority: int = 0,
    ) -> InstanceID[Any]:
        """Start a workflow instance; return its ID (see the synchronous client).
        ``if_exists`` says what a start with the ID of an unfinished instance does:
        ``"error"`` (the default), ``"return_existing"`` or ``"terminate_and_restart"``
        (which waits, in a worker thread, for the termination)."""
        # The overloads above checked the types; the sync client's would again.
        start: Callable[..., InstanceID[Any]] = self._sync.schedule_new_workflow
        return await asyncio.to_thread(
            start,
            workflow,
            input=input,
            instance_id=instance_id,
            start_at=start_at,
            if_exists=if_exists,
            key=key,
            priority=priority,
        )

    # --- reading -------------------------------------------------------------------

    @overload
    async def get_workflow_state(
        self, instance_id: InstanceID[R], *, fetch_payloads: bool = True
    ) -> WorkflowState[R] | None: ...
    @overload
    async def get_workflow_state(
        self, instance_id: str, *, fetch_payloads: bool = True
    ) -> WorkflowState | None: ...
    async def get_workflow_state(
        self, instance_id: str, *, fetch_payloads: bool = True
    ) -> WorkflowState | None:
        """The instance's state, or None if there is no such instance."""
        record = await self._hub().read(instance_id)
        if record is None:
            return None
        return state_of(
            record, fetch_payloads=fetch_payloads, output_type=output_type_of(instance_id)
        )

    @overload
    async def wait_for_workflow_start(
        self,
        instance_id: InstanceID[R],
        *,
        timeout_in_seconds: float = 60,
        fetch_payloads: bool = False,
    ) -> WorkflowState[R] | None: ...
    @overload
    async def wait_for_workflow_start(
        self, instance_id: str, *, timeout_in_seconds: float = 60, fetch_payloads: bool = False
    ) -> WorkflowState | None: ...
    async def wait_for_workflow_start(
        self, instance_id: str, *, timeout_in_seconds: float = 60, fetch_payloads: bool = False
    ) -> WorkflowState | None:
        """Wait until the instance has left PENDING; None if it does not exist."""
        return await self._wait(instance_id, STARTED, timeout_in_seconds, fetch_payloads)

    @overload
    async def wait_for_workflow_completion(
        self,
        instance_id: InstanceID[R],
        *,
        timeout_in_seconds: float = 60,
        fetch_payloads: bool = True,
    ) -> WorkflowState[R] | None: ...
    @overload
    async def wait_for_workflow_completion(
        self, instance_id: str, *, timeout_in_seconds: float = 60, fetch_payloads: bool = True
    ) -> WorkflowState | None: ...
    async def wait_for_workflow_completion(
        self, instance_id: str, *, timeout_in_seconds: float = 60, fetch_payloads: bool = True
    ) -> WorkflowState | None:
        """Wait until the instance finished (COMPLETED, FAILED or TERMINATED); None if
        it does not exist. Raises outlast's TimeoutError when the wait elapses."""
        return await self._wait(instance_id, FINISHED, timeout_in_seconds, fetch_payloads)

    async def _wait(
        self, instance_id: str, until: frozenset[str], timeout: float, fetch_payloads: bool
    ) -> WorkflowState | None:
        check_timeout(timeout)
        hub = self._hub()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        woken = asyncio.Event()
        with self.store.on_change(instance_id, until, hub.waker(woken)):
            while True:
                woken.clear()
                state = await self.get_workflow_state(instance_id, fetch_payloads=fetch_payloads)
                if state is None or state.runtime_status.value in until:
                    return state
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise wait_timeout(state, timeout)
                await hub.sleep(woken, remaining)

    # --- signalling ----------------------------------------------------------------

    async def raise_workflow_event(
        self, instance_id: str, event_name: str, *, data: Any = None
    ) -> None:
        """Deliver an external event; it is kept until the workflow waits for it."""
        await asyncio.to_thread(self._sync.raise_workflow_event, instance_id, event_name, data=data)

    async def terminate_workflow(
        self, instance_id: str, *, output: Any = None, recursive: bool = True
    ) -> None:
        """Terminate the instance (and, by default, its child workflows)."""
        await asyncio.to_thread(
            self._sync.terminate_workflow, instance_id, output=output, recursive=recursive
        )

    async def pause_workflow(self, instance_id: str, *, reason: str | None = None) -> None:
        """Suspend the instance: it keeps its events but takes no step until resumed."""
        await asyncio.to_thread(self._sync.pause_workflow, instance_id, reason=reason)

    async def resume_workflow(self, instance_id: str, *, reason: str | None = None) -> None:
        """Resume a suspended (or revive a stalled) instance."""
        await asyncio.to_thread(self._sync.resume_workflow, instance_id, reason=reason)

    suspend_workflow = pause_workflow

    async def purge_workflow(self, instance_id: str, *, recursive: bool = True) -> bool:
        """Delete a finished instance and its history; False if there was none."""
        return await asyncio.to_thread(self._sync.purge_workflow, instance_id, recursive=recursive)

    async def rerun_workflow_from_event(
        self,
        instance_id: str,
        event_id: int,
        *,
        new_instance_id: str | None = None,
        new_input: Any = _UNSET,
    ) -> str:
        """Start a new instance that reruns ``instance_id`` from its event
        ``event_id`` (see the synchronous client); return the new ID."""
        kwargs: dict[str, Any] = {"new_instance_id": new_instance_id}
        if new_input is not _UNSET:
            kwargs["new_input"] = new_input
        return await asyncio.to_thread(
            self._sync.rerun_workflow_from_event, instance_id, event_id, **kwargs
        )

    # --- history and queries -------------------------------------------------------

    async def get_workflow_history(self, instance_id: str) -> list[dict[str, Any]]:
        """The instance's history events as readable dicts."""
        return await asyncio.to_thread(self._sync.get_workflow_history, instance_id)

    async def list_workflows(
        self,
        *,
        status: StatusFilter = None,
        name: str | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        instance_id_prefix: str | None = None,
        parent_instance_id: str | None = None,
        page_size: int = 100,
        continuation_token: str | None = None,
        fetch_payloads: bool = False,
    ) -> WorkflowPage:
        """One page of instances, oldest first (see the synchronous client)."""
        return await asyncio.to_thread(
            self._sync.list_workflows,
            status=status,
            name=name,
            created_after=created_after,
            created_before=created_before,
            instance_id_prefix=instance_id_prefix,
            parent_instance_id=parent_instance_id,
            page_size=page_size,
            continuation_token=continuation_token,
            fetch_payloads=fetch_payloads,
        )

    async def count_workflows(self, **filters: Any) -> StatusCounts:
        """How many instances match the filter, by status (see the synchronous
        client for the filters)."""
        return await asyncio.to_thread(functools.partial(self._sync.count_workflows, **filters))

    async def get_pending_activities(self, instance_id: str) -> list[PendingActivity]:
        """The instance's unfinished activities, with the worker running each."""
        return await asyncio.to_thread(self._sync.get_pending_activities, instance_id)

    async def purge_workflows(
        self,
        *,
        status: StatusFilter = None,
        created_before: datetime | None = None,
        name: str | None = None,
        created_after: datetime | None = None,
        instance_id_prefix: str | None = None,
    ) -> int:
        """Purge every finished instance matching the filter; return how many."""
        return await asyncio.to_thread(
            functools.partial(
                self._sync.purge_workflows,
                status=status,
                created_before=created_before,
                name=name,
                created_after=created_after,
                instance_id_prefix=instance_id_prefix,
            )
        )
