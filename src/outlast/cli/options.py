"""Options and argument types shared by the commands."""

from __future__ import annotations

import functools
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, overload

import click
import orjson
from click.core import ParameterSource

from outlast.cli.backend import MISSING, Backend, CliError, StoreBackend
from outlast.cli.http_backend import HttpBackend
from outlast.client.dapr_json import parse_rfc3339
from outlast.core.status import WorkflowStatus

F = TypeVar("F", bound=Callable[..., Any])

TOKEN_ENV_VARS = ["OUTLAST_API_TOKEN", "DAPR_API_TOKEN"]


if TYPE_CHECKING:
    # Generic from click 8.2 on; subscripting it at runtime would break older clicks.
    _ParamType = click.ParamType[Any, Any]
else:
    _ParamType = click.ParamType


@dataclass
class CliState:
    """Per-invocation settings. ``owns_stores``: close stores when a command ends
    (the ``outlast`` program; not when commands are invoked in-process, where the
    caller may share the store object)."""

    owns_stores: bool = False
    as_json: bool = False  # ``outlast --json CMD``: the group's flag, for every command


@dataclass
class Session:
    backend: Backend
    as_json: bool


_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}


class TimeType(_ParamType):
    """An RFC 3339 time (``2024-01-31T12:00:00Z``) or an age (``30m``, ``2h``, ``7d``)
    meaning that long ago."""

    name = "TIME"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, datetime):
            return value
        text = str(value).strip()
        match = _DURATION.match(text)
        if match:
            seconds = float(match.group(1)) * _UNITS[match.group(2)]
            return datetime.now(UTC) - timedelta(seconds=seconds)
        try:
            return parse_rfc3339(text)
        except ValueError:
            self.fail(
                f"{text!r} is neither a time like 2024-01-31T12:00:00Z nor an age like 2h",
                param,
                ctx,
            )


class JsonType(_ParamType):
    """A JSON value; ``@path`` reads it from a file and ``-`` from stdin."""

    name = "JSON"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if not isinstance(value, str):
            return value
        if value == "-":
            text = sys.stdin.read()
        elif value.startswith("@"):
            try:
                text = Path(value[1:]).read_text()
            except OSError as e:
                self.fail(f"cannot read {value[1:]!r}: {e.strerror}", param, ctx)
        else:
            text = value
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError as e:
            self.fail(f"not valid JSON ({e}): {text[:60]!r}", param, ctx)


STATUS_CHOICE = click.Choice([s.value for s in WorkflowStatus], case_sensitive=False)


@overload
def target_options(fn: Callable[..., Any], /) -> Callable[..., Any]: ...
@overload
def target_options(
    fn: None = None, /, *, read_only: bool = False
) -> Callable[[Callable[..., Any]], Callable[..., Any]]: ...
def target_options(fn: Callable[..., Any] | None = None, /, *, read_only: bool = False) -> Any:
    """Adds --store/--url/--token/--json and hands the command a :class:`Session`
    as its first argument instead. ``read_only``: the command only reads, so a
    store file that does not exist is an error, not created."""
    if fn is None:

        def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
            return _with_target(command, read_only)

        return decorate
    return _with_target(fn, read_only)


def _with_target(command: Callable[..., Any], read_only: bool) -> Callable[..., Any]:
    @click.option(
        "--json",
        "as_json",
        is_flag=True,
        help="Print JSON (the HTTP API's shapes) instead of tables.",
    )
    @click.option(
        "--token",
        envvar=TOKEN_ENV_VARS,
        show_envvar=True,
        help="API token for --url (sent as dapr-api-token).",
    )
    @click.option(
        "--url",
        envvar="OUTLAST_URL",
        show_envvar=True,
        metavar="URL",
        help="Act through a running server, e.g. http://127.0.0.1:3500.",
    )
    @click.option(
        "--store",
        envvar="OUTLAST_STORE",
        show_envvar=True,
        metavar="URL",
        help="Act on this store directly [default: sqlite:///outlast.db].",
    )
    @functools.wraps(command)
    def wrapper(
        store: str | None, url: str | None, token: str | None, as_json: bool, **kwargs: Any
    ) -> Any:
        ctx = click.get_current_context()
        if url and store and ctx.get_parameter_source("store") is ParameterSource.COMMANDLINE:
            raise click.UsageError("give --store or --url, not both")
        state = ctx.find_object(CliState) or CliState()
        backend: Backend
        if url:
            backend = HttpBackend(url, token)
        else:
            backend = StoreBackend(store, close_store=state.owns_stores, must_exist=read_only)
        ctx.call_on_close(backend.close)
        return command(Session(backend, as_json or state.as_json), **kwargs)

    return wrapper


def value_or_missing(value: Any) -> Any:
    return MISSING if value is None else value


def require(condition: bool, message: str) -> None:
    if not condition:
        raise CliError(message, 2)
