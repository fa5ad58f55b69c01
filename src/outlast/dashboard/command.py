"""``outlast dashboard``: the dashboard alone, over any store, without a runtime.

The CLI loads this command by name only when it is run (``outlast.cli.main``)."""

from __future__ import annotations

import click
import uvicorn

from outlast.cli.backend import CliError
from outlast.cli.options import CliState
from outlast.cli.render import console
from outlast.client.client import WorkflowClient
from outlast.dashboard.app import create_dashboard
from outlast.http.app import token_from_env
from outlast.http.serve import bind_socket
from outlast.store import open_store


@click.command()
@click.option(
    "--store",
    metavar="URL",
    help="The store to show [default: $OUTLAST_STORE or sqlite:///outlast.db].",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=3501, show_default=True, help="Port (0: any)."
)
@click.option(
    "--refresh",
    type=click.FloatRange(min=0),
    default=2.0,
    show_default=True,
    help="Seconds between live refreshes of open pages (0: never).",
)
@click.option(
    "--log-level",
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
    default="warning",
    show_default=True,
)
def dashboard(store: str | None, host: str, port: int, refresh: float, log_level: str) -> None:
    """Serve the web dashboard over a store, until Ctrl+C.

    It lists instances, shows one instance's timeline, history and what it waits
    on, and acts on them (raise an event, suspend, resume, terminate, rerun,
    purge). Workers run elsewhere (outlast serve, or your own processes). Set
    OUTLAST_API_TOKEN (or DAPR_API_TOKEN) to ask for that token first.

    \b
      outlast dashboard --store sqlite:///orders.db
      outlast dashboard --store postgresql://app@db/orders --port 8080
    """
    opened = open_store(store)
    state = click.get_current_context().find_object(CliState) or CliState()
    try:
        app = create_dashboard(
            WorkflowClient(opened), api_token=token_from_env(), refresh_seconds=refresh
        )
        try:
            sock = bind_socket(host, port)
        except OSError as e:
            raise CliError(f"cannot listen on {host}:{port}: {e.strerror or e}") from e
        bound_host, bound_port = sock.getsockname()[:2]
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        out = console(stderr=True, soft_wrap=True)
        out.print(f"[bold]outlast dashboard[/] on [bold]http://{shown}:{bound_port}/[/]")
        out.print(f"  store  {opened.url}", markup=False)
        out.print("Press Ctrl+C to stop.", markup=False)
        try:
            server = uvicorn.Server(
                uvicorn.Config(app, log_level=log_level, access_log=log_level in ("info", "debug"))
            )
            server.run(sockets=[sock])
        except KeyboardInterrupt:
            pass  # uvicorn hands Ctrl+C back once it has stopped: a clean stop
        finally:
            sock.close()
        out.print("outlast dashboard stopped.", markup=False)
    finally:
        if state.owns_stores:
            opened.close()
