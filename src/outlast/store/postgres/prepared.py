"""Statements compiled once, run as server-side prepared statements.

They are written with ``%(name)s`` placeholders, for readability, and compiled
at import to PostgreSQL's ``$n``: psycopg would otherwise parse the placeholders
out of the text on every call (it caches that only for statements under 4 KB,
and the batch statement is longer), and ``RawCursor`` takes ``$n`` as is.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any

from psycopg import Connection, Cursor, RawCursor

_NAMED = re.compile(r"%\((\w+)\)s")

# A jsonb value holds at most 256 MB. A bigger document (a batch of many large
# payloads) goes as json instead: text, up to PostgreSQL's 1 GB like the text
# arrays it replaced, only slower to read. The margin covers jsonb's own
# overhead per element.
JSONB_MAX_BYTES = 200 * 1024 * 1024


class Statement:
    """One statement; ``run`` it with a mapping of its parameters by name."""

    __slots__ = ("_text", "names", "sql")

    def __init__(self, sql: str) -> None:
        self.sql = sql
        names: list[str] = []

        def number(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in names:
                names.append(name)
            return f"${names.index(name) + 1}"

        self._text = _NAMED.sub(number, sql).encode()
        self.names = tuple(names)

    def run(self, conn: Connection[Any], params: Mapping[str, Any], *docs: str) -> Cursor[Any]:
        """Execute, prepared; ``docs`` are the JSON documents among the parameters,
        which decide between the jsonb statement and its json variant."""
        text = self._text
        for doc in docs:
            # Characters are at most 4 bytes: encode only when it could matter.
            if len(doc) * 4 > JSONB_MAX_BYTES and len(doc.encode()) > JSONB_MAX_BYTES:
                text = _as_json(self)._text
                break
        cur: Cursor[Any] = RawCursor(conn)
        return cur.execute(text, [params[n] for n in self.names], prepare=True)


@functools.cache
def _as_json(statement: Statement) -> Statement:
    return Statement(statement.sql.replace("jsonb", "json"))
