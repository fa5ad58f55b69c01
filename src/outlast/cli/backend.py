"""Where a CLI command acts: directly on a store, or on a running server.

Both backends speak in outlast's own terms (``WorkflowState``, outlast errors), so
the commands and their exit codes do not care which one they talk to.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any, Final, Literal, Protocol

import httpx
import orjson

from outlast.client.client import WorkflowClient
from outlast.client.dapr_json import limit_waits_from_json, rfc3339, state_from_json
from outlast.client.state import PendingActivity, WorkflowState
from outlast.core.status import WorkflowStatus
from outlast.errors import (
    InstanceAlreadyExistsError,
    InstanceNotFoundError,
    InvalidStateError,
    ScheduleAlreadyExistsError,
    ScheduleNotFoundError,
    StoreError,
    TimeoutError,
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
            status=_status_arg(statuses),
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
            status=_status_arg(statuses),
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


# The longest single long-poll the CLI asks a server for; longer waits loop.
_POLL_SECONDS: Final = 60.0


class HttpBackend:
    """Acts through a running server's HTTP API (``outlast serve`` or any server
    speaking Dapr's workflow API, for the Dapr subset)."""

    def __init__(self, url: str, token: str | None, *, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        headers = {"dapr-api-token": token} if token else {}
        self._timeout = timeout
        self._api = f"{self.url}/v1.0/workflows/dapr"
        self._http = httpx.Client(headers=headers, timeout=timeout)

    # --- plumbing ------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: Any = MISSING,
        timeout: float | None = None,
        api: str | None = None,
    ) -> Any:
        """The decoded JSON answer (None for an empty one); errors raised as outlast's.
        ``path`` is under the workflow API, or under ``api`` (``/v1.0/schedules``)."""
        content = None if body is MISSING else orjson.dumps(body)
        headers = {} if content is None else {"Content-Type": "application/json"}
        try:
            response = self._http.request(
                method,
                (self._api if api is None else self.url + api) + path,
                params=params,
                content=content,
                headers=headers,
                timeout=self._timeout if timeout is None else timeout,
            )
        except httpx.TransportError as e:
            raise CliError(f"cannot reach the outlast server at {self.url}: {e}") from e
        if response.status_code >= 400 or response.status_code in (301, 302, 307, 308):
            raise _error(response, self.url)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise CliError(f"{self.url} answered {response.status_code} without JSON") from None

    # --- operations ----------------------------------------------------------------

    def start(self, name: str, input: Any, instance_id: str | None) -> str:
        params = {"instanceID": instance_id} if instance_id else None
        body = MISSING if input is None else input
        new_id: str = self._request("POST", f"/{name}/start", params=params, body=body)[
            "instanceID"
        ]
        return new_id

    def status(self, instance_id: str) -> WorkflowState | None:
        try:
            return state_from_json(self._request("GET", f"/{instance_id}"))
        except InstanceNotFoundError:
            return None

    def limit_waits(self, instance_id: str) -> list[PendingActivity]:
        try:
            return limit_waits_from_json(self._request("GET", f"/{instance_id}"))
        except InstanceNotFoundError:
            return []

    def wait(self, instance_id: str, until: WaitFor, timeout: float) -> WorkflowState | None:
        path = (
            f"/{instance_id}/waitForStart"
            if until == "start"
            else f"/{instance_id}/waitForCompletion"
        )
        deadline = time.monotonic() + timeout
        while True:
            poll = min(max(0.0, deadline - time.monotonic()), _POLL_SECONDS)
            try:
                state = state_from_json(
                    self._request(
                        "GET", path, params={"timeout": poll}, timeout=poll + self._timeout
                    )
                )
            except InstanceNotFoundError:
                return None
            if until == "start" and state.runtime_status is not WorkflowStatus.PENDING:
                return state
            if until == "completion" and state.runtime_status.is_terminal:
                return state
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"workflow instance {instance_id!r} is still "
                    f"{state.runtime_status.value} after {timeout:g}s"
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
        params: dict[str, Any] = {"pageSize": page_size, "includePayloads": "false"}
        if statuses:
            params["status"] = statuses
        if name:
            params["name"] = name
        if created_after:
            params["createdAfter"] = rfc3339(created_after)
        if created_before:
            params["createdBefore"] = rfc3339(created_before)
        if continuation_token:
            params["continuationToken"] = continuation_token
        data = self._request("GET", "", params=params)
        return [state_from_json(s) for s in data["instances"]], data["continuationToken"]

    def history(self, instance_id: str) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = self._request("GET", f"/{instance_id}/history")["events"]
        return [{k: v for k, v in e.items() if k != "eventId"} for e in events]

    def raise_event(self, instance_id: str, event: str, data: Any) -> None:
        body = MISSING if data is None else data
        self._request("POST", f"/{instance_id}/raiseEvent/{event}", body=body)

    def terminate(self, instance_id: str, output: Any, recursive: bool) -> None:
        params = None if recursive else {"non_recursive": "true"}
        body = MISSING if output is None else output
        self._request("POST", f"/{instance_id}/terminate", params=params, body=body)

    def suspend(self, instance_id: str, reason: str | None) -> None:
        self._request("POST", f"/{instance_id}/pause", params=_reason(reason))

    def resume(self, instance_id: str, reason: str | None) -> None:
        self._request("POST", f"/{instance_id}/resume", params=_reason(reason))

    def purge(self, instance_id: str) -> bool:
        try:
            self._request("POST", f"/{instance_id}/purge")
        except InstanceNotFoundError:
            return False
        return True

    def purge_many(
        self, *, statuses: list[str] | None, name: str | None, created_before: datetime | None
    ) -> int:
        params: dict[str, Any] = {}
        if statuses:
            params["status"] = statuses
        if name:
            params["name"] = name
        if created_before:
            params["createdBefore"] = rfc3339(created_before)
        if not params:
            params["all"] = "true"
        count: int = self._request("POST", "/purge", params=params)["purged"]
        return count

    def rerun(
        self, instance_id: str, event_id: int, new_instance_id: str | None, input: Any
    ) -> str:
        params = {"newInstanceID": new_instance_id} if new_instance_id else None
        answer = self._request(
            "POST", f"/{instance_id}/rerun/{event_id}", params=params, body=input
        )
        new_id: str = answer["instanceID"]
        return new_id

    def close(self) -> None:
        self._http.close()


