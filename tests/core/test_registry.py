"""Registering workflows and activities: the mistakes that are refused, with how
to write them instead."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

import outlast
from outlast.core.registry import Registry


def test_an_async_def_workflow_is_refused_with_how_to_write_it() -> None:
    async def approval(ctx: Any, request: str) -> str:
        return request

    with pytest.raises(outlast.RegistrationError) as refused:
        Registry().add_workflow(approval)
    message = str(refused.value)
    assert "async def" in message
    assert "def approval(ctx, input):" in message and "yield ctx.call_activity" in message


def test_an_async_generator_workflow_is_refused_too() -> None:
    async def stream(ctx: Any) -> AsyncIterator[int]:
        yield 1

    with pytest.raises(outlast.RegistrationError, match="async def"):
        outlast.WorkflowRuntime("memory://").register_workflow(stream)


def test_async_def_activities_are_fine() -> None:
    async def fetch(ctx: Any, url: str) -> str:
        return url

    assert Registry().add_activity(fetch).is_async


@pytest.mark.parametrize("kind", ["workflow", "activity"])
def test_a_lambda_needs_a_name(kind: str) -> None:
    registry = Registry()
    add = registry.add_workflow if kind == "workflow" else registry.add_activity
    with pytest.raises(outlast.RegistrationError, match=f"lambda.*{kind} names must be unique"):
        add(lambda ctx, x: x)
    named = add(lambda ctx, x: x, "identity")
    assert named.name == "identity"


def test_a_copy_with_a_replaced_activity_leaves_the_original_alone() -> None:
    registry = Registry()

    def charge(ctx: object, amount: int) -> int:
        return amount

    registry.add_activity(charge)
    copy = registry.copy()
    definition = copy.replace_activity("charge", lambda ctx, amount: 0)
    assert registry.activities["charge"].fn is charge
    assert copy.activities["charge"] is definition
    # The fake has no hints: the original's decode its input.
    assert definition.input_hint is int and definition.takes_input
