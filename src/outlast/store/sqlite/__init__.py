"""SQLite store: WAL journal, ``synchronous=FULL`` by default, one transaction a
batch, group commit across the threads of a process."""

from outlast.store.sqlite.schema import MIGRATIONS
from outlast.store.sqlite.store import SqliteStore

__all__ = ["MIGRATIONS", "SqliteStore"]
