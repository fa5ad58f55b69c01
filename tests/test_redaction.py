"""``outlast.redaction``: credentials masked in URLs and in free text."""

from __future__ import annotations

import pytest

from outlast.redaction import redact_text, redact_url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://app:s3cret@db:5432/prod", "postgresql://app:***@db:5432/prod"),
        ("postgresql://app:p%40ss@db/prod", "postgresql://app:***@db/prod"),
        ("postgresql://app:a@b@db/prod", "postgresql://app:***@db/prod"),
        (
            "postgresql://app@db/prod?sslmode=require&password=s3cret",
            "postgresql://app@db/prod?sslmode=require&password=***",
        ),
        ("postgresql://db/prod?PASSWORD=s3cret&x=1", "postgresql://db/prod?PASSWORD=***&x=1"),
        ("http://u:s3cret@127.0.0.1:3500", "http://u:***@127.0.0.1:3500"),
    ],
)
def test_secrets_in_urls_are_masked(url: str, shown: str) -> None:
    assert redact_url(url) == shown
    assert "s3cret" not in redact_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:///var/lib/outlast.db",
        "postgresql://app@db/prod?sslmode=require",
        "memory://",
        "http://127.0.0.1:3500/v1.0",
    ],
)
def test_urls_without_secrets_are_left_alone(url: str) -> None:
    assert redact_url(url) == url


@pytest.mark.parametrize(
    "text",
    [
        "cannot open PostgreSQL store postgresql://app:s3cret@db/prod: refused",
        'invalid connection string: missing "=" after "host=db password=s3cret dbname" ...',
        "conninfo host=db password = 's3cret and more' port=5432",
        "connecting to postgresql://db/prod?application_name=x&password=s3cret failed",
        "the server at http://admin:s3cret@10.0.0.1:3500 did not answer",
    ],
)
def test_secrets_in_text_are_masked(text: str) -> None:
    shown = redact_text(text)
    assert "s3cret" not in shown
    assert "***" in shown


def test_text_without_secrets_is_left_alone() -> None:
    text = "PostgreSQL commit failed: duplicate key value violates unique constraint (id=3)"
    assert redact_text(text) == text
    assert redact_text("no store at /tmp/a@b.db") == "no store at /tmp/a@b.db"


def test_a_port_is_not_taken_for_a_password() -> None:
    text = "GET http://127.0.0.1:3500/v1.0/workflows/dapr/a@b failed"
    assert redact_text(text) == text
