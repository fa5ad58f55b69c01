"""The schedule methods of ``outlast.aio.WorkflowClient``: each the synchronous
client's (``outlast.client.schedules``), run in a worker thread."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from outlast.client.schedule_state import Schedule, SchedulePage
from outlast.core.schedule import ScheduleSpec

if TYPE_CHECKING:
    from outlast.client.client import WorkflowClient as SyncClient


class AsyncSchedules:
    """Mixed into ``outlast.aio.WorkflowClient``; arguments as in the synchronous
    client's methods of the same names."""

    _sync: SyncClient

    async def create_schedule(
        self, schedule_id: str, workflow: Callable[..., Any] | str, **kwargs: Any
    ) -> Schedule:
        """Create a schedule (``cron=`` or ``every=``, and the rest by keyword)."""
        return await asyncio.to_thread(self._sync.create_schedule, schedule_id, workflow, **kwargs)

    async def put_schedule(
        self,
        schedule_id: str,
        workflow: Callable[..., Any] | str,
        spec: ScheduleSpec,
        *,
        input: Any = None,
    ) -> Schedule:
        """Create the schedule, or bring an existing one to this definition."""
        return await asyncio.to_thread(
            self._sync.put_schedule, schedule_id, workflow, spec, input=input
        )

    async def get_schedule(self, schedule_id: str, *, recent_runs: int = 10) -> Schedule | None:
        """The schedule with its next run time and latest runs; None if absent."""
        return await asyncio.to_thread(
            self._sync.get_schedule, schedule_id, recent_runs=recent_runs
        )

    async def list_schedules(self, **kwargs: Any) -> SchedulePage:
        """One page of schedules by ID (``page_size``, ``continuation_token``,
        ``recent_runs``)."""
        return await asyncio.to_thread(self._sync.list_schedules, **kwargs)

    async def pause_schedule(self, schedule_id: str, *, note: str | None = None) -> None:
        """Start no runs until resumed."""
        await asyncio.to_thread(self._sync.pause_schedule, schedule_id, note=note)

    async def resume_schedule(self, schedule_id: str, *, note: str | None = None) -> None:
        """Start runs again from the next tick on."""
        await asyncio.to_thread(self._sync.resume_schedule, schedule_id, note=note)

    async def update_schedule(self, schedule_id: str, **kwargs: Any) -> Schedule:
        """Change what is given, keep the rest."""
        return await asyncio.to_thread(self._sync.update_schedule, schedule_id, **kwargs)

    async def delete_schedule(self, schedule_id: str) -> bool:
        """Delete the schedule (not its instances); False if there was none."""
        return await asyncio.to_thread(self._sync.delete_schedule, schedule_id)

    async def trigger_schedule(self, schedule_id: str) -> str:
        """Start a run now; its instance ID."""
        return await asyncio.to_thread(self._sync.trigger_schedule, schedule_id)

    async def backfill_schedule(
        self, schedule_id: str, start: datetime, end: datetime
    ) -> list[str]:
        """Start every tick in ``[start, end)`` that has not run; the IDs started."""
        return await asyncio.to_thread(self._sync.backfill_schedule, schedule_id, start, end)
