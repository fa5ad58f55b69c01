"""What waiting for an instance (sync or async) shares: which statuses end a wait,
how often to re-read the store, and the errors."""

from __future__ import annotations

from outlast.client.state import WorkflowState
from outlast.core.status import TERMINAL_STATUSES, WorkflowStatus
from outlast.errors import TimeoutError
from outlast.store import Store

# How often a waiting client re-reads the store when no in-process signal arrives
# (another process changed it), and how often when the store signals those too
# (a safety net only).
_POLL_SECONDS = 0.1
_SAFETY_POLL_SECONDS = 2.0
# Every status but PENDING: what waiting for a start waits for.
STARTED = frozenset(s.value for s in WorkflowStatus if s is not WorkflowStatus.PENDING)
FINISHED = TERMINAL_STATUSES


def poll_seconds(store: Store) -> float:
    """How often a waiter re-reads ``store`` between wake-ups."""
    return _SAFETY_POLL_SECONDS if store.signals_other_processes else _POLL_SECONDS


def check_timeout(timeout: float) -> None:
    if not timeout >= 0:  # also refuses NaN
        raise ValueError(f"timeout_in_seconds must not be negative, not {timeout!r}")


def wait_timeout(state: WorkflowState, timeout: float) -> TimeoutError:
    return TimeoutError(
        f"workflow instance {state.instance_id!r} is still "
        f"{state.runtime_status.value} after {timeout:g}s"
    )
