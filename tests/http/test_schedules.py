"""Schedules over HTTP (``/v1.0/schedules``), against a real server and runtime."""

from __future__ import annotations

import time
from typing import Any

import httpx

from outlast import WorkflowClient, WorkflowStatus
from tests.http.test_dapr_api import API, assert_error

SCHEDULES = "/v1.0/schedules"


def create(http: httpx.Client, **fields: Any) -> dict[str, Any]:
    response = http.post(SCHEDULES, json=fields)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def test_create_read_list(http: httpx.Client) -> None:
    made = create(
        http,
        scheduleID="nightly",
        workflowName="approval",
        input={"who": "ops"},
        cron="30 9 * * *",
        timezone="Europe/Paris",
        jitter=30,
        overlap="buffer_one",
        catchup="one",
    )
    assert made["scheduleID"] == "nightly" and made["workflowName"] == "approval"
    assert made["input"] == {"who": "ops"} and made["every"] is None and made["jitter"] == 30
    assert made["nextRunAt"].endswith("Z") and made["recentRuns"] == []
    got = http.get(f"{SCHEDULES}/nightly")
    assert got.status_code == 200
    assert got.json() == made
    listed = http.get(SCHEDULES, params={"pageSize": 10}).json()
    assert [s["scheduleID"] for s in listed["schedules"]] == ["nightly"]
    assert listed["continuationToken"] is None


def test_location_names_the_new_schedule(http: httpx.Client) -> None:
    response = http.post(
        SCHEDULES, json={"scheduleID": "s", "workflowName": "approval", "every": 60}
    )
    assert response.headers["Location"].endswith("/v1.0/schedules/s")
    assert http.get(response.headers["Location"]).status_code == 200


def test_bad_requests_are_refused_and_say_why(http: httpx.Client) -> None:
    base = {"scheduleID": "s", "workflowName": "approval"}
    for body, status, code in (
        ({**base, "every": 60, "evry": 1}, 400, "ERR_MALFORMED_REQUEST"),
        ({**base, "every": "a minute"}, 400, "ERR_MALFORMED_REQUEST"),
        ({**base, "every": 60, "startAt": "yesterday"}, 400, "ERR_MALFORMED_REQUEST"),
        ({"workflowName": "approval", "every": 60}, 400, "ERR_MALFORMED_REQUEST"),
        ([1, 2], 400, "ERR_MALFORMED_REQUEST"),
        ({**base, "cron": "every day"}, 400, "ERR_CREATE_SCHEDULE"),
        ({**base, "every": 60, "timezone": "Nowhere/City"}, 400, "ERR_CREATE_SCHEDULE"),
        ({**base, "workflowName": "nope", "every": 60}, 400, "ERR_CREATE_SCHEDULE"),
    ):
        assert_error(http.post(SCHEDULES, json=body), status, code)
    assert http.get(SCHEDULES).json()["schedules"] == []
    create(http, **base, every=60)
    assert_error(http.post(SCHEDULES, json={**base, "every": 60}), 409, "ERR_CREATE_SCHEDULE")


def test_unknown_schedules_are_404(http: httpx.Client) -> None:
    for method, path, kwargs in (
        ("GET", "/nope", {}),
        ("PATCH", "/nope", {"json": {"every": 60}}),
        ("DELETE", "/nope", {}),
        ("POST", "/nope/pause", {}),
        ("POST", "/nope/resume", {}),
        ("POST", "/nope/trigger", {}),
        (
            "POST",
            "/nope/backfill",
            {"json": {"start": "2030-01-01T00:00:00Z", "end": "2030-01-02T00:00:00Z"}},
        ),
    ):
        response = http.request(method, SCHEDULES + path, **kwargs)
        assert_error(response, 404, "ERR_SCHEDULE_NOT_FOUND")


