"""``WorkflowState``: the snapshot of one instance that clients read.

Attributes hold what is stored (``serialized_output`` is the output's JSON text);
the ``*_as`` methods decode it, into a given type or as plain JSON values.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar, overload

import orjson

from outlast.client.instance_id import OutT
from outlast.core.serialization import from_json
from outlast.core.status import WorkflowStatus
from outlast.errors import FailureDetails
from outlast.store.base import InstanceRecord

T = TypeVar("T")
_UNSET: Any = object()


def _deprecated(old: str, new: str) -> None:
    warnings.warn(
        f"WorkflowState.{old} is deprecated; use WorkflowState.{new}",
        DeprecationWarning,
        stacklevel=3,
    )


@dataclass(frozen=True)
class WorkflowState(Generic[OutT]):
    """A snapshot of one workflow instance, as ``get_workflow_state`` returns it.

    ``WorkflowState[R]`` (from waiting on an :class:`InstanceID` ``[R]``) decodes
    its output as an ``R``: ``state.output_as()``."""

    instance_id: str
    name: str
    runtime_status: WorkflowStatus
    created_at: datetime
    last_updated_at: datetime
    serialized_input: str | None = None
    serialized_output: str | None = None
    serialized_custom_status: str | None = None
    failure_details: FailureDetails | None = None
    parent_instance_id: str | None = None
    # The workflow's output type, when the ID waited on carried it.
    _output_type: Any = field(default=None, repr=False, compare=False)

    @property
    def workflow_name(self) -> str:
        return self.name

    @overload
    def output_as(self) -> OutT: ...
    @overload
    def output_as(self, hint: type[T]) -> T: ...
    @overload
    def output_as(self, hint: Any) -> Any: ...
    def output_as(self, hint: Any = _UNSET) -> Any:
        """The decoded output, converted to ``hint`` (``state.output_as(Order)``,
        ``output_as(list[int])``); without one, to the workflow's output type when
        known, else plain JSON values. None when there is no output."""
        return from_json(self.serialized_output, self._output_type if hint is _UNSET else hint)

    @overload
    def input_as(self, hint: type[T]) -> T: ...
    @overload
    def input_as(self, hint: Any = None) -> Any: ...
    def input_as(self, hint: Any = None) -> Any:
        """The decoded input, converted to ``hint`` if given."""
        return from_json(self.serialized_input, hint)

    @overload
    def custom_status_as(self, hint: type[T]) -> T: ...
    @overload
    def custom_status_as(self, hint: Any = None) -> Any: ...
    def custom_status_as(self, hint: Any = None) -> Any:
        """The decoded custom status, converted to ``hint`` if given."""
        return from_json(self.serialized_custom_status, hint)

    def output(self, hint: Any = None) -> Any:
        """Deprecated: ``output_as(hint)``."""
        _deprecated("output()", "output_as()")
        return from_json(self.serialized_output, hint)

    def input(self, hint: Any = None) -> Any:
        """Deprecated: ``input_as(hint)``."""
        _deprecated("input()", "input_as()")
        return self.input_as(hint)

    def custom_status(self) -> Any:
        """Deprecated: ``custom_status_as()``."""
        _deprecated("custom_status()", "custom_status_as()")
        return self.custom_status_as()

    def to_json(self) -> dict[str, Any]:
        return {
            "instance_id": self.instance_id,
            "name": self.name,
            "runtime_status": self.runtime_status.value,
            "created_at": self.created_at.isoformat(),
            "last_updated_at": self.last_updated_at.isoformat(),
            "serialized_input": self.serialized_input,
            "serialized_output": self.serialized_output,
            "serialized_custom_status": self.serialized_custom_status,
            "failure_details": None
            if self.failure_details is None
            else self.failure_details.to_dict(),
            "parent_instance_id": self.parent_instance_id,
        }


@dataclass(frozen=True)
class PendingActivity:
    """An activity a workflow scheduled that has not finished yet, and the worker
    that runs it (None: no worker has taken it yet). ``waiting_on_limit``: it
    waits in the queue of its ``runtime.limit`` (with its call's ``key`` and
    ``priority``) for a slot."""

    task_id: int
    name: str
    worker: str | None
    serialized_input: str | None = None
    waiting_on_limit: bool = False
    key: str | None = None
    priority: int = 0

    def limit_wait(self) -> str:
        """``waiting on its limit (key customer-42, priority 5)``: what the CLI and
        the dashboard say of a call queued behind its limit."""
        extra = [f"key {self.key}"] if self.key is not None else []
        if self.priority:
            extra.append(f"priority {self.priority}")
        return f"waiting on its limit ({', '.join(extra)})" if extra else "waiting on its limit"


def _datetime(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def state_of(
    record: InstanceRecord, *, fetch_payloads: bool = True, output_type: Any = None
) -> WorkflowState[Any]:
    """The client's view of a stored instance record."""
    failure = None
    if record.failure:
        failure = FailureDetails.from_dict(orjson.loads(record.failure))
    return WorkflowState(
        instance_id=record.instance_id,
        name=record.name,
        runtime_status=WorkflowStatus(record.status),
        created_at=_datetime(record.created_at),
        last_updated_at=_datetime(record.updated_at),
        serialized_input=record.input if fetch_payloads else None,
        serialized_output=record.output if fetch_payloads else None,
        serialized_custom_status=record.custom_status if fetch_payloads else None,
        failure_details=failure,
        parent_instance_id=record.parent_instance_id,
        _output_type=output_type,
    )
