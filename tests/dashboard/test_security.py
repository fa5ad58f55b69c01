"""The guards' pieces: the session value, the CSRF check, redirect targets."""

from __future__ import annotations

from starlette.requests import Request

from outlast.dashboard.app import _local
from outlast.dashboard.render import visible
from outlast.dashboard.security import CSRF_COOKIE, Gate, csrf_problem, session_value


def request(headers: dict[str, str], path: str = "/") -> Request:
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    return Request(
        {
            "type": "http",
            "method": "POST",
            "path": path,
            "headers": raw,
            "scheme": "http",
            "server": ("127.0.0.1", 3500),
            "query_string": b"",
        }
    )


def test_the_session_cookie_is_not_the_token() -> None:
    assert session_value("s3cret") != "s3cret"
    assert session_value("s3cret") == session_value("s3cret") != session_value("other")


def test_the_gate_lets_in_the_cookie_or_the_header() -> None:
    gate = Gate("s3cret", open_paths=("/login",))
    assert not gate.allows(request({}))
    assert gate.allows(request({"cookie": f"outlast_session={session_value('s3cret')}"}))
    assert not gate.allows(request({"cookie": "outlast_session=s3cret"}))
    assert gate.allows(request({"dapr-api-token": "s3cret"}))
    assert gate.allows(request({}, "/login"))
    assert Gate(None).allows(request({}))


def test_csrf_needs_the_cookie_the_field_and_our_origin() -> None:
    cookie = {"cookie": f"{CSRF_COOKIE}=abcdefghijklmnopqrstuvwxyz", "host": "127.0.0.1:3500"}
    assert csrf_problem(request(cookie), "abcdefghijklmnopqrstuvwxyz") is None
    assert "does not match" in (csrf_problem(request(cookie), "x" * 26) or "")
    assert "missing" in (csrf_problem(request({}), "abc") or "")
    foreign = {**cookie, "origin": "http://evil.example"}
    assert "another site" in (csrf_problem(request(foreign), "abcdefghijklmnopqrstuvwxyz") or "")
    ours = {**cookie, "origin": "http://127.0.0.1:3500"}
    assert csrf_problem(request(ours), "abcdefghijklmnopqrstuvwxyz") is None
    proxied = {**cookie, "origin": "https://127.0.0.1:3500"}  # TLS ended in front
    assert csrf_problem(request(proxied), "abcdefghijklmnopqrstuvwxyz") is None
    null = {**cookie, "origin": "null"}
    assert "another site" in (csrf_problem(request(null), "abcdefghijklmnopqrstuvwxyz") or "")


def test_redirects_stay_on_this_site() -> None:
    assert _local("/instances/a?x=1") == "/instances/a?x=1"
    for away in ("//evil.example/", "https://evil.example/", "/\\evil", "", None):
        assert _local(away) == "/"
    assert _local("//evil.example/", "/workflows") == "/workflows/"


def test_control_characters_become_visible() -> None:
    assert visible("a\x1b[31mb\x07\u202e\n\t") == "a\\x1b[31mb\\x07\\u202e\n\t"
