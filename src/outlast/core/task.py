"""Durable tasks: what ``ctx.call_activity`` and friends return, and their combinators.

A task completes when the replay core feeds it the matching history event. Workflow
code ``yield``s a task to wait for it; ``when_all`` / ``when_any`` combine tasks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from outlast.errors import InvalidStateError

T = TypeVar("T")


class Task(Generic[T]):
    """A unit of durable work whose result is known once its history event arrives."""

    __slots__ = ("_awaited", "_callbacks", "_exception", "_is_complete", "_result")

    def __init__(self) -> None:
        self._result: Any = None
        self._exception: BaseException | None = None
        self._is_complete = False
        self._callbacks: list[Callable[[Task[Any]], None]] | None = None
        self._awaited = False  # the workflow yielded it

    def __repr__(self) -> str:
        # What an f-string shows of a task used as its result: say how to get that.
        state = "completed" if self._is_complete else "pending"
        return f"<{type(self).__name__} {state}: `yield` it to get its result>"

    if not TYPE_CHECKING:  # type checkers keep flagging these uses as errors
        # A task stands for a result that is not there yet; code that uses it as
        # the result forgot to ``yield`` it. Say so, where Python lets us.
        def __getattr__(self, name: str) -> Any:
            raise AttributeError(
                f"{type(self).__name__!r} object has no attribute {name!r}: this is a "
                "task, not its result; did you forget `yield`? "
                "(result = yield ctx.call_activity(...))"
            )

        def __getitem__(self, key: Any) -> Any:
            raise TypeError(
                f"a {type(self).__name__} is not subscriptable: this is a task, not its "
                "result; did you forget `yield`? (result = yield ctx.call_activity(...))"
            )

    @property
    def is_complete(self) -> bool:
        return self._is_complete

    @property
    def is_failed(self) -> bool:
        return self._exception is not None

    def get_result(self) -> T:
        """The task's result; raises the task's error if it failed."""
        if not self._is_complete:
            raise InvalidStateError("the task has not completed yet")
        if self._exception is not None:
            raise self._exception
        return self._result  # type: ignore[no-any-return]

    def get_exception(self) -> BaseException | None:
        if not self._is_complete:
            raise InvalidStateError("the task has not completed yet")
        return self._exception

    def add_done_callback(self, fn: Callable[[Task[Any]], None]) -> None:
        if self._is_complete:
            fn(self)
        elif self._callbacks is None:
            self._callbacks = [fn]
        else:
            self._callbacks.append(fn)

    def _complete(self, result: Any) -> None:
        if self._is_complete:
            return
        self._result = result
        self._is_complete = True
        self._notify()

    def _fail(self, exc: BaseException) -> None:
        if self._is_complete:
            return
        self._exception = exc
        self._is_complete = True
        self._notify()

    def _notify(self) -> None:
        callbacks, self._callbacks = self._callbacks, None
        if callbacks:
            for fn in callbacks:
                fn(self)


class CompletableTask(Task[T]):
    """A leaf task (activity, timer, child workflow, external event)."""

    __slots__ = ("hint",)

    def __init__(self, hint: Any = None) -> None:
        super().__init__()
        # The type the result is decoded into, when the callee's annotation tells it.
        self.hint = hint


class WhenAllTask(Task[list[Any]]):
    __slots__ = ("_pending", "_tasks")

    def __init__(self, tasks: list[Task[Any]]) -> None:
        super().__init__()
        self._tasks = tasks
        self._pending = len(tasks)
        if not tasks:
            self._complete([])
            return
        for t in tasks:
            t.add_done_callback(self._on_child_done)

    def _on_child_done(self, child: Task[Any]) -> None:
        if self._is_complete:
            return
        if child._exception is not None:
            self._fail(child._exception)
            return
        self._pending -= 1
        if self._pending == 0:
            self._complete([t._result for t in self._tasks])


class WhenAnyTask(Task[Task[Any]]):
    __slots__ = ("_tasks",)

    def __init__(self, tasks: list[Task[Any]]) -> None:
        super().__init__()
        if not tasks:
            raise ValueError("when_any needs at least one task")
        self._tasks = tasks
        for t in tasks:
            t.add_done_callback(self._on_child_done)

    def _on_child_done(self, child: Task[Any]) -> None:
        self._complete(child)


def when_all(tasks: Iterable[Task[Any]]) -> WhenAllTask:
    """A task that completes with the list of results once every task has; fails on
    the first failure."""
    return WhenAllTask(list(tasks))


def when_any(tasks: Iterable[Task[Any]]) -> WhenAnyTask:
    """A task that completes with the first of ``tasks`` to finish (the task itself, so
    ``winner == timeout_task`` works)."""
    return WhenAnyTask(list(tasks))
