"""Stores: where workflow instances, their history and pending work are kept."""

from __future__ import annotations

import importlib
import os
import threading
import weakref
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from outlast.errors import StoreError
from outlast.extras import require
from outlast.store.base import Store
from outlast.store.memory import MemoryStore
from outlast.store.sqlite.store import SqliteStore

DEFAULT_STORE_URL = "sqlite:///outlast.db"

_open: weakref.WeakValueDictionary[str, Store] = weakref.WeakValueDictionary()
_open_lock = threading.Lock()


def default_store_url() -> str:
    return os.environ.get("OUTLAST_STORE") or DEFAULT_STORE_URL


def open_store(store: str | Store | None = None, *, must_exist: bool = False) -> Store:
    """A store for a URL or the default (``$OUTLAST_STORE``, else
    ``sqlite:///outlast.db``):

    - ``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db``: a SQLite
      file. Within one process one file gives one shared store object, so a
      client and a runtime on it share one writer and wake each other.
    - ``postgresql://user@host/db``: a PostgreSQL database (shared the same way).
    - ``memory://``: a new, empty in-memory store every time it is opened.
    - ``memory://NAME``: the process's in-memory store called NAME, shared by
      everything that opens that URL (a runtime and a client in a test).

    ``must_exist``: refuse, with ``StoreError``, a SQLite file that does not exist
    rather than create it (commands that only read).
    """
    if isinstance(store, Store):
        return store
    url = store or default_store_url()
    scheme = urlsplit(url).scheme
    if scheme == "memory":
        name = _memory_name(url)
        return MemoryStore.named(name) if name else MemoryStore()
    key = _canonical(url)
    with _open_lock:
        existing = _open.get(key)
        if existing is not None:
            return existing
        if must_exist and scheme == "sqlite":
            path = _sqlite_path(url)
            if path != ":memory:" and not Path(path).exists():
                raise StoreError(f"there is no store at {url}: {path} does not exist")
        created = _create(url)
        _open[key] = created
        return created


def is_store_of(store: Store, url: str) -> bool:
    """True if ``open_store(url)`` names ``store``: the same file, database or
    named memory store (any unnamed memory store matches ``memory://``)."""
    return _canonical(store.url) == _canonical(url)


def _memory_name(url: str) -> str:
    parts = urlsplit(url)
    return parts.netloc + parts.path


def _canonical(url: str) -> str:
    scheme = urlsplit(url).scheme
    if scheme == "sqlite":
        path = _sqlite_path(url)
        return "sqlite:" + (path if path == ":memory:" else str(Path(path).resolve()))
    if scheme == "memory":
        return "memory://" + _memory_name(url)
    return url


def _sqlite_path(url: str) -> str:
    parts = urlsplit(url)
    if parts.netloc:
        # sqlite://x.db reads as the host "x.db" with no path: it would silently
        # give an in-memory database.
        raise ValueError(
            f"{url!r} names the host {parts.netloc!r}, and SQLite URLs have none: use "
            f"three slashes for a path relative to the working directory "
            f"(sqlite:///{parts.netloc}{parts.path}) or four for an absolute one "
            f"(sqlite:////abs/path/{parts.netloc}{parts.path})"
        )
    # sqlite:///relative.db -> "relative.db"; sqlite:////abs/path.db -> "/abs/path.db"
    path = parts.path[1:] if parts.path.startswith("/") else parts.path
    return path or ":memory:"


def _create(url: str) -> Store:
    scheme = urlsplit(url).scheme
    if scheme == "sqlite":
        query = parse_qs(urlsplit(url).query)
        synchronous = query.get("synchronous", ["FULL"])[0]
        return SqliteStore(_sqlite_path(url), synchronous=synchronous)
    if scheme in ("postgresql", "postgres"):
        # Imported on demand: psycopg is only needed by PostgreSQL users.
        require("postgres", "A PostgreSQL store", "psycopg", "psycopg_pool")
        module = importlib.import_module(f"{__name__}.postgres")
        store: Store = module.PostgresStore(url)
        return store
    raise ValueError(
        f"unsupported store URL {url!r}: use sqlite:///path.db, postgresql://... or memory://"
    )


__all__ = [
    "DEFAULT_STORE_URL",
    "MemoryStore",
    "SqliteStore",
    "Store",
    "is_store_of",
    "open_store",
]
