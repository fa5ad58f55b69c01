"""The instance commands: start, status, wait, list, raise, terminate, suspend,
resume, purge, rerun (and history, from history.py)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import click

from outlast.cli import render, waiting
from outlast.cli.backend import MISSING, CliError, WaitFor
from outlast.cli.exit_codes import EXIT_FAILED
from outlast.cli.history import history
from outlast.cli.options import STATUS_CHOICE, JsonType, Session, TimeType, target_options
from outlast.cli.waiting import not_found
from outlast.client.dapr_json import list_json, status_json
from outlast.client.state import PendingActivity, WorkflowState
from outlast.core.status import WorkflowStatus
from outlast.errors import TimeoutError

JSON = JsonType()
TIME = TimeType()


def _show(session: Session, state: WorkflowState, waiting: Sequence[PendingActivity] = ()) -> None:
    if session.as_json:
        render.print_json(status_json(state, waiting=waiting))
    else:
        render.render_status(state, waiting)


def _accepted(session: Session, instance_id: str, message: str) -> None:
    if session.as_json:
        render.print_json({"instanceID": instance_id, "accepted": True})
    else:
        render.done(message)


def _finish_wait(session: Session, state: WorkflowState, until: WaitFor) -> None:
    _show(session, state)
    if until == "completion" and state.runtime_status is not WorkflowStatus.COMPLETED:
        raise click.exceptions.Exit(EXIT_FAILED)


def _wait(session: Session, instance_id: str, until: WaitFor, timeout: float) -> WorkflowState:
    """Wait (with a spinner on a terminal); on a timeout, show where the instance
    got to before the error."""
    spinner = None if session.as_json else render.console(stderr=True)
    try:
        return waiting.wait(session.backend, instance_id, until, timeout, spinner)
    except TimeoutError:
        state = session.backend.status(instance_id)
        if state is not None:
            _show(session, state)
        raise


TIMEOUT = click.FloatRange(min=0)


@click.command()
@click.argument("workflow")
@click.option(
    "--input", "input_", type=JSON, help="The input as JSON; @file reads a file, - stdin."
)
@click.option("--id", "instance_id", help="The instance ID (default: a new random one).")
@click.option("--wait", "wait_", is_flag=True, help="Wait for the instance to finish.")
@click.option(
    "--timeout", type=TIMEOUT, default=60.0, show_default=True, help="Seconds --wait waits."
)
@target_options
def start(
    session: Session,
    workflow: str,
    input_: Any,
    instance_id: str | None,
    wait_: bool,
    timeout: float,
) -> None:
    """Start an instance of WORKFLOW and print its ID.

    \b
      outlast start OrderProcessingWorkflow --input '{"Name": "Paperclips", "Quantity": 1}'
      outlast start approval --id order-42 --input @request.json --wait
    """
    new_id = session.backend.start(workflow, input_, instance_id)
    if wait_:
        _finish_wait(session, _wait(session, new_id, "completion", timeout), "completion")
    elif session.as_json:
        render.print_json({"instanceID": new_id})
    else:
        render.plain(new_id)


@click.command()
@click.argument("instance_id")
@target_options(read_only=True)
def status(session: Session, instance_id: str) -> None:
    """Show an instance's status, input, output and failure."""
    state = session.backend.status(instance_id)
    if state is None:
        raise not_found(instance_id)
    waiting = []
    if state.runtime_status in (WorkflowStatus.RUNNING, WorkflowStatus.PENDING):
        waiting = session.backend.limit_waits(instance_id)
    _show(session, state, waiting)


@click.command()
@click.argument("instance_id")
@click.option(
    "--for",
    "until",
    type=click.Choice(["completion", "start"]),
    default="completion",
    show_default=True,
    help="Wait until the instance finished, or only until it started.",
)
@click.option("--timeout", type=TIMEOUT, default=60.0, show_default=True, help="Seconds to wait.")
@target_options(read_only=True)
def wait(session: Session, instance_id: str, until: WaitFor, timeout: float) -> None:
    """Wait for an instance to finish (or start) and show its status.

    Exits 0 when it COMPLETED, 5 when it finished otherwise (FAILED, TERMINATED),
    4 when the timeout elapsed first and 3 when there is no such instance.
    """
    _finish_wait(session, _wait(session, instance_id, until, timeout), until)


@click.command(name="list")
@click.option(
    "--status",
    "statuses",
    type=STATUS_CHOICE,
    multiple=True,
    help="Only instances in this status (repeatable).",
)
@click.option("--name", help="Only instances of this workflow.")
@click.option("--since", "--created-after", "created_after", type=TIME, help="Created at/after.")
@click.option("--created-before", type=TIME, help="Created before this time or age.")
@click.option(
    "--limit",
    "--page-size",
    "page_size",
    type=click.IntRange(1, 10_000),
    default=50,
    show_default=True,
    help="Instances per page.",
)
@click.option("--continuation-token", help="Continue where the previous page stopped.")
@click.option("--all", "all_pages", is_flag=True, help="Fetch every page.")
@target_options(read_only=True)
def list_(
    session: Session,
    statuses: tuple[str, ...],
    name: str | None,
    created_after: datetime | None,
    created_before: datetime | None,
    page_size: int,
    continuation_token: str | None,
    all_pages: bool,
) -> None:
    """List instances, oldest first.

    \b
      outlast list --status RUNNING --status SUSPENDED
      outlast list --name OrderProcessingWorkflow --since 2h --json
    """
    states: list[WorkflowState] = []
    token = continuation_token
    while True:
        page, token = session.backend.list_instances(
            statuses=[s.upper() for s in statuses] or None,
            name=name,
            created_after=created_after,
            created_before=created_before,
            page_size=page_size,
            continuation_token=token,
        )
        states.extend(page)
        if not (all_pages and token):
            break
    if session.as_json:
        render.print_json(list_json(states, token))
    else:
        render.render_list(states, token)


