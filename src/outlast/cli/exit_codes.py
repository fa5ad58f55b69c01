"""The exit codes of ``outlast`` (documented in docs/cli.md)."""

from typing import Final

EXIT_OK: Final = 0
EXIT_ERROR: Final = 1  # the operation failed: invalid state, server or store trouble
EXIT_USAGE: Final = 2  # bad arguments or a request the server rejected as malformed
EXIT_NOT_FOUND: Final = 3  # no such instance (or schedule)
EXIT_TIMEOUT: Final = 4  # `wait` (or `start --wait`) timed out
EXIT_FAILED: Final = 5  # `wait`: the instance finished, but not COMPLETED
EXIT_INTERRUPTED: Final = 130  # Ctrl+C