def test_pause_resume_update_delete(http: httpx.Client) -> None:
    create(http, scheduleID="s", workflowName="approval", cron="0 * * * *")
    paused = http.post(f"{SCHEDULES}/s/pause", params={"note": "release"}).json()
    assert paused["paused"] and paused["note"] == "release" and paused["nextRunAt"] is None
    resumed = http.post(f"{SCHEDULES}/s/resume").json()
    assert not resumed["paused"] and resumed["nextRunAt"]
    changed = http.patch(f"{SCHEDULES}/s", json={"every": 7200, "input": [1]}).json()
    assert changed["cron"] is None and changed["every"] == 7200 and changed["input"] == [1]
    assert_error(
        http.patch(f"{SCHEDULES}/s", json={"scheduleID": "t"}), 400, "ERR_MALFORMED_REQUEST"
    )
    assert_error(http.patch(f"{SCHEDULES}/s", json={"every": 0}), 400, "ERR_UPDATE_SCHEDULE")
    assert http.delete(f"{SCHEDULES}/s").status_code == 204
    assert_error(http.get(f"{SCHEDULES}/s"), 404, "ERR_SCHEDULE_NOT_FOUND")


def test_trigger_and_backfill_start_runs(http: httpx.Client, client: WorkflowClient) -> None:
    create(http, scheduleID="s", workflowName="approval", cron="0 0 * * *", input="x")
    triggered = http.post(f"{SCHEDULES}/s/trigger")
    assert triggered.status_code == 202
    iid = triggered.json()["instanceID"]
    assert iid.startswith("s-") and len(iid) == len("s-20300101T000000Z")
    state = client.wait_for_workflow_start(iid, timeout_in_seconds=10)
    assert state is not None and state.runtime_status is WorkflowStatus.RUNNING
    body = {"start": "2029-12-30T00:00:00Z", "end": "2030-01-01T00:00:00Z"}
    backfilled = http.post(f"{SCHEDULES}/s/backfill", json=body)
    assert backfilled.status_code == 202
    assert backfilled.json() == {"instanceIDs": ["s-20291230T000000Z", "s-20291231T000000Z"]}
    assert http.post(f"{SCHEDULES}/s/backfill", json=body).json() == {"instanceIDs": []}
    assert_error(
        http.post(f"{SCHEDULES}/s/backfill", json={"start": body["start"]}),
        400,
        "ERR_MALFORMED_REQUEST",
    )
    runs = http.get(f"{SCHEDULES}/s").json()["recentRuns"]
    assert {r["kind"] for r in runs} == {"trigger", "backfill"}
    assert {r["runtimeStatus"] for r in runs} <= {"PENDING", "RUNNING"}


def test_a_schedule_fires_on_its_own(http: httpx.Client) -> None:
    create(http, scheduleID="often", workflowName="approval", every=1, input="tick")
    deadline = time.monotonic() + 30
    runs: list[dict[str, Any]] = []
    while not runs and time.monotonic() < deadline:
        runs = http.get(f"{SCHEDULES}/often").json()["recentRuns"]
        time.sleep(0.05)
    assert runs, "no tick fired within 30 s"
    iid = runs[0]["instanceID"]
    assert iid == "often-" + runs[0]["scheduledTime"][:19].replace("-", "").replace(":", "") + "Z"
    assert http.get(f"{API}/{iid}").status_code == 200


def test_the_openapi_document_describes_schedules(http: httpx.Client) -> None:
    document = http.get("/openapi.json").json()
    paths = document["paths"]
    assert set(paths["/v1.0/schedules"]) == {"get", "post"}
    assert set(paths["/v1.0/schedules/{scheduleID}"]) == {"get", "patch", "delete"}
    for action in ("pause", "resume", "trigger", "backfill"):
        assert "post" in paths[f"/v1.0/schedules/{{scheduleID}}/{action}"]
    created = paths["/v1.0/schedules"]["post"]["responses"]["201"]
    assert created["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Schedule"
    }
    assert "nextRunAt" in document["components"]["schemas"]["Schedule"]["properties"]
