"""W3C trace context, carried with instances whether or not OpenTelemetry is here.

A workflow's start records the traceparent of whoever started it (the active
OpenTelemetry span, a ``traceparent`` HTTP header, a gRPC request's trace
context), so its run, its activities and its child workflows join that trace in
whatever process runs them. ``opentelemetry-api`` (``outlast[otel]``) is
imported only when it is installed and something asks for a span: without it,
reading the current trace context is one cached check.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from types import ModuleType
from typing import Any

_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_INVALID_TRACE = "0" * 32
_INVALID_SPAN = "0" * 16

# A traceparent given explicitly (an HTTP header) for the calls made in this context.
_given: ContextVar[str | None] = ContextVar("outlast_traceparent", default=None)
_api: ModuleType | None = None
_looked = False


def otel() -> ModuleType | None:
    """``opentelemetry.trace``, or None when the API is not installed."""
    global _api, _looked
    if not _looked:
        if importlib.util.find_spec("opentelemetry") is not None:
            _api = importlib.import_module("opentelemetry.trace")
        _looked = True
    return _api


def valid_traceparent(text: str | None) -> str | None:
    """``text`` if it is a W3C traceparent naming a real trace and span, else None."""
    if not text:
        return None
    text = text.strip().lower()
    m = _TRACEPARENT.match(text)
    if m is None or m.group(1) == "ff":
        return None
    if m.group(2) == _INVALID_TRACE or m.group(3) == _INVALID_SPAN:
        return None
    return text


@contextmanager
def traceparent_scope(traceparent: str | None) -> Iterator[None]:
    """Workflows started inside this block record ``traceparent`` (when valid) as
    their parent, in place of the active span's context."""
    token = _given.set(valid_traceparent(traceparent))
    try:
        yield
    finally:
        _given.reset(token)


def current_traceparent() -> str | None:
    """The traceparent a workflow started here records: the one given with
    :func:`traceparent_scope`, else the active OpenTelemetry span's, else None."""
    given = _given.get()
    if given is not None:
        return given
    trace = otel()
    if trace is None:
        return None
    return traceparent_of(trace.get_current_span().get_span_context())


def traceparent_of(span_context: Any) -> str | None:
    """An OpenTelemetry SpanContext as a W3C traceparent (None when invalid)."""
    if not span_context.is_valid:
        return None
    sc = span_context
    return f"00-{sc.trace_id:032x}-{sc.span_id:016x}-{sc.trace_flags:02x}"


def span_context_of(traceparent: str | None) -> Any:
    """A traceparent as a remote OpenTelemetry SpanContext (None when invalid or
    without the API)."""
    text = valid_traceparent(traceparent)
    trace = otel()
    if text is None or trace is None:
        return None
    _, trace_id, span_id, flags = text.split("-")
    return trace.SpanContext(
        int(trace_id, 16), int(span_id, 16), True, trace.TraceFlags(int(flags, 16))
    )


def traceparent_in(options: str | None) -> str | None:
    """The traceparent an activity row's options carry, if any."""
    if not options or "traceparent" not in options:
        return None
    try:
        doc = json.loads(options)
    except ValueError:
        return None
    value = doc.get("traceparent") if isinstance(doc, dict) else None
    return value if isinstance(value, str) else None
