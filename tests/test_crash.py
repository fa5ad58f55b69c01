"""kill -9 in the middle of a fan-out: a new process finishes it, and activities
whose results were committed before the kill never run again."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from outlast.core import history as h
from outlast.core.codec import decode_event
from outlast.store.sqlite.store import SqliteStore

APP = Path(__file__).with_name("crash_app.py")


def _lines(path: Path) -> list[int]:
    return [int(x) for x in path.read_text().split()] if path.exists() else []


def test_sigkill_mid_fan_out_then_recover(tmp_path: Path) -> None:
    db = tmp_path / "crash.db"
    store_url = f"sqlite:///{db}"
    first_run = tmp_path / "first.txt"
    second_run = tmp_path / "second.txt"

    victim = subprocess.Popen(
        [sys.executable, str(APP), store_url, str(first_run)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while len(_lines(first_run)) < 40:
        assert victim.poll() is None, victim.communicate()
        assert time.monotonic() < deadline, "the workload never got going"
        time.sleep(0.005)
    victim.send_signal(signal.SIGKILL)
    victim.communicate()
    assert victim.returncode == -signal.SIGKILL

    # What the killed process had durably committed.
    store = SqliteStore(db)
    committed = {
        e.task_id
        for e in map(decode_event, store.get_history("crash"))
        if isinstance(e, h.TaskCompleted)
    }
    store.close()
    executed_before = set(_lines(first_run))
    assert 0 < len(committed) < 100, "the kill should land mid-run"
    assert committed <= executed_before

    survivor = subprocess.run(
        [sys.executable, str(APP), store_url, str(second_run)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert survivor.returncode == 0, survivor.stderr
    assert survivor.stdout.split() == ["COMPLETED", str(sum(i * 2 for i in range(100)))]

    rerun = _lines(second_run)
    assert not committed & set(rerun), "a committed activity ran again"
    assert executed_before | set(rerun) == set(range(100))
    assert len(rerun) == len(set(rerun))
