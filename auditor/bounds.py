"""Oversized strings: every string we store and render is bounded where it enters.

A host can answer with a 2-million-character hostname, a scan file can carry a banner of any
length, a tag can be a novel. Unbounded, one such string makes a report of tens of MB and
comes back from history in every later run. So facts (as the probe's parsers return them)
and observations (as each source returns them) pass through `bounded_fields` once, with a
limit per field name; a cut string ends with a visible mark: `… cut, 2000000 chars`.

Limits are generous for real data: a host name is at most 253 characters (RFC 1035), a path
4096 (Linux PATH_MAX), a command line or cron line 4096 (an argv on the page is rarely more).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar

T = TypeVar("T")

DEFAULT_LIMIT = 1024
LIMITS: Mapping[str, int] = {
    # names
    "hostname": 253, "fqdn": 253, "hostnames": 253, "label": 253, "name": 253,
    "inventory_hostname": 253, "ansible_host": 253,
    "identifiers": 300,  # kind prefix + a name
    "user": 256, "process": 256, "owner": 256, "team": 256,
    # short system words
    "kernel": 256, "arch": 64, "id": 256, "version": 256, "address": 64, "peer": 64,
    "proto": 16, "state": 64,
    # evidence and free text
    "raw": 512, "pretty_name": 512, "banner": 512, "reason": 1024,
    "errors": 1024, "error": 1024,
    # paths and command lines
    "path": 4096, "exe": 4096, "cwd": 4096, "source": 4096, "cmdline": 4096, "cron": 4096,
    "inventory": 4096,
}  # fmt: skip


def cut(text: str, limit: int) -> str:
    """`text` itself when it fits, else its first `limit` characters and the mark."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… cut, {len(text)} chars"


# Data stored before strings were bounded (history written by older versions) is cut on
# read to this one limit: above anything bounded data holds (4096 + a mark, or a title made
# of such fields), so a run stored today reads back unchanged.
STORED_LIMIT = 16384


def bounded_fields(value: T, name: str | None = None, *, limit: int | None = None) -> T:
    """`value` with every string in it cut to the limit of the field that holds it (a
    dataclass field, a mapping key; items of a sequence take their container's name), or
    to `limit` everywhere when given. Frozen dataclasses are rebuilt with
    `dataclasses.replace` only where something changed."""
    return _bounded(value, name, limit)  # type: ignore[no-any-return]


_FIELDS: dict[type, tuple[str, ...] | None] = {}


def _field_names(cls: type) -> tuple[str, ...] | None:
    """A dataclass's field names, None for other classes; looked up once per class (this
    runs for every value a probe returns)."""
    if cls not in _FIELDS:
        is_data = dataclasses.is_dataclass(cls)
        _FIELDS[cls] = tuple(f.name for f in dataclasses.fields(cls)) if is_data else None
    return _FIELDS[cls]


def _bounded(value: Any, name: str | None, limit: int | None = None) -> Any:
    if isinstance(value, str):
        return cut(value, limit or LIMITS.get(name or "", DEFAULT_LIMIT))
    if value is None or isinstance(value, int | float):
        return value
    names = _field_names(type(value))
    if names is not None:
        changes = {}
        for field_name in names:
            old = getattr(value, field_name)
            new = _bounded(old, field_name, limit)
            if new is not old:
                changes[field_name] = new
        return dataclasses.replace(value, **changes) if changes else value
    if isinstance(value, Mapping):
        items = [(_bounded(k, name, limit), _bounded(v, k if isinstance(k, str) else name, limit))
                 for k, v in value.items()]  # fmt: skip
        if all(k is ok and v is ov for (k, v), (ok, ov) in zip(items, value.items(), strict=True)):
            return value
        return dict(items)
    if isinstance(value, list | tuple):
        bounded = [_bounded(v, name, limit) for v in value]
        if all(new is old for new, old in zip(bounded, value, strict=True)):
            return value
        return type(value)(bounded) if isinstance(value, tuple) else bounded
    return value
