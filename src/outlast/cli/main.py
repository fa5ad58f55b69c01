"""The ``outlast`` command: the group, error handling and exit codes."""

from __future__ import annotations

import importlib
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
from outlast.cli.schedules import schedule
from outlast.errors import (
    InstanceNotFoundError,
    MissingExtraError,
    OutlastError,
    ScheduleNotFoundError,
    SerializationError,
    TimeoutError,
)

EPILOG = """\b
Exit codes: 0 ok · 1 error · 2 usage · 3 no such instance or schedule ·
4 wait timed out · 5 wait: the instance did not complete (FAILED, TERMINATED)
"""


# Commands loaded by name when they run: the HTTP server's ``serve`` and the
# ``dashboard`` need the ``server`` extra, which the other commands do not, and
# ``worker`` the runtime, which the instance commands do without.
PLUGIN_COMMANDS: dict[str, tuple[str, str, str]] = {
    "serve": ("outlast.http.command", "serve", "Run workflows and serve the HTTP API."),
    "worker": ("outlast.cli.worker", "worker", "Run workflows, with no HTTP server."),
    "check": (
        "outlast.cli.check",
        "check",
        "Replay stored histories against APP's code: what would stall.",
    ),
    "dashboard": (
        "outlast.dashboard.command",
        "dashboard",
        "Serve the web dashboard over a store.",
    ),
}


class OutlastGroup(click.Group):
    """Turns outlast's errors into a one-line message and a meaningful exit code;
    loads plugin commands on demand."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *PLUGIN_COMMANDS})

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list, without importing plugin commands to read their help."""
        rows = []
        for name in self.list_commands(ctx):
            if name in PLUGIN_COMMANDS and name not in self.commands:
                rows.append((name, PLUGIN_COMMANDS[name][2]))
                continue
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(formatter.width - 6 - len(name))))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is not None or cmd_name not in PLUGIN_COMMANDS:
            return command
        module_name, attribute, summary = PLUGIN_COMMANDS[cmd_name]
        try:
            module = importlib.import_module(module_name)
        except MissingExtraError as e:
            return _unavailable(cmd_name, summary, str(e))
        loaded = getattr(module, attribute)
        assert isinstance(loaded, click.Command)
        return loaded

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except CliError as e:
            _fail(e.message, e.exit_code)
        except (InstanceNotFoundError, ScheduleNotFoundError) as e:
            _fail(str(e), EXIT_NOT_FOUND)
        except TimeoutError as e:
            _fail(str(e), EXIT_TIMEOUT)
        except (ValueError, SerializationError) as e:
            _fail(str(e), EXIT_USAGE)
        except OutlastError as e:
            _fail(str(e), EXIT_ERROR)
        except KeyboardInterrupt:
            _fail("interrupted", EXIT_INTERRUPTED)


def _unavailable(name: str, summary: str, reason: str) -> click.Command:
    """A stand-in for a command whose extra is not installed: it says which."""

    @click.command(
        name, help=f"{summary} ({reason})", context_settings={"ignore_unknown_options": True}
    )
    @click.argument("args", nargs=-1, type=click.UNPROCESSED)
    def command(args: tuple[str, ...]) -> None:
        _fail(reason, EXIT_USAGE)

    return command


def _fail(message: str, code: int) -> None:
    render.error(message)
    raise click.exceptions.Exit(code)


@click.group(
    cls=OutlastGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog=EPILOG,
)
@click.version_option(__version__, prog_name="outlast")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables (any command).")
@click.pass_context
def cli(ctx: click.Context, as_json: bool) -> None:
    """outlast: durable workflows for Python.

    Every instance command acts on a store (--store, default $OUTLAST_STORE or
    sqlite:///outlast.db) or on a running server (--url, or $OUTLAST_URL), and
    prints JSON with --json (before or after the command).
    """
    state = ctx.ensure_object(CliState)
    state.as_json = state.as_json or as_json


for _command in COMMANDS:
    cli.add_command(_command)
cli.add_command(schedule)


def main() -> None:
    """The ``outlast`` console script."""
    cli.main(prog_name="outlast", obj=CliState(owns_stores=True))
