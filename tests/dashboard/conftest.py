"""Fixtures of the dashboard tests: the demo served on SQLite (and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.dashboard.demo import Demo, served_demo
from tests.http.fixtures import clean_env
from tests.pg import create_database, drop_database, require_server

__all__ = ["clean_env"]


@pytest.fixture(params=["sqlite", "postgres"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh store URL of each kind."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/dash.db"
        return
    require_server()
    url = create_database()
    yield url
    drop_database(url)


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    with served_demo(f"sqlite:///{tmp_path}/demo.db") as running:
        yield running
