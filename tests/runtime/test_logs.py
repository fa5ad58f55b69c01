"""The runtime's logs from real runs: lifecycle records with structured fields, a
replay-aware ``ctx.logger`` (each line once across restarts and cache evictions),
activity loggers with the attempt, and no payloads unless asked."""

from __future__ import annotations

import logging
from collections.abc import Generator
from datetime import timedelta
from typing import Any

import pytest

import outlast
from outlast import RetryPolicy, WorkflowStatus
from tests.conftest import RuntimeFactory
from tests.runtime.test_runtime import _wait_for

SECRET = "card-4111-1111"


def _records(caplog: pytest.LogCaptureFixture, logger: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == logger]


def _register_booking(rt: outlast.WorkflowRuntime, failures: int) -> None:
    calls = {"n": 0}

    @rt.activity
    def charge(ctx: outlast.ActivityContext, card: str) -> str:
        calls["n"] += 1
        ctx.logger.info("charging")
        if calls["n"] <= failures:
            raise ConnectionError("bank unreachable")
        return f"receipt for {card}"

    @rt.workflow
    def booking(ctx: outlast.WorkflowContext, card: str) -> Generator[Any, Any, Any]:
        policy = RetryPolicy(
            first_retry_interval=timedelta(milliseconds=1), max_number_of_attempts=2
        )
        return (yield ctx.call_activity(charge, input=card, retry_policy=policy))


