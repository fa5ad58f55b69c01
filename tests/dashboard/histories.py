"""History dicts as ``WorkflowClient.get_workflow_history`` returns them, for the
dashboard's unit tests: ``ev("TaskScheduled", 1.5, task_id=0, name="a")``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def at(seconds: float) -> float:
    return (T0 + timedelta(seconds=seconds)).timestamp()


def ev(kind: str, seconds: float, **fields: Any) -> dict[str, Any]:
    return {"kind": kind, "timestamp": (T0 + timedelta(seconds=seconds)).isoformat(), **fields}


def started(name: str = "wf") -> dict[str, Any]:
    return ev("ExecutionStarted", 0, name=name, input=None, parent=None, version=None)
