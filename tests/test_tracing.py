"""outlast.tracing: W3C traceparents checked, given ones preferred, and without
opentelemetry-api nothing imports it and workflows run as before."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from outlast.tracing import (
    current_traceparent,
    traceparent_in,
    traceparent_scope,
    valid_traceparent,
)

GOOD = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_only_valid_traceparents_are_kept() -> None:
    assert valid_traceparent(GOOD) == GOOD
    assert valid_traceparent(GOOD.upper()) == GOOD
    for bad in (
        None,
        "",
        "garbage",
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  # no trace
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  # no span
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  # forbidden version
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
    ):
        assert valid_traceparent(bad) is None, bad


def test_a_given_traceparent_wins_inside_its_scope_only() -> None:
    assert current_traceparent() is None
    with traceparent_scope(GOOD):
        assert current_traceparent() == GOOD
        with traceparent_scope("not one"):
            assert current_traceparent() is None
    assert current_traceparent() is None


def test_an_activity_rows_traceparent_is_read_from_its_options() -> None:
    assert traceparent_in(None) is None
    assert traceparent_in('{"heartbeat_timeout":5}') is None
    assert traceparent_in(f'{{"traceparent":"{GOOD}"}}') == GOOD
    assert traceparent_in('{"traceparent":') is None


def test_without_opentelemetry_nothing_imports_it(tmp_path: Path) -> None:
    # sys.modules[name] = None is how Python spells "not installed" for find_spec.
    script = textwrap.dedent(
        f"""
        import sys
        sys.modules["opentelemetry"] = None
        import outlast

        rt = outlast.WorkflowRuntime("sqlite:///{tmp_path}/x.db")

        @rt.activity
        def hello(ctx, name):
            return "hello " + name

        @rt.workflow
        def greet(ctx, name):
            return (yield ctx.call_activity(hello, input=name))

        with rt:
            client = rt.client()
            iid = client.schedule_new_workflow(greet, input="otel")
            state = client.wait_for_workflow_completion(iid, timeout_in_seconds=10)
        print(state.runtime_status.value, state.output_as(str))
        print(sorted(m for m in sys.modules if m.startswith("opentelemetry") and sys.modules[m]))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.split("\n")[:2] == ["COMPLETED hello otel", "[]"]
