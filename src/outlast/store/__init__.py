"""Stores: where workflow instances, their history and pending work are kept."""

from __future__ import annotations

import importlib
import os
import threading
import weakref
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from outlast.extras import require
from outlast.redaction import redact_url
from outlast.store.base import Store
from outlast.store.memory import MemoryStore
from outlast.store.sqlite.store import SqliteStore

DEFAULT_STORE_URL = "sqlite:///outlast.db"

_open: weakref.WeakValueDictionary[str, Store] = weakref.WeakValueDictionary()
_open_lock = threading.Lock()


def default_store_url() -> str:
    return os.environ.get("OUTLAST_STORE") or DEFAULT_STORE_URL


def open_store(store: str | Store | None = None) -> Store:
    """A store for a URL (``sqlite:///path.db``, ``postgresql://...``, ``memory://``)
    or the default. Within one process, one URL gives one shared store object, so a
    client and a runtime on the same file share one writer and wake each other."""
    if isinstance(store, Store):
        return store
    url = store or default_store_url()
    key = _canonical(url)
    with _open_lock:
        existing = _open.get(key)
        if existing is not None:
            return existing
        created = _create(url)
        _open[key] = created
        return created


def _canonical(url: str) -> str:
    if url.startswith("sqlite:"):
        path = _sqlite_path(url)
        return "sqlite:" + (path if path == ":memory:" else str(Path(path).resolve()))
    return url


def _sqlite_path(url: str) -> str:
    parts = urlsplit(url)
    # sqlite:///relative.db -> "relative.db"; sqlite:////abs/path.db -> "/abs/path.db"
    path = parts.path[1:] if parts.path.startswith("/") else parts.path
    return path or ":memory:"


def _create(url: str) -> Store:
    scheme = urlsplit(url).scheme
    if scheme == "sqlite":
        query = parse_qs(urlsplit(url).query)
        synchronous = query.get("synchronous", ["FULL"])[0]
        return SqliteStore(_sqlite_path(url), synchronous=synchronous)
    if scheme == "memory":
        return MemoryStore()
    if scheme in ("postgresql", "postgres"):
        # Imported on demand: psycopg is only needed by PostgreSQL users.
        require("postgres", "A PostgreSQL store", "psycopg", "psycopg_pool")
        module = importlib.import_module(f"{__name__}.postgres")
        store: Store = module.PostgresStore(url)
        return store
    raise ValueError(
        f"unsupported store URL {redact_url(url)!r}: use sqlite:///path.db, postgresql://... or memory://"
    )


__all__ = ["DEFAULT_STORE_URL", "MemoryStore", "SqliteStore", "Store", "open_store"]
