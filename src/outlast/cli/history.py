"""``outlast history``: an instance's events, or histories exported as JSON files
for ``outlast check --histories``."""

from __future__ import annotations

import click

from outlast.cli import render
from outlast.cli.backend import StoreBackend
from outlast.cli.options import Session, target_options
from outlast.client.dapr_json import history_json
from outlast.errors import InstanceNotFoundError


@click.command()
@click.argument("instance_id", required=False)
@click.option(
    "--export",
    "export_dir",
    metavar="DIR",
    type=click.Path(file_okay=False),
    help="Write histories to DIR as JSON files (for `outlast check --histories DIR`): "
    "INSTANCE_ID's, or without one every unfinished instance's.",
)
@click.option("--all", "every", is_flag=True, help="With --export: finished instances too.")
@target_options(read_only=True)
def history(session: Session, instance_id: str | None, export_dir: str | None, every: bool) -> None:
    """Show an instance's history events, oldest first; or export histories.

    \b
      outlast history order-42
      outlast history --export histories/ --store postgresql://...   # then, in CI:
      outlast check myapp:runtime --histories histories/
    """
    if export_dir is not None:
        _export(session, instance_id, export_dir, every)
        return
    if instance_id is None:
        raise click.UsageError("give INSTANCE_ID (or --export DIR)")
    events = session.backend.history(instance_id)
    if session.as_json:
        render.print_json(history_json(instance_id, events))
    else:
        render.render_history(events)


def _export(session: Session, instance_id: str | None, directory: str, every: bool) -> None:
    from outlast.testing import histories  # only here: the other commands do without

    backend = session.backend
    if not isinstance(backend, StoreBackend):
        raise click.UsageError("--export reads the store: give --store, not --url")
    store = backend.client.store
    if instance_id is not None:
        record = store.get_instance(instance_id)
        if record is None:
            raise InstanceNotFoundError(f"no workflow instance {instance_id!r}")
        chosen = [
            histories.StoredHistory(
                record.instance_id,
                record.name,
                record.status,
                store.get_history(instance_id),
                record.execution_id,
            )
        ]
        count = histories.export_histories(chosen, directory)
    else:
        statuses = histories.EVERY_STATUS if every else histories.UNFINISHED
        count = histories.export_histories(
            histories.store_histories(store, statuses=statuses), directory
        )
    if session.as_json:
        render.print_json({"exported": count, "directory": directory})
    else:
        render.done(f"Exported {count} histor{'y' if count == 1 else 'ies'} to {directory}.")
