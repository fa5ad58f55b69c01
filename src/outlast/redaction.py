"""Credentials never shown: the one place that hides them, used by every surface
that prints a store URL or an error text (``/healthz``, ``outlast serve``'s
banner, logs, the CLI, error messages).

What counts as a credential: the password of a URL (``postgresql://u:secret@h/db``),
the value of a secret-looking query parameter (``?password=secret``), and the
value of a secret keyword in a libpq connection string (``password=secret``),
which PostgreSQL's error texts can echo back.
"""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import parse_qsl, urlsplit, urlunsplit

MASK: Final = "***"

# Parameter and keyword names whose values are secrets (libpq's among them).
_SECRET_NAMES: Final = (
    "password",
    "passwd",
    "pwd",
    "sslpassword",
    "secret",
    "token",
    "api_token",
    "api_key",
    "apikey",
    "access_token",
)
_NAMES = "|".join(_SECRET_NAMES)
# ``user:password@`` in anything URL-shaped: ``scheme://user:password@host``.
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^\s:/@'\"]*:)[^\s@/'\"]*@")
# ``?password=x`` or ``&password=x`` in a URL's query.
_QUERY_SECRET = re.compile(rf"(?P<head>[?&](?:{_NAMES})=)[^&#\s'\"]*", re.IGNORECASE)
# ``password=x`` or ``password = 'x y'`` in a libpq key/value connection string.
_KEYWORD_SECRET = re.compile(
    rf"(?P<head>(?<![\w?&])(?:{_NAMES})\s*=\s*)(?:'(?:[^'\\]|\\.)*'|[^\s'\"&]+)", re.IGNORECASE
)


def redact_url(url: str) -> str:
    """``url`` with its password and secret query parameters replaced by ``***``.

    >>> redact_url("postgresql://app:s3cret@db/prod?password=x&sslmode=require")
    'postgresql://app:***@db/prod?password=***&sslmode=require'
    """
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:  # not a URL that parses: treat it as text
        return redact_text(url)
    netloc = parts.netloc
    if password is not None:
        user, _, host = netloc.rpartition("@")
        name = user.partition(":")[0]
        netloc = f"{name}:{MASK}@{host}"
    query = parts.query
    if query and any(k.lower() in _SECRET_NAMES for k, _ in parse_qsl(query, True)):
        query = _QUERY_SECRET.sub(rf"\g<head>{MASK}", "?" + query)[1:]
    if netloc == parts.netloc and query == parts.query:
        return url
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def redact_text(text: str) -> str:
    """``text`` (an error message, a log line) with every credential in it masked:
    URL passwords, secret query parameters and ``password=...`` keywords."""
    if "=" not in text and "@" not in text:
        return text  # the common case: nothing that could hold a secret
    text = _URL_PASSWORD.sub(rf"\g<head>{MASK}@", text)
    text = _QUERY_SECRET.sub(rf"\g<head>{MASK}", text)
    return _KEYWORD_SECRET.sub(rf"\g<head>{MASK}", text)
