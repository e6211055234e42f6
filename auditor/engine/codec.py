"""Frozen dataclasses <-> JSON values, for what travels through the broker.

JSON only (never pickle: a broker message must not be able to run code on a worker or the
controller). Encoding is report.json's `jsonable`; decoding follows the dataclasses' own type
hints, so a Host or Facts comes back as the same typed value it left as, and a message of the
wrong shape fails loudly (CodecError) instead of becoming a half-filled value.
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from collections.abc import Mapping
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
    value: T = _decode(kind, data, kind.__name__)
    return value


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _decode(kind: Any, data: Any, where: str) -> Any:
    if kind is Any:
        return data
    origin = typing.get_origin(kind)
    if origin in (Union, types.UnionType):
        return _decode_union(typing.get_args(kind), data, where)
    if data is None:
        raise CodecError(f"{where}: null where a value is required")
    if dataclasses.is_dataclass(kind) and isinstance(kind, type):
        return _decode_dataclass(kind, data, where)
    if origin is tuple:
        args = typing.get_args(kind)
        if not isinstance(data, list):
            raise CodecError(f"{where}: expected a list")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_decode(args[0], v, f"{where}[{i}]") for i, v in enumerate(data))
        if len(args) != len(data):
            raise CodecError(f"{where}: expected {len(args)} items")
        pairs = enumerate(zip(args, data, strict=True))
        return tuple(_decode(a, v, f"{where}[{i}]") for i, (a, v) in pairs)
    if origin in (dict, Mapping) or kind in (dict, Mapping):
        if not isinstance(data, dict):
            raise CodecError(f"{where}: expected an object")
        args = typing.get_args(kind) or (str, Any)
        return {k: _decode(args[1], v, f"{where}.{k}") for k, v in data.items()}
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        try:
            return kind(data)
        except ValueError:
            raise CodecError(f"{where}: {data!r} is not a {kind.__name__}") from None
    if kind is datetime or kind is date:
        try:
            return kind.fromisoformat(data)
        except (TypeError, ValueError):
            raise CodecError(f"{where}: expected an ISO {kind.__name__}") from None
    if kind is float and isinstance(data, int) and not isinstance(data, bool):
        return float(data)
    if kind in (str, int, float, bool):
        if type(data) is not kind:
            raise CodecError(f"{where}: expected {kind.__name__}, got {type(data).__name__}")
        return data
    raise CodecError(f"{where}: cannot decode a {kind!r}")


def _decode_union(options: tuple[Any, ...], data: Any, where: str) -> Any:
    if data is None:
        if type(None) in options:
            return None
        raise CodecError(f"{where}: null where a value is required")
    errors = []
    for option in options:
        if option is type(None):
            continue
        try:
            return _decode(option, data, where)
        except CodecError as exc:
            errors.append(str(exc))
    raise CodecError("; ".join(errors))


def _decode_dataclass(cls: type, data: Any, where: str) -> Any:
    if not isinstance(data, dict):
        raise CodecError(f"{where}: expected an object for {cls.__name__}")
    hints = _hints(cls)
    names = {f.name for f in dataclasses.fields(cls) if f.init}
    unknown = set(data) - names
    if unknown:
        raise CodecError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    values = {k: _decode(hints[k], v, f"{where}.{k}") for k, v in data.items()}
    try:
        return cls(**values)
    except TypeError as exc:  # a required field missing
        raise CodecError(f"{where}: {exc}") from None
