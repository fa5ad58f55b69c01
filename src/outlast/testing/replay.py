"""The replay check: would the current code stall any of these instances?

Each history is replayed against the runtime's registered workflows by the same
executor that runs them (``core.executor``): where the code no longer asks for
what history records, the executor raises the ``NonDeterminismError`` that would
STALL the instance in production; here it becomes a :class:`ReplayFinding` with
the instance, the step and the reason. Histories come from a store (``outlast
check APP --store URL``) or from JSON files written by ``outlast history
--export DIR``, to check in CI before deploying.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from outlast.core import history as h
from outlast.core.codec import decode_event
from outlast.core.executor import WorkflowExecutor
from outlast.core.registry import Registry
from outlast.errors import NonDeterminismError, UnknownWorkflowError
from outlast.testing.histories import StoredHistory, read_histories

_STEP = re.compile(r"^step (\d+):")


class HasRegistry(Protocol):
    """A ``WorkflowRuntime`` (anything with its registry)."""

    @property
    def registry(self) -> Registry: ...


@dataclass(frozen=True, slots=True)
class ReplayFinding:
    """An instance the current code would stall: at ``step`` (the task ID of the
    history record that no longer matches; None when no step is at fault), for
    ``reason``."""

    instance_id: str
    name: str
    step: int | None
    reason: str


def replay_check(
    runtime: HasRegistry | Registry,
    histories: Iterable[StoredHistory] | Mapping[str, Sequence[str | bytes]] | str | Path,
) -> list[ReplayFinding]:
    """Replay ``histories`` against ``runtime``'s workflows; one finding per
    instance that would stall (an empty list: the code can be deployed).
    ``histories``: :class:`StoredHistory` objects (:func:`store_histories`), a
    mapping of instance ID to encoded events, or a directory of exported files."""
    registry = runtime if isinstance(runtime, Registry) else runtime.registry
    if isinstance(histories, (str, Path)):
        histories = read_histories(histories)
    elif isinstance(histories, Mapping):
        histories = [StoredHistory(iid, "", "", events) for iid, events in histories.items()]
    findings = []
    for stored in histories:
        finding = _replay_one(registry, stored)
        if finding is not None:
            findings.append(finding)
    return findings


def _replay_one(registry: Registry, stored: StoredHistory) -> ReplayFinding | None:
    def found(step: int | None, reason: str) -> ReplayFinding:
        return ReplayFinding(stored.instance_id, name or stored.name, step, reason)

    name = stored.name
    try:
        events = [decode_event(e) for e in stored.events]
    except Exception as e:
        return found(None, f"its history cannot be read: {e}")
    started = next((e for e in events if isinstance(e, h.ExecutionStarted)), None)
    if started is not None:
        name = started.name
    executor = WorkflowExecutor(stored.instance_id, stored.execution_id, registry)
    try:
        executor.replay(events)
    except NonDeterminismError as e:
        match = _STEP.match(str(e))
        return found(int(match.group(1)) if match else None, str(e))
    except UnknownWorkflowError as e:
        return found(None, str(e))
    except Exception as e:
        return found(None, f"replay failed: {type(e).__name__}: {e}")
    completion = executor.completion
    finished = any(isinstance(e, h.ExecutionCompleted) for e in events)
    if completion is not None and not finished:
        # History goes on (or waits) where the code now ends the workflow: the
        # next turn would record an outcome the old code never reached here.
        failure = completion.failure
        what = f" ({failure.error_type}: {failure.message})" if failure is not None else ""
        return found(
            executor._sequence - 1 if executor._sequence else None,
            f"the code now ends the workflow as {completion.status.value}{what} where "
            "history shows it still running",
        )
    return None
