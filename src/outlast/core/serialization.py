"""JSON codec for workflow payloads: never pickle.

Encoding accepts plain JSON values, dataclasses, namedtuples, pydantic models,
datetimes, dates, UUIDs, enums and sets. Decoding yields plain JSON values, or,
given a type hint, rebuilds that type (dataclasses, namedtuples, pydantic models,
datetimes, generics such as ``list[Order]`` and ``Optional[X]``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import inspect
import math
import os
import types
import typing
import uuid
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import orjson

from outlast.core.task import Task
from outlast.errors import PayloadTooLargeError, SerializationError

_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY


def _default(value: Any) -> Any:
    dump = getattr(value, "model_dump", None)
    if callable(dump):  # pydantic v2
        return dump(mode="json")
    if isinstance(value, set | frozenset):
        return list(value)
    if isinstance(value, tuple) and hasattr(value, "_asdict"):
        return list(value)
    if isinstance(value, Task):
        raise TypeError(
            f"a {type(value).__name__} is a task, not its result: did you forget `yield`? "
            "(result = yield ctx.call_activity(...))"
        )
    raise TypeError(f"Type is not JSON serializable: {type(value).__qualname__}")


def to_json(value: Any) -> str:
    """Encode ``value`` as JSON text; raise :class:`SerializationError` if it can't be
    (a NaN or an infinity included: JSON has neither)."""
    try:
        text = orjson.dumps(value, default=_default, option=_OPTIONS)
    except (TypeError, orjson.JSONEncodeError) as e:
        # orjson's own message drops the one ``_default`` raised (the hint for a task).
        why = e.__cause__ if isinstance(e.__cause__, TypeError) else e
        raise SerializationError(
            f"cannot serialize a value of type {type(value).__qualname__} to JSON: {why}"
        ) from e
    # orjson writes NaN and infinities as null, silently. Only where a null was
    # written can one hide, so only then is the value searched (rarely: a cost of
    # one scan of the text otherwise).
    if b"null" in text:
        where = _non_finite(value, "value", 0)
        if where is not None:
            raise SerializationError(
                f"cannot serialize {where} to JSON: JSON has no NaN or Infinity "
                "(use None, or a string such as 'NaN')"
            )
    return text.decode()


def _non_finite(value: Any, path: str, depth: int) -> str | None:
    """Where in ``value`` a NaN or infinity is (``value['a'][2] = nan``), if anywhere."""
    if isinstance(value, float):
        return None if math.isfinite(value) else f"{path} = {value!r}"
    if isinstance(value, str | int | bool) or value is None or depth > _MAX_DEPTH:
        return None
    items: Any
    if isinstance(value, dict):
        items = ((f"{path}[{k!r}]", v) for k, v in value.items())
    elif isinstance(value, list | tuple | set | frozenset):
        items = ((f"{path}[{i}]", v) for i, v in enumerate(value))
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        items = ((f"{path}.{f.name}", getattr(value, f.name)) for f in dataclasses.fields(value))
    elif callable(getattr(value, "model_dump", None)):
        return _non_finite(value.model_dump(), path, depth + 1)
    elif callable(getattr(value, "tolist", None)):  # numpy arrays and scalars
        return _non_finite(value.tolist(), path, depth + 1)
    else:
        return None
    for where, item in items:
        found = _non_finite(item, where, depth + 1)
        if found is not None:
            return found
    return None


# orjson refuses deeper nesting than this anyway.
_MAX_DEPTH = 256


def to_json_or_none(value: Any) -> str | None:
    return None if value is None else to_json(value)


DEFAULT_MAX_PAYLOAD_BYTES = 4 * 1024 * 1024


def default_max_payload_bytes() -> int:
    configured = os.environ.get("OUTLAST_MAX_PAYLOAD_BYTES")
    return int(configured) if configured else DEFAULT_MAX_PAYLOAD_BYTES


def encode_payload(value: Any, limit: int | None, what: str, name: str | None = None) -> str | None:
    """``value`` as JSON text, refused with a clear error if over ``limit`` bytes.
    ``what`` names the value in that error; with ``name``, it is a format string
    for it (formatted only then: this is on every step's path)."""
    text = to_json_or_none(value)
    if text is not None and limit is not None and len(text) > limit:
        # len() counts characters; only the exact check needs the bytes.
        size = len(text.encode())
        if size > limit:
            described = what if name is None else what.format(repr(name))
            raise PayloadTooLargeError(
                f"{described} is {size:,} bytes of JSON, over the {limit:,}-byte limit "
                "(max_payload_bytes)"
            )
    return text


def from_json(text: str | bytes | None, hint: Any = None) -> Any:
    """Decode JSON text; with a type hint, convert the value into that type."""
    if text is None:
        return None
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as e:
        raise SerializationError(f"payload is not valid JSON: {e}") from e
    if hint is None or hint is Any:
        return value
    return convert(value, hint)


def convert(value: Any, hint: Any) -> Any:
    """Convert a decoded JSON value into ``hint``'s type, as far as it can be told."""
    try:
        return _converter(hint)(value)
    except SerializationError:
        raise
    except (TypeError, ValueError, KeyError) as e:
        name = getattr(hint, "__qualname__", repr(hint))
        raise SerializationError(f"cannot convert {value!r:.200} to {name}: {e}") from e


Converter = Callable[[Any], Any]


def _identity(value: Any) -> Any:
    return value


@lru_cache(maxsize=1024)
def _converter(hint: Any) -> Converter:
    if hint is Any or hint is None or hint is type(None) or isinstance(hint, typing.TypeVar):
        return _identity
    origin = typing.get_origin(hint)
    if origin is typing.Union or origin is types.UnionType:
        return _union_converter(typing.get_args(hint))
    if origin is typing.Annotated:
        return _converter(typing.get_args(hint)[0])
    if origin is typing.Literal:
        return _identity
    if origin in (list, set, frozenset, tuple) or origin in _ABSTRACT_SEQUENCES:
        return _sequence_converter(origin, typing.get_args(hint))
    if origin is dict or origin in _ABSTRACT_MAPPINGS:
        args = typing.get_args(hint)
        value_conv = _converter(args[1]) if len(args) == 2 else _identity
        return lambda v: {k: value_conv(x) for k, x in v.items()}
    if not isinstance(hint, type):
        return _identity
    if hasattr(hint, "model_validate"):  # pydantic v2
        validate = hint.model_validate
        return lambda v: v if isinstance(v, hint) else validate(v)
    if dataclasses.is_dataclass(hint):
        return _dataclass_converter(hint)
    if issubclass(hint, tuple) and hasattr(hint, "_fields"):
        return _namedtuple_converter(hint)
    if issubclass(hint, enum.Enum):
        return hint
    if hint is dt.datetime:
        return lambda v: v if isinstance(v, dt.datetime) else dt.datetime.fromisoformat(v)
    if hint is dt.date:
        return lambda v: v if isinstance(v, dt.date) else dt.date.fromisoformat(v)
    if hint is dt.time:
        return lambda v: v if isinstance(v, dt.time) else dt.time.fromisoformat(v)
    if hint is uuid.UUID:
        return lambda v: v if isinstance(v, uuid.UUID) else uuid.UUID(v)
    if hint is float:
        return lambda v: float(v) if isinstance(v, int) and not isinstance(v, bool) else v
    if hint in (set, frozenset, tuple):
        return lambda v: hint(v) if isinstance(v, list) else v
    return _identity


_ABSTRACT_SEQUENCES = {
    typing.get_origin(typing.Sequence[int]),
    typing.get_origin(typing.Iterable[int]),
    typing.get_origin(typing.Collection[int]),
}
_ABSTRACT_MAPPINGS = {typing.get_origin(typing.Mapping[str, int])}


def _union_converter(args: tuple[Any, ...]) -> Converter:
    options = [a for a in args if a is not type(None)]
    if len(options) == 1:
        inner = _converter(options[0])
        return lambda v: None if v is None else inner(v)
    # Ambiguous unions: try each member, keep the first that accepts the value.
    convs = [_converter(a) for a in options]

    def convert_union(v: Any) -> Any:
        if v is None:
            return None
        for conv in convs:
            try:
                return conv(v)
            except (TypeError, ValueError, KeyError, SerializationError):
                continue
        return v

    return convert_union


def _sequence_converter(origin: Any, args: tuple[Any, ...]) -> Converter:
    if origin is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
        convs = [_converter(a) for a in args]
        return lambda v: tuple(c(x) for c, x in zip(convs, v, strict=True))
    item = _converter(args[0]) if args else _identity
    build: Callable[[Any], Any] = (
        origin if origin in (set, frozenset, tuple) else list  # abstract types -> list
    )
    return lambda v: build(item(x) for x in v)


def _dataclass_converter(cls: type) -> Converter:
    hints = typing.get_type_hints(cls)
    fields = [
        (f.name, _converter(hints.get(f.name, Any))) for f in dataclasses.fields(cls) if f.init
    ]

    def build(v: Any) -> Any:
        if isinstance(v, cls):
            return v
        if not isinstance(v, dict):
            raise TypeError(f"expected a JSON object, got {type(v).__name__}")
        return cls(**{name: conv(v[name]) for name, conv in fields if name in v})

    return build


def _namedtuple_converter(cls: type) -> Converter:
    hints = typing.get_type_hints(cls)
    names: tuple[str, ...] = cls._fields  # type: ignore[attr-defined]
    convs = [_converter(hints.get(n, Any)) for n in names]

    def build(v: Any) -> Any:
        if isinstance(v, cls):
            return v
        if isinstance(v, dict):
            return cls(**{n: c(v[n]) for n, c in zip(names, convs, strict=True) if n in v})
        return cls(*(c(x) for c, x in zip(convs, v, strict=False)))

    return build


def parameter_hint(fn: Callable[..., Any], position: int) -> Any:
    """The type annotation of ``fn``'s parameter at ``position``, or None."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return None
    if len(params) <= position:
        return None
    try:
        hints = typing.get_type_hints(fn)
    except Exception:
        # Unresolvable forward references: fall back to plain JSON values.
        return None
    return hints.get(params[position].name)


def return_hint(fn: Callable[..., Any]) -> Any:
    try:
        hint = typing.get_type_hints(fn).get("return")
    except Exception:
        return None
    origin = typing.get_origin(hint)
    if origin is not None and getattr(origin, "__name__", "") in ("Generator", "Coroutine"):
        return None
    return hint


def workflow_output_hint(fn: Callable[..., Any]) -> Any:
    """The type a workflow function returns its output as: ``R`` of a generator
    annotated ``-> Generator[Y, S, R]``, else its return annotation; None when it
    has none (the output then decodes to plain JSON values)."""
    try:
        hint = typing.get_type_hints(fn).get("return")
    except Exception:
        return None
    origin = typing.get_origin(hint)
    name = getattr(origin, "__name__", "")
    if name == "Generator":
        args = typing.get_args(hint)
        return args[2] if len(args) == 3 else None
    if name in ("Iterator", "Iterable", "Coroutine", "AsyncGenerator", "AsyncIterator"):
        return None
    return hint
