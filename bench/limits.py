"""S2 with a cluster-wide limit declared on its activity vs without (issue 14).

``python -m bench.limits [--workflows 300] [--rounds 3] [--pg URL]``

S2 is the throughput scenario: many chains of 10 activities scheduled at once.
"With a limit" declares ``runtime.limit("inc", concurrency=100_000)``, far above
the load, so it never holds anything back: what it costs is the routing (each
``inc`` row queued, then admitted by the commit that wrote it). The two runs
alternate, each on a fresh SQLite file (and, with ``--pg``, a fresh PostgreSQL
database); the ratio of the medians and of the best runs is printed. It prints figures; it
asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import outlast
from bench.config import CHAIN_LENGTH

LIMIT = 100_000


def build(url: str) -> outlast.WorkflowRuntime:
    """S2's workflow and activity, as bench/outlast_impl.py has them (without the
    bench venv's probes, so this runs in the dev venv too)."""
    rt = outlast.WorkflowRuntime(store=url)

    @rt.activity
    def inc(ctx: outlast.ActivityContext, x: int) -> int:
        return x + 1

    @rt.workflow
    def chain(ctx: outlast.WorkflowContext, x: int) -> Generator[Any, Any, int]:
        for _ in range(CHAIN_LENGTH):
            x = yield ctx.call_activity(inc, input=x)
        return x

    return rt


def s2(url: str, workflows: int, limited: bool) -> float:
    """Steps per second of one S2 run on ``url``."""
    rt = build(url)
    if limited:
        rt.limit("inc", concurrency=LIMIT)
    rt.start()
    try:
        client = outlast.WorkflowClient(store=url)
        started = time.perf_counter()
        ids = [client.schedule_new_workflow("chain", input=0) for _ in range(workflows)]
        for iid in ids:
            state = client.wait_for_workflow_completion(iid, timeout_in_seconds=600)
            if state is None or state.serialized_output != str(CHAIN_LENGTH):
                raise RuntimeError(f"{iid} did not complete with {CHAIN_LENGTH}: {state}")
        elapsed = time.perf_counter() - started
    finally:
        rt.shutdown()
        rt.store.close()
    return workflows * CHAIN_LENGTH / elapsed


def compare(name: str, fresh: Callable[[], str], workflows: int, rounds: int) -> None:
    plain: list[float] = []
    limited: list[float] = []
    for _ in range(rounds):
        plain.append(s2(fresh(), workflows, limited=False))
        limited.append(s2(fresh(), workflows, limited=True))
    a, b = statistics.median(plain), statistics.median(limited)
    print(f"{name}: S2 without a limit  median {a:6.0f}, best {max(plain):6.0f} steps/s")
    print(f"           (runs: {_fmt(plain)})")
    print(f"{name}: S2 with a limit     median {b:6.0f}, best {max(limited):6.0f} steps/s")
    print(f"           (runs: {_fmt(limited)})")
    # On a shared machine the best run is the one least disturbed by others.
    best = max(limited) / max(plain)
    print(f"{name}: with/without = {b / a:.3f} by medians, {best:.3f} by best runs")


def _fmt(values: list[float]) -> str:
    return ", ".join(f"{v:.0f}" for v in values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workflows", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pg", help="a PostgreSQL server's maintenance database URL")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        counter = iter(range(1_000_000))
        compare(
            "SQLite",
            lambda: f"sqlite:///{Path(tmp) / f's2-{next(counter)}.db'}",
            args.workflows,
            args.rounds,
        )
    if args.pg:
        from bench import pg

        made: list[str] = []

        def fresh_pg() -> str:
            made.append(pg.create_database(args.pg, "limits"))
            return made[-1]

        try:
            compare("PostgreSQL", fresh_pg, args.workflows, args.rounds)
        finally:
            for url in made:
                pg.drop_database(args.pg, url)


if __name__ == "__main__":
    main()
