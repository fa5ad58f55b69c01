"""uvicorn's h11 protocol, with an answer for a request head that is too large.

uvicorn answers a request head over h11's limit with a 400 and closes at once,
while the client is still sending: the client then gets a connection reset, not
the answer. Here the answer is 414 (the request line alone is over the limit) or
431 (the headers are), and the connection closes the way HTTP servers close on
a client that is still talking: the write side first, then the rest of the
request is read and dropped until the client closes (or a few seconds pass).
"""

from __future__ import annotations

import asyncio
from typing import Final

import h11
import orjson
from uvicorn.protocols.http.h11_impl import STATUS_PHRASES
from uvicorn.protocols.http.h11_impl import H11Protocol as _UvicornH11Protocol

from outlast.http.errors import ERR_MALFORMED_REQUEST, ERR_REQUEST_TOO_LARGE

MAX_HEAD_BYTES: Final = 16 * 1024
"""The longest request line plus headers accepted (h11's default)."""
# How long the rest of a refused request is read and dropped before closing anyway.
_LINGER_SECONDS: Final = 5.0


class H11Protocol(_UvicornH11Protocol):
    """uvicorn's h11 protocol; a request head it cannot take gets 414, 431 or 400."""

    _linger: asyncio.TimerHandle | None = None

    def data_received(self, data: bytes) -> None:
        if self._linger is not None:
            return  # the answer went out: what the client still sends is dropped
        super().data_received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._linger is not None:
            self._linger.cancel()
        super().connection_lost(exc)

    def send_400_response(self, msg: str) -> None:
        # uvicorn calls this for every request h11 cannot parse.
        status, code, message = _refusal(self.conn, self.config.h11_max_incomplete_event_size)
        self.logger.warning("refused a request: %s", message)
        headers = [(b"content-type", b"application/json"), (b"connection", b"close")]
        body = orjson.dumps({"errorCode": code, "message": message})
        for event in (
            h11.Response(status_code=status, headers=headers, reason=STATUS_PHRASES[status]),
            h11.Data(data=body),
            h11.EndOfMessage(),
        ):
            self.transport.write(self.conn.send(event))
        if self.transport.can_write_eof():
            self.transport.write_eof()
            self._linger = self.loop.call_later(_LINGER_SECONDS, self.transport.close)
        else:
            self.transport.close()


def _refusal(conn: h11.Connection, limit: int | None) -> tuple[int, str, str]:
    buffered, _ = conn.trailing_data
    limit = limit or MAX_HEAD_BYTES
    if len(buffered) <= limit:
        return 400, ERR_MALFORMED_REQUEST, "the request is not valid HTTP/1.1"
    line_end = buffered.find(b"\n")
    if line_end == -1 or line_end > limit:
        return 414, ERR_REQUEST_TOO_LARGE, f"the request line is longer than {limit} bytes"
    return 431, ERR_REQUEST_TOO_LARGE, f"the request headers are larger than {limit} bytes"
