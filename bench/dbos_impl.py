"""The same scenarios written against DBOS Transact (the benchmark peer).

DBOS is embedded in this process on its SQLite system database with its
default durability (rollback journal, synchronous=FULL; the report records
the pragmas actually in force), or, for the PG scenarios, on a PostgreSQL
system database (a URL instead of a path) on the same server as outlast's.
Workflows and steps mirror outlast_impl.py.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from dbos import DBOS, DBOSConfig

from bench import probes, stats
from bench.config import CHAIN_LENGTH, Sizes

CLOCK = probes.StartClock()
FANOUT_QUEUE = "bench_fanout"
# recv's own timeout: long enough that idle instances never time out mid-run.
RECV_TIMEOUT_S = 24 * 3600


@DBOS.step()
def inc(x: int) -> int:
    return x + 1


@DBOS.step()
def timed_inc(x: int) -> int:
    CLOCK.mark()
    return x + 1


@DBOS.workflow()
def chain(x: int) -> int:
    for _ in range(CHAIN_LENGTH):
        x = inc(x)
    return x


@DBOS.workflow()
def long_chain(n: int) -> int:
    x = 0
    for _ in range(n):
        x = timed_inc(x)
    return x


@DBOS.workflow()
def fan(n: int) -> int:
    # DBOS's documented fan-out: enqueue each step on a queue from the workflow,
    # then collect the handles' results (docs: "Queues & Concurrency").
    queue = DBOS.retrieve_queue(FANOUT_QUEUE)
    if queue is None:
        raise RuntimeError(f"queue {FANOUT_QUEUE} is not registered")
    handles = [queue.enqueue(inc, i) for i in range(n)]
    return sum(h.get_result() for h in handles)


@DBOS.workflow()
async def waiter() -> Any:
    # Async, so that thousands of waiting instances are coroutines on one event
    # loop; a sync DBOS workflow would hold one thread each while it waits.
    return await DBOS.recv_async("go", timeout_seconds=RECV_TIMEOUT_S)


@DBOS.workflow()
def first_step(x: int) -> int:
    return timed_inc(x)


def _sys_db() -> Any:
    # Private, but the only way to read the pragmas DBOS runs with, and to see
    # how many recv waiters are registered (S5 readiness).
    from dbos import _dbos

    return _dbos._get_dbos_instance()._sys_db


@contextmanager
def _launched(db_path: str) -> Iterator[dict[str, Any]]:
    """DBOS launched on a SQLite file or, given a ``postgresql://`` URL, on that
    database; yields the SQLite pragmas in force (nothing on PostgreSQL, whose
    server settings the parent records)."""
    sqlite = "://" not in db_path
    config: DBOSConfig = {
        "name": "outlast-bench",
        "system_database_url": f"sqlite:///{db_path}" if sqlite else db_path,
        # Quieter logs only; durability settings are left at DBOS's defaults.
        "log_level": "WARNING",
    }
    DBOS(config=config)
    DBOS.launch()
    try:
        pragmas: dict[str, Any] = {}
        if sqlite:
            with _sys_db().engine.connect() as conn:
                pragmas = {
                    "journal_mode": conn.execute(sa.text("PRAGMA journal_mode")).scalar(),
                    "synchronous": conn.execute(sa.text("PRAGMA synchronous")).scalar(),
                }
        yield pragmas
    finally:
        DBOS.destroy(destroy_registry=False)


def _expect(value: Any, expected: Any, what: str) -> None:
    if value != expected:
        raise RuntimeError(f"{what}: expected {expected!r}, got {value!r}")


def _with_pragmas(figures: dict[str, float], pragmas: dict[str, Any]) -> dict[str, Any]:
    if not pragmas:
        return dict(figures)
    return {
        **figures,
        "sqlite_journal_mode": pragmas["journal_mode"],
        "sqlite_synchronous": pragmas["synchronous"],
    }


def s1_sequential(db_path: str, sizes: Sizes) -> dict[str, Any]:
    n = sizes.s1_workflows
    with _launched(db_path) as pragmas:
        watch = probes.Stopwatch()
        for _ in range(n):
            _expect(DBOS.start_workflow(chain, 0).get_result(), CHAIN_LENGTH, "chain result")
        elapsed = watch.elapsed()
    steps = n * CHAIN_LENGTH
    figures = {"workflows": n, "steps": steps, "elapsed_s": elapsed, "steps_per_s": steps / elapsed}
    return _with_pragmas(figures, pragmas)


def s2_throughput(db_path: str, sizes: Sizes) -> dict[str, Any]:
    n = sizes.s2_workflows
    with _launched(db_path) as pragmas:
        watch = probes.Stopwatch()
        handles = [DBOS.start_workflow(chain, 0) for _ in range(n)]
        scheduled = watch.elapsed()
        for handle in handles:
            _expect(handle.get_result(), CHAIN_LENGTH, "chain result")
        elapsed = watch.elapsed()
    steps = n * CHAIN_LENGTH
    figures = {
        "workflows": n,
        "steps": steps,
        "schedule_s": scheduled,
        "elapsed_s": elapsed,
        "steps_per_s": steps / elapsed,
    }
    return _with_pragmas(figures, pragmas)


def s3_fanout(db_path: str, sizes: Sizes) -> dict[str, Any]:
    n = sizes.s3_fanout_dbos
    with _launched(db_path) as pragmas:
        DBOS.register_queue(FANOUT_QUEUE)
        watch = probes.Stopwatch()
        _expect(DBOS.start_workflow(fan, n).get_result(), n * (n + 1) // 2, "fan-out sum")
        elapsed = watch.elapsed()
    figures = {"fanout": n, "elapsed_s": elapsed, "activities_per_s": n / elapsed}
    return _with_pragmas(figures, pragmas)


def s4_long_history(db_path: str, sizes: Sizes) -> dict[str, Any]:
    n = sizes.s4_steps
    CLOCK.reset()
    with _launched(db_path) as pragmas:
        watch = probes.Stopwatch()
        _expect(DBOS.start_workflow(long_chain, n).get_result(), n, "long chain result")
        elapsed = watch.elapsed()
    first, last = stats.window_step_ms(CLOCK.starts, sizes.s4_window)
    figures = {
        "steps": n,
        "window": sizes.s4_window,
        "elapsed_s": elapsed,
        "steps_per_s": n / elapsed,
        "first_ms_per_step": first,
        "last_ms_per_step": last,
        "growth": last / first,
    }
    return _with_pragmas(figures, pragmas)


def _waiters_registered() -> int:
    return len(_sys_db().notifications_map.snapshot())


async def _s5_async(sizes: Sizes) -> dict[str, float]:
    n = sizes.s5_idle_dbos
    raised = min(sizes.s5_raised, n)
    baseline = probes.rss_mb()
    watch = probes.Stopwatch()
    handles = [await DBOS.start_workflow_async(waiter) for _ in range(n)]
    schedule_s = watch.elapsed()
    # Ready when every instance has registered its recv waiter.
    deadline = time.monotonic() + 3600
    while _waiters_registered() < n and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    started = _waiters_registered() >= n
    ready_s = watch.elapsed()
    idle_rss = probes.rss_mb()

    gate = asyncio.Semaphore(sizes.s5_raise_concurrency)

    async def raise_and_wait(handle: Any) -> float:
        async with gate:
            t = probes.Stopwatch()
            await DBOS.send_async(handle.workflow_id, 1, "go")
            value = await handle.get_result()
            took = t.elapsed()
        _expect(value, 1, "event payload")
        return took

    latencies = await asyncio.gather(*(raise_and_wait(h) for h in handles[:raised]))
    return {
        "idle": n,
        "schedule_s": schedule_s,
        "ready_s": ready_s,
        "all_started": float(started),
        "went_quiet": float(started),
        "rss_baseline_mb": baseline,
        "rss_idle_mb": idle_rss,
        "rss_peak_mb": probes.peak_rss_mb(),
        "kb_per_instance": (idle_rss - baseline) * 1000 / n,
        "raised": raised,
        "raise_concurrency": sizes.s5_raise_concurrency,
        **probes.latency_summary(list(latencies)),
    }


def s5_idle(db_path: str, sizes: Sizes) -> dict[str, Any]:
    with _launched(db_path) as pragmas:
        figures = asyncio.run(_s5_async(sizes))
    return _with_pragmas(figures, pragmas)


def s6_latency(db_path: str, sizes: Sizes) -> dict[str, Any]:
    samples: list[float] = []
    with _launched(db_path) as pragmas:
        _expect(DBOS.start_workflow(first_step, 0).get_result(), 1, "first_step result")
        for _ in range(sizes.s6_samples):
            time.sleep(sizes.s6_gap_ms / 1000)
            CLOCK.reset()
            t0 = time.perf_counter()
            handle = DBOS.start_workflow(first_step, 0)
            _expect(handle.get_result(), 1, "first_step result")
            samples.append(CLOCK.starts[0] - t0)
    figures = {"samples": len(samples), **probes.latency_summary(samples)}
    return _with_pragmas(figures, pragmas)
