"""The README's ``make`` commands, from a checkout (skipped where there is no
Makefile, as in an sdist)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(
    not (REPO / "Makefile").exists() or not (Path(sys.prefix) / "bin" / "outlast").exists(),
    reason="needs the checkout's Makefile and an installed outlast script",
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_make_serve_takes_port_and_host(tmp_path: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OUTLAST_", "MAKE"))}
    env["OUTLAST_STORE"] = f"sqlite:///{tmp_path}/made.db"
    # VENV: this interpreter's environment; -o: do not reinstall it first.
    venv = sys.prefix
    command = ["make", "-s", "-C", str(REPO), "serve", f"PORT={port}", "HOST=127.0.0.1"]
    command += [f"VENV={venv}", "-o", f"{venv}/.installed"]
    proc = subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        while True:
            assert proc.poll() is None, proc.communicate()[0]
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
                break
            except httpx.TransportError:
                time.sleep(0.05)
        assert health.status_code == 200
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        out = proc.communicate(timeout=60)[0]
    assert f"127.0.0.1:{port}" in out
