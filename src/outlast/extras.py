"""Optional dependency groups ("extras") and the check that names a missing one.

``pip install outlast`` is the embedded engine and the CLI; ``outlast[postgres]``
adds the PostgreSQL store, ``outlast[server]`` what ``outlast serve`` needs, and
``outlast[otel]`` OpenTelemetry tracing.
"""

from __future__ import annotations

import importlib.util

from outlast.errors import MissingExtraError


def require(extra: str, feature: str, *modules: str) -> None:
    """Raise MissingExtraError naming ``extra`` unless every module can be imported."""
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise MissingExtraError(
            f"{feature} needs {', '.join(missing)}, which is not installed: "
            f"pip install 'outlast[{extra}]'"
        )
