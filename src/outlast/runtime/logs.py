"""Logs of what happens to workflow instances, written once their turn commits.

Logger ``outlast.runtime``: a workflow started (INFO), completed, was terminated
or continued as new (INFO), failed (WARNING, with the error); a retry of an
activity or child workflow was scheduled (INFO). ``outlast.runtime.activities``:
an activity attempt failed (WARNING, with the error and the attempt) or
completed (DEBUG). Stalls are logged where they happen (``outlast.worker``,
ERROR/WARNING). Every record carries ``instance_id`` and ``workflow_name`` (or
``activity_name``) as ``extra`` fields; inputs and results only with
``log_payloads=True`` (``WorkflowRuntime(log_payloads=True)``), as ``input`` and
``output``.

Only committed facts are logged, so a replay logs nothing again. When no handler
wants INFO, a round costs one ``isEnabledFor`` check per turn that finished.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from outlast.core import history as h
from outlast.core.status import WorkflowStatus
from outlast.core.times import to_datetime
from outlast.errors import FailureDetails

log = logging.getLogger("outlast.runtime")
activity_log = logging.getLogger("outlast.runtime.activities")

_RETRIES = (h.ORIGIN_ACTIVITY_RETRY, h.ORIGIN_CHILD_RETRY)


def describe(failure: FailureDetails | None) -> str:
    """``ErrorType: message`` of a failure (what a log line shows of it)."""
    if failure is None:
        return "unknown error"
    return f"{failure.error_type}: {failure.message}"


class Lifecycle:
    """Logs the committed turns of a worker."""

    def __init__(self, log_payloads: bool = False) -> None:
        self.log_payloads = log_payloads

    def committed(
        self, instance_id: str, name: str, recorded: Iterable[h.Event], continued: bool = False
    ) -> None:
        """Log what one committed turn recorded (``continued``: it continued as new,
        which records no completion in the history it replaces)."""
        if continued and log.isEnabledFor(logging.INFO):
            log.info(
                "workflow %s continued as new: %s",
                name,
                instance_id,
                extra={"instance_id": instance_id, "workflow_name": name},
            )
        if not log.isEnabledFor(logging.INFO):
            for e in recorded:
                if type(e) is h.ExecutionCompleted and e.status == "FAILED":
                    self._completed(instance_id, name, e)
            return
        for e in recorded:
            kind = type(e)
            if kind is h.ExecutionStarted:
                self._started(instance_id, e)  # type: ignore[arg-type]
            elif kind is h.ExecutionCompleted:
                self._completed(instance_id, name, e)  # type: ignore[arg-type]
            elif kind is h.TimerCreated and e.origin in _RETRIES:  # type: ignore[attr-defined]
                self._retry(instance_id, name, e)  # type: ignore[arg-type]

    def _started(self, instance_id: str, e: h.ExecutionStarted) -> None:
        extra: dict[str, Any] = {"instance_id": instance_id, "workflow_name": e.name}
        if e.parent is not None:
            extra["parent_instance_id"] = e.parent.instance_id
        if self.log_payloads:
            extra["input"] = e.input
            log.info("workflow %s started: %s, input %s", e.name, instance_id, e.input, extra=extra)
            return
        log.info("workflow %s started: %s", e.name, instance_id, extra=extra)

    def _completed(self, instance_id: str, name: str, e: h.ExecutionCompleted) -> None:
        extra: dict[str, Any] = {"instance_id": instance_id, "workflow_name": name}
        status = e.status
        extra["status"] = status
        if status == WorkflowStatus.FAILED.value:
            error = describe(e.failure)
            extra["error"] = error
            log.warning("workflow %s failed: %s: %s", name, instance_id, error, extra=extra)
            return
        if self.log_payloads and status == WorkflowStatus.COMPLETED.value:
            extra["output"] = e.result
            log.info(
                "workflow %s completed: %s, output %s", name, instance_id, e.result, extra=extra
            )
            return
        what = {"COMPLETED": "completed", "CONTINUED_AS_NEW": "continued as new"}
        log.info(
            "workflow %s %s: %s", name, what.get(status, status.lower()), instance_id, extra=extra
        )

    def _retry(self, instance_id: str, name: str, e: h.TimerCreated) -> None:
        kind = "activity" if e.origin == h.ORIGIN_ACTIVITY_RETRY else "child workflow"
        at = to_datetime(e.fire_at).isoformat()
        log.info(
            "workflow %s (%s) retries a failed %s call at %s",
            name,
            instance_id,
            kind,
            at,
            extra={"instance_id": instance_id, "workflow_name": name, "retry_at": at},
        )


def activity_outcome(
    instance_id: str, name: str, task_id: int, attempt: int, failure: FailureDetails | None
) -> None:
    """Log one attempt's end (in-process activities)."""
    if failure is None:
        if activity_log.isEnabledFor(logging.DEBUG):
            activity_log.debug(
                "activity %s of %s completed (attempt %d)",
                name,
                instance_id,
                attempt,
                extra={
                    "instance_id": instance_id,
                    "activity_name": name,
                    "task_id": task_id,
                    "attempt": attempt,
                },
            )
        return
    error = describe(failure)
    activity_log.warning(
        "activity %s of %s failed (attempt %d): %s",
        name,
        instance_id,
        attempt,
        error,
        extra={
            "instance_id": instance_id,
            "activity_name": name,
            "task_id": task_id,
            "attempt": attempt,
            "error": error,
        },
    )
