"""The PostgreSQL server the PG scenarios run on (parent side): one fresh database per run.

outlast and DBOS are both clients of the same server, each run on a database of
its own that is created before the run and dropped after it. The server's own
settings are left as they are (durable by default: fsync and synchronous_commit
on); the report records them.
"""

from __future__ import annotations

import os
import uuid
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
PREFIX = "outlast_bench"
# Server settings that decide what a commit costs; recorded with the results.
SETTINGS = (
    "fsync",
    "synchronous_commit",
    "wal_sync_method",
    "full_page_writes",
    "commit_delay",
    "shared_buffers",
    "max_connections",
)


def _connect(admin_url: str) -> psycopg.Connection[Any]:
    return psycopg.connect(admin_url, autocommit=True, connect_timeout=5)


def unreachable(admin_url: str) -> str | None:
    """Why the server cannot be used, or None when it can."""
    try:
        with _connect(admin_url):
            return None
    except psycopg.Error as e:
        detail = " ".join(str(e).split())  # libpq's messages span lines
        return f"no PostgreSQL server reachable at {redact(admin_url)}: {detail}"


def url_for(admin_url: str, database: str) -> str:
    return urlunsplit(urlsplit(admin_url)._replace(path=f"/{database}"))


def create_database(admin_url: str, label: str) -> str:
    """A new, empty database named after the run; returns its URL."""
    clean = "".join(c if c.isalnum() else "_" for c in label.lower())
    name = f"{PREFIX}_{clean}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    with _connect(admin_url) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return url_for(admin_url, name)


def drop_database(admin_url: str, url: str) -> None:
    """Drop a run's database, ending any connection a finished run left behind."""
    name = urlsplit(url).path.lstrip("/")
    with _connect(admin_url) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def describe(admin_url: str) -> dict[str, Any]:
    """The server's version and the settings that decide what a commit costs."""
    with _connect(admin_url) as conn:
        version = conn.execute("SHOW server_version").fetchone()
        settings = {name: _show(conn, name) for name in SETTINGS}
    return {
        "url": redact(admin_url),
        "version": None if version is None else str(version[0]).split()[0],
        "settings": settings,
    }


def _show(conn: psycopg.Connection[Any], name: str) -> str | None:
    row = conn.execute(sql.SQL("SHOW {}").format(sql.Identifier(name))).fetchone()
    return None if row is None else str(row[0])


def one_line(server: dict[str, Any]) -> str:
    s = server.get("settings", {})
    return (
        f"PostgreSQL {server.get('version')} at {server.get('url')} with its defaults "
        f"(fsync={s.get('fsync')}, synchronous_commit={s.get('synchronous_commit')}, "
        f"wal_sync_method={s.get('wal_sync_method')}, shared_buffers={s.get('shared_buffers')})"
    )


def redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))
