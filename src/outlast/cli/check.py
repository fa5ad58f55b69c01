"""``outlast check``: replay stored histories against an application's current code
and list the instances it would stall, before deploying it.

Loaded by name when it runs (``outlast.cli.main``): it imports the runtime."""

from __future__ import annotations

import click
from rich.table import Table

from outlast.cli import render
from outlast.cli.backend import CliError
from outlast.cli.exit_codes import EXIT_ERROR, EXIT_USAGE
from outlast.cli.options import CliState
from outlast.runtime.app import AppLoadError, load_runtime
from outlast.store import open_store
from outlast.testing.histories import (
    EVERY_STATUS,
    UNFINISHED,
    StoredHistory,
    read_histories,
    store_histories,
)
from outlast.testing.replay import ReplayFinding, replay_check


@click.command()
@click.argument("app", metavar="APP")
@click.option(
    "--store",
    envvar="OUTLAST_STORE",
    show_envvar=True,
    metavar="URL",
    help="Replay the histories in this store (only read; never created).",
)
@click.option(
    "--histories",
    "histories_dir",
    metavar="DIR",
    type=click.Path(file_okay=False),
    help="Replay the histories exported to DIR (`outlast history --export DIR`).",
)
@click.option("--all", "every", is_flag=True, help="Finished instances too, not only unfinished.")
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
@click.option(
    "--app-dir",
    default=".",
    show_default=True,
    help="Directory put first on the import path for APP.",
)
def check(
    app: str,
    store: str | None,
    histories_dir: str | None,
    every: bool,
    as_json: bool,
    app_dir: str,
) -> None:
    """Replay histories against APP's workflows; list the instances that would STALL.

    APP is MODULE:ATTRIBUTE naming a WorkflowRuntime (as for `outlast worker`);
    it is imported, not started. By default the running, suspended and stalled
    instances of --store are replayed (--all: finished ones too). Exit 0 when every
    history replays, 1 when some would stall (each listed with its step and why).

    \b
      outlast check myapp.workflows:runtime --store postgresql://outlast@db/outlast
      outlast check myapp.workflows:runtime --histories tests/histories/
    """
    state = click.get_current_context().find_object(CliState) or CliState()
    as_json = as_json or state.as_json
    if store and histories_dir:
        raise click.UsageError("give --store or --histories, not both")
    try:
        runtime = load_runtime(app, app_dir=app_dir)
    except AppLoadError as e:
        raise CliError(str(e), EXIT_USAGE) from e
    histories: list[StoredHistory]
    if histories_dir is not None:
        try:
            histories = read_histories(histories_dir)
        except (OSError, ValueError) as e:
            raise CliError(str(e), EXIT_USAGE) from e
    else:
        opened = open_store(store, must_exist=True)
        try:
            statuses = EVERY_STATUS if every else UNFINISHED
            histories = list(store_histories(opened, statuses=statuses))
        finally:
            if state.owns_stores:
                opened.close()
    findings = replay_check(runtime, histories)
    _report(findings, len(histories), as_json)
    if findings:
        raise click.exceptions.Exit(EXIT_ERROR)


def _report(findings: list[ReplayFinding], checked: int, as_json: bool) -> None:
    if as_json:
        render.print_json(
            {
                "checked": checked,
                "findings": [
                    {
                        "instanceID": f.instance_id,
                        "workflowName": f.name,
                        "step": f.step,
                        "reason": f.reason,
                    }
                    for f in findings
                ],
            }
        )
        return
    out = render.console()
    if not findings:
        out.print(f"{checked} histories replayed: none would stall.", markup=False)
        return
    table = Table(box=None, header_style="bold", pad_edge=False)
    table.add_column("INSTANCE", no_wrap=True)
    table.add_column("WORKFLOW")
    table.add_column("STEP", justify="right")
    table.add_column("WHY", overflow="fold")
    for f in findings:
        table.add_row(
            render.cell(f.instance_id),
            render.cell(f.name),
            "" if f.step is None else str(f.step),
            render.cell(f.reason),
        )
    out.print(table)
    out.print(f"{len(findings)} of {checked} histories would stall.", markup=False)