@click.command(name="raise")
@click.argument("instance_id")
@click.argument("event")
@click.option("--data", type=JSON, help="The event data as JSON; @file reads a file, - stdin.")
@target_options
def raise_(session: Session, instance_id: str, event: str, data: Any) -> None:
    """Raise EVENT to an instance (kept until the workflow waits for it).

    \b
      outlast raise order-42 approve --data true
    """
    session.backend.raise_event(instance_id, event, data)
    _accepted(session, instance_id, f"Raised {event!r} to {instance_id}.")


@click.command()
@click.argument("instance_id")
@click.option("--output", type=JSON, help="The output to record, as JSON.")
@click.option("--non-recursive", is_flag=True, help="Leave child workflows running.")
@target_options
def terminate(session: Session, instance_id: str, output: Any, non_recursive: bool) -> None:
    """Terminate an instance (and its child workflows)."""
    session.backend.terminate(instance_id, output, not non_recursive)
    _accepted(session, instance_id, f"Terminating {instance_id}.")


@click.command()
@click.argument("instance_id")
@click.option("--reason", help="Why (recorded in the history).")
@target_options
def suspend(session: Session, instance_id: str, reason: str | None) -> None:
    """Suspend an instance: it keeps its events but takes no steps until resumed."""
    session.backend.suspend(instance_id, reason)
    _accepted(session, instance_id, f"Suspending {instance_id}.")


@click.command()
@click.argument("instance_id")
@click.option("--reason", help="Why (recorded in the history).")
@target_options
def resume(session: Session, instance_id: str, reason: str | None) -> None:
    """Resume a suspended (or stalled) instance."""
    session.backend.resume(instance_id, reason)
    _accepted(session, instance_id, f"Resuming {instance_id}.")


@click.command()
@click.argument("instance_id", required=False)
@click.option(
    "--status",
    "statuses",
    type=click.Choice(["COMPLETED", "FAILED", "TERMINATED", "CANCELED"], case_sensitive=False),
    multiple=True,
    help="Purge finished instances in this status (repeatable).",
)
@click.option("--name", help="Purge finished instances of this workflow.")
@click.option("--created-before", type=TIME, help="Purge finished instances created before.")
@click.option("--all", "everything", is_flag=True, help="Purge every finished instance.")
@click.option("--yes", "-y", is_flag=True, help="Purge by filter without asking first.")
@target_options
def purge(
    session: Session,
    instance_id: str | None,
    statuses: tuple[str, ...],
    name: str | None,
    created_before: datetime | None,
    everything: bool,
    yes: bool,
) -> None:
    """Delete a finished instance and its history, or every finished instance that
    matches the filters (after asking, unless --yes).

    \b
      outlast purge order-42
      outlast purge --status COMPLETED --created-before 7d --yes
    """
    filtered = bool(statuses or name or created_before or everything)
    if instance_id and filtered:
        raise click.UsageError("give an INSTANCE_ID or filters, not both")
    if instance_id:
        if not session.backend.purge(instance_id):
            raise not_found(instance_id)
        if session.as_json:
            render.print_json({"purged": 1})
        else:
            render.done(f"Purged {instance_id}.")
        return
    if not filtered:
        raise click.UsageError("give an INSTANCE_ID, a filter, or --all")
    if not yes:
        _confirm_purge(statuses, name, created_before)
    count = session.backend.purge_many(
        statuses=[s.upper() for s in statuses] or None, name=name, created_before=created_before
    )
    if session.as_json:
        render.print_json({"purged": count})
    else:
        render.done(f"Purged {count} instance{'' if count == 1 else 's'}.")


def _confirm_purge(
    statuses: tuple[str, ...], name: str | None, created_before: datetime | None
) -> None:
    """Ask before deleting many instances; without a terminal to ask on, refuse."""
    if not sys.stdin.isatty():
        raise click.UsageError(
            "purging by filter deletes every matching finished instance: add --yes "
            "to do it without being asked (there is no terminal to ask on)"
        )
    which = [f"status {', '.join(s.upper() for s in statuses)}" if statuses else ""]
    which.append(f"workflow {name}" if name else "")
    which.append(f"created before {render.rfc3339(created_before)}" if created_before else "")
    scope = "; ".join(w for w in which if w)
    question = "Purge every finished instance" + (f" ({scope})" if scope else "")
    click.confirm(question + ", with its history?", abort=True, err=True)


@click.command()
@click.argument("instance_id")
@click.argument("event_id", type=click.IntRange(min=0))
@click.option("--new-id", help="The new instance's ID (default: a new random one).")
@click.option("--input", "input_", type=JSON, help="A new input as JSON (default: the original).")
@target_options
def rerun(
    session: Session, instance_id: str, event_id: int, new_id: str | None, input_: Any
) -> None:
    """Start a new instance that replays INSTANCE_ID's history up to EVENT_ID and
    runs on from there."""
    started = session.backend.rerun(
        instance_id, event_id, new_id, MISSING if input_ is None else input_
    )
    if session.as_json:
        render.print_json({"instanceID": started})
    else:
        render.plain(started)


COMMANDS: tuple[click.Command, ...] = (
    start,
    status,
    wait,
    list_,
    history,
    raise_,
    terminate,
    suspend,
    resume,
    purge,
    rerun,
)

__all__ = ["COMMANDS", "CliError"]
