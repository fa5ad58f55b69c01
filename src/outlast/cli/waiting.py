"""``outlast wait`` (and ``start --wait``): the wait itself, with a spinner showing
the instance's status while a person watches."""

from __future__ import annotations

import time
from typing import Final

from rich.console import Console

from outlast.cli.backend import Backend, WaitFor
from outlast.client.state import WorkflowState
from outlast.client.waits import wait_timeout
from outlast.errors import InstanceNotFoundError, TimeoutError

# How long each wait lasts between two updates of the spinner's status.
_STEP_SECONDS: Final = 1.0


def not_found(instance_id: str) -> InstanceNotFoundError:
    return InstanceNotFoundError(f"no workflow instance with ID {instance_id!r}")


def wait(
    backend: Backend,
    instance_id: str,
    until: WaitFor,
    timeout: float,
    spinner: Console | None = None,
) -> WorkflowState:
    """The instance's state once it got there; raises InstanceNotFoundError, or
    outlast's TimeoutError when ``timeout`` elapses first. ``spinner``: a terminal
    to show the instance's status on meanwhile."""
    if spinner is not None and spinner.is_terminal:
        state = _wait_watched(backend, instance_id, until, timeout, spinner)
    else:
        state = backend.wait(instance_id, until, timeout)
    if state is None:
        raise not_found(instance_id)
    return state


def _wait_watched(
    backend: Backend, instance_id: str, until: WaitFor, timeout: float, spinner: Console
) -> WorkflowState | None:
    started = time.monotonic()
    deadline = started + timeout
    what = "finish" if until == "completion" else "start"
    with spinner.status(f"Waiting for {instance_id} to {what}") as status:
        while True:
            step = min(_STEP_SECONDS, max(0.0, deadline - time.monotonic()))
            try:
                return backend.wait(instance_id, until, step)
            except TimeoutError:
                pass
            state = backend.status(instance_id)
            if state is None:
                return None
            if time.monotonic() >= deadline:
                raise wait_timeout(state, timeout)
            waited = int(time.monotonic() - started)
            status.update(
                f"Waiting for {instance_id} to {what}: {state.runtime_status.value} ({waited}s)"
            )
