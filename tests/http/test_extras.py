"""Beyond Dapr: listing, history, rerun, purge by filter, long-polling, health and
the OpenAPI document."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from starlette.routing import Route

from outlast import WorkflowClient, WorkflowRuntime, WorkflowState, WorkflowStatus
from outlast.http import BackgroundServer, create_app
from tests.http.test_dapr_api import API, ORDER, assert_error, start, wait_done, wait_running


def finished_orders(http: httpx.Client, client: WorkflowClient, count: int) -> list[str]:
    ids = [start(http, "OrderProcessingWorkflow", ORDER, instanceID=f"o{i}") for i in range(count)]
    for instance_id in ids:
        assert wait_done(client, instance_id) is WorkflowStatus.COMPLETED
    return ids


# --- list --------------------------------------------------------------------------


def test_list_pages_through_every_instance_oldest_first(
    http: httpx.Client, client: WorkflowClient
) -> None:
    ids = finished_orders(http, client, 5)
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        params = {"pageSize": "2", **({"continuationToken": token} if token else {})}
        body = http.get(API, params=params).json()
        seen.extend(s["instanceID"] for s in body["instances"])
        pages += 1
        token = body["continuationToken"]
        if token is None:
            break
    assert seen == ids
    assert pages == 3


def test_list_filters_by_status_and_name(http: httpx.Client, client: WorkflowClient) -> None:
    finished_orders(http, client, 2)
    waiting = start(http, "approval")
    failed = start(http, "failing", b'"x"')
    wait_done(client, failed)
    wait_running(client, waiting)

    def ids(**params: str | list[str]) -> list[str]:
        return [s["instanceID"] for s in http.get(API, params=params).json()["instances"]]

    assert ids(status="RUNNING") == [waiting]
    assert ids(status=["running", "FAILED"]) == [waiting, failed]
    assert ids(status="RUNNING,FAILED") == [waiting, failed]
    assert ids(name="OrderProcessingWorkflow") == ["o0", "o1"]
    assert ids(name="failing", status="COMPLETED") == []


def test_list_filters_by_creation_time(http: httpx.Client, client: WorkflowClient) -> None:
    finished_orders(http, client, 1)
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    past = "2000-01-01T00:00:00Z"
    assert len(http.get(API, params={"createdAfter": past}).json()["instances"]) == 1
    assert http.get(API, params={"createdAfter": future}).json()["instances"] == []
    assert http.get(API, params={"createdBefore": past}).json()["instances"] == []


def test_list_leaves_payloads_out_unless_asked(http: httpx.Client, client: WorkflowClient) -> None:
    finished_orders(http, client, 1)
    (plain,) = http.get(API).json()["instances"]
    assert plain["properties"] == {}
    (full,) = http.get(API, params={"includePayloads": "true"}).json()["instances"]
    assert full["properties"]["dapr.workflow.input"] == ORDER.decode()


@pytest.mark.parametrize(
    "params",
    [
        {"status": "SLEEPING"},
        {"pageSize": "0"},
        {"pageSize": "lots"},
        {"createdAfter": "yesterday"},
        {"includePayloads": "perhaps"},
    ],
)
def test_list_rejects_bad_parameters(http: httpx.Client, params: dict[str, str]) -> None:
    assert_error(http.get(API, params=params), 400, "ERR_MALFORMED_REQUEST")


def test_list_rejects_a_bad_continuation_token(http: httpx.Client) -> None:
    assert_error(http.get(API, params={"continuationToken": "???"}), 400, "ERR_LIST_WORKFLOWS")


# --- history -----------------------------------------------------------------------


def test_history_lists_the_events_with_their_ids(
    http: httpx.Client, client: WorkflowClient
) -> None:
    (instance_id,) = finished_orders(http, client, 1)
    body = http.get(f"{API}/{instance_id}/history").json()
    assert body["instanceID"] == instance_id
    events = body["events"]
    assert [e["eventId"] for e in events] == list(range(len(events)))
    assert [e["kind"] for e in events[:2]] == ["OrchestratorStarted", "ExecutionStarted"]
    assert events[-1]["kind"] == "ExecutionCompleted"
    scheduled = [e for e in events if e["kind"] == "TaskScheduled"]
    assert scheduled and scheduled[0]["name"] == "process_order"
    assert all(datetime.fromisoformat(e["timestamp"]).tzinfo for e in events)


# --- rerun -------------------------------------------------------------------------


def test_rerun_from_an_activity_starts_a_new_instance(
    http: httpx.Client, client: WorkflowClient
) -> None:
    (source,) = finished_orders(http, client, 1)
    events = http.get(f"{API}/{source}/history").json()["events"]
    event_id = next(e["eventId"] for e in events if e["kind"] == "TaskScheduled")
    response = http.post(
        f"{API}/{source}/rerun/{event_id}?newInstanceID=rerun-1", content=b'{"Name":"Clips"}'
    )
    assert response.status_code == 202, response.text
    assert response.json() == {"instanceID": "rerun-1"}
    assert response.headers["location"] == f"{API}/rerun-1"
    assert wait_done(client, "rerun-1") is WorkflowStatus.COMPLETED
    state = client.get_workflow_state("rerun-1")
    assert state is not None and state.input_as() == {"Name": "Clips"}


def test_rerun_errors(http: httpx.Client, client: WorkflowClient) -> None:
    (source,) = finished_orders(http, client, 1)
    assert_error(http.post(f"{API}/{source}/rerun/0"), 400, "ERR_RERUN_WORKFLOW")
    assert_error(http.post(f"{API}/{source}/rerun/999"), 400, "ERR_RERUN_WORKFLOW")
    running = start(http, "approval")
    assert_error(http.post(f"{API}/{running}/rerun/1"), 409, "ERR_RERUN_WORKFLOW")
    bad_id = http.post(f"{API}/{source}/rerun/1?newInstanceID=a.b")
    assert_error(bad_id, 400, "ERR_INSTANCE_ID_INVALID")


class _ClientWithoutRerun(WorkflowClient):
    rerun_workflow_from_event = None  # type: ignore[assignment]


def test_rerun_is_501_when_the_client_cannot(runtime: WorkflowRuntime) -> None:
    app = create_app(_ClientWithoutRerun(runtime.store), runtime=runtime)
    with BackgroundServer(app) as server, httpx.Client(base_url=server.url) as http:
        assert_error(http.post(f"{API}/anything/rerun/1"), 501, "ERR_NOT_IMPLEMENTED")


# --- purge by filter ---------------------------------------------------------------


def test_purge_by_filter(http: httpx.Client, client: WorkflowClient) -> None:
    finished_orders(http, client, 3)
    failed = start(http, "failing", b'"x"')
    wait_done(client, failed)
    running = start(http, "approval")

    response = http.post(f"{API}/purge", params={"status": "COMPLETED"})
    assert response.status_code == 200
    assert response.json() == {"purged": 3}
    remaining = {s["instanceID"] for s in http.get(API).json()["instances"]}
    assert remaining == {failed, running}
    assert http.post(f"{API}/purge", params={"all": "true"}).json() == {"purged": 1}
    assert [s["instanceID"] for s in http.get(API).json()["instances"]] == [running]


def test_purge_by_filter_needs_a_filter_and_finished_statuses(http: httpx.Client) -> None:
    assert_error(http.post(f"{API}/purge"), 400, "ERR_MALFORMED_REQUEST")
    unfinished = http.post(f"{API}/purge", params={"status": "RUNNING"})
    assert_error(unfinished, 400, "ERR_MALFORMED_REQUEST")
    assert "RUNNING" in unfinished.json()["message"]


def test_purge_by_name_and_age(http: httpx.Client, client: WorkflowClient) -> None:
    finished_orders(http, client, 2)
    params = {"name": "OrderProcessingWorkflow", "createdBefore": "2000-01-01T00:00:00Z"}
    assert http.post(f"{API}/purge", params=params).json() == {"purged": 0}
    params["createdBefore"] = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
    assert http.post(f"{API}/purge", params=params).json() == {"purged": 2}


# --- long-polling ------------------------------------------------------------------


def test_wait_for_completion_answers_when_the_instance_finishes(
    http: httpx.Client, client: WorkflowClient
) -> None:
    instance_id = start(http, "approval", b'"r"')
    wait_running(client, instance_id)
    approve = threading.Thread(
        target=client.raise_workflow_event, args=(instance_id, "approve"), kwargs={"data": 7}
    )
    # Raised concurrently with the poll: before or during its wait, it answers 200.
    approve.start()
    response = http.get(f"{API}/{instance_id}/waitForCompletion", params={"timeout": 30})
    approve.join()
    assert response.status_code == 200
    body = response.json()
    assert body["runtimeStatus"] == "COMPLETED"
    assert body["properties"]["dapr.workflow.output"] == '{"request":"r","decision":7}'


def test_wait_answers_202_with_the_current_status_on_timeout(
    http: httpx.Client, client: WorkflowClient
) -> None:
    instance_id = start(http, "approval")
    wait_running(client, instance_id)
    response = http.get(f"{API}/{instance_id}/waitForCompletion", params={"timeout": "0.2"})
    assert response.status_code == 202
    assert response.json()["runtimeStatus"] == "RUNNING"


def test_wait_for_start(http: httpx.Client, client: WorkflowClient) -> None:
    instance_id = start(http, "approval")
    response = http.get(f"{API}/{instance_id}/waitForStart", params={"timeout": 30})
    assert response.status_code == 200
    assert response.json()["runtimeStatus"] == "RUNNING"


def test_wait_with_no_timeout_checks_once(http: httpx.Client, client: WorkflowClient) -> None:
    (done,) = finished_orders(http, client, 1)
    assert http.get(f"{API}/{done}/waitForCompletion?timeout=0").status_code == 200


def test_wait_rejects_a_bad_timeout(http: httpx.Client) -> None:
    for bad in ("soon", "-1", "nan"):
        response = http.get(f"{API}/x/waitForCompletion", params={"timeout": bad})
        assert_error(response, 400, "ERR_MALFORMED_REQUEST")


class _ObservedClient(WorkflowClient):
    """Tells the test when the server has begun waiting on its behalf."""

    waiting = threading.Event()

    def wait_for_workflow_completion(self, *args: Any, **kwargs: Any) -> WorkflowState | None:
        self.waiting.set()
        return super().wait_for_workflow_completion(*args, **kwargs)


def test_stopping_the_server_ends_pending_long_polls(runtime: WorkflowRuntime) -> None:
    client = _ObservedClient(runtime.store)
    instance_id = client.schedule_new_workflow("approval")
    # A wait far longer than the test's own timeout: only the stop can end it.
    app = create_app(client, runtime=runtime, max_wait_seconds=3600)
    server = BackgroundServer(app)
    server.start()
    answers: list[httpx.Response] = []

    def poll() -> None:
        with httpx.Client(base_url=server.url, timeout=None) as http:
            answers.append(http.get(f"{API}/{instance_id}/waitForCompletion?timeout=3600"))

    poller = threading.Thread(target=poll)
    poller.start()
    assert client.waiting.wait(30)
    server.stop()
    poller.join()
    assert [a.status_code for a in answers] == [202]
    assert answers[0].json()["runtimeStatus"] in ("PENDING", "RUNNING")


# --- service endpoints -------------------------------------------------------------


def test_health(http: httpx.Client, store_url: str) -> None:
    response = http.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["runtime"] == "running"
    assert body["store"].endswith("outlast.db")
    assert http.get("/v1.0/healthz").status_code == 204
    assert http.get("/v1.0/healthz/outbound").status_code == 204


def test_health_is_503_when_the_runtime_is_not_running(client: WorkflowClient) -> None:
    idle = WorkflowRuntime(client.store)
    with BackgroundServer(create_app(client, runtime=idle)) as server:
        response = httpx.get(f"{server.url}/healthz")
    assert_error(response, 503, "ERR_HEALTH_NOT_READY")


def test_health_without_a_runtime_reports_none(client: WorkflowClient) -> None:
    with BackgroundServer(create_app(client)) as server:
        assert httpx.get(f"{server.url}/healthz").json()["runtime"] == "none"


def test_index(http: httpx.Client) -> None:
    body = http.get("/").json()
    assert body["name"] == "outlast" and body["openapi"] == "/openapi.json"


def test_openapi_document_lists_every_route(http: httpx.Client, server: BackgroundServer) -> None:
    response = http.get("/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.1")
    assert document["info"]["title"]
    paths = document["paths"]
    routes = [r for r in server.app.routes if isinstance(r, Route)]
    for route in routes:
        if route.path == "/openapi.json":
            continue
        path = route.path.replace(":int", "")
        assert path in paths, path
        for method in route.methods or ():
            if method != "HEAD":
                assert method.lower() in paths[path], (method, path)
    operation_ids = [op["operationId"] for item in paths.values() for op in item.values()]
    assert len(operation_ids) == len(set(operation_ids))
    start_op = paths["/v1.0/workflows/{component}/{workflowName}/start"]["post"]
    assert "202" in start_op["responses"] and "requestBody" in start_op
    assert {p["name"] for p in start_op["parameters"]} >= {
        "component",
        "workflowName",
        "instanceID",
    }
    status_schema = document["components"]["schemas"]["WorkflowStatus"]
    assert "runtimeStatus" in status_schema["properties"]

    def refs(node: object) -> list[str]:
        if isinstance(node, dict):
            found = [node["$ref"]] if "$ref" in node else []
            return found + [r for value in node.values() for r in refs(value)]
        if isinstance(node, list):
            return [r for value in node for r in refs(value)]
        return []

    schemas = document["components"]["schemas"]
    for ref in refs(document):
        assert ref.removeprefix("#/components/schemas/") in schemas, ref


# --- start policy --------------------------------------------------------------------


def test_start_if_exists_maps_onto_the_client_policy(
    http: httpx.Client, client: WorkflowClient
) -> None:
    start(http, "approval", b'"a"', instanceID="dup")
    wait_running(client, "dup")
    taken = http.post(f"{API}/approval/start", params={"instanceID": "dup"}, content=b'"b"')
    assert taken.status_code == 409, taken.text
    assert start(http, "approval", b'"b"', instanceID="dup", ifExists="return_existing") == "dup"
    state = client.get_workflow_state("dup")
    assert state is not None and state.input_as() == "a"
    start(http, "approval", b'"c"', instanceID="dup", ifExists="terminate_and_restart")
    wait_running(client, "dup")
    state = client.get_workflow_state("dup")
    assert state is not None and state.input_as() == "c"
    bad = http.post(
        f"{API}/approval/start", params={"instanceID": "x", "ifExists": "maybe"}, content=b"1"
    )
    assert_error(bad, 400, "ERR_START_WORKFLOW")
