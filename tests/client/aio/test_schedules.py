"""The asyncio client's schedule methods: the synchronous ones, awaited."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import outlast.aio
from outlast.testing import FakeClock


def test_schedules_from_a_coroutine(store_url: str) -> None:
    clock = FakeClock(datetime(2030, 1, 7, 12, 0, 30, tzinfo=UTC))

    async def scenario() -> None:
        client = outlast.aio.WorkflowClient(store_url, clock=clock)
        made = await client.create_schedule("s", "report", every=timedelta(minutes=1))
        assert made.next_run_at == datetime(2030, 1, 7, 12, 1, tzinfo=UTC)
        await client.pause_schedule("s", note="later")
        found = await client.get_schedule("s")
        assert found is not None and found.paused and found.note == "later"
        await client.resume_schedule("s")
        changed = await client.update_schedule("s", input=[1])
        assert changed.input_as() == [1]
        assert await client.trigger_schedule("s") == "s-20300107T120030Z"
        start, end = datetime(2030, 1, 7, 11, 58, tzinfo=UTC), datetime(2030, 1, 7, 12, tzinfo=UTC)
        assert await client.backfill_schedule("s", start, end) == [
            "s-20300107T115800Z",
            "s-20300107T115900Z",
        ]
        page = await client.list_schedules(page_size=10)
        assert [s.schedule_id for s in page] == ["s"] and len(page.schedules[0].recent_runs) == 3
        assert await client.delete_schedule("s") and await client.get_schedule("s") is None

    asyncio.run(scenario())
