"""A task used as if it were its result says how to get the result."""

from __future__ import annotations

import re
from typing import Any

import pytest

from outlast.core.serialization import to_json
from outlast.core.task import CompletableTask, when_all
from outlast.errors import SerializationError

HINT = re.escape("did you forget `yield`?")


def test_a_task_read_as_a_value_hints_at_yield() -> None:
    task: Any = CompletableTask()
    with pytest.raises(AttributeError, match=HINT):
        _ = task.total
    with pytest.raises(TypeError, match=HINT):
        _ = task["total"]
    with pytest.raises(SerializationError, match=HINT):
        to_json({"price": task})
    assert f"{task}" == "<CompletableTask pending: `yield` it to get its result>"
    task._complete(3)
    assert repr(task) == "<CompletableTask completed: `yield` it to get its result>"


def test_tasks_still_work_as_tasks() -> None:
    a: CompletableTask[int] = CompletableTask()
    b: CompletableTask[int] = CompletableTask()
    both = when_all([a, b])
    a._complete(1)
    b._complete(2)
    assert both.is_complete and both.get_result() == [1, 2]
    assert not hasattr(a, "model_dump")  # what serialization probes for
    # Other values keep their own message.
    with pytest.raises(SerializationError, match="not JSON serializable: object"):
        to_json(object())
