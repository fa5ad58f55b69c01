"""The scenarios written against outlast's public API.

Each function gets a fresh store (a SQLite path, or a PostgreSQL URL for the PG
scenarios) and returns a dict of figures. The runtime and the client live in
this one process, as an embedded user would run them; the default store
settings (SQLite: WAL + synchronous=FULL) are kept. On PostgreSQL, S1 and S2
can also run with extra worker processes (``bench/pg_workers.py``) on the same
database.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from typing import Any

import outlast
from bench import probes, stats
from bench.config import CHAIN_LENGTH, Sizes

TIMEOUT_S = 3600
CLOCK = probes.StartClock()
# Activity runs in this process, so the multi-worker runs can tell how the
# steps were split between processes.
RUNS = probes.Counter()


def store_url(db: str) -> str:
    """A PostgreSQL URL as given; anything else is a SQLite file path."""
    return db if "://" in db else f"sqlite:///{db}"


def build_runtime(url: str) -> tuple[outlast.WorkflowRuntime, dict[str, Any]]:
    """A runtime (not started) with the benchmark's workflows and activities registered.

    The extra worker processes build theirs with this too, so every process
    registers the same code under the same names.
    """
    rt = outlast.WorkflowRuntime(store=url)

    @rt.activity
    def inc(ctx: outlast.ActivityContext, x: int) -> int:
        RUNS.add()
        return x + 1

    @rt.activity
    def timed_inc(ctx: outlast.ActivityContext, x: int) -> int:
        CLOCK.mark()
        return x + 1

    @rt.workflow
    def chain(ctx: outlast.WorkflowContext, x: int) -> Generator[Any, Any, int]:
        for _ in range(CHAIN_LENGTH):
            x = yield ctx.call_activity(inc, input=x)
        return x

    @rt.workflow
    def long_chain(ctx: outlast.WorkflowContext, n: int) -> Generator[Any, Any, int]:
        x = 0
        for _ in range(n):
            x = yield ctx.call_activity(timed_inc, input=x)
        return x

    @rt.workflow
    def fan(ctx: outlast.WorkflowContext, n: int) -> Generator[Any, Any, int]:
        results = yield outlast.when_all([ctx.call_activity(inc, input=i) for i in range(n)])
        return sum(results)

    @rt.workflow
    def waiter(ctx: outlast.WorkflowContext, _: Any) -> Generator[Any, Any, Any]:
        value = yield ctx.wait_for_external_event("go")
        return value

    @rt.workflow
    def first_step(ctx: outlast.WorkflowContext, x: int) -> Generator[Any, Any, int]:
        x = yield ctx.call_activity(timed_inc, input=x)
        return x

    workflows = {
        "chain": chain,
        "long_chain": long_chain,
        "fan": fan,
        "waiter": waiter,
        "first_step": first_step,
    }
    return rt, workflows


@contextmanager
def _runtime(db: str) -> Iterator[tuple[Any, Any]]:
    """A runtime with the benchmark's workflows registered, started, plus a client."""
    url = store_url(db)
    rt, workflows = build_runtime(url)
    rt.start()
    try:
        yield workflows, outlast.WorkflowClient(store=url)
    finally:
        rt.shutdown()


@contextmanager
def _cluster(db: str, workers: int) -> Iterator[tuple[Any, Any, list[int]]]:
    """``_runtime`` plus ``workers - 1`` more worker processes on the same PostgreSQL
    database, every one of them listening before this yields. On the way out the
    extra workers are stopped and the list it yielded is filled with how many
    activities each process ran (this one first)."""
    if workers == 1:
        runs: list[int] = []
        with _runtime(db) as (wf, client):
            before = RUNS.value
            yield wf, client, runs
        runs.append(RUNS.value - before)
        return
    if "://" not in db:
        raise ValueError("extra worker processes need a PostgreSQL store")
    from bench import pg_workers

    runs = []
    with _runtime(db) as (wf, client), pg_workers.ExtraWorkers(db, workers - 1) as extra:
        # This process's runtime and client must hear the others' commits too.
        pg_workers.wait_listening(client.store, db)
        before = RUNS.value
        yield wf, client, runs
        ours = RUNS.value - before
    runs += [ours, *extra.activity_runs]


def _split(workers: int, runs: list[int], steps: int) -> dict[str, Any]:
    """How the steps were shared between the worker processes (PG runs only)."""
    total = sum(runs)
    figures: dict[str, Any] = {"workers": workers, "activity_runs": total}
    if workers > 1 and total:
        figures["busiest_share"] = max(runs) / total
        figures["split"] = "/".join(f"{100 * r / total:.0f}" for r in runs)
    if total < steps:
        raise RuntimeError(f"{total} activity runs counted for {steps} steps")
    return figures


def _completed(client: Any, iid: str) -> Any:
    state = client.wait_for_workflow_completion(iid, timeout_in_seconds=TIMEOUT_S)
    if state is None or state.runtime_status != outlast.WorkflowStatus.COMPLETED:
        status = getattr(state, "runtime_status", None)
        details = getattr(state, "failure_details", None)
        raise RuntimeError(f"workflow {iid} ended {status}: {details}")
    return json.loads(state.serialized_output)


def _expect(value: Any, expected: Any, what: str) -> None:
    # A fast wrong answer is not a result: check before reporting figures.
    if value != expected:
        raise RuntimeError(f"{what}: expected {expected!r}, got {value!r}")


