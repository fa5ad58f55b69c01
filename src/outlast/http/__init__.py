"""Server mode: Dapr's workflow HTTP API (plus outlast's extras) over a store.

``create_app(client)`` builds the ASGI app; ``serve(runtime)`` runs a runtime and
the API in one process (what ``outlast serve`` does); ``BackgroundServer`` serves
an app from a thread.
"""

from outlast.extras import require

require("server", "The HTTP API (outlast serve)", "starlette", "uvicorn")

from outlast.http.app import create_app  # noqa: E402 - after the check above
from outlast.http.errors import ApiError  # noqa: E402
from outlast.http.serve import (  # noqa: E402
    EXAMPLES_APP,
    AppLoadError,
    BackgroundServer,
    load_runtime,
    serve,
)

__all__ = [
    "EXAMPLES_APP",
    "ApiError",
    "AppLoadError",
    "BackgroundServer",
    "create_app",
    "load_runtime",
    "serve",
]
