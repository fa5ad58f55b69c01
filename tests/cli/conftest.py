from __future__ import annotations

from collections.abc import Callable

import pytest
from click.testing import CliRunner, Result

from outlast.cli import cli
from tests.http.fixtures import base_url, clean_env, client, http, runtime, server, store

Outlast = Callable[..., Result]


@pytest.fixture(params=["store", "url"])
def target(request: pytest.FixtureRequest, store_url: str, runtime: object) -> list[str]:
    """Where the commands act: the store itself, or a server on it. Either way a
    runtime runs the workflows in this process."""
    if request.param == "url":
        return ["--url", request.getfixturevalue("base_url")]
    return ["--store", store_url]


@pytest.fixture
def outlast(target: list[str]) -> Outlast:
    runner = CliRunner()

    def run(*args: str, expect: int = 0, stdin: str | None = None) -> Result:
        result = runner.invoke(cli, [*args, *target], input=stdin, catch_exceptions=False)
        assert result.exit_code == expect, (result.stdout, result.stderr)
        return result

    return run


__all__ = [
    "Outlast",
    "base_url",
    "clean_env",
    "client",
    "http",
    "outlast",
    "runtime",
    "server",
    "store",
    "target",
]