def _status_arg(statuses: list[str] | None) -> list[WorkflowStatus | str] | None:
    return list(statuses) if statuses else None


def _reason(reason: str | None) -> dict[str, str] | None:
    return {"reason": reason} if reason else None


def _error(response: httpx.Response, url: str) -> Exception:
    """The outlast error (or CliError) an error answer stands for."""
    try:
        data = response.json()
        code, message = str(data["errorCode"]), str(data["message"])
    except (ValueError, KeyError, TypeError):
        code, message = "", response.text.strip() or response.reason_phrase
    status = response.status_code
    if status == 404 and code == "ERR_INSTANCE_ID_NOT_FOUND":
        return InstanceNotFoundError(message)
    if status == 404 and code == "ERR_SCHEDULE_NOT_FOUND":
        return ScheduleNotFoundError(message)
    if status == 404:
        return CliError(f"{message} (is {url} an outlast server?)")
    if status == 409:
        if code in ("ERR_START_WORKFLOW", "ERR_TRIGGER_SCHEDULE"):
            return InstanceAlreadyExistsError(message)
        if code == "ERR_CREATE_SCHEDULE":
            return ScheduleAlreadyExistsError(message)
        return InvalidStateError(message)
    if status == 401:
        return CliError(f"{message} (set OUTLAST_API_TOKEN or pass --token)")
    if status in (400, 413):
        return CliError(message, 2)
    return CliError(f"the server answered {status} {code}: {message}")
