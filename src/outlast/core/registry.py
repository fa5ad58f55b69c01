"""Registered workflows and activities, looked up by name."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from outlast.core.context import WorkflowContext
from outlast.core.serialization import from_json, parameter_hint, return_hint
from outlast.errors import RegistrationError, UnknownActivityError, UnknownWorkflowError


def _takes_input(fn: Callable[..., Any]) -> bool:
    try:
        params = [
            p
            for p in inspect.signature(fn).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
    except (TypeError, ValueError):
        return True
    return len(params) >= 2


@dataclass(frozen=True, slots=True)
class Definition:
    name: str
    fn: Callable[..., Any]
    takes_input: bool
    input_hint: Any
    result_hint: Any
    is_async: bool
    version: str | None = None
    # An activity's: "thread" (the worker's pool) or "process" (runtime/procpool.py).
    isolation: str = "thread"

    @classmethod
    def of(cls, fn: Callable[..., Any], name: str, version: str | None = None) -> Definition:
        return cls(
            name=name,
            fn=fn,
            takes_input=_takes_input(fn),
            input_hint=parameter_hint(fn, 1),
            result_hint=return_hint(fn),
            is_async=inspect.iscoroutinefunction(fn),
            version=version,
        )

    def arguments(self, ctx: Any, input: str | None) -> tuple[Any, ...]:
        """What ``fn`` is called with: ``ctx``, then the decoded ``input`` if it
        takes one."""
        if self.takes_input:
            return (ctx, from_json(input, self.input_hint))
        return (ctx,)


def version_key(version: str | None) -> tuple[tuple[int, int | str], ...]:
    """Natural order of version strings: "2" < "10", "1.9" < "1.10"."""
    if version is None:
        return ()
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"[.\-_]", version))


def name_of(target: Callable[..., Any] | str) -> str:
    if isinstance(target, str):
        return target
    registered = getattr(target, "__outlast_name__", None)
    if isinstance(registered, str):
        return registered
    name = getattr(target, "__name__", None)
    if not isinstance(name, str):
        raise TypeError(f"expected a function or a registered name, got {target!r}")
    return name


def _refuse_async_workflow(fn: Callable[..., Any], key: str) -> None:
    """Workflows are generators driven by replay; an ``async def`` one would
    return a coroutine nobody awaits."""
    if inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn):
        fn_name = getattr(fn, "__name__", key)
        raise RegistrationError(
            f"workflow {key!r} is an async def function; a workflow is a plain generator "
            f"function: write `def {fn_name}(ctx, input):` and wait for each step with "
            "`result = yield ctx.call_activity(...)` where you wrote `await` "
            "(activities may be async def)"
        )


def _refuse_lambda(kind: str, key: str) -> None:
    if key == "<lambda>":
        raise RegistrationError(
            f"a lambda cannot be registered as a {kind} under its own name: every lambda "
            f"is called '<lambda>', and {kind} names must be unique; pass name=... or "
            "use a def"
        )


class Registry:
    def __init__(self) -> None:
        # The latest version of each workflow; every registered version below.
        self.workflows: dict[str, Definition] = {}
        self.workflow_versions: dict[str, dict[str | None, Definition]] = {}
        self.activities: dict[str, Definition] = {}

    def copy(self) -> Registry:
        """A registry with the same registrations, changed without touching this one
        (a test environment replaces activities by fakes in its copy)."""
        other = Registry()
        other.workflows = dict(self.workflows)
        other.workflow_versions = {k: dict(v) for k, v in self.workflow_versions.items()}
        other.activities = dict(self.activities)
        return other

    def replace_activity(self, name: str, fn: Callable[..., Any]) -> Definition:
        """Run ``fn`` wherever the activity ``name`` is called; the registered
        activity's type hints still decode its input and result when ``fn`` has none."""
        original = self.activity(name)
        fake = Definition.of(fn, name)
        definition = Definition(
            name=name,
            fn=fn,
            takes_input=fake.takes_input,
            input_hint=original.input_hint if fake.input_hint is None else fake.input_hint,
            result_hint=original.result_hint if fake.result_hint is None else fake.result_hint,
            is_async=fake.is_async,
        )
        self.activities[name] = definition
        return definition

    def add_workflow(
        self, fn: Callable[..., Any], name: str | None = None, version: str | None = None
    ) -> Definition:
        key = name or name_of(fn)
        _refuse_lambda("workflow", key)
        _refuse_async_workflow(fn, key)
        versions = self.workflow_versions.setdefault(key, {})
        if version is None and (not versions or None in versions):
            definition = self._add(self.workflows, "workflow", fn, name)
            versions[None] = definition
            return definition
        if None in versions or version is None:
            raise RegistrationError(
                f"workflow {key!r} is registered both with and without a version; give "
                "every registration of it a version"
            )
        existing = versions.get(version)
        if existing is not None and existing.fn is not fn:
            raise RegistrationError(
                f"version {version!r} of workflow {key!r} is already registered"
            )
        definition = Definition.of(fn, key, version)
        versions[version] = definition
        self.workflows[key] = max(versions.values(), key=lambda d: version_key(d.version))
        with contextlib.suppress(AttributeError, TypeError):
            fn.__outlast_name__ = key  # type: ignore[attr-defined]
        return definition

    def add_activity(
        self, fn: Callable[..., Any], name: str | None = None, isolation: str = "thread"
    ) -> Definition:
        definition = self._add(self.activities, "activity", fn, name)
        if isolation != definition.isolation:
            definition = dataclasses.replace(definition, isolation=isolation)
            self.activities[definition.name] = definition
        return definition

    def _add(
        self,
        table: dict[str, Definition],
        kind: str,
        fn: Callable[..., Any],
        name: str | None,
    ) -> Definition:
        if not callable(fn):
            raise RegistrationError(f"a {kind} must be callable, got {fn!r}")
        # What @runtime.activity returned (see guard_direct_calls): the function itself.
        original: Callable[..., Any] = getattr(fn, "__outlast_activity__", fn)
        fn = original
        key = name or name_of(fn)
        _refuse_lambda(kind, key)
        existing = table.get(key)
        if existing is not None and existing.fn is not fn:
            raise RegistrationError(f"a different {kind} is already registered as {key!r}")
        definition = Definition.of(fn, key)
        table[key] = definition
        # Builtins and bound methods refuse attributes: callers pass the name instead.
        with contextlib.suppress(AttributeError, TypeError):
            fn.__outlast_name__ = key  # type: ignore[attr-defined]
        return definition

    def workflow(self, name: str, version: str | None = None) -> Definition:
        """The workflow's given version, or its latest when ``version`` is None."""
        if version is None:
            try:
                return self.workflows[name]
            except KeyError:
                raise UnknownWorkflowError(f"no workflow named {name!r} is registered") from None
        definition = self.workflow_versions.get(name, {}).get(version)
        if definition is None:
            raise UnknownWorkflowError(
                f"version {version!r} of workflow {name!r} is not registered on this runtime"
            )
        return definition

    def activity(self, name: str) -> Definition:
        try:
            return self.activities[name]
        except KeyError:
            raise UnknownActivityError(f"no activity named {name!r} is registered") from None


