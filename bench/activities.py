"""What heartbeats and process isolation cost an activity (issue 14).

1. Heartbeats at one per 100 ms: N workflows at once, each calling an activity
   that runs about 1 s (ten 100 ms slices), with ``heartbeat_timeout`` declared
   and a heartbeat after every slice, against the same activity without either.
   Prints the wall time and this process's CPU per activity of both.
2. ``isolation="process"``: a chain of short activities (return x + 1), run on the
   worker's threads against in a child process; steps/s and the time each step
   takes; then the same chain with every step's first attempt exiting hard (a
   fresh child and a retry per step), and one ``ctx.heartbeat()`` in a thread
   and in a child.

    .venv/bin/python -m bench.activities [N]      (default 16 workflows)

Not part of ``make bench``'s runner (outlast only: the peers have no such knob).
"""

from __future__ import annotations

import os
import resource
import sys
import tempfile
import time
from collections.abc import Generator
from datetime import timedelta
from typing import Any

import outlast

SLICES, SLICE = 10, 0.1
CHAIN = 200
HEARTBEATS = 20_000
RETRY = outlast.RetryPolicy(timedelta(milliseconds=1), 2)


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def slow(ctx: outlast.ActivityContext, beat: bool) -> int:
    for i in range(SLICES):
        time.sleep(SLICE)
        if beat:
            ctx.heartbeat(i)
    return SLICES


def step(ctx: outlast.ActivityContext, x: int) -> int:
    return x + 1


def die_then_step(ctx: outlast.ActivityContext, x: int) -> int:
    if ctx.attempt == 1:
        os._exit(1)
    return x + 1


def beats(ctx: outlast.ActivityContext, n: int) -> float:
    """Seconds per heartbeat, over ``n`` of them with details."""
    t0 = time.perf_counter()
    for i in range(n):
        ctx.heartbeat(i)
    return (time.perf_counter() - t0) / n


def slow_wf(ctx: outlast.WorkflowContext, beat: bool) -> Generator[Any, Any, int]:
    timeout = timedelta(seconds=5) if beat else None
    return (yield ctx.call_activity(slow, input=beat, heartbeat_timeout=timeout))


def chain_wf(ctx: outlast.WorkflowContext, name: str) -> Generator[Any, Any, int]:
    x = 0
    for _ in range(CHAIN):
        x = yield ctx.call_activity(name, input=x, retry_policy=RETRY)
    return x


def beats_wf(ctx: outlast.WorkflowContext, name: str) -> Generator[Any, Any, float]:
    return (yield ctx.call_activity(name, input=HEARTBEATS))


def _runtime(path: str) -> outlast.WorkflowRuntime:
    rt = outlast.WorkflowRuntime(f"sqlite:///{path}", poll_interval=0.05)
    rt.register_activity(slow)
    rt.register_activity(step)
    rt.register_activity(step, name="step_isolated", isolation="process")
    rt.register_activity(die_then_step, isolation="process")
    rt.register_activity(beats)
    rt.register_activity(beats, name="beats_isolated", isolation="process")
    for wf in (slow_wf, chain_wf, beats_wf):
        rt.register_workflow(wf)
    return rt


def _run(
    client: outlast.WorkflowClient, wf: Any, inputs: list[Any]
) -> tuple[float, float, list[Any]]:
    cpu0, t0 = _cpu(), time.perf_counter()
    ids = [client.schedule_new_workflow(wf, input=i) for i in inputs]
    outputs = []
    for iid in ids:
        state = client.wait_for_workflow_completion(iid, timeout_in_seconds=600)
        assert state is not None and state.runtime_status is outlast.WorkflowStatus.COMPLETED
        outputs.append(state.output_as())
    return time.perf_counter() - t0, _cpu() - cpu0, outputs


def heartbeats(client: outlast.WorkflowClient, count: int, rounds: int = 5) -> None:
    print(
        f"1. {count} activities at once, each ~1 s ({SLICES} x {SLICE * 1000:.0f} ms), "
        f"{rounds} rounds"
    )
    figures: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
    for _ in range(rounds):
        for beat in (False, True):  # alternated: the machine is shared
            wall, cpu, _ = _run(client, slow_wf, [beat] * count)
            figures[beat].append((wall, cpu / count))
    for beat, label in ((False, "no heartbeats      "), (True, "heartbeat / 100 ms ")):
        walls = sorted(w for w, _ in figures[beat])
        cpus = sorted(c for _, c in figures[beat])
        print(
            f"   {label}: wall {walls[len(walls) // 2]:.3f} s (median), "
            f"CPU {cpus[len(cpus) // 2] * 1000:.2f} ms per activity (median)"
        )


def isolation(client: outlast.WorkflowClient) -> None:
    print(f"2. a chain of {CHAIN} short activities, one at a time")
    _run(client, chain_wf, ["step_isolated"])  # the pool's first child is up
    for name, label in (("step", "thread "), ("step_isolated", "process")):
        wall, cpu, _ = _run(client, chain_wf, [name])
        print(
            f"   {label}: {CHAIN / wall:.0f} steps/s, {wall / CHAIN * 1000:.2f} ms per step, "
            f"CPU here {cpu / CHAIN * 1000:.2f} ms per step"
        )
    wall, _, _ = _run(client, chain_wf, ["die_then_step"])
    print(
        f"   process, each step's first attempt exiting hard (a fresh child and a retry "
        f"each): {wall / CHAIN * 1000:.1f} ms per step"
    )
    _, _, (here,) = _run(client, beats_wf, ["beats"])
    _, _, (there,) = _run(client, beats_wf, ["beats_isolated"])
    print(
        f"   ctx.heartbeat(details): {here * 1e6:.2f} us in a thread, {there * 1e6:.2f} us in "
        f"a child (a pipe write at most every {procchild_every() * 1000:.0f} ms)"
    )


def procchild_every() -> float:
    from outlast.runtime.procchild import BEAT_EVERY

    return BEAT_EVERY


def main(count: int) -> None:
    with tempfile.TemporaryDirectory(prefix="outlast-activities-") as tmp:
        rt = _runtime(f"{tmp}/bench.db")
        with rt:
            client = rt.client()
            heartbeats(client, count)
            isolation(client)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 16)
