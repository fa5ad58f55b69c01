"""Dapr's workflow HTTP API, over a real socket."""

from __future__ import annotations

import re

import httpx
import pytest

from outlast import WorkflowClient, WorkflowStatus

PREFIXES = ["/v1.0-alpha1", "/v1.0-beta1", "/v1.0"]
API = "/v1.0/workflows/dapr"
RFC3339_NANOS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$")
ORDER = b'{"Name":"Paperclips","Quantity":1,"TotalCost":9.95}'


def start(http: httpx.Client, workflow: str, body: bytes = b"", **params: str) -> str:
    response = http.post(f"{API}/{workflow}/start", params=params, content=body)
    assert response.status_code == 202, response.text
    instance_id: str = response.json()["instanceID"]
    return instance_id


def wait_done(client: WorkflowClient, instance_id: str) -> WorkflowStatus:
    state = client.wait_for_workflow_completion(instance_id, timeout_in_seconds=30)
    assert state is not None
    return state.runtime_status


def wait_running(client: WorkflowClient, instance_id: str) -> None:
    state = client.wait_for_workflow_start(instance_id, timeout_in_seconds=30)
    assert state is not None and state.runtime_status is WorkflowStatus.RUNNING


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["errorCode"] == code
    assert body["message"]


# --- start -------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", PREFIXES)
def test_start_answers_202_with_the_id_and_a_location(
    http: httpx.Client, client: WorkflowClient, prefix: str
) -> None:
    response = http.post(
        f"{prefix}/workflows/dapr/OrderProcessingWorkflow/start?instanceID=order-1", content=ORDER
    )
    assert response.status_code == 202
    assert response.content == b'{"instanceID":"order-1"}'
    location = response.headers["location"]
    assert location == f"{prefix}/workflows/dapr/order-1"
    assert http.get(location).json()["instanceID"] == "order-1"
    assert wait_done(client, "order-1") is WorkflowStatus.COMPLETED


def test_start_accepts_instanceId_and_any_component_name(
    http: httpx.Client, client: WorkflowClient
) -> None:
    response = http.post("/v1.0/workflows/anything/approval/start?instanceId=camel-case")
    assert response.status_code == 202
    assert response.json() == {"instanceID": "camel-case"}
    assert response.headers["location"].endswith("/v1.0/workflows/anything/camel-case")


def test_start_without_an_id_generates_one(http: httpx.Client, client: WorkflowClient) -> None:
    instance_id = start(http, "approval")
    assert re.fullmatch(r"[0-9a-f]{32}", instance_id)
    assert client.get_workflow_state(instance_id) is not None


def test_start_body_is_the_input_and_an_empty_body_means_none(
    http: httpx.Client, client: WorkflowClient
) -> None:
    with_input = start(http, "approval", b'{"amount": 5}')
    without = start(http, "approval", b"")
    state = client.get_workflow_state(with_input)
    assert state is not None and state.input_as() == {"amount": 5}
    state = client.get_workflow_state(without)
    assert state is not None and state.serialized_input is None


def test_start_takes_json_whatever_the_content_type(
    http: httpx.Client, client: WorkflowClient
) -> None:
    # curl -d sends application/x-www-form-urlencoded
    response = http.post(
        f"{API}/approval/start",
        content=b"[1, 2]",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    state = client.get_workflow_state(response.json()["instanceID"])
    assert state is not None and state.input_as() == [1, 2]


def test_start_with_a_body_that_is_not_json_is_400(
    http: httpx.Client, client: WorkflowClient
) -> None:
    response = http.post(f"{API}/approval/start?instanceID=never", content=b"{not json")
    assert_error(response, 400, "ERR_MALFORMED_REQUEST")
    assert "not valid JSON" in response.json()["message"]
    assert client.get_workflow_state("never") is None


def test_start_of_an_unknown_workflow_is_400(http: httpx.Client) -> None:
    response = http.post(f"{API}/NoSuchWorkflow/start")
    assert_error(response, 400, "ERR_START_WORKFLOW")
    assert "NoSuchWorkflow" in response.json()["message"]


def test_start_with_an_id_still_in_use_is_409(http: httpx.Client, client: WorkflowClient) -> None:
    start(http, "approval", instanceID="busy")
    response = http.post(f"{API}/approval/start?instanceID=busy")
    assert_error(response, 409, "ERR_START_WORKFLOW")


def test_start_reuses_the_id_of_a_finished_instance(
    http: httpx.Client, client: WorkflowClient
) -> None:
    start(http, "OrderProcessingWorkflow", ORDER, instanceID="again")
    assert wait_done(client, "again") is WorkflowStatus.COMPLETED
    start(http, "OrderProcessingWorkflow", ORDER, instanceID="again")
    assert wait_done(client, "again") is WorkflowStatus.COMPLETED


def test_start_without_a_workflow_name_is_400(http: httpx.Client) -> None:
    assert_error(http.post(f"{API}/start"), 400, "ERR_WORKFLOW_NAME_MISSING")


def test_the_first_alpha_form_with_the_id_in_the_path_starts_too(
    http: httpx.Client, client: WorkflowClient
) -> None:
    response = http.post("/v1.0-alpha1/workflows/dapr/approval/legacy-1/start", content=b'"x"')
    assert response.status_code == 202
    assert response.json() == {"instanceID": "legacy-1"}
    state = client.get_workflow_state("legacy-1")
    assert state is not None and state.name == "approval" and state.input_as() == "x"


# --- instance IDs ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/approval/start?instanceID={id}"),
        ("GET", "/{id}"),
        ("POST", "/{id}/raiseEvent/approve"),
        ("POST", "/{id}/terminate"),
        ("POST", "/{id}/pause"),
        ("POST", "/{id}/resume"),
        ("POST", "/{id}/purge"),
        ("GET", "/{id}/history"),
        ("GET", "/{id}/waitForCompletion"),
    ],
)
def test_invalid_and_too_long_ids_are_400(http: httpx.Client, method: str, path: str) -> None:
    invalid = http.request(method, API + path.format(id="bad.id"))
    assert_error(invalid, 400, "ERR_INSTANCE_ID_INVALID")
    assert "bad.id" in invalid.json()["message"]
    too_long = http.request(method, API + path.format(id="x" * 65))
    assert_error(too_long, 400, "ERR_INSTANCE_ID_TOO_LONG")
    assert "64" in too_long.json()["message"]


