"""Retry policies: when they give up, and on which errors at once."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from outlast import NonRetryableError, RetryPolicy, TaskFailedError
from outlast.errors import FailureDetails


def _failed(error_type: str, non_retriable: bool = False) -> TaskFailedError:
    details = FailureDetails(error_type, "boom", non_retriable=non_retriable)
    return TaskFailedError("activity failed", details)


def test_listed_types_by_class_or_name_are_not_retried() -> None:
    policy = RetryPolicy(
        timedelta(seconds=1), 5, non_retryable_error_types=[ValueError, "CardDeclined"]
    )
    assert policy.next_delay(1, timedelta(0), _failed("ValueError")) is None
    assert policy.next_delay(1, timedelta(0), _failed("CardDeclined")) is None
    assert policy.next_delay(1, timedelta(0), _failed("ConnectionError")) == timedelta(seconds=1)


def test_an_error_raised_in_the_workflow_matches_by_its_own_type() -> None:
    policy = RetryPolicy(timedelta(seconds=1), 5, non_retryable_error_types=[KeyError])
    assert policy.next_delay(1, timedelta(0), KeyError("x")) is None
    assert policy.next_delay(1, timedelta(0), LookupError("x")) is not None


def test_non_retryable_error_is_marked_in_its_details() -> None:
    details = FailureDetails.from_exception(NonRetryableError("card declined"))
    assert details.non_retriable and details.error_type == "NonRetryableError"
    assert not FailureDetails.from_exception(ValueError("x")).non_retriable
    policy = RetryPolicy(timedelta(seconds=1), 5)
    assert policy.next_delay(1, timedelta(0), TaskFailedError("f", details)) is None


def test_bad_entries_are_refused() -> None:
    with pytest.raises(TypeError):
        RetryPolicy(timedelta(seconds=1), 2, non_retryable_error_types=[42])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        RetryPolicy(timedelta(seconds=1), 2, non_retryable_error_types="ValueError")
    with pytest.raises(ValueError):
        RetryPolicy(timedelta(seconds=1), 2, non_retryable_error_types=[""])


def test_policies_compare_by_their_fields() -> None:
    a = RetryPolicy(timedelta(seconds=1), 2, non_retryable_error_types=("X",))
    assert a == RetryPolicy(timedelta(seconds=1), 2, non_retryable_error_types=("X",))


def test_activity_timeouts_must_be_positive_and_encode_only_what_is_set() -> None:
    from outlast.core.retry import ActivityTimeouts

    with pytest.raises(ValueError, match="heartbeat_timeout"):
        ActivityTimeouts(heartbeat=timedelta(0))
    with pytest.raises(ValueError, match="start_to_close_timeout"):
        ActivityTimeouts(start_to_close=timedelta(seconds=-1))
    assert ActivityTimeouts(schedule_to_close=timedelta(seconds=5)).options(None) is None
    both = ActivityTimeouts(timedelta(seconds=2), None, timedelta(seconds=1))
    assert json.loads(both.options('{"done":3}') or "") == {
        "start_to_close_timeout": 2.0,
        "heartbeat_timeout": 1.0,
        "heartbeat_details": '{"done":3}',
    }
