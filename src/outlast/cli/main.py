"""The ``outlast`` command: the group, error handling and exit codes."""

from __future__ import annotations

from typing import Any

import click

from outlast import __version__
from outlast.cli import render
from outlast.cli.backend import CliError
from outlast.cli.commands import COMMANDS
from outlast.cli.exit_codes import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_NOT_FOUND,
    EXIT_TIMEOUT,
    EXIT_USAGE,
)
from outlast.cli.options import CliState
from outlast.cli.serve_cmd import serve
from outlast.errors import (
    InstanceNotFoundError,
    OutlastError,
    SerializationError,
    TimeoutError,
)

EPILOG = """\b
Exit codes: 0 ok · 1 error · 2 usage · 3 no such instance ·
4 wait timed out · 5 wait: the instance did not complete (FAILED, TERMINATED)
"""


class OutlastGroup(click.Group):
    """Turns outlast's errors into a one-line message and a meaningful exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except CliError as e:
            _fail(e.message, e.exit_code)
        except InstanceNotFoundError as e:
            _fail(str(e), EXIT_NOT_FOUND)
        except TimeoutError as e:
            _fail(str(e), EXIT_TIMEOUT)
        except (ValueError, SerializationError) as e:
            _fail(str(e), EXIT_USAGE)
        except OutlastError as e:
            _fail(str(e), EXIT_ERROR)
        except KeyboardInterrupt:
            _fail("interrupted", EXIT_INTERRUPTED)


def _fail(message: str, code: int) -> None:
    render.error(message)
    raise click.exceptions.Exit(code)


@click.group(
    cls=OutlastGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog=EPILOG,
)
@click.version_option(__version__, prog_name="outlast")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """outlast: durable workflows for Python.

    Every instance command acts on a store (--store, default $OUTLAST_STORE or
    sqlite:///outlast.db) or on a running server (--url, or $OUTLAST_URL), and
    prints JSON with --json.
    """
    ctx.ensure_object(CliState)


for _command in (serve, *COMMANDS):
    cli.add_command(_command)


def main() -> None:
    """The ``outlast`` console script."""
    cli.main(prog_name="outlast", obj=CliState(owns_stores=True))