def test_an_id_of_64_characters_is_fine(http: httpx.Client) -> None:
    assert start(http, "approval", instanceID="a" * 64) == "a" * 64


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/ghost"),
        ("POST", "/ghost/raiseEvent/approve"),
        ("POST", "/ghost/terminate"),
        ("POST", "/ghost/pause"),
        ("POST", "/ghost/resume"),
        ("POST", "/ghost/purge"),
        ("GET", "/ghost/history"),
        ("GET", "/ghost/waitForStart"),
        ("GET", "/ghost/waitForCompletion"),
        ("POST", "/ghost/rerun/1"),
    ],
)
def test_unknown_instances_are_404(http: httpx.Client, method: str, path: str) -> None:
    response = http.request(method, API + path)
    assert_error(response, 404, "ERR_INSTANCE_ID_NOT_FOUND")
    assert response.json()["message"].endswith("ghost")


# --- status ------------------------------------------------------------------------


def test_status_of_a_completed_instance_has_daprs_fields(
    http: httpx.Client, client: WorkflowClient
) -> None:
    start(http, "OrderProcessingWorkflow", ORDER, instanceID="12345678")
    wait_done(client, "12345678")
    body = http.get(f"{API}/12345678").json()
    assert list(body) == [
        "instanceID",
        "workflowName",
        "createdAt",
        "lastUpdatedAt",
        "runtimeStatus",
        "properties",
    ]
    assert body["instanceID"] == "12345678"
    assert body["workflowName"] == "OrderProcessingWorkflow"
    assert body["runtimeStatus"] == "COMPLETED"
    assert RFC3339_NANOS.match(body["createdAt"])
    assert RFC3339_NANOS.match(body["lastUpdatedAt"])
    assert body["createdAt"] <= body["lastUpdatedAt"]
    assert body["properties"] == {
        "dapr.workflow.custom_status": "",
        "dapr.workflow.input": ORDER.decode(),
        "dapr.workflow.output": '{"Processed":true}',
    }


def test_status_of_a_running_instance_shows_its_custom_status(
    http: httpx.Client, client: WorkflowClient
) -> None:
    instance_id = start(http, "approval", b'"pay me"')
    wait_running(client, instance_id)
    body = http.get(f"{API}/{instance_id}").json()
    assert body["runtimeStatus"] == "RUNNING"
    assert body["properties"] == {
        "dapr.workflow.custom_status": '"waiting for approval"',
        "dapr.workflow.input": '"pay me"',
    }


def test_status_of_a_failed_instance_reports_the_failure_not_an_output(
    http: httpx.Client, client: WorkflowClient
) -> None:
    instance_id = start(http, "failing", b'"disk full"')
    assert wait_done(client, instance_id) is WorkflowStatus.FAILED
    body = http.get(f"{API}/{instance_id}").json()
    props = body["properties"]
    assert body["runtimeStatus"] == "FAILED"
    assert props["dapr.workflow.failure.error_type"] == "ValueError"
    assert props["dapr.workflow.failure.error_message"] == "boom: disk full"
    assert "ValueError" in props["dapr.workflow.failure.stack_trace"]
    assert "dapr.workflow.output" not in props


# --- raiseEvent, terminate, pause, resume, purge ------------------------------------


def test_raise_event_delivers_its_body_as_the_data(
    http: httpx.Client, client: WorkflowClient
) -> None:
    instance_id = start(http, "approval", b'"req"')
    response = http.post(f"{API}/{instance_id}/raiseEvent/approve", content=b'{"ok": true}')
    assert response.status_code == 202
    assert wait_done(client, instance_id) is WorkflowStatus.COMPLETED
    state = client.get_workflow_state(instance_id)
    assert state is not None
    assert state.output_as() == {"request": "req", "decision": {"ok": True}}


