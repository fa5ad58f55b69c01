"""Where a CLI command acts: directly on a store, or on a running server.

Both backends speak in outlast's own terms (``WorkflowState``, outlast errors), so
the commands and their exit codes do not care which one they talk to. This
module has the interface and the store's backend; ``http_backend.py`` the server's.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final, Literal, Protocol

from outlast.client.client import WorkflowClient
from outlast.client.state import PendingActivity, WorkflowState
from outlast.core.status import WorkflowStatus
from outlast.errors import (
    InstanceNotFoundError,
    StoreError,
)
from outlast.store import Store, open_store


class CliError(Exception):
    """A failure the CLI reports as ``message`` and exits with ``exit_code``."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()
"""No value given (as opposed to JSON ``null``)."""

WaitFor = Literal["start", "completion"]


class Backend(Protocol):
    def start(self, name: str, input: Any, instance_id: str | None) -> str: ...
    def status(self, instance_id: str) -> WorkflowState | None: ...
    def limit_waits(self, instance_id: str) -> list[PendingActivity]:
        """The instance's activities queued behind a limit (``runtime.limit``)."""
        ...

    def wait(self, instance_id: str, until: WaitFor, timeout: float) -> WorkflowState | None:
        """The state once reached; None if there is no such instance; raises
        outlast's TimeoutError when ``timeout`` elapses first."""
        ...

    def list_instances(
        self,
        *,
        statuses: list[str] | None,
        name: str | None,
        created_after: datetime | None,
        created_before: datetime | None,
        page_size: int,
        continuation_token: str | None,
    ) -> tuple[list[WorkflowState], str | None]: ...
    def history(self, instance_id: str) -> list[dict[str, Any]]: ...
    def raise_event(self, instance_id: str, event: str, data: Any) -> None: ...
    def terminate(self, instance_id: str, output: Any, recursive: bool) -> None: ...
    def suspend(self, instance_id: str, reason: str | None) -> None: ...
    def resume(self, instance_id: str, reason: str | None) -> None: ...
    def purge(self, instance_id: str) -> bool: ...
    def purge_many(
        self, *, statuses: list[str] | None, name: str | None, created_before: datetime | None
    ) -> int: ...
    def rerun(
        self, instance_id: str, event_id: int, new_instance_id: str | None, input: Any
    ) -> str: ...
    def close(self) -> None: ...


class StoreBackend:
    """Acts on the store directly through a :class:`WorkflowClient`."""

    def __init__(self, store: str | None, *, close_store: bool, must_exist: bool = False) -> None:
        try:
            self._store: Store = open_store(store, must_exist=must_exist)
        except StoreError as e:
            if not must_exist:
                raise
            raise CliError(
                f"{e} (this command only reads, so it creates no store: check --store "
                "or $OUTLAST_STORE)"
            ) from e
        self.client = WorkflowClient(self._store)
        self._close_store = close_store

    def start(self, name: str, input: Any, instance_id: str | None) -> str:
        return self.client.schedule_new_workflow(name, input=input, instance_id=instance_id)

    def status(self, instance_id: str) -> WorkflowState | None:
        return self.client.get_workflow_state(instance_id)

    def limit_waits(self, instance_id: str) -> list[PendingActivity]:
        try:
            pending = self.client.get_pending_activities(instance_id)
        except InstanceNotFoundError:
            return []
        return [a for a in pending if a.waiting_on_limit]

    def wait(self, instance_id: str, until: WaitFor, timeout: float) -> WorkflowState | None:
        if until == "start":
            return self.client.wait_for_workflow_start(
                instance_id, timeout_in_seconds=timeout, fetch_payloads=True
            )
        return self.client.wait_for_workflow_completion(
            instance_id, timeout_in_seconds=timeout, fetch_payloads=True
        )

    def list_instances(
        self,
        *,
        statuses: list[str] | None,
        name: str | None,
        created_after: datetime | None,
        created_before: datetime | None,
        page_size: int,
        continuation_token: str | None,
    ) -> tuple[list[WorkflowState], str | None]:
        page = self.client.list_workflows(
            status=status_arg(statuses),
            name=name,
            created_after=created_after,
            created_before=created_before,
            page_size=page_size,
            continuation_token=continuation_token,
        )
        return page.states, page.continuation_token

    def history(self, instance_id: str) -> list[dict[str, Any]]:
        return self.client.get_workflow_history(instance_id)

    def raise_event(self, instance_id: str, event: str, data: Any) -> None:
        self.client.raise_workflow_event(instance_id, event, data=data)

    def terminate(self, instance_id: str, output: Any, recursive: bool) -> None:
        self.client.terminate_workflow(instance_id, output=output, recursive=recursive)

    def suspend(self, instance_id: str, reason: str | None) -> None:
        self.client.pause_workflow(instance_id, reason=reason)

    def resume(self, instance_id: str, reason: str | None) -> None:
        self.client.resume_workflow(instance_id, reason=reason)

    def purge(self, instance_id: str) -> bool:
        return self.client.purge_workflow(instance_id)

    def purge_many(
        self, *, statuses: list[str] | None, name: str | None, created_before: datetime | None
    ) -> int:
        return self.client.purge_workflows(
            status=status_arg(statuses),
            created_before=created_before,
            name=name,
        )

    def rerun(
        self, instance_id: str, event_id: int, new_instance_id: str | None, input: Any
    ) -> str:
        rerun = getattr(self.client, "rerun_workflow_from_event", None)
        if rerun is None:
            raise CliError("rerun is not available in this version of outlast")
        kwargs: dict[str, Any] = {"new_instance_id": new_instance_id}
        if input is not MISSING:
            kwargs["new_input"] = input
        new_id: str = rerun(instance_id, event_id, **kwargs)
        return new_id

    def close(self) -> None:
        if self._close_store:
            self._store.close()


def status_arg(statuses: list[str] | None) -> list[WorkflowStatus | str] | None:
    return list(statuses) if statuses else None
