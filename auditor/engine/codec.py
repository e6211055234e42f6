"""Frozen dataclasses <-> JSON values, for what travels through the broker.

JSON only (never pickle: a broker message must not be able to run code on a worker or the
controller). Encoding is report.json's `jsonable`; decoding follows the dataclasses' own type
hints, so a Host or Facts comes back as the same typed value it left as, and a message of the
wrong shape fails loudly (CodecError) instead of becoming a half-filled value.
"""

from __future__ import annotations

import dataclasses
import enum
import itertools
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime
from functools import cache
from typing import Any, TypeVar, Union

from auditor.errors import AuditorError
from auditor.report.json_report import jsonable

T = TypeVar("T")

__all__ = ["CodecError", "decode", "encode"]


class CodecError(AuditorError):
    """A message that does not decode to the type it should carry."""


def encode(value: Any) -> Any:
    """A dataclass (or anything report.json can hold) as plain JSON values."""
    return jsonable(value)


def decode(kind: type[T], data: Any) -> T:
    """`data` (from `encode`) back into `kind`. Raises CodecError naming the field."""
    try:
        value: T = _decoder(typing.cast(Any, kind))(data)
    except _Refused as refused:
        raise CodecError(refused.message(kind.__name__)) from None
    return value


# Each type's decoder is made once and kept: a result batch decodes thousands of values of
# the same few dataclasses, so what the type hints say is worked out once per type, not per
# value. Where a bad value sits is put together only when one is refused (the path of a
# value that decodes is never built).

Decoder = Callable[[Any], Any]


class _Refused(Exception):
    """Why a value does not decode: (path below the failing decoder, problem) pairs; more
    than one when no option of a union fits."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems

    def under(self, step: str) -> _Refused:
        self.problems = [(step + path, problem) for path, problem in self.problems]
        return self

    def message(self, top: str) -> str:
        return "; ".join(f"{top}{path}: {problem}" for path, problem in self.problems)


def _refuse(problem: str) -> _Refused:
    return _Refused([("", problem)])


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


@cache
def _decoder(kind: Any) -> Decoder:
    if kind is Any:
        return _as_is
    origin = typing.get_origin(kind)
    if origin in (Union, types.UnionType):
        return _union_decoder(typing.get_args(kind))
    if dataclasses.is_dataclass(kind) and isinstance(kind, type):
        return _required(_dataclass_decoder(kind))
    if origin is tuple:
        return _required(_tuple_decoder(typing.get_args(kind)))
    if origin in (dict, Mapping) or kind in (dict, Mapping):
        return _required(_mapping_decoder((typing.get_args(kind) or (str, Any))[1]))
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return _required(_enum_decoder(kind))
    if kind is datetime or kind is date:
        return _required(_date_decoder(kind))
    if kind is float:
        return _required(_float)
    if kind in (str, int, bool):
        return _required(_exactly(kind))
    return _required(_cannot(kind))


def _cannot(kind: Any) -> Decoder:
    def decode(data: Any) -> Any:
        raise _refuse(f"cannot decode a {kind!r}")

    return decode


def _as_is(data: Any) -> Any:
    return data


def _required(decoder: Decoder) -> Decoder:
    def decode(data: Any) -> Any:
        if data is None:
            raise _refuse("null where a value is required")
        return decoder(data)

    return decode


def _union_decoder(options: tuple[Any, ...]) -> Decoder:
    nullable = type(None) in options
    decoders = [_decoder(o) for o in options if o is not type(None)]

    def decode(data: Any) -> Any:
        if data is None:
            if nullable:
                return None
            raise _refuse("null where a value is required")
        problems: list[tuple[str, str]] = []
        for decoder in decoders:
            try:
                return decoder(data)
            except _Refused as refused:
                problems += refused.problems
        raise _Refused(problems)

    return decode


def _dataclass_decoder(cls: type) -> Decoder:
    names = frozenset(f.name for f in dataclasses.fields(cls) if f.init)
    fields: dict[str, Decoder] = {}  # filled on first use: a dataclass may contain itself

    def decode(data: Any) -> Any:
        if not isinstance(data, dict):
            raise _refuse(f"expected an object for {cls.__name__}")
        if not names.issuperset(data):
            unknown = ", ".join(sorted(set(data) - names))
            raise _refuse(f"unknown field(s) {unknown}")
        if not fields:
            fields.update({name: _decoder(hint) for name, hint in _hints(cls).items()})
        values = {}
        for key, value in data.items():
            try:
                values[key] = fields[key](value)
            except _Refused as refused:
                raise refused.under(f".{key}") from None
        try:
            return cls(**values)
        except TypeError as exc:  # a required field missing
            raise _refuse(str(exc)) from None

    return decode


def _tuple_decoder(args: tuple[Any, ...]) -> Decoder:
    if len(args) == 2 and args[1] is Ellipsis:
        each = _decoder(args[0])

        def decode_items(data: Any) -> Any:
            return _items(data, itertools.repeat(each), None)

        return decode_items
    fixed = [_decoder(a) for a in args]

    def decode_fixed(data: Any) -> Any:
        return _items(data, fixed, len(fixed))

    return decode_fixed


def _items(data: Any, decoders: Iterable[Decoder], count: int | None) -> tuple[Any, ...]:
    if not isinstance(data, list):
        raise _refuse("expected a list")
    if count is not None and count != len(data):
        raise _refuse(f"expected {count} items")
    items = []
    for i, (decoder, value) in enumerate(zip(decoders, data, strict=False)):
        try:
            items.append(decoder(value))
        except _Refused as refused:
            raise refused.under(f"[{i}]") from None
    return tuple(items)


def _mapping_decoder(values: Any) -> Decoder:
    value_decoder = _decoder(values)

    def decode(data: Any) -> Any:
        if not isinstance(data, dict):
            raise _refuse("expected an object")
        if value_decoder is _as_is:
            return dict(data)
        out = {}
        for key, value in data.items():
            try:
                out[key] = value_decoder(value)
            except _Refused as refused:
                raise refused.under(f".{key}") from None
        return out

    return decode


def _enum_decoder(kind: type[enum.Enum]) -> Decoder:
    def decode(data: Any) -> Any:
        try:
            return kind(data)
        except ValueError:
            raise _refuse(f"{data!r} is not a {kind.__name__}") from None

    return decode


def _date_decoder(kind: type[date]) -> Decoder:
    def decode(data: Any) -> Any:
        try:
            return kind.fromisoformat(data)
        except (TypeError, ValueError):
            raise _refuse(f"expected an ISO {kind.__name__}") from None

    return decode


def _float(data: Any) -> Any:
    if type(data) is float:
        return data
    if isinstance(data, int) and not isinstance(data, bool):
        return float(data)
    raise _refuse(f"expected float, got {type(data).__name__}")


def _exactly(kind: type) -> Decoder:
    def decode(data: Any) -> Any:
        if type(data) is not kind:
            raise _refuse(f"expected {kind.__name__}, got {type(data).__name__}")
        return data

    return decode
