"""ActivityContext.attempt across a SIGKILL: the attempt the killed worker held
counts, so a retry after a restart reads 3 after 1 (failed) and 2 (killed)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

APP = Path(__file__).with_name("attempt_app.py")


def _attempts(path: Path) -> list[int]:
    return [int(x) for x in path.read_text().split()] if path.exists() else []


def test_attempt_reads_1_2_3_across_a_retry_and_a_sigkill(tmp_path: Path) -> None:
    store_url = f"sqlite:///{tmp_path / 'attempts.db'}"
    side = tmp_path / "attempts.txt"
    victim = subprocess.Popen(
        [sys.executable, str(APP), store_url, str(side)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while _attempts(side) != [1, 2]:
        assert victim.poll() is None, victim.communicate()
        assert time.monotonic() < deadline, f"attempts so far: {_attempts(side)}"
        time.sleep(0.01)
    victim.send_signal(signal.SIGKILL)
    victim.communicate()

    survivor = subprocess.run(
        [sys.executable, str(APP), store_url, str(side)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert survivor.returncode == 0, survivor.stderr
    assert survivor.stdout.split() == ["COMPLETED", "3"]
    assert _attempts(side) == [1, 2, 3]
