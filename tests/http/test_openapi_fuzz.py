"""Fuzzing the API from its own OpenAPI document (schemathesis): no 500s, and
every answer is what the document says; once on a server without an API token,
once on one that requires it (and is called with it)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import Case
from schemathesis.checks import positive_data_acceptance

from outlast import WorkflowClient
from outlast.http import BackgroundServer, create_app
from outlast.http.openapi import build_openapi
from outlast.store import SqliteStore
from tests.http.sample_app import make_runtime

TOKEN = "fuzz-t0ken"
# Examples per operation: 79 operations, twice, so some 800 requests in all.
EXAMPLES = 5
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,  # no .hypothesis/ folder left behind
    derandomize=True,  # the same requests every run: a failure reproduces
    suppress_health_check=list(HealthCheck),
)

# A schema-valid request may still be refused, by design: an unknown workflow
# name, an instance in the wrong status (each such answer is in the document).
EXCLUDED = [positive_data_acceptance]

open_schema = schemathesis.openapi.from_dict(build_openapi(secured=False))
secured_schema = schemathesis.openapi.from_dict(build_openapi(secured=True))


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """One runtime, and two servers on its store: without and with a token."""
    store = SqliteStore(Path(tmp_path_factory.mktemp("fuzz")) / "fuzz.db")
    runtime = make_runtime(store)
    client = WorkflowClient(store)
    # Long-polls answer after half a second, whatever timeout is asked for.
    plain = BackgroundServer(create_app(client, runtime=runtime, max_wait_seconds=0.5))
    secured = BackgroundServer(
        create_app(client, runtime=runtime, api_token=TOKEN, max_wait_seconds=0.5)
    )
    with runtime, plain, secured:
        yield {"open": plain.url, "token": secured.url}
    store.close()


@open_schema.parametrize()
@FUZZ
def test_the_open_api_keeps_to_its_document(case: Case, servers: dict[str, str]) -> None:
    case.call_and_validate(base_url=servers["open"], excluded_checks=EXCLUDED)


@secured_schema.parametrize()
@FUZZ
def test_the_api_with_a_token_keeps_to_its_document(case: Case, servers: dict[str, str]) -> None:
    case.call_and_validate(
        base_url=servers["token"], headers={"dapr-api-token": TOKEN}, excluded_checks=EXCLUDED
    )
