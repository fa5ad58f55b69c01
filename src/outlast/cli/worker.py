"""``outlast worker``: run an application's workflows and activities, with no HTTP
server, until Ctrl+C or SIGTERM (worker-only processes, to scale out).

The CLI loads this command by name only when it is run (``outlast.cli.main``), so
the other commands do not import the runtime."""

from __future__ import annotations

import logging

import click
from rich.markup import escape

from outlast.cli.backend import CliError
from outlast.cli.exit_codes import EXIT_USAGE
from outlast.cli.options import CliState
from outlast.cli.render import clean, console
from outlast.redaction import redact_url
from outlast.runtime.app import AppLoadError, load_app
from outlast.runtime.hosting import run_forever


@click.command()
@click.argument("app", metavar="APP")
@click.option(
    "--store",
    metavar="URL",
    help="The store to run on [default: $OUTLAST_STORE or sqlite:///outlast.db].",
)
@click.option(
    "--app-dir",
    default=".",
    show_default=True,
    help="Directory put first on the import path for APP.",
)
@click.option(
    "--log-level",
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
    default="info",
    show_default=True,
    help="The level of outlast's log lines on stderr (INFO: starts, completions, retries).",
)
def worker(app: str, store: str | None, app_dir: str, log_level: str) -> None:
    """Run the workflows and activities of APP, until Ctrl+C or SIGTERM.

    APP is an import string MODULE:ATTRIBUTE naming a WorkflowRuntime, as for
    `outlast serve`; no HTTP server runs. Start as many workers on one PostgreSQL
    store as you like: they share the work. On a signal the worker takes no new
    work, lets running activities finish and commits them; a second Ctrl+C stops
    waiting (those activities run again elsewhere).

    \b
      outlast worker myapp.workflows:runtime --store postgresql://outlast@db/outlast
    """
    try:
        runtime = load_app(app, store=store, app_dir=app_dir)
    except AppLoadError as e:
        raise CliError(str(e), EXIT_USAGE) from e
    _log_to_stderr(log_level)
    out = console(stderr=True, soft_wrap=True)
    names = clean(", ".join(sorted(runtime.registry.workflows)) or "(none)")
    activities = clean(", ".join(sorted(runtime.registry.activities)) or "(none)")

    def ready() -> None:
        out.print(f"[bold]outlast[/] worker running [bold]{escape(clean(app))}[/]")
        out.print(f"  store       {redact_url(runtime.store.url)}", markup=False)
        out.print(f"  workflows   {names}", markup=False)
        out.print(f"  activities  {activities}", markup=False)
        out.print("Press Ctrl+C to stop.", markup=False)

    state = click.get_current_context().find_object(CliState) or CliState()
    try:
        run_forever(runtime, on_ready=ready)
    finally:
        if state.owns_stores:
            runtime.store.close()
    out.print("outlast worker stopped; every committed step is in the store.", markup=False)


def _log_to_stderr(level: str) -> None:
    """outlast's log lines (docs/observability.md) on stderr, unless the app set
    up handlers of its own."""
    logger = logging.getLogger("outlast")
    logger.setLevel(level.upper())
    if not logger.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
        logger.addHandler(handler)