def test_starts_retries_and_completions_are_logged_with_fields_and_no_payloads(
    make_runtime: RuntimeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="outlast")
    rt = make_runtime()
    _register_booking(rt, failures=1)
    rt.start()
    client = rt.client()
    iid = client.schedule_new_workflow("booking", input=SECRET, instance_id="b-1")
    state = client.wait_for_workflow_completion(iid, timeout_in_seconds=10)
    assert state is not None and state.runtime_status is WorkflowStatus.COMPLETED
    _wait_for(
        lambda: any("completed" in r.getMessage() for r in _records(caplog, "outlast.runtime"))
    )

    runtime_lines = _records(caplog, "outlast.runtime")
    started = [r for r in runtime_lines if "started" in r.getMessage()]
    assert len(started) == 1 and started[0].levelno == logging.INFO
    assert (started[0].instance_id, started[0].workflow_name) == ("b-1", "booking")  # type: ignore[attr-defined]
    retry = [r for r in runtime_lines if "retries" in r.getMessage()]
    assert len(retry) == 1 and retry[0].instance_id == "b-1"  # type: ignore[attr-defined]
    done = [r for r in runtime_lines if "completed" in r.getMessage()]
    assert len(done) == 1 and done[0].status == "COMPLETED"  # type: ignore[attr-defined]

    failed = _records(caplog, "outlast.runtime.activities")
    warnings = [r for r in failed if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert warnings[0].attempt == 1  # type: ignore[attr-defined]
    assert warnings[0].activity_name == "charge"  # type: ignore[attr-defined]
    assert "ConnectionError: bank unreachable" in warnings[0].getMessage()

    # The activity's own logger carries the attempt of each call.
    mine = _records(caplog, "outlast.activity")
    assert [r.attempt for r in mine] == [1, 2]  # type: ignore[attr-defined]
    assert {r.instance_id for r in mine} == {"b-1"}  # type: ignore[attr-defined]

    # Nothing logged the input or the result.
    for r in caplog.records:
        assert SECRET not in r.getMessage()
        assert SECRET not in str(r.__dict__)


def test_a_failed_workflow_is_a_warning_with_the_error(
    make_runtime: RuntimeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="outlast")
    rt = make_runtime()
    _register_booking(rt, failures=5)
    rt.start()
    client = rt.client()
    iid = client.schedule_new_workflow("booking", input=SECRET, instance_id="b-2")
    state = client.wait_for_workflow_completion(iid, timeout_in_seconds=10)
    assert state is not None and state.runtime_status is WorkflowStatus.FAILED
    _wait_for(lambda: any("failed" in r.getMessage() for r in _records(caplog, "outlast.runtime")))
    (line,) = [r for r in _records(caplog, "outlast.runtime") if "failed" in r.getMessage()]
    assert line.levelno == logging.WARNING
    assert line.instance_id == "b-2"  # type: ignore[attr-defined]
    assert "ConnectionError" in line.error  # type: ignore[attr-defined]
    # INFO is off: no start or completion lines were made.
    assert not [r for r in caplog.records if r.levelno < logging.WARNING]


def test_log_payloads_adds_input_and_output(
    make_runtime: RuntimeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="outlast")
    rt = make_runtime(log_payloads=True)
    _register_booking(rt, failures=0)
    rt.start()
    client = rt.client()
    iid = client.schedule_new_workflow("booking", input=SECRET, instance_id="b-3")
    client.wait_for_workflow_completion(iid, timeout_in_seconds=10)
    _wait_for(lambda: any(hasattr(r, "output") for r in _records(caplog, "outlast.runtime")))
    lines = _records(caplog, "outlast.runtime")
    assert [r.input for r in lines if hasattr(r, "input")] == [f'"{SECRET}"']
    assert [r.output for r in lines if hasattr(r, "output")] == [f'"receipt for {SECRET}"']


def _register_chatty(rt: outlast.WorkflowRuntime) -> None:
    @rt.activity
    def step(ctx: outlast.ActivityContext, n: int) -> int:
        return n + 1

    @rt.workflow
    def chatty(ctx: outlast.WorkflowContext, _: Any) -> Generator[Any, Any, Any]:
        ctx.logger.info("begin", extra={"phase": "start"})
        n = yield ctx.call_activity(step, input=0)
        ctx.logger.info("after step %d", n)
        yield ctx.wait_for_external_event("go")
        ctx.logger.info("end")
        return n


def _lines(caplog: pytest.LogCaptureFixture, iid: str) -> list[str]:
    return [
        r.getMessage()
        for r in _records(caplog, "outlast.workflow")
        if r.instance_id == iid  # type: ignore[attr-defined]
    ]


def test_ctx_logger_is_silent_while_a_restarted_runtime_replays(
    make_runtime: RuntimeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="outlast.workflow")
    first = make_runtime()
    _register_chatty(first)
    first.start()
    first.client().schedule_new_workflow("chatty", instance_id="c-1")
    _wait_for(lambda: "after step 1" in _lines(caplog, "c-1"))
    first.shutdown()

    # A new runtime (a restart) replays the history before it can go on.
    second = make_runtime()
    _register_chatty(second)
    second.start()
    client = second.client()
    client.raise_workflow_event("c-1", "go")
    state = client.wait_for_workflow_completion("c-1", timeout_in_seconds=10)
    assert state is not None and state.runtime_status is WorkflowStatus.COMPLETED
    assert _lines(caplog, "c-1") == ["begin", "after step 1", "end"]
    (begin,) = [r for r in _records(caplog, "outlast.workflow") if r.getMessage() == "begin"]
    assert begin.phase == "start" and begin.workflow_name == "chatty"  # type: ignore[attr-defined]


def test_ctx_logger_is_silent_while_an_evicted_instance_replays(
    make_runtime: RuntimeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="outlast.workflow")
    # A cache of one: each instance's turn evicts the other, whose next turn replays.
    rt = make_runtime(cache_size=1)
    _register_chatty(rt)
    rt.start()
    client = rt.client()
    ids = [f"e-{n}" for n in range(3)]
    for iid in ids:
        client.schedule_new_workflow("chatty", instance_id=iid)
    for iid in ids:
        _wait_for(lambda iid=iid: "after step 1" in _lines(caplog, iid))
    for iid in ids:
        client.raise_workflow_event(iid, "go")
    for iid in ids:
        state = client.wait_for_workflow_completion(iid, timeout_in_seconds=10)
        assert state is not None and state.runtime_status is WorkflowStatus.COMPLETED
    for iid in ids:
        assert _lines(caplog, iid) == ["begin", "after step 1", "end"]


def test_a_stall_is_logged_with_the_instance(
    make_runtime: RuntimeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="outlast")
    first = make_runtime()
    _register_chatty(first)
    first.start()
    first.client().schedule_new_workflow("chatty", instance_id="s-1")
    _wait_for(
        lambda: (
            first.client().get_workflow_state("s-1").runtime_status  # type: ignore[union-attr]
            is WorkflowStatus.RUNNING
        )
    )
    first.shutdown()

    changed = make_runtime()

    @changed.workflow(name="chatty")
    def chatty(ctx: outlast.WorkflowContext, _: Any) -> Generator[Any, Any, Any]:
        yield ctx.create_timer(timedelta(seconds=1))  # not what history holds

    changed.start()
    client = changed.client()
    client.raise_workflow_event("s-1", "go")
    _wait_for(
        lambda: (
            client.get_workflow_state("s-1").runtime_status  # type: ignore[union-attr]
            is WorkflowStatus.STALLED
        )
    )
    (line,) = [r for r in caplog.records if "stalled" in r.getMessage()]
    assert line.levelno == logging.WARNING
    assert (line.instance_id, line.workflow_name) == ("s-1", "chatty")  # type: ignore[attr-defined]
