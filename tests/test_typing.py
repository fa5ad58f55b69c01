"""What a ``mypy --strict`` user sees: outlast ships ``py.typed``, its decorators
keep the decorated function's own type, and the client carries a workflow's input
and output types from ``schedule_new_workflow`` to the state it waits for."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

USER_CODE = """
from collections.abc import Generator
from datetime import timedelta
from typing import Any

import outlast
import outlast.aio

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


@runtime.workflow
def no_input(ctx: outlast.WorkflowContext) -> Generator[outlast.Task[Any], Any, list[str]]:
    yield ctx.create_timer(timedelta(seconds=1))
    return ["done"]


reveal_type(add_one)
reveal_type(double)
reveal_type(chain)

client = runtime.client()
iid = client.schedule_new_workflow(chain, input=1)
reveal_type(iid)
state = client.wait_for_workflow_completion(iid)
reveal_type(state)
assert state is not None
reveal_type(state.output_as())
reveal_type(state.output_as(str))
reveal_type(client.get_workflow_state("some-id"))
reveal_type(client.schedule_new_workflow(no_input))
reveal_type(client.schedule_new_workflow("chain", input="anything"))


async def main() -> None:
    aclient = outlast.aio.WorkflowClient("memory://")
    aiid = await aclient.schedule_new_workflow(chain, input=2)
    done = await aclient.wait_for_workflow_completion(aiid)
    reveal_type(done)
"""

MISTAKES = """
from collections.abc import Generator
from datetime import timedelta
from typing import Any

import outlast

runtime = outlast.WorkflowRuntime("memory://")


@runtime.workflow
def chain(ctx: outlast.WorkflowContext, x: int) -> Generator[outlast.Task[Any], Any, int]:
    yield ctx.create_timer(timedelta(seconds=1))
    return x


client = runtime.client()
client.schedule_new_workflow(chain, input="not an int")
client.schedule_new_workflow(chain)
"""


def _mypy(tmp_path: Path, name: str, source: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / name
    path.write_text(source)
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_types_carry_through_under_strict_mypy(tmp_path: Path) -> None:
    out = _mypy(tmp_path, "user_app.py", USER_CODE)
    notes = out.stdout
    assert out.returncode == 0 and "error:" not in notes, notes
    revealed = [
        line.split("Revealed type is ", 1)[1] for line in notes.splitlines() if "Revealed" in line
    ]
    assert revealed[0] == '"def (ctx: outlast.core.context.ActivityContext, x: int) -> int"'
    assert "Coroutine[Any, Any, int]" in revealed[1]
    assert "Generator[outlast.core.task.Task[Any], Any, int]" in revealed[2]
    assert revealed[3:] == [
        '"outlast.client.instance_id.InstanceID[int]"',
        '"outlast.client.state.WorkflowState[int] | None"',
        '"int"',
        '"str"',
        '"outlast.client.state.WorkflowState[Any] | None"',
        '"outlast.client.instance_id.InstanceID[list[str]]"',
        '"outlast.client.instance_id.InstanceID[Any]"',
        '"outlast.client.state.WorkflowState[int] | None"',
    ]


def test_a_wrong_or_missing_input_is_a_type_error(tmp_path: Path) -> None:
    out = _mypy(tmp_path, "mistakes.py", MISTAKES)
    errors = [line for line in out.stdout.splitlines() if "error:" in line]
    assert out.returncode == 1
    assert [line.split(":")[1] for line in errors] == ["18", "19"], out.stdout
