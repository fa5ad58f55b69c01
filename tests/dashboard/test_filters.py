"""The list filter from query strings and forms."""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.datastructures import QueryParams

from outlast.dashboard.filters import ListFilter


def test_reads_statuses_names_prefixes_and_times() -> None:
    f = ListFilter.read(
        QueryParams(
            "status=running,completed&status=RUNNING&name=x&prefix=ab&after=2026-01-02T03:04"
        )
    )
    assert f.errors == []
    assert f.statuses == ["RUNNING", "COMPLETED"]
    args = f.client_args()
    assert args["status"] == ["RUNNING", "COMPLETED"] and args["instance_id_prefix"] == "ab"
    assert args["created_after"] == datetime(2026, 1, 2, 3, 4, tzinfo=UTC)
    assert args["created_before"] is None
    assert f.query(cursor="c") == (
        "status=RUNNING&status=COMPLETED&name=x&prefix=ab&after=2026-01-02T03%3A04&cursor=c"
    )
    assert f.with_status("FAILED") == "status=FAILED&name=x&prefix=ab&after=2026-01-02T03%3A04"
    assert "status RUNNING or COMPLETED" in f.describe()


def test_bad_input_is_named() -> None:
    f = ListFilter.read(QueryParams("status=nap&before=tomorrow&status="))
    assert f.errors == ["unknown status 'nap'", "'to' is not a date and time: 'tomorrow'"]
    assert not ListFilter.read(QueryParams("")).active
