"""Poison input: bad workflow and activity code next to a canary workflow that must
still complete. One bad instance fails (or stalls) alone, with a clear reason;
everything else goes on.

A test marked ``xfail(strict=True)`` is a fault of issue 13 not fixed yet: it
flips to a failure, to be unmarked, the day its fix lands.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Generator, Iterator
from datetime import timedelta
from typing import Any

import pytest

import outlast
from outlast import WorkflowStatus
from outlast.errors import PayloadTooLargeError, UnknownWorkflowError
from outlast.store.postgres import PostgresStore
from tests.conftest import RuntimeFactory

# How long a canary may take while something bad runs beside it. Generous: on a
# busy machine; only tests that are expected to fail wait this out.
CANARY_SECONDS = 10.0
MAX_PAYLOAD = 64 * 1024


def canary_step(ctx: outlast.ActivityContext, x: int) -> int:
    return x + 1


def canary(ctx: outlast.WorkflowContext, n: int) -> Generator[Any, Any, int]:
    x = yield ctx.call_activity(canary_step, input=n)
    x = yield ctx.call_activity(canary_step, input=x)
    return int(x)


class Env:
    """A runtime with the canary and whatever a test registers, and its client."""

    def __init__(self, runtime: outlast.WorkflowRuntime) -> None:
        self.runtime = runtime
        runtime.register_workflow(canary)
        runtime.register_activity(canary_step)
        self.client = runtime.client()

    def start(self, workflow: Callable[..., Any] | str, input: Any = None) -> str:
        return self.client.schedule_new_workflow(workflow, input=input)

    def outcome(self, iid: str, timeout: float = 30.0) -> outlast.WorkflowState:
        state = self.client.wait_for_workflow_completion(iid, timeout_in_seconds=timeout)
        assert state is not None
        return state

    def failure(self, iid: str) -> str:
        state = self.outcome(iid)
        assert state.runtime_status is WorkflowStatus.FAILED, state
        assert state.failure_details is not None
        return f"{state.failure_details.error_type}: {state.failure_details.message}"

    def assert_canary_completes(self) -> None:
        """A canary started now completes, and so does one more after it."""
        for n in (1, 2):
            iid = self.start(canary, n)
            deadline = time.monotonic() + CANARY_SECONDS
            while True:
                health = self.runtime.health()
                assert health["healthy"], health  # a dead worker loop: no need to wait
                try:
                    state = self.outcome(iid, 0.5)
                    break
                except outlast.errors.TimeoutError:
                    if time.monotonic() > deadline:
                        pytest.fail(f"the canary {iid} did not complete beside the poison")
            assert state.runtime_status is WorkflowStatus.COMPLETED, state
            assert state.output_as() == n + 2


@pytest.fixture
def env(make_runtime: RuntimeFactory) -> Iterator[Env]:
    runtime = make_runtime(max_concurrent_activities=4, max_payload_bytes=MAX_PAYLOAD)
    made = Env(runtime)
    yield made


def _started(env: Env, *workflows: Callable[..., Any]) -> None:
    for workflow in workflows:
        env.runtime.register_workflow(workflow)
    env.runtime.start()


# --- bad workflow code ---------------------------------------------------------------


def raises(ctx: outlast.WorkflowContext, _: Any) -> Generator[Any, Any, None]:
    yield ctx.create_timer(timedelta(0))
    raise ValueError("workflow code went wrong")


def returns_unserializable(ctx: outlast.WorkflowContext, _: Any) -> Generator[Any, Any, object]:
    yield ctx.create_timer(timedelta(0))
    return object()


def returns_nan(ctx: outlast.WorkflowContext, _: Any) -> Generator[Any, Any, float]:
    yield ctx.create_timer(timedelta(0))
    return float("nan")


def returns_huge(ctx: outlast.WorkflowContext, _: Any) -> Generator[Any, Any, str]:
    yield ctx.create_timer(timedelta(0))
    return "x" * (MAX_PAYLOAD + 1)


def yields_junk(ctx: outlast.WorkflowContext, _: Any) -> Generator[Any, Any, None]:
    yield 42


def calls_unknown_activity(ctx: outlast.WorkflowContext, _: Any) -> Generator[Any, Any, Any]:
    return (yield ctx.call_activity("no_such_activity", input=1))


def calls_unknown_child(ctx: outlast.WorkflowContext, _: Any) -> Generator[Any, Any, Any]:
    return (yield ctx.call_child_workflow("no_such_workflow", input=1))


@pytest.mark.parametrize(
    ("workflow", "reason"),
    [
        (raises, "ValueError: workflow code went wrong"),
        (returns_unserializable, "cannot serialize"),
        (returns_nan, "JSON has no NaN or Infinity"),
        (returns_huge, "over the 65,536-byte limit"),
        (yields_junk, "may only yield tasks"),
        (calls_unknown_activity, "no_such_activity"),
    ],
    ids=lambda v: getattr(v, "__name__", ""),
)
def test_bad_workflow_code_fails_its_instance_alone(
    env: Env, workflow: Callable[..., Any], reason: str
) -> None:
    _started(env, workflow)
    bad = [env.start(workflow) for _ in range(3)]
    env.assert_canary_completes()
    for iid in bad:
        assert reason in env.failure(iid)


def test_unknown_names_and_oversized_inputs_are_refused_at_the_start(env: Env) -> None:
    _started(env)
    with pytest.raises(UnknownWorkflowError, match="no_such_workflow"):
        env.start("no_such_workflow")
    with pytest.raises(PayloadTooLargeError):
        env.start(canary, "x" * (MAX_PAYLOAD + 1))
    with pytest.raises(outlast.errors.SerializationError, match="NaN"):
        env.start(canary, {"n": float("nan")})
    env.assert_canary_completes()


def test_an_unknown_child_workflow_stalls_the_child_alone(env: Env) -> None:
    # Stalled, not failed: a runtime that has the workflow may come and run it.
    _started(env, calls_unknown_child)
    parent = env.start(calls_unknown_child)
    env.assert_canary_completes()
    deadline = time.monotonic() + 30
    while not (children := env.client.list_workflows(name="no_such_workflow").states):
        assert time.monotonic() < deadline, "the child was never created"
        time.sleep(0.05)
    child = env.client.wait_for_workflow_start(children[0].instance_id, timeout_in_seconds=30)
    assert child is not None
    deadline = time.monotonic() + 30
    while child.runtime_status is not WorkflowStatus.STALLED:
        assert time.monotonic() < deadline, child
        time.sleep(0.05)
        child = env.client.get_workflow_state(child.instance_id)
        assert child is not None
    state = env.client.get_workflow_state(parent)
    assert state is not None and state.runtime_status is WorkflowStatus.RUNNING


def test_input_of_the_wrong_shape_fails_its_instance(env: Env) -> None:
    _started(env)
    bad = env.start(canary, {"not": "an int"})
    env.assert_canary_completes()
    assert "TypeError" in env.failure(bad) or "Serialization" in env.failure(bad)


# --- bad activity code -----------------------------------------------------------------


def act_raises(ctx: outlast.ActivityContext, _: Any) -> None:
    raise RuntimeError("activity went wrong")


def act_unserializable(ctx: outlast.ActivityContext, _: Any) -> object:
    return {"when": threading.Lock()}


def act_nan(ctx: outlast.ActivityContext, _: Any) -> dict[str, float]:
    return {"reading": float("inf")}


def act_huge(ctx: outlast.ActivityContext, _: Any) -> str:
    return "y" * (MAX_PAYLOAD + 1)


def _calling(activity: Callable[..., Any]) -> Callable[..., Any]:
    def calls(ctx: outlast.WorkflowContext, _: Any) -> Generator[Any, Any, Any]:
        return (yield ctx.call_activity(activity, input=None))

    calls.__name__ = f"calls_{activity.__name__}"
    return calls


@pytest.mark.parametrize(
    ("activity", "reason"),
    [
        (act_raises, "activity went wrong"),
        (act_unserializable, "cannot serialize"),
        (act_nan, "value['reading'] = inf"),
        (act_huge, "over the 65,536-byte limit"),
    ],
    ids=lambda v: getattr(v, "__name__", ""),
)
def test_bad_activity_code_fails_its_instance_alone(
    env: Env, activity: Callable[..., Any], reason: str
) -> None:
    workflow = _calling(activity)
    env.runtime.register_activity(activity)
    _started(env, workflow)
    # More than the activity threads (4): a fault that cost a thread would show.
    bad = [env.start(workflow) for _ in range(8)]
    env.assert_canary_completes()
    for iid in bad:
        assert reason in env.failure(iid)


# --- the faults the worker rework fixes (issue 13) -------------------------------------


def exits(ctx: outlast.WorkflowContext, _: Any) -> Generator[Any, Any, None]:
    yield ctx.create_timer(timedelta(0))
    raise SystemExit(3)


def interrupts(ctx: outlast.WorkflowContext, _: Any) -> Generator[Any, Any, None]:
    yield ctx.create_timer(timedelta(0))
    raise KeyboardInterrupt


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
@pytest.mark.parametrize("workflow", [exits, interrupts], ids=["SystemExit", "KeyboardInterrupt"])
def test_a_base_exception_in_workflow_code_fails_that_instance_only(
    env: Env, workflow: Callable[..., Any]
) -> None:
    _started(env, workflow)
    bad = env.start(workflow)
    env.assert_canary_completes()
    assert env.outcome(bad).runtime_status in (WorkflowStatus.FAILED, WorkflowStatus.STALLED)
    assert env.runtime.health()["healthy"]


class _Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("__str__ fails too")


def act_unprintable(ctx: outlast.ActivityContext, _: Any) -> None:
    raise _Unprintable


def act_exits(ctx: outlast.ActivityContext, _: Any) -> None:
    raise SystemExit(4)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
@pytest.mark.parametrize(
    "activity", [act_unprintable, act_exits], ids=["bad __str__", "SystemExit"]
)
def test_an_activity_that_kills_its_thread_does_not_stop_the_others(
    env: Env, activity: Callable[..., Any]
) -> None:
    workflow = _calling(activity)
    env.runtime.register_activity(activity)
    _started(env, workflow)
    bad = [env.start(workflow) for _ in range(8)]  # twice the activity threads
    env.assert_canary_completes()
    for iid in bad:
        assert env.outcome(iid).runtime_status is WorkflowStatus.FAILED


def bad_child_id(ctx: outlast.WorkflowContext, _: Any) -> Generator[Any, Any, Any]:
    return (yield ctx.call_child_workflow(canary, input=1, instance_id="child\x00/../id"))


def test_a_child_instance_id_is_validated_like_a_client_given_one(env: Env) -> None:
    _started(env, bad_child_id)
    bad = env.start(bad_child_id)
    env.assert_canary_completes()
    assert "invalid instance ID" in env.failure(bad)


def test_a_bad_child_instance_id_on_postgresql_stops_nothing_else(fresh_database: str) -> None:
    # PostgreSQL refuses a NUL in text: the batch holding that child failed, round
    # after round, and every instance of the worker stayed where it was.
    store = PostgresStore(fresh_database)
    runtime = outlast.WorkflowRuntime(store, poll_interval=0.05, max_payload_bytes=MAX_PAYLOAD)
    try:
        env = Env(runtime)
        _started(env, bad_child_id)
        bad = env.start(bad_child_id)
        env.assert_canary_completes()
        assert "invalid instance ID" in env.failure(bad)
    finally:
        runtime.shutdown()
        store.close()


_RELEASE = threading.Event()


def blocks(ctx: outlast.WorkflowContext, _: Any) -> Generator[Any, Any, None]:
    yield ctx.create_timer(timedelta(0))
    _RELEASE.wait(60)  # a blocking call in workflow code: never do this


@pytest.fixture
def release(env: Env) -> Iterator[threading.Event]:
    _RELEASE.clear()
    yield _RELEASE
    _RELEASE.set()  # before the runtime shuts down (torn down after this): let it go


def test_workflow_code_that_blocks_is_stopped_and_the_rest_goes_on(
    env: Env, release: threading.Event
) -> None:
    _started(env, blocks)
    stuck = env.start(blocks)
    env.assert_canary_completes()
    deadline = time.monotonic() + 30
    while True:
        state = env.client.get_workflow_state(stuck)
        assert state is not None
        if state.runtime_status in (WorkflowStatus.FAILED, WorkflowStatus.STALLED):
            break
        assert time.monotonic() < deadline, state
        time.sleep(0.05)


def runaway(ctx: outlast.WorkflowContext, depth: int) -> Generator[Any, Any, Any]:
    return (yield ctx.call_child_workflow(runaway, input=depth + 1))


def test_runaway_recursion_of_child_workflows_hits_a_depth_limit(env: Env) -> None:
    _started(env, runaway)
    root = env.start(runaway, 0)
    deadline = time.monotonic() + 60
    while True:
        state = env.client.get_workflow_state(root)
        assert state is not None
        if state.runtime_status.is_terminal:
            break
        made = len(env.client.list_workflows(name="runaway", page_size=2001).states)
        assert made <= 2000, "no depth limit: 2,000 nested child workflows and counting"
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert state.runtime_status is WorkflowStatus.FAILED
    assert state.failure_details is not None and "depth" in state.failure_details.message
