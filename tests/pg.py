"""A real PostgreSQL server for the tests that need one.

The server is ``$OUTLAST_TEST_POSTGRES`` or 127.0.0.1:5432 as user ``postgres``
(trust auth). Tests make databases of their own and drop them afterwards. Without a
reachable server those tests are skipped, except under ``CI=true``, where they
fail: there PostgreSQL is part of the test bed, so its absence is a broken build.
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql

ADMIN_URL = os.environ.get("OUTLAST_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")


def admin_connect() -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=5)


def require_server() -> None:
    try:
        with admin_connect():
            pass
    except psycopg.OperationalError as e:
        reason = f"no PostgreSQL server reachable at {ADMIN_URL}: {e}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (CI=true: the PostgreSQL tests are mandatory)")
        pytest.skip(reason)


def url_for(database: str) -> str:
    return urlunsplit(urlsplit(ADMIN_URL)._replace(path=f"/{database}"))


def create_database(prefix: str | None = None) -> str:
    """A new empty database; returns its URL. Its name starts with ``prefix``, by
    default ``$OUTLAST_TEST_DB_PREFIX`` or ``outlast_test`` (a shared server may
    ask each user for a prefix of their own)."""
    prefix = prefix or os.environ.get("OUTLAST_TEST_DB_PREFIX") or "outlast_test"
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with admin_connect() as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return url_for(name)


def drop_database(url: str) -> None:
    name = urlsplit(url).path.lstrip("/")
    with admin_connect() as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def terminate_connections(url: str) -> int:
    """Kill every server process connected to ``url``'s database, as a server
    restart would; return how many there were."""
    name = urlsplit(url).path.lstrip("/")
    with admin_connect() as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        ).fetchall()
    return len(rows)


def cluster_command(action: str) -> list[str]:
    version = sorted(os.listdir("/etc/postgresql"))[-1]
    return ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", action]


def restart_server() -> None:
    subprocess.run(cluster_command("restart"), check=True, capture_output=True, timeout=120)


def ensure_server_running(timeout: float = 60.0) -> None:
    """Start the local cluster if it is down, and wait until it takes connections."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with admin_connect():
                return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
        subprocess.run(cluster_command("start"), check=False, capture_output=True, timeout=120)
        time.sleep(0.5)


def can_restart_server() -> bool:
    host = urlsplit(ADMIN_URL).hostname
    return (
        host in ("127.0.0.1", "localhost", None)
        and os.path.isdir("/etc/postgresql")
        and os.geteuid() == 0
    )


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """One database for the whole session (tests reset it); its URL."""
    require_server()
    url = create_database()
    yield url
    drop_database(url)


@pytest.fixture
def fresh_database() -> Iterator[str]:
    """A database of the test's own; its URL."""
    require_server()
    url = create_database()
    yield url
    drop_database(url)
