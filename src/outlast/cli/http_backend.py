"""Acting through a running server's HTTP API: the CLI's ``--url`` backend."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any, Final

import httpx
import orjson

from outlast.cli.backend import MISSING, CliError, WaitFor
from outlast.client.dapr_json import limit_waits_from_json, rfc3339, state_from_json
from outlast.client.state import PendingActivity, WorkflowState
from outlast.core.status import WorkflowStatus
from outlast.errors import (
    InstanceAlreadyExistsError,
    InstanceNotFoundError,
    InvalidStateError,
    ScheduleAlreadyExistsError,
    ScheduleNotFoundError,
    TimeoutError,
)

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
