"""The options an activity row carries, read back by the worker's heartbeat watch."""

from __future__ import annotations

from outlast.runtime.heartbeats import CallOptions


def test_call_options_read_what_a_call_wrote() -> None:
    o = CallOptions.parse('{"heartbeat_timeout":1.5,"heartbeat_details":"{\\"n\\":2}"}')
    assert (o.heartbeat_timeout, o.start_to_close_timeout, o.heartbeat_details) == (
        1.5,
        None,
        {"n": 2},
    )


def test_unreadable_options_mean_none_rather_than_a_failed_activity() -> None:
    for text in (
        None,
        "",
        "not json",
        "[1]",
        '{"heartbeat_timeout":-1}',
        '{"heartbeat_timeout":true}',
    ):
        o = CallOptions.parse(text)
        assert (o.heartbeat_timeout, o.start_to_close_timeout, o.heartbeat_details) == (
            None,
            None,
            None,
        )