def s1_sequential(db_path: str, sizes: Sizes, workers: int = 1) -> dict[str, Any]:
    n = sizes.s1_workflows
    with _cluster(db_path, workers) as (wf, client, runs):
        watch = probes.Stopwatch()
        for _ in range(n):
            iid = client.schedule_new_workflow(wf["chain"], input=0)
            _expect(_completed(client, iid), CHAIN_LENGTH, "chain result")
        elapsed = watch.elapsed()
    steps = n * CHAIN_LENGTH
    figures = {"workflows": n, "steps": steps, "elapsed_s": elapsed, "steps_per_s": steps / elapsed}
    return figures | (_split(workers, runs, steps) if "://" in db_path else {})


def s2_throughput(db_path: str, sizes: Sizes, workers: int = 1) -> dict[str, Any]:
    n = sizes.s2_workflows
    with _cluster(db_path, workers) as (wf, client, runs):
        watch = probes.Stopwatch()
        ids = [client.schedule_new_workflow(wf["chain"], input=0) for _ in range(n)]
        scheduled = watch.elapsed()
        for iid in ids:
            _expect(_completed(client, iid), CHAIN_LENGTH, "chain result")
        elapsed = watch.elapsed()
    steps = n * CHAIN_LENGTH
    figures = {
        "workflows": n,
        "steps": steps,
        "schedule_s": scheduled,
        "elapsed_s": elapsed,
        "steps_per_s": steps / elapsed,
    }
    return figures | (_split(workers, runs, steps) if "://" in db_path else {})


def s3_fanout(db_path: str, sizes: Sizes) -> dict[str, float]:
    n = sizes.s3_fanout
    with _runtime(db_path) as (wf, client):
        watch = probes.Stopwatch()
        iid = client.schedule_new_workflow(wf["fan"], input=n)
        _expect(_completed(client, iid), n * (n + 1) // 2, "fan-out sum")
        elapsed = watch.elapsed()
    return {"fanout": n, "elapsed_s": elapsed, "activities_per_s": n / elapsed}


def s4_long_history(db_path: str, sizes: Sizes) -> dict[str, float]:
    n = sizes.s4_steps
    CLOCK.reset()
    with _runtime(db_path) as (wf, client):
        watch = probes.Stopwatch()
        iid = client.schedule_new_workflow(wf["long_chain"], input=n)
        _expect(_completed(client, iid), n, "long chain result")
        elapsed = watch.elapsed()
    first, last = stats.window_step_ms(CLOCK.starts, sizes.s4_window)
    return {
        "steps": n,
        "window": sizes.s4_window,
        "elapsed_s": elapsed,
        "steps_per_s": n / elapsed,
        "first_ms_per_step": first,
        "last_ms_per_step": last,
        "growth": last / first,
    }


def s5_idle(db_path: str, sizes: Sizes) -> dict[str, float]:
    n = sizes.s5_idle
    raised = min(sizes.s5_raised, n)
    with _runtime(db_path) as (wf, client):
        baseline = probes.rss_mb()
        watch = probes.Stopwatch()
        ids = [client.schedule_new_workflow(wf["waiter"]) for _ in range(n)]
        schedule_s = watch.elapsed()
        # Instances are started in order, so once the last one is past PENDING
        # the runtime has handed every one its first turn; then let it settle.
        last = ids[-1]
        started = probes.wait_until(
            lambda: (
                client.get_workflow_state(last, fetch_payloads=False).runtime_status
                != outlast.WorkflowStatus.PENDING
            ),
            timeout_s=TIMEOUT_S,
        )
        quiet = probes.wait_until_quiet()
        ready_s = watch.elapsed()
        idle_rss = probes.rss_mb()

        local = threading.local()

        def raise_and_wait(iid: str) -> float:
            if not hasattr(local, "client"):
                local.client = outlast.WorkflowClient(store=f"sqlite:///{db_path}")
            c = local.client
            t = probes.Stopwatch()
            c.raise_workflow_event(iid, "go", data=1)
            value = _completed(c, iid)
            took = t.elapsed()
            _expect(value, 1, "event payload")
            return took

        latencies = probes.run_parallel(ids[:raised], sizes.s5_raise_concurrency, raise_and_wait)
    return {
        "idle": n,
        "schedule_s": schedule_s,
        "ready_s": ready_s,
        "all_started": float(started),
        "went_quiet": float(quiet),
        "rss_baseline_mb": baseline,
        "rss_idle_mb": idle_rss,
        "rss_peak_mb": probes.peak_rss_mb(),
        "kb_per_instance": (idle_rss - baseline) * 1000 / n,
        "raised": raised,
        "raise_concurrency": sizes.s5_raise_concurrency,
        **probes.latency_summary(latencies),
    }


def s6_latency(db_path: str, sizes: Sizes) -> dict[str, float]:
    samples: list[float] = []
    with _runtime(db_path) as (wf, client):
        # One unmeasured round so first-use costs (imports, statement caches)
        # are not counted as scheduling latency.
        _completed(client, client.schedule_new_workflow(wf["first_step"], input=0))
        for _ in range(sizes.s6_samples):
            # A pause between samples so each one meets an idle runtime.
            time.sleep(sizes.s6_gap_ms / 1000)
            CLOCK.reset()
            t0 = time.perf_counter()
            iid = client.schedule_new_workflow(wf["first_step"], input=0)
            _expect(_completed(client, iid), 1, "first_step result")
            samples.append(CLOCK.starts[0] - t0)
    return {"samples": len(samples), **probes.latency_summary(samples)}
