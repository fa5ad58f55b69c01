"""Activities end to end: retries that stop on errors that cannot be helped,
attempt numbers, timeouts and heartbeats."""

from __future__ import annotations

from collections.abc import Generator
from datetime import timedelta
from typing import Any

import outlast
from outlast import WorkflowStatus
from tests.conftest import RuntimeFactory

FAST = outlast.RetryPolicy(
    timedelta(milliseconds=10), 3, non_retryable_error_types=[ValueError, "CardDeclined"]
)


class CardDeclined(Exception):
    pass


def test_non_retryable_failures_are_tried_once(
    make_runtime: RuntimeFactory, store_url: str
) -> None:
    rt = make_runtime()
    calls: dict[str, int] = {}
    errors: dict[str, BaseException] = {
        "value": ValueError("bad input"),
        "declined": CardDeclined("declined"),
        "marked": outlast.NonRetryableError("gone for good"),
        "blip": ConnectionError("blip"),
    }

    @rt.activity
    def charge(ctx: outlast.ActivityContext, kind: str) -> None:
        calls[kind] = calls.get(kind, 0) + 1
        raise errors[kind]

    @rt.workflow
    def wf(ctx: outlast.WorkflowContext, kind: str) -> Generator[Any, Any, str]:
        try:
            yield ctx.call_activity(charge, input=kind, retry_policy=FAST)
        except outlast.TaskFailedError as e:
            return e.details.error_type
        return "no error"

    rt.start()
    client = outlast.WorkflowClient(store_url)
    ids = {kind: client.schedule_new_workflow(wf, input=kind) for kind in errors}
    for kind, iid in ids.items():
        state = client.wait_for_workflow_completion(iid, timeout_in_seconds=10)
        assert state is not None and state.runtime_status is WorkflowStatus.COMPLETED
        assert state.output_as() == type(errors[kind]).__name__
    assert calls == {"value": 1, "declined": 1, "marked": 1, "blip": 3}
