"""The ``outlast`` command line: serve, worker, start, status, wait, list, history, raise,
terminate, suspend, resume, purge and rerun (see docs/cli.md)."""

from outlast.cli.main import cli, main

__all__ = ["cli", "main"]