def test_raise_event_without_a_body_sends_no_data(
    http: httpx.Client, client: WorkflowClient
) -> None:
    instance_id = start(http, "approval")
    assert http.post(f"{API}/{instance_id}/raiseEvent/approve").status_code == 202
    wait_done(client, instance_id)
    state = client.get_workflow_state(instance_id)
    assert state is not None and state.output_as() == {"request": None, "decision": None}


def test_raise_event_errors(http: httpx.Client, client: WorkflowClient) -> None:
    instance_id = start(http, "approval")
    assert_error(
        http.post(f"{API}/{instance_id}/raiseEvent"), 400, "ERR_WORKFLOW_EVENT_NAME_MISSING"
    )
    assert_error(
        http.post(f"{API}/{instance_id}/raiseEvent/approve", content=b"nope"),
        400,
        "ERR_MALFORMED_REQUEST",
    )
    http.post(f"{API}/{instance_id}/terminate")
    wait_done(client, instance_id)
    assert_error(
        http.post(f"{API}/{instance_id}/raiseEvent/approve"), 409, "ERR_RAISE_EVENT_WORKFLOW"
    )


def test_terminate(http: httpx.Client, client: WorkflowClient) -> None:
    instance_id = start(http, "approval")
    response = http.post(f"{API}/{instance_id}/terminate", content=b'"stopped by ops"')
    assert response.status_code == 202
    assert wait_done(client, instance_id) is WorkflowStatus.TERMINATED
    body = http.get(f"{API}/{instance_id}").json()
    assert body["runtimeStatus"] == "TERMINATED"
    assert body["properties"]["dapr.workflow.output"] == '"stopped by ops"'
    again = http.post(f"{API}/{instance_id}/terminate")
    assert_error(again, 409, "ERR_TERMINATE_WORKFLOW")


def test_terminate_non_recursive_is_accepted(http: httpx.Client, client: WorkflowClient) -> None:
    instance_id = start(http, "approval")
    assert http.post(f"{API}/{instance_id}/terminate?non_recursive=true").status_code == 202
    assert wait_done(client, instance_id) is WorkflowStatus.TERMINATED
    bad = http.post(f"{API}/{instance_id}/terminate?non_recursive=maybe")
    assert_error(bad, 400, "ERR_MALFORMED_REQUEST")


def test_pause_and_resume(http: httpx.Client, client: WorkflowClient) -> None:
    instance_id = start(http, "approval")
    wait_running(client, instance_id)
    assert http.post(f"{API}/{instance_id}/pause?reason=lunch").status_code == 202
    suspended = http.get(f"{API}/{instance_id}/waitForCompletion?timeout=0").json()
    # A pause is a message to the workflow: watch its status until it has taken it.
    while suspended["runtimeStatus"] != "SUSPENDED":
        with client.store.watch(instance_id) as changed:
            changed.wait(0.5)
        suspended = http.get(f"{API}/{instance_id}").json()
    http.post(f"{API}/{instance_id}/raiseEvent/approve", content=b"1")
    assert http.post(f"{API}/{instance_id}/resume").status_code == 202
    assert wait_done(client, instance_id) is WorkflowStatus.COMPLETED
    kinds = [e["kind"] for e in client.get_workflow_history(instance_id)]
    assert "ExecutionSuspended" in kinds and "ExecutionResumed" in kinds
    assert_error(http.post(f"{API}/{instance_id}/pause"), 409, "ERR_PAUSE_WORKFLOW")
    assert_error(http.post(f"{API}/{instance_id}/resume"), 409, "ERR_RESUME_WORKFLOW")


def test_purge(http: httpx.Client, client: WorkflowClient) -> None:
    instance_id = start(http, "approval")
    running = http.post(f"{API}/{instance_id}/purge")
    assert_error(running, 409, "ERR_PURGE_WORKFLOW")
    http.post(f"{API}/{instance_id}/terminate")
    wait_done(client, instance_id)
    assert http.post(f"{API}/{instance_id}/purge").status_code == 202
    assert client.get_workflow_state(instance_id) is None
    assert_error(http.post(f"{API}/{instance_id}/purge"), 404, "ERR_INSTANCE_ID_NOT_FOUND")


# --- routing -----------------------------------------------------------------------


def test_unknown_routes_and_methods_answer_json(http: httpx.Client) -> None:
    assert_error(http.get("/v2/nothing"), 404, "ERR_NOT_FOUND")
    assert_error(http.delete(f"{API}/some-id"), 405, "ERR_METHOD_NOT_ALLOWED")


def test_a_405_names_every_method_of_the_path(http: httpx.Client) -> None:
    # Two routes share /schedules (GET lists, POST creates): Allow names both.
    response = http.request("OPTIONS", "/v1.0/schedules")
    assert_error(response, 405, "ERR_METHOD_NOT_ALLOWED")
    assert set(response.headers["allow"].split(", ")) >= {"GET", "POST"}
    # /workflows/{component}/purge is POST only, though GET reaches an instance
    # called "purge" through another route.
    response = http.request("OPTIONS", f"{API}/purge")
    assert response.headers["allow"] == "POST"
