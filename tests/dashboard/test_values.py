"""Reading history fields in the forms engines write them."""

from __future__ import annotations

from outlast.dashboard.values import Source, event_name_of_timer, source_of, time_of
from tests.dashboard.histories import at


def test_times_in_every_form() -> None:
    assert time_of("2026-03-01T12:00:00+00:00") == at(0)
    assert time_of("2026-03-01T12:00:01.123456789Z") == at(1.123456)
    assert time_of("2026-03-01T12:00:00") == at(0)  # naive: UTC
    assert time_of(at(5)) == at(5)
    assert time_of({"seconds": int(at(2)), "nanos": 500_000_000}) == at(2.5)
    for never in ("9999-12-31T23:59:59+00:00", None, "soon", True, {"nanos": 1}):
        assert time_of(never) is None


def test_sources_as_dicts_or_strings() -> None:
    assert source_of({"source": {"file": "/a/wf.py", "line": 7, "function": "order"}}) == Source(
        "/a/wf.py", 7, "order"
    )
    assert source_of({"source": "C:/a/wf.py:12"}) == Source("C:/a/wf.py", 12)
    for bad in (
        {},
        {"source": "nowhere"},
        {"source": {"file": "x.py", "line": "two"}},
        {"source": {"file": "", "line": 3}},
        {"source": {"file": "x.py", "line": 0}},
    ):
        assert source_of(bad) is None


def test_event_names_of_timers() -> None:
    assert event_name_of_timer({"origin": {"kind": "external_event", "name": "go"}}) == "go"
    assert event_name_of_timer({"origin": {"externalEvent": {"name": "go"}}}) == "go"
    assert event_name_of_timer({"origin": "external_event", "name": "go"}) == "go"
    assert event_name_of_timer({"origin": "EXTERNALEVENT", "event_name": "go"}) == "go"
    assert event_name_of_timer({"origin": {"kind": "retry"}, "name": "go"}) is None
    assert event_name_of_timer({"name": "go"}) is None
