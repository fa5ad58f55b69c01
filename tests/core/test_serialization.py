from __future__ import annotations

import datetime as dt
import enum
import uuid
from dataclasses import dataclass, field
from typing import NamedTuple, Optional

import pydantic
import pytest

from outlast.core.serialization import (
    encode_payload,
    from_json,
    parameter_hint,
    return_hint,
    to_json,
)
from outlast.errors import SerializationError


class Color(enum.Enum):
    RED = "red"


class Pair(NamedTuple):
    a: int
    b: str


class Model(pydantic.BaseModel):
    name: str
    at: dt.datetime


@dataclass
class Line:
    sku: str
    qty: int


@dataclass
class Cart:
    lines: list[Line]
    note: Optional[str] = None  # noqa: UP045 - the old spelling must work too
    tags: set[str] = field(default_factory=set)
    by_sku: dict[str, Line] = field(default_factory=dict)


def test_round_trips_typed_values() -> None:
    cart = Cart([Line("a", 1)], None, {"x"}, {"a": Line("a", 1)})
    assert from_json(to_json(cart), Cart) == cart
    assert from_json(to_json(Pair(1, "z")), Pair) == Pair(1, "z")
    when = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    assert from_json(to_json(when), dt.datetime) == when
    assert from_json(to_json(dt.date(2026, 1, 2)), dt.date) == dt.date(2026, 1, 2)
    m = Model(name="n", at=when)
    assert from_json(to_json(m), Model) == m
    assert from_json(to_json(Color.RED), Color) is Color.RED
    u = uuid.uuid4()
    assert from_json(to_json(u), uuid.UUID) == u
    assert from_json(to_json([Pair(1, "a")]), list[Pair]) == [Pair(1, "a")]
    assert from_json("3", float) == 3.0 and isinstance(from_json("3", float), float)
    assert from_json("null", Line | None) is None


def test_plain_values_without_hints() -> None:
    assert from_json(to_json({"a": [1, 2.5, None, True]})) == {"a": [1, 2.5, None, True]}
    assert from_json(None) is None


def test_unserializable_values_fail_clearly() -> None:
    with pytest.raises(SerializationError, match="object"):
        to_json(object())
    with pytest.raises(SerializationError, match="not valid JSON"):
        from_json("{nope")
    with pytest.raises(SerializationError, match="Line"):
        from_json('"just a string"', Line)


def test_never_pickles() -> None:
    class Custom:
        pass

    with pytest.raises(SerializationError):
        to_json(Custom())


def test_hints_from_signatures() -> None:
    def act(ctx: object, line: Line) -> Cart: ...

    def untyped(ctx, x): ...  # type: ignore[no-untyped-def]

    assert parameter_hint(act, 1) is Line
    assert return_hint(act) is Cart
    assert parameter_hint(untyped, 1) is None
    assert parameter_hint(act, 5) is None


@dataclass
class _Reading:
    sensor: str
    value: float


@pytest.mark.parametrize(
    ("value", "where"),
    [
        (float("nan"), "value = nan"),
        ({"a": [1.0, None, float("inf")]}, "value['a'][2] = inf"),
        (_Reading("t1", float("-inf")), "value.value = -inf"),
        ([(1, None), {float("nan")}], "value[1][0] = nan"),
    ],
)
def test_nan_and_infinity_are_refused_not_stored_as_null(value: object, where: str) -> None:
    # orjson alone would write null: the value would come back changed.
    with pytest.raises(SerializationError, match="JSON has no NaN or Infinity") as caught:
        to_json(value)
    assert where in str(caught.value)
    with pytest.raises(SerializationError):
        encode_payload(value, None, "the input")


def test_null_and_finite_floats_still_encode() -> None:
    assert to_json({"a": None, "b": 1.5, "c": "null", "d": [None, -0.0]}) == (
        '{"a":null,"b":1.5,"c":"null","d":[null,-0.0]}'
    )
