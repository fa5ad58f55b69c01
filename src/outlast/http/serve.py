"""Running the HTTP API: ``serve`` (runtime and API in one process, until a signal)
and ``BackgroundServer`` (the API in a thread, for tests and embedding)."""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import signal
import socket
import threading
from collections.abc import Callable, Generator
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any, Final

import uvicorn
from starlette.applications import Starlette

from outlast.http.app import api_of, create_app, token_from_env
from outlast.http.protocol import MAX_HEAD_BYTES, H11Protocol
from outlast.runtime.app import EXAMPLES_APP, AppLoadError, load_runtime
from outlast.runtime.runtime import WorkflowRuntime

if TYPE_CHECKING:
    from outlast.grpc.server import SidecarServer

# Loading APP moved to outlast.runtime.app (``outlast worker`` needs it without
# the server); the old names stay importable from here.
__all__ = [
    "EXAMPLES_APP",
    "AppLoadError",
    "BackgroundServer",
    "bind_socket",
    "load_runtime",
    "serve",
]

log = logging.getLogger("outlast.server")

# Long-polls end within a fraction of a second of a shutdown; this only bounds
# requests that hang for other reasons.
_GRACEFUL_SHUTDOWN_SECONDS: Final = 30


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening socket (``port`` 0: any free port). Bound here rather than by
    uvicorn so that a busy port is a clean OSError, not a SystemExit."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # The protocol is named: asyncio turns Nagle off (TCP_NODELAY) only on sockets
    # that say they are TCP, and with Nagle on, every response after a
    # connection's first waits ~40 ms for the client's delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except BaseException:
        sock.close()
        raise
    return sock


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name: it may resolve to any interface


def exposure_warning(host: str, api_token: str | None) -> str | None:
    """What to warn about when serving on ``host`` (None: nothing)."""
    if api_token or is_loopback(host):
        return None
    return (
        f"serving on {host or 'every interface'} without an API token: whoever reaches "
        "this port can start, terminate and purge workflows. Set OUTLAST_API_TOKEN "
        "(or DAPR_API_TOKEN) to require a token, or serve on 127.0.0.1"
    )


def _url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class _Server(uvicorn.Server):
    """uvicorn, minus its own signal handling (the caller owns signals), plus a
    readiness event."""

    def __init__(self, config: uvicorn.Config, on_ready: Callable[[], None] | None = None) -> None:
        super().__init__(config)
        self.ready = threading.Event()
        self._on_ready = on_ready

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            self.ready.set()
            if self._on_ready is not None:
                self._on_ready()


def _config(app: Starlette, log_level: str, access_log: bool, **kwargs: Any) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        http=H11Protocol,
        h11_max_incomplete_event_size=MAX_HEAD_BYTES,
        lifespan="on",
        log_level=log_level,
        access_log=access_log,
        timeout_graceful_shutdown=_GRACEFUL_SHUTDOWN_SECONDS,
        **kwargs,
    )


class _Signals:
    """SIGINT/SIGTERM: the first asks for a graceful stop (HTTP first, then the
    runtime finishes its in-flight work); a second SIGINT stops waiting. Whatever
    is abandoned then is safe: uncommitted turns leave no trace and unfinished
    activities run again on the next start."""

    def __init__(self, server: _Server, app: Starlette) -> None:
        self.server = server
        self.app = app
        self.received = 0
        self.http_done = False
        self._previous: dict[int, Any] = {}

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, self._handle)

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def _handle(self, sig: int, frame: FrameType | None) -> None:
        self.received += 1
        if self.received == 1:
            api_of(self.app).stop()
            self.server.should_exit = True
            return
        if sig == signal.SIGINT:
            self.server.force_exit = True
            if self.http_done:
                # Only runtime.shutdown() is left, waiting for activities: give up on them.
                raise KeyboardInterrupt


