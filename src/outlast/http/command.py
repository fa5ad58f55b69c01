"""``outlast serve``: the runtime and the HTTP API in one process.

The CLI loads this command by name only when it is run (``outlast.cli.main``), so
the other commands never import the server."""

from __future__ import annotations

import logging

import click
from rich.markup import escape
from uvicorn.logging import DefaultFormatter

from outlast.cli.backend import CliError
from outlast.cli.exit_codes import EXIT_USAGE
from outlast.cli.options import CliState
from outlast.cli.render import clean, console
from outlast.http.serve import serve as run_server
from outlast.redaction import redact_url
from outlast.runtime.app import EXAMPLES_APP, AppLoadError, load_app


@click.command()
@click.argument("app", required=False, metavar="[APP]")
@click.option(
    "--store",
    metavar="URL",
    help="The store to run on [default: $OUTLAST_STORE or sqlite:///outlast.db].",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=3500, show_default=True, help="Port (0: any)."
)
@click.option(
    "--app-dir",
    default=".",
    show_default=True,
    help="Directory put first on the import path for APP.",
)
@click.option(
    "--max-body-size",
    type=click.IntRange(min=1),
    help="Largest request body accepted, in bytes (larger: 413) "
    "[default: the payload limit plus 64 KiB].",
)
@click.option(
    "--log-level",
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
    default="info",
    show_default=True,
)
@click.option("--no-access-log", is_flag=True, help="Do not log every request.")
@click.option(
    "--grpc-port",
    type=click.IntRange(0, 65535),
    default=50001,
    show_default=True,
    envvar="OUTLAST_GRPC_PORT",
    help="Port of the gRPC sidecar for Dapr SDK apps (TaskHubSidecarService; 0: off) "
    "[env: OUTLAST_GRPC_PORT].",
)
@click.option(
    "--durabletask-port",
    type=click.IntRange(0, 65535),
    default=0,
    envvar="OUTLAST_DURABLETASK_PORT",
    help="Port of the gRPC sidecar for Microsoft durabletask SDK apps (their default: "
    "4001) [default: off; env: OUTLAST_DURABLETASK_PORT].",
)
@click.option(
    "--grpc-cert",
    type=click.Path(exists=True, dir_okay=False),
    envvar="OUTLAST_GRPC_CERT",
    help="PEM certificate chain: serve the gRPC port(s) over TLS (with --grpc-key) "
    "[env: OUTLAST_GRPC_CERT].",
)
@click.option(
    "--grpc-key",
    type=click.Path(exists=True, dir_okay=False),
    envvar="OUTLAST_GRPC_KEY",
    help="PEM private key of --grpc-cert [env: OUTLAST_GRPC_KEY].",
)
def serve(
    app: str | None,
    store: str | None,
    host: str,
    port: int,
    app_dir: str,
    max_body_size: int | None,
    log_level: str,
    no_access_log: bool,
    grpc_port: int,
    durabletask_port: int,
    grpc_cert: str | None,
    grpc_key: str | None,
) -> None:
    """Run the workflows of APP and serve the HTTP API, until Ctrl+C or SIGTERM.

    APP is an import string MODULE:ATTRIBUTE naming a WorkflowRuntime (like
    uvicorn's); without it, the bundled examples are served. The API is Dapr's
    workflow API under /v1.0, /v1.0-beta1 and /v1.0-alpha1, plus /openapi.json
    and /healthz. Set OUTLAST_API_TOKEN (or DAPR_API_TOKEN) to require that token
    in the dapr-api-token header.

    \b
      outlast serve
      outlast serve myapp.workflows:runtime --store sqlite:///orders.db --port 8080
    """
    target = app or EXAMPLES_APP
    tls = _tls(grpc_cert, grpc_key)
    try:
        runtime = load_app(target, store=store, app_dir=app_dir)
    except AppLoadError as e:
        hint = "" if app else " (pass APP to serve your own workflows)"
        raise CliError(f"{e}{hint}", EXIT_USAGE) from e
    out = console(stderr=True, soft_wrap=True)
    names = clean(", ".join(sorted(runtime.registry.workflows)) or "(none)")

    def ready(url: str) -> None:
        out.print(f"[bold]outlast[/] serving [bold]{escape(clean(target))}[/] on [bold]{url}[/]")
        out.print(f"  store      {redact_url(runtime.store.url)}", markup=False)
        out.print(f"  workflows  {names}", markup=False)
        out.print(
            f"  start      POST {url}/v1.0/workflows/dapr/{{workflowName}}/start", markup=False
        )
        out.print(f"  status     GET  {url}/v1.0/workflows/dapr/{{instanceID}}", markup=False)
        out.print(f"  reference  {url}/openapi.json", markup=False)
        out.print(f"  dashboard  {url}/", markup=False)
        secure = " over TLS" if tls else ""
        if grpc_port:
            out.print(
                f"  grpc       {host}:{grpc_port} (Dapr SDKs: DAPR_GRPC_PORT){secure}", markup=False
            )
        if durabletask_port:
            out.print(
                f"  grpc       {host}:{durabletask_port} (durabletask SDKs){secure}", markup=False
            )
        out.print("Press Ctrl+C to stop.", markup=False)

    state = click.get_current_context().find_object(CliState) or CliState()
    _log_to_stderr(log_level)
    try:
        run_server(
            runtime,
            host=host,
            port=port,
            max_body_size=max_body_size,
            log_level=log_level,
            access_log=not no_access_log,
            on_ready=ready,
            grpc_port=grpc_port,
            durabletask_port=durabletask_port,
            grpc_tls=tls,
        )
    except OSError as e:
        raise CliError(f"cannot listen on {host}:{port}: {e.strerror or e}") from e
    finally:
        if state.owns_stores:
            runtime.store.close()
    out.print("outlast stopped; every committed step is in the store.", markup=False)


def _tls(cert: str | None, key: str | None) -> tuple[bytes, bytes] | None:
    """The (certificate chain, key) PEM bytes for the gRPC ports, or None."""
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        raise CliError("--grpc-cert and --grpc-key go together: give both", EXIT_USAGE)
    with open(cert, "rb") as c, open(key, "rb") as k:
        chain, private = c.read(), k.read()
    if b"-----BEGIN" not in chain or b"PRIVATE KEY-----" not in private:
        raise CliError(
            "--grpc-cert must be a PEM certificate and --grpc-key a PEM private key", EXIT_USAGE
        )
    return chain, private


def _log_to_stderr(level: str) -> None:
    """outlast's own log lines (warnings at start, failures of the worker loop or
    the store) on stderr, formatted like uvicorn's."""
    logger = logging.getLogger("outlast")
    logger.setLevel(level.upper())
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(DefaultFormatter("%(levelprefix)s %(message)s"))
        logger.addHandler(handler)
