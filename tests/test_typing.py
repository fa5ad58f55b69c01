"""What a ``mypy --strict`` user sees: outlast ships ``py.typed``, and its decorators
keep the decorated function's own type."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

USER_CODE = """
from collections.abc import Generator
from typing import Any

import outlast

runtime = outlast.WorkflowRuntime("memory://")


@runtime.activity
def add_one(ctx: outlast.ActivityContext, x: int) -> int:
    return x + 1


@runtime.activity(name="double")
async def double(ctx: outlast.ActivityContext, x: int) -> int:
    return x * 2


@runtime.workflow
def chain(ctx: outlast.WorkflowContext, x: int) -> Generator[outlast.Task[Any], Any, int]:
    y: int = yield ctx.call_activity(add_one, input=x)
    return y


reveal_type(add_one)
reveal_type(double)
reveal_type(chain)
"""


def test_decorated_functions_keep_their_types_under_strict_mypy(tmp_path: Path) -> None:
    source = tmp_path / "user_app.py"
    source.write_text(USER_CODE)
    out = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(source)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    notes = out.stdout
    assert out.returncode == 0 and "error:" not in notes, notes
    revealed = [
        line.split("Revealed type is ", 1)[1] for line in notes.splitlines() if "Revealed" in line
    ]
    assert revealed[0] == '"def (ctx: outlast.core.context.ActivityContext, x: int) -> int"'
    assert "Coroutine[Any, Any, int]" in revealed[1]
    assert "Generator[outlast.core.task.Task[Any], Any, int]" in revealed[2]