def _refuse_workflow_context(args: tuple[Any, ...], name: str) -> None:
    if args and isinstance(args[0], WorkflowContext):
        raise TypeError(
            f"activity {name!r} was called directly inside workflow "
            f"{args[0].workflow_name!r}: it would run in the workflow's turn, again on "
            f"every replay, with nothing recorded. Schedule it instead: "
            f"result = yield ctx.call_activity({name}, input=...)"
        )


def guard_direct_calls(fn: Callable[..., Any], name: str) -> Callable[..., Any]:
    """``fn`` (a registered activity) as ``@runtime.activity`` hands it back: the same
    function, except that calling it with a WorkflowContext (directly inside a
    workflow, a common slip) raises a TypeError saying how to schedule it. The
    runtime calls ``fn`` itself, so this costs its own calls nothing."""
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def guarded_async(*args: Any, **kwargs: Any) -> Any:
            _refuse_workflow_context(args, name)
            return await fn(*args, **kwargs)

        guarded: Callable[..., Any] = guarded_async
    else:

        @functools.wraps(fn)
        def guarded_sync(*args: Any, **kwargs: Any) -> Any:
            _refuse_workflow_context(args, name)
            return fn(*args, **kwargs)

        guarded = guarded_sync
    with contextlib.suppress(AttributeError, TypeError):
        guarded.__outlast_activity__ = fn  # type: ignore[attr-defined]
        guarded.__outlast_name__ = name  # type: ignore[attr-defined]
        return guarded
    return fn
