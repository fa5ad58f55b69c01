"""The JavaScript SDK ``@dapr/durabletask-js`` (from npm, run with the machine's
Node.js; ``make js-sdk`` installs it, ``make test`` depends on it) runs the seed
patterns of its README against the sidecar: chaining, fan-out/fan-in, and the
human-interaction pattern (an external event, and its timer winning)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.grpc.conftest import Sidecar

JS = Path(__file__).resolve().parent / "js"
_MISSING = (
    shutil.which("node") is None or not (JS / "node_modules" / "@dapr" / "durabletask-js").is_dir()
)


@pytest.mark.skipif(
    _MISSING and os.environ.get("CI") != "true",
    reason="node or @dapr/durabletask-js missing: run `make js-sdk`",
)
def test_the_javascript_sdk_runs_the_seed_patterns(sidecar: Sidecar) -> None:
    done = subprocess.run(
        ["node", "patterns.js", f"127.0.0.1:{sidecar.port}"],
        cwd=JS,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    results = {
        r["pattern"]: r
        for r in (json.loads(line) for line in done.stdout.splitlines() if line.startswith("{"))
    }
    completed = 1  # ORCHESTRATION_STATUS_COMPLETED
    assert {k: r["status"] for k, r in results.items()} == {
        "chaining": completed,
        "fan-out": completed,
        "approval": completed,
        "timeout": completed,
    }, results
    assert json.loads(results["chaining"]["output"]) == [
        "Hello Tokyo!",
        "Hello Seattle!",
        "Hello London!",
    ]
    assert json.loads(results["fan-out"]["output"]) == {"workItems": 12, "total": 6 * 10 + 7 * 2}
    assert json.loads(results["approval"]["output"]) == "Approved by Ada"
    assert json.loads(results["timeout"]["output"]) == "Canceled"
    # outlast's own client sees what the JavaScript worker ran.
    state = sidecar.runtime.client().get_workflow_state(results["chaining"]["id"])
    assert state is not None and state.runtime_status.value == "COMPLETED"
