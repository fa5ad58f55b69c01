"""Token authentication (401) and request size limits (413)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from outlast import WorkflowClient, WorkflowRuntime
from outlast.http import BackgroundServer, create_app
from tests.http.test_dapr_api import API, assert_error


@pytest.fixture
def secured(runtime: WorkflowRuntime, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("OUTLAST_API_TOKEN", "s3cret")
    with BackgroundServer(create_app(WorkflowClient(runtime.store), runtime=runtime)) as server:
        yield server.url


def test_requests_without_the_token_are_401(secured: str) -> None:
    response = httpx.post(f"{secured}{API}/approval/start")
    assert_error(response, 401, "ERR_UNAUTHORIZED")
    assert "dapr-api-token" in response.json()["message"]
    assert_error(httpx.get(f"{secured}{API}"), 401, "ERR_UNAUTHORIZED")
    assert_error(httpx.get(f"{secured}/openapi.json"), 401, "ERR_UNAUTHORIZED")


def test_a_wrong_token_is_401(secured: str) -> None:
    response = httpx.get(f"{secured}{API}", headers={"dapr-api-token": "guess"})
    assert_error(response, 401, "ERR_UNAUTHORIZED")
    assert response.json()["message"] == "invalid API token"


def test_the_right_token_is_let_through(secured: str, client: WorkflowClient) -> None:
    headers = {"dapr-api-token": "s3cret"}
    response = httpx.post(f"{secured}{API}/approval/start?instanceID=ok", headers=headers)
    assert response.status_code == 202
    assert httpx.get(f"{secured}{API}/ok", headers=headers).status_code == 200
    document = httpx.get(f"{secured}/openapi.json", headers=headers).json()
    assert document["components"]["securitySchemes"]["apiToken"]["name"] == "dapr-api-token"


def test_health_probes_need_no_token(secured: str) -> None:
    assert httpx.get(f"{secured}/healthz").status_code == 200
    assert httpx.get(f"{secured}/v1.0/healthz").status_code == 204


def test_dapr_api_token_is_honoured_too(
    runtime: WorkflowRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DAPR_API_TOKEN", "from-dapr")
    with BackgroundServer(create_app(WorkflowClient(runtime.store))) as server:
        assert httpx.get(f"{server.url}{API}").status_code == 401
        ok = httpx.get(f"{server.url}{API}", headers={"dapr-api-token": "from-dapr"})
        assert ok.status_code == 200


def test_without_a_token_configured_nothing_is_required(http: httpx.Client) -> None:
    assert http.get(API).status_code == 200


# --- sizes -------------------------------------------------------------------------


@pytest.fixture
def small(runtime: WorkflowRuntime) -> Iterator[str]:
    app = create_app(WorkflowClient(runtime.store), runtime=runtime, max_body_size=100)
    with BackgroundServer(app) as server:
        yield server.url


def test_a_body_over_the_limit_is_413(small: str, client: WorkflowClient) -> None:
    body = b'"' + b"x" * 200 + b'"'
    response = httpx.post(f"{small}{API}/approval/start?instanceID=big", content=body)
    assert_error(response, 413, "ERR_REQUEST_TOO_LARGE")
    assert "100 bytes" in response.json()["message"]
    assert client.get_workflow_state("big") is None


def test_a_streamed_body_over_the_limit_is_413(small: str, client: WorkflowClient) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'"'
        for _ in range(10):
            yield b"x" * 50
        yield b'"'

    # A generator body goes out chunked, without a Content-Length to check up front.
    response = httpx.post(f"{small}{API}/approval/start?instanceID=streamed", content=chunks())
    assert_error(response, 413, "ERR_REQUEST_TOO_LARGE")
    assert client.get_workflow_state("streamed") is None


def test_a_body_at_the_limit_is_accepted(small: str) -> None:
    body = b'"' + b"x" * 98 + b'"'
    response = httpx.post(f"{small}{API}/approval/start", content=body)
    assert response.status_code == 202


def test_a_payload_over_the_clients_limit_is_413(runtime: WorkflowRuntime) -> None:
    client = WorkflowClient(runtime.store, max_payload_bytes=50)
    with BackgroundServer(create_app(client, runtime=runtime)) as server:
        response = httpx.post(f"{server.url}{API}/approval/start", content=b'"' + b"y" * 80 + b'"')
        assert_error(response, 413, "ERR_START_WORKFLOW")
        started = httpx.post(f"{server.url}{API}/approval/start", content=b'"short"')
        assert started.status_code == 202
        instance_id = started.json()["instanceID"]
        event = httpx.post(
            f"{server.url}{API}/{instance_id}/raiseEvent/approve", content=b"[" + b"1," * 40 + b"1]"
        )
        assert_error(event, 413, "ERR_RAISE_EVENT_WORKFLOW")
