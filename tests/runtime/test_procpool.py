"""isolation="process": activities in child processes that are killed when an
attempt times out or its workflow is terminated (real processes throughout)."""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Generator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import outlast
from outlast import WorkflowStatus
from tests.conftest import RuntimeFactory
from tests.runtime import procpool_app as app

TWO = outlast.RetryPolicy(timedelta(milliseconds=10), 2)
ROOT = Path(__file__).resolve().parents[2]


def _gone(pid: int) -> bool:
    """No such process, or one that has exited and waits to be reaped."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "\nState:\tZ" in status


def _until(check: Callable[[], bool], what: str, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def _run(rt: outlast.WorkflowRuntime, store_url: str, wf: Any, arg: Any) -> Any:
    if not rt.is_running:
        rt.start()
    client = outlast.WorkflowClient(store_url)
    iid = client.schedule_new_workflow(wf, input=arg)
    state = client.wait_for_workflow_completion(iid, timeout_in_seconds=30)
    assert state is not None and state.runtime_status is WorkflowStatus.COMPLETED, state
    return state.output_as()


def test_a_hung_activity_is_killed_at_its_timeout_and_its_process_is_gone(
    make_runtime: RuntimeFactory, store_url: str, tmp_path: Path
) -> None:
    rt = make_runtime()
    rt.register_activity(app.hang, isolation="process")

    @rt.workflow
    def wf(ctx: outlast.WorkflowContext, side: str) -> Generator[Any, Any, str]:
        try:
            yield ctx.call_activity(
                "hang", input=side, retry_policy=TWO, start_to_close_timeout=timedelta(seconds=1)
            )
        except outlast.ActivityTimeoutError as e:
            return e.details.error_type
        return "returned"

    side = tmp_path / "side.txt"
    rt.start()
    pool = rt.worker._activities._processes  # type: ignore[union-attr]
    assert pool is not None
    _until(lambda: bool(pool.pids()), "the pool's first process never started")
    assert _run(rt, store_url, wf, str(side)) == "ActivityTimeoutError"
    started = app.notes(side)
    # On a loaded machine attempt 2's fresh process may not be up within its
    # second (that attempt then times out before it starts); attempt 1's was.
    assert [(w[0], w[1]) for w in started][:1] == [("pid", "1")]
    assert [w[1] for w in started] in (["1"], ["1", "2"])
    pids = [int(w[2]) for w in started]
    assert len(set(pids)) == len(pids)  # a killed process is replaced, not reused
    assert os.getpid() not in pids
    # Asleep or in a busy loop, both are killed (the last at most a grace period
    # after the workflow's timer fired).
    _until(lambda: all(_gone(p) for p in pids), f"processes still alive: {pids}")


def test_a_crash_in_the_child_fails_the_attempt_and_it_is_retried(
    make_runtime: RuntimeFactory, store_url: str, tmp_path: Path
) -> None:
    rt = make_runtime()
    rt.register_activity(app.crash, isolation="process")
    rt.register_activity(app.crash_always, isolation="process")

    @rt.workflow
    def wf(ctx: outlast.WorkflowContext, side: str) -> Generator[Any, Any, Any]:
        try:
            yield ctx.call_activity("crash_always")
        except outlast.TaskFailedError as e:
            failure = [e.details.error_type, e.details.message]
        retried = yield ctx.call_activity("crash", input=side, retry_policy=TWO)
        return [failure, retried]

    side = tmp_path / "side.txt"
    failure, retried = _run(rt, store_url, wf, str(side))
    assert failure[0] == "ActivityProcessError"
    assert "crash_always" in failure[1] and "exit code 3" in failure[1]
    # Attempt 2 ran in a new process and got the heartbeat sent before the crash.
    assert retried == [2, {"done": 1}]
    assert [w[1] for w in app.notes(side)] == ["1", "2"]


def test_heartbeats_details_and_cancellation_work_in_the_child(
    make_runtime: RuntimeFactory, store_url: str, tmp_path: Path
) -> None:
    rt = make_runtime()
    rt.register_activity(app.progress, isolation="process")

    @rt.workflow
    def wf(ctx: outlast.WorkflowContext, side: str) -> Generator[Any, Any, Any]:
        return (
            yield ctx.call_activity(
                "progress",
                input=side,
                retry_policy=outlast.RetryPolicy(timedelta(milliseconds=10), 3),
                heartbeat_timeout=timedelta(seconds=1),
            )
        )

    side = tmp_path / "side.txt"
    # Attempt 3 got the last details attempt 2 sent before it went quiet.
    assert _run(rt, store_url, wf, str(side)) == [3, 4]
    seen = [w for w in app.notes(side) if w[0] == "seen"]
    assert seen == [["seen", "1", "None"], ["seen", "2", "1"], ["seen", "3", "4"]]
    # Attempt 2, having missed its heartbeat, saw is_cancelled in its process.
    _until(lambda: ["cancelled", "2"] in app.notes(side), "no cancellation seen")


def test_terminating_the_workflow_kills_its_child_and_spares_the_others(
    make_runtime: RuntimeFactory, store_url: str, tmp_path: Path
) -> None:
    rt = make_runtime(activity_processes=2)
    rt.register_activity(app.hang, isolation="process")
    rt.register_activity(app.wait_for_file, isolation="process")

    @rt.workflow
    def stuck(ctx: outlast.WorkflowContext, side: str) -> Generator[Any, Any, Any]:
        return (yield ctx.call_activity("hang", input=side))

    @rt.workflow
    def other(ctx: outlast.WorkflowContext, flag: str) -> Generator[Any, Any, Any]:
        return (yield ctx.call_activity("wait_for_file", input=flag))

    rt.start()
    client = outlast.WorkflowClient(store_url)
    side, flag = tmp_path / "side.txt", tmp_path / "go"
    victim = client.schedule_new_workflow(stuck, input=str(side))
    bystander = client.schedule_new_workflow(other, input=str(flag))
    _until(lambda: bool(app.notes(side)), "the activity never started")
    pid = int(app.notes(side)[0][2])
    client.terminate_workflow(victim, output="enough")
    ended = client.wait_for_workflow_completion(victim, timeout_in_seconds=10)
    assert ended is not None and ended.runtime_status is WorkflowStatus.TERMINATED
    _until(lambda: _gone(pid), f"process {pid} of the terminated workflow still runs")
    flag.touch()
    done = client.wait_for_workflow_completion(bystander, timeout_in_seconds=20)
    assert done is not None and done.runtime_status is WorkflowStatus.COMPLETED
    assert done.output_as() not in (pid, os.getpid())


def test_a_workflow_ended_by_another_worker_has_its_child_killed_here(
    make_runtime: RuntimeFactory, store_url: str, tmp_path: Path
) -> None:
    rt = make_runtime()
    rt.register_activity(app.hang, isolation="process")

    @rt.workflow
    def stuck(ctx: outlast.WorkflowContext, side: str) -> Generator[Any, Any, Any]:
        return (yield ctx.call_activity("hang", input=side))

    rt.start()
    client = outlast.WorkflowClient(store_url)
    side = tmp_path / "side.txt"
    iid = client.schedule_new_workflow(stuck, input=str(side))
    _until(lambda: bool(app.notes(side)), "the activity never started")
    pid = int(app.notes(side)[0][2])
    # What another worker's commit of the termination leaves in the store, with
    # no turn on this worker to say so.
    assert rt.store.set_status_if(iid, "RUNNING", "TERMINATED", time.time())
    _until(lambda: _gone(pid), f"process {pid} of the ended workflow still runs")


def test_a_killed_worker_takes_its_children_with_it(store_url: str, tmp_path: Path) -> None:
    side, log = tmp_path / "side.txt", tmp_path / "worker.log"
    with log.open("w") as out:  # not a pipe: a surviving child would hold it open
        worker = subprocess.Popen(
            [sys.executable, "-m", "tests.runtime.procpool_worker", store_url, str(side)],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _until(lambda: bool(app.notes(side)) or worker.poll() is not None, "no activity")
        assert worker.poll() is None, log.read_text()
        pid = int(app.notes(side)[0][2])
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    # Busy in a loop, the child still sees its pipe to the worker close, and exits.
    _until(lambda: _gone(pid), f"process {pid} outlived its worker")


def test_shutdown_kills_what_still_runs_and_the_attempt_runs_again_on_restart(
    make_runtime: RuntimeFactory, store_url: str, tmp_path: Path
) -> None:
    side = tmp_path / "side.txt"

    def runtime() -> outlast.WorkflowRuntime:
        rt = make_runtime()
        rt._options.shutdown_grace = 0.2  # not a public knob; 10 s by default
        rt.register_activity(app.hang, isolation="process")

        @rt.workflow
        def stuck(ctx: outlast.WorkflowContext, side: str) -> Generator[Any, Any, Any]:
            return (yield ctx.call_activity("hang", input=side))

        return rt

    first = runtime()
    first.start()
    outlast.WorkflowClient(store_url).schedule_new_workflow("stuck", input=str(side))
    _until(lambda: len(app.notes(side)) == 1, "the activity never started")
    first.shutdown()
    pid = int(app.notes(side)[0][2])
    _until(lambda: _gone(pid), f"process {pid} outlived the shutdown")

    second = runtime()
    second.start()
    _until(lambda: len(app.notes(side)) == 2, "the activity did not run again")
    assert app.notes(side)[1][1] == "2"  # the stopped worker's attempt counted
    second.shutdown()


def test_errors_come_back_by_type_name_and_non_retryable_ones_are_tried_once(
    make_runtime: RuntimeFactory, store_url: str
) -> None:
    rt = make_runtime()
    rt.register_activity(app.fail, isolation="process")
    policy = outlast.RetryPolicy(
        timedelta(milliseconds=10), 3, non_retryable_error_types=[ValueError, "CardDeclined"]
    )

    @rt.workflow
    def wf(ctx: outlast.WorkflowContext, kinds: list[str]) -> Generator[Any, Any, Any]:
        seen = []
        for kind in kinds:
            try:
                yield ctx.call_activity("fail", input=kind, retry_policy=policy)
            except outlast.TaskFailedError as e:
                seen.append([kind, e.details.error_type, e.details.message, e.details.attempt])
        return seen

    got = _run(rt, store_url, wf, ["declined", "marked", "value", "blip"])
    assert got == [
        ["declined", "CardDeclined", "card 4242 declined", None],  # once: attempt 1
        ["marked", "NonRetryableError", "gone for good", None],
        ["value", "ValueError", "bad input", None],
        ["blip", "ConnectionError", "blip", 3],  # retried
    ]


def test_thread_activities_stay_in_the_worker_and_async_ones_run_isolated_too(
    make_runtime: RuntimeFactory, store_url: str
) -> None:
    rt = make_runtime()
    rt.register_activity(app.whose_pid)
    rt.register_activity(app.whose_pid, name="isolated_pid", isolation="process")
    rt.register_activity(app.async_double, isolation="process")

    @rt.workflow
    def wf(ctx: outlast.WorkflowContext, x: int) -> Generator[Any, Any, Any]:
        here = yield ctx.call_activity("whose_pid")
        there = yield ctx.call_activity("isolated_pid")
        doubled = yield ctx.call_activity("async_double", input=x)
        return [here, there, doubled]

    here, there, (doubled, async_pid) = _run(rt, store_url, wf, 21)
    assert here == os.getpid()
    assert there != os.getpid() and async_pid != os.getpid()
    assert doubled == 42


def _nested_owner() -> Callable[..., Any]:
    def nested(ctx: outlast.ActivityContext) -> int:
        return 1

    return nested


def test_registration_refuses_what_a_child_process_cannot_import(
    make_runtime: RuntimeFactory,
) -> None:
    rt = make_runtime()
    with pytest.raises(outlast.RegistrationError, match=r"inside _nested_owner\(\)"):
        rt.register_activity(_nested_owner(), isolation="process")
    with pytest.raises(outlast.RegistrationError, match="module-level def"):
        rt.register_activity(functools.partial(app.fail), name="p", isolation="process")
    with pytest.raises(ValueError, match="isolation"):
        rt.register_activity(app.fail, isolation="fork")  # type: ignore[arg-type]
    assert "fail" not in rt.registry.activities  # nothing half-registered

    # Found by name at start: this module's name `replaced` now means another function.
    rt.register_activity(app.REGISTERED_THEN_REPLACED, isolation="process")
    with pytest.raises(outlast.RegistrationError, match="not the registered function"):
        rt.start()
