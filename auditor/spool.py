"""A run's per-host data on disk as hosts finish, so the controller's memory does not grow
with the fleet (issue 14).

`FactsSpool` is the run's `facts` mapping: each host's Facts is pickled into an unlinked
temp file when its probe ends and read back when a rule or a report asks for it, one host
at a time. Only the index (host id -> offset) stays in memory, ~100 bytes a host against
~30 KB for parsed Facts. `SpooledRows` is the same for report.json's host entries: each is
encoded once, as one compact JSON line, and the writers (report.json, the history store's
copy) copy those lines without decoding them again.

The files are the controller's own (temp dir, mode 0600, unlinked at once): nothing here
leaves the machine, and a crash leaves nothing behind.
"""

from __future__ import annotations

import json
import os
import pickle
import tempfile
import threading
from array import array
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any, overload

from auditor.model import Facts


class Records:
    """Append-only records in an unlinked temp file, read back by number (pread/pwrite:
    no shared file position, so readers need no lock and nothing is flushed on a seek)."""

    def __init__(self) -> None:
        # Lives as long as the run's data, closed (and so freed) when it is collected.
        self._file = tempfile.TemporaryFile(prefix="auditor-spool-", buffering=0)  # noqa: SIM115
        # Record n ends at _ends[n] and starts where n-1 ends: 8 bytes a record, not a
        # (offset, size) tuple's ~120 (issue 14: the page's value table has ~70,000).
        self._ends = array("q")
        self._lock = threading.Lock()

    def append(self, blob: bytes) -> int:
        with self._lock:
            offset = self._ends[-1] if self._ends else 0
            self._ends.append(offset + len(blob))
            number = len(self._ends) - 1
        written = 0
        while written < len(blob):
            written += os.pwrite(self._file.fileno(), blob[written:], offset + written)
        return number

    def read(self, number: int) -> bytes:
        if number < 0:
            raise IndexError(number)
        end = self._ends[number]
        offset = self._ends[number - 1] if number else 0
        return os.pread(self._file.fileno(), end - offset, offset)

    def __len__(self) -> int:
        return len(self._ends)


@dataclass(frozen=True)
class Staged:
    """Facts written to a FactsSpool's file but not yet its host's (FactsSpool.stage)."""

    record: int


class FactsSpool(MutableMapping[str, Facts]):
    """host id -> Facts, kept on disk (see the module docstring). Thread-safe."""

    def __init__(self) -> None:
        self._records = Records()
        self._index: dict[str, int] = {}
        self._rows: dict[str, SpooledRows] = {}

    def put(self, host_id: str, facts: Facts) -> None:
        self.commit(host_id, self.stage(facts))

    def stage(self, facts: Facts) -> Staged:
        """Write `facts` to disk, from any thread, without entering them: `commit` does
        (collect's workers stage a host's facts, its loop commits those of hosts it keeps)."""
        return Staged(self._records.append(pickle.dumps(facts, pickle.HIGHEST_PROTOCOL)))

    def commit(self, host_id: str, staged: Staged) -> None:
        self._index[host_id] = staged.record

    def __setitem__(self, host_id: str, facts: Facts) -> None:
        self.put(host_id, facts)

    def __getitem__(self, host_id: str) -> Facts:
        facts: Facts = pickle.loads(self._records.read(self._index[host_id]))
        return facts

    def __delitem__(self, host_id: str) -> None:
        del self._index[host_id]  # its bytes stay in the file until the spool goes

    def __contains__(self, host_id: object) -> bool:
        return host_id in self._index

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._index))

    def __len__(self) -> int:
        return len(self._index)

    def report_rows(self, key: str, make: Callable[[], Iterable[dict[str, Any]]]) -> SpooledRows:
        """The report's host entries for run `key`, made by `make` the first time only:
        recording, the history snapshot and every report format read the same lines."""
        if key not in self._rows:
            self._rows = {key: SpooledRows(make())}  # one run's rows at a time
        return self._rows[key]


Transform = Callable[[Any], Any]


