from collections.abc import Iterator

import pytest

from outlast.store.postgres import PostgresStore
from tests.pg import fresh_database, pg_database

__all__ = ["fresh_database", "pg_database"]


@pytest.fixture
def pg(pg_database: str) -> Iterator[PostgresStore]:
    """A PostgreSQL store on the session's database, emptied."""
    s = PostgresStore(pg_database)
    s.reset()
    yield s
    s.close()
