"""``WorkflowRuntime``'s declarations (a part of it): workflows, activities,
schedules and cluster-wide limits, registered before the runtime starts."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast, overload

from outlast.core.flow import Limit, Rate
from outlast.core.registry import Registry, guard_direct_calls, name_of
from outlast.errors import InvalidStateError
from outlast.runtime import procpool
from outlast.runtime.scheduler import ScheduleDeclarations

if TYPE_CHECKING:
    from outlast.runtime.worker import Worker, WorkerOptions

F = TypeVar("F", bound=Callable[..., Any])
Isolation = Literal["thread", "process"]


class Registration:
    """Part of ``WorkflowRuntime``: what it runs, declared."""

    _registry: Registry
    _options: WorkerOptions
    _schedules: ScheduleDeclarations
    _worker: Worker | None

    @overload
    def workflow(self, fn: F, /, *, name: str | None = None, version: str | None = None) -> F: ...
    @overload
    def workflow(
        self, fn: None = None, /, *, name: str | None = None, version: str | None = None
    ) -> Callable[[F], F]: ...
    def workflow(
        self, fn: F | None = None, /, *, name: str | None = None, version: str | None = None
    ) -> Any:
        """Register a workflow: ``@runtime.workflow`` or ``@runtime.workflow(name=...)``.
        With ``version=``, several versions of one name can be registered: new
        instances run the latest, running ones keep the version they started with."""
        if fn is not None:
            self.register_workflow(fn, name=name, version=version)
            return fn

        def decorate(f: F) -> F:
            self.register_workflow(f, name=name, version=version)
            return f

        return decorate

    @overload
    def activity(
        self, fn: F, /, *, name: str | None = None, isolation: Isolation = "thread"
    ) -> F: ...
    @overload
    def activity(
        self, fn: None = None, /, *, name: str | None = None, isolation: Isolation = "thread"
    ) -> Callable[[F], F]: ...
    def activity(
        self, fn: F | None = None, /, *, name: str | None = None, isolation: Isolation = "thread"
    ) -> Any:
        """Register an activity: ``@runtime.activity`` or ``@runtime.activity(name=...)``.
        ``isolation="process"`` runs it in a child process that is killed when an
        attempt times out or its workflow is terminated (it must then be a
        module-level function: see docs/activities.md).

        The function handed back behaves as before, except that calling it directly
        inside a workflow (with the workflow's ``ctx``) raises a TypeError that says
        to ``yield ctx.call_activity(...)`` instead."""
        if fn is not None:
            return cast(F, self._register_guarded(fn, name, isolation))

        def decorate(f: F) -> F:
            return cast(F, self._register_guarded(f, name, isolation))

        return decorate

    def schedule(
        self,
        *,
        cron: str | None = None,
        every: timedelta | float | None = None,
        schedule_id: str | None = None,
        input: Any = None,
        timezone: str = "UTC",
        start_at: datetime | None = None,
        end_at: datetime | None = None,
        jitter: timedelta | float | None = None,
        overlap: str = "skip",
        catchup: str = "skip",
    ) -> Callable[[F], F]:
        """Start the decorated workflow on a schedule: ``@runtime.schedule(cron="0 9 * * *",
        timezone="Europe/Paris")``. The schedule (ID: ``schedule_id``, by default the
        workflow's name) is created when the runtime starts, or brought up to date
        if it exists; arguments as in ``WorkflowClient.create_schedule``. The
        workflow is registered too if it is not already."""

        def decorate(fn: F) -> F:
            return self._schedules.declare(
                self._registry,
                fn,
                schedule_id,
                input=input,
                cron=cron,
                every=every,
                timezone=timezone,
                start_at=start_at,
                end_at=end_at,
                jitter=jitter,
                overlap=overlap,
                catchup=catchup,
            )

        return decorate

    def register_workflow(
        self, fn: Callable[..., Any], *, name: str | None = None, version: str | None = None
    ) -> None:
        self._registry.add_workflow(fn, name, version)

    def register_activity(
        self, fn: Callable[..., Any], *, name: str | None = None, isolation: Isolation = "thread"
    ) -> None:
        """Register ``fn`` as an activity (what ``@runtime.activity`` does, without
        the guard against direct calls in the function handed back)."""
        self._add_activity(fn, name, isolation)

    def _add_activity(self, fn: Callable[..., Any], name: str | None, isolation: Isolation) -> str:
        if isolation not in procpool.ISOLATIONS:
            raise ValueError(f"isolation must be 'thread' or 'process', not {isolation!r}")
        if isolation == "process":
            procpool.check_importable(fn, name or name_of(fn))
        return self._registry.add_activity(fn, name, isolation).name

    def _register_guarded(
        self, fn: Callable[..., Any], name: str | None, isolation: Isolation
    ) -> Callable[..., Any]:
        return guard_direct_calls(fn, self._add_activity(fn, name, isolation))

    def limit(
        self,
        target: Callable[..., Any] | str,
        *,
        concurrency: int | None = None,
        per_key: int | None = None,
        rate: Rate | None = None,
    ) -> None:
        """Limit an activity, or a workflow's running instances, across every
        worker on this store: at most ``concurrency`` running at once, at most
        ``per_key`` at once per key (``call_activity(..., key=...)``,
        ``schedule_new_workflow(..., key=...)``), and at most ``rate.count`` starts
        in any window of ``rate.per`` (a sliding window). Calls and starts over a
        limit wait in the store, highest ``priority`` first, in order within a
        priority (docs/flow-control.md). Declare the same limits on every worker,
        before the runtime starts."""
        if self._worker is not None:
            raise InvalidStateError("declare limits before the runtime starts")
        name = name_of(target)
        declared = Limit(name, concurrency, per_key, rate)
        self._options.flow_limits = {**self._options.flow_limits, name: declared}
