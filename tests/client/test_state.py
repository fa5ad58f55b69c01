"""``WorkflowState``'s decoding methods and ``InstanceID``, the ID that carries its
workflow's output type."""

from __future__ import annotations

import pickle
from collections.abc import Generator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

import outlast
from outlast import InstanceID, WorkflowState, WorkflowStatus
from outlast.testing import FakeClock


@dataclass
class Parcel:
    id: str
    grams: int


def state(**payloads: str | None) -> WorkflowState:
    now = datetime(2030, 1, 1, tzinfo=UTC)
    return WorkflowState("i", "wf", WorkflowStatus.COMPLETED, now, now, **payloads)  # type: ignore[arg-type]


def test_the_as_methods_decode_into_a_type_or_plain_json() -> None:
    s = state(
        serialized_input='{"id": "p1", "grams": 5}',
        serialized_output='[{"id": "p2", "grams": 7}]',
        serialized_custom_status='{"stage": "packing"}',
    )
    assert s.input_as(Parcel) == Parcel("p1", 5)
    assert s.input_as() == {"id": "p1", "grams": 5}
    assert s.output_as(list[Parcel]) == [Parcel("p2", 7)]
    assert s.output_as() == [{"id": "p2", "grams": 7}]
    assert s.custom_status_as() == {"stage": "packing"}
    assert state().output_as(Parcel) is None


def test_the_old_methods_still_work_with_a_deprecation_warning() -> None:
    s = state(serialized_input="1", serialized_output='"done"', serialized_custom_status="2")
    with pytest.warns(DeprecationWarning, match=r"output\(\) is deprecated; use .*output_as"):
        assert s.output() == "done"
    with pytest.warns(DeprecationWarning, match="input_as"):
        assert s.input() == 1
    with pytest.warns(DeprecationWarning, match="custom_status_as"):
        assert s.custom_status() == 2


def test_an_instance_id_is_a_plain_string_everywhere() -> None:
    iid = InstanceID("order-42", Parcel)
    assert iid == "order-42" and isinstance(iid, str) and f"{iid}" == "order-42"
    assert orjson.loads(orjson.dumps({"id": iid})) == {"id": "order-42"}
    restored = pickle.loads(pickle.dumps(iid))
    assert restored == "order-42" and restored.output_type is Parcel


def test_waiting_on_the_id_of_a_typed_workflow_decodes_its_output_type() -> None:
    clock = FakeClock()
    runtime = outlast.WorkflowRuntime("memory://", clock=clock, poll_interval=0.05)

    @runtime.workflow
    def weigh(ctx: outlast.WorkflowContext, grams: int) -> Generator[Any, Any, Parcel]:
        yield ctx.create_timer(ctx.current_utc_datetime)
        return Parcel("weighed", grams)

    with runtime:
        client = runtime.client()
        iid = client.schedule_new_workflow(weigh, input=12)
        assert iid.output_type is Parcel
        done = client.wait_for_workflow_completion(iid, timeout_in_seconds=10)
        assert done is not None and done.output_as() == Parcel("weighed", 12)
        # The same instance read by its plain ID: JSON values, or the type asked for.
        plain = client.get_workflow_state(str(iid))
        assert plain is not None and plain.output_as() == {"id": "weighed", "grams": 12}
        assert plain.output_as(Parcel) == Parcel("weighed", 12)