def serve(
    runtime: WorkflowRuntime,
    *,
    host: str = "127.0.0.1",
    port: int = 3500,
    api_token: str | None = None,
    max_body_size: int | None = None,
    log_level: str = "info",
    access_log: bool = True,
    on_ready: Callable[[str], None] | None = None,
    grpc_port: int = 0,
    durabletask_port: int = 0,
    grpc_tls: tuple[bytes, bytes] | None = None,
) -> None:
    """Run ``runtime`` and the HTTP API over its store until SIGINT or SIGTERM.

    ``grpc_port`` (0: off) also serves durabletask's ``TaskHubSidecarService``
    (Dapr flavor) on ``host``, so Dapr SDK apps run their workflows here;
    ``durabletask_port`` (0: off) serves its Microsoft flavor, for the
    ``durabletask`` SDKs; both share one line of work (docs/sidecar.md).
    ``grpc_tls`` (certificate chain, private key; PEM) serves them over TLS.

    The socket is bound before anything starts (a busy port raises OSError). On a
    signal the HTTP server stops first (no new work comes in, long-polls answer),
    then ``runtime.shutdown()`` lets running activities finish and commits them.
    ``on_ready`` is called with the base URL once requests are being accepted.
    """
    sock = bind_socket(host, port)
    try:
        warning = exposure_warning(host, api_token or token_from_env())
        if warning is not None:
            log.warning(warning)
        app = create_app(
            runtime.client(),
            runtime=runtime,
            api_token=api_token,
            max_body_size=max_body_size,
        )
        url = _url(sock)
        ready = None if on_ready is None else (lambda: on_ready(url))
        server = _Server(_config(app, log_level, access_log), ready)
        signals = _Signals(server, app)
        sidecars = _sidecars(
            runtime, host, grpc_port, durabletask_port, api_token or token_from_env(), grpc_tls
        )
        signals.install()
        try:
            runtime.start()
            try:
                for sidecar in sidecars:
                    sidecar.start()
                    log.info(
                        "gRPC sidecar (%s flavor) on %s:%d", sidecar.flavor.name, host, sidecar.port
                    )
                server.run(sockets=[sock])
                signals.http_done = True
            finally:
                for sidecar in reversed(sidecars):
                    sidecar.stop()
                runtime.shutdown()
        finally:
            signals.restore()
    finally:
        sock.close()


def _sidecars(
    runtime: WorkflowRuntime,
    host: str,
    dapr_port: int,
    durabletask_port: int,
    token: str | None,
    tls: tuple[bytes, bytes] | None,
) -> list[SidecarServer]:
    """The gRPC servers asked for (one per flavor), sharing one work-item hub."""
    if not dapr_port and not durabletask_port:
        return []
    # Loaded only when asked for: grpcio is not imported otherwise.
    from outlast.grpc.flavor import DAPR, DURABLETASK
    from outlast.grpc.server import SidecarServer

    out: list[SidecarServer] = []
    for port, flavor in ((dapr_port, DAPR), (durabletask_port, DURABLETASK)):
        if port:
            hub = out[0].hub if out else None
            out.append(
                SidecarServer(
                    runtime, host=host, port=port, api_token=token, tls=tls, flavor=flavor, hub=hub
                )
            )
    return out


class BackgroundServer:
    """Serve an ASGI app (usually from :func:`create_app`) on a thread::

        with BackgroundServer(create_app(client)) as server:
            httpx.get(server.url + "/healthz")

    ``port=0`` (the default) takes a free port; ``url`` says which.
    """

    def __init__(
        self,
        app: Starlette,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        log_level: str = "warning",
        startup_timeout: float = 30.0,
    ) -> None:
        self.app = app
        self._host = host
        self._port = port
        self._startup_timeout = startup_timeout
        # log_config=None: leave the host process's logging configuration alone.
        self._server = _Server(_config(app, log_level, False, log_config=None))
        self._socket: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._used = False
        self.url = ""

    def start(self) -> str:
        if self._used:
            raise RuntimeError("a BackgroundServer runs once; make a new one")
        self._used = True
        self._socket = bind_socket(self._host, self._port)
        self.url = _url(self._socket)
        self._thread = threading.Thread(target=self._run, name="outlast-http", daemon=True)
        self._thread.start()
        self._server.ready.wait(self._startup_timeout)
        if not self._server.started or not self._thread.is_alive():
            self.stop()
            raise RuntimeError("the HTTP server did not start")
        return self.url

    def _run(self) -> None:
        assert self._socket is not None
        try:
            self._server.run(sockets=[self._socket])
        finally:
            # Also when startup failed, so that start() need not wait out its timeout.
            self._server.ready.set()

    def stop(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            api = getattr(self.app.state, "outlast", None)
            if api is not None:
                api.stop()
            self._server.should_exit = True
            thread.join()
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def __enter__(self) -> BackgroundServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