class SpooledRows(Sequence[dict[str, Any]]):
    """A list of JSON objects kept on disk as compact JSON lines; reading one decodes it."""

    _RECENT = 32  # rows kept decoded: a pass over the rows reads each one once

    def __init__(self, rows: Iterable[dict[str, Any]]) -> None:
        self._records = Records()
        self._recent: OrderedDict[int, dict[str, Any]] = OrderedDict()
        self._transform: Transform | None = None
        for row in rows:
            self._records.append(json.dumps(row, separators=(",", ":")).encode("utf-8"))

    def visible_view(self, transform: Transform) -> SpooledRows:
        """The same rows, each passed through `transform` as it is read (auditor.visible's
        `visible_data`: the human-facing renderers read them made visible, never copied)."""
        view = SpooledRows(())
        view._records = self._records
        view._transform = transform
        return view

    def _decode(self, blob: bytes | str) -> dict[str, Any]:
        row: dict[str, Any] = json.loads(blob)
        return self._transform(row) if self._transform else row

    def row(self, index: int, key: str | None = None) -> Mapping[str, Any]:
        """Row `index` (or the mapping under its `key`) as a mapping that decodes the row
        when read, and again only once it has left the few kept decoded: a table of every
        host holds these, not the rows."""
        return _Row(self, index, key)

    def raw(self) -> Iterator[str]:
        """Each row as its JSON text, in order."""
        for number in range(len(self._records)):
            text = self._records.read(number).decode("utf-8")
            yield json.dumps(self._decode(text), separators=(",", ":")) if self._transform else text

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...

    @overload
    def __getitem__(self, index: slice) -> list[dict[str, Any]]: ...

    def __getitem__(self, index: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        row = self._recent.get(index)
        if row is None:
            row = self._decode(self._records.read(index))
            self._recent[index] = row
            if len(self._recent) > self._RECENT:
                self._recent.popitem(last=False)
        return row

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for number in range(len(self._records)):
            yield self._decode(self._records.read(number))

    def __len__(self) -> int:
        return len(self._records)


class MadeRows(Sequence[dict[str, Any]]):
    """A list of JSON objects made from `items` by `make` each time one is read, never held:
    a large run's findings in their report form (60,000 dicts at 10,000 hosts) exist only
    while a writer or a renderer looks at them."""

    def __init__(self, items: Sequence[Any], make: Callable[[Any], dict[str, Any]]) -> None:
        self._items, self._make = items, make

    def visible_view(self, transform: Transform) -> MadeRows:
        """The same rows, each passed through `transform` as it is made (see SpooledRows)."""
        make = self._make
        return MadeRows(self._items, lambda item: transform(make(item)))

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self._make(item) for item in self._items[index]]
        return self._make(self._items[index])

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return (self._make(item) for item in self._items)

    def __len__(self) -> int:
        return len(self._items)


class _Row(Mapping[str, Any]):
    """One spooled row, read through (see SpooledRows.row)."""

    def __init__(self, rows: SpooledRows, index: int, key: str | None) -> None:
        self._rows, self._index, self._key = rows, index, key

    def _value(self) -> Mapping[str, Any]:
        row = self._rows[self._index]
        value: Mapping[str, Any] = row if self._key is None else row[self._key]
        return value

    def __getitem__(self, key: str) -> Any:
        return self._value()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._value())

    def __len__(self) -> int:
        return len(self._value())


def json_chunks(data: Any) -> Iterator[str]:
    """`data` as JSON text in pieces, for a writer that never holds the whole text: the top
    level's keys one a line, a list's items one a line (compact), spooled rows copied as
    they are."""
    if not isinstance(data, Mapping):
        yield json.dumps(data, separators=(",", ":"))
        yield "\n"
        return
    yield "{"
    for n, (key, value) in enumerate(data.items()):
        yield ("\n" if n == 0 else ",\n") + json.dumps(str(key)) + ": "
        if isinstance(value, SpooledRows | MadeRows | list | tuple):
            items = value.raw() if isinstance(value, SpooledRows) else _compact(value)
            yield "["
            for i, text in enumerate(items):
                yield ("\n  " if i == 0 else ",\n  ") + text
            yield "\n]" if len(value) else "]"
        else:
            yield json.dumps(value, separators=(",", ":"))
    yield "\n}\n"


def _compact(items: Iterable[Any]) -> Iterator[str]:
    for item in items:
        yield json.dumps(item, separators=(",", ":"))


def plain(data: Any) -> Any:
    """`data` with spooled and made rows read into lists: for code that needs plain JSON
    values."""
    if isinstance(data, SpooledRows | MadeRows):
        return list(data)
    if isinstance(data, Mapping):
        return {k: plain(v) for k, v in data.items()}
    return data
