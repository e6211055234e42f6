"""Sources: where observations come from. One module per source.

Each module has a dumb `get_*` function that does the I/O and raises SourceError when it
cannot finish, and a pure `to_observations` that turns what was read into Observations.
A `Source` object glues the two for the pipeline and never raises: a failure becomes a
SourceResult with ok=False and whatever was collected before the failure.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from auditor.model import SourceKind, SourceResult


class Source(Protocol):
    """One configured source (one [[network]], [[aws]], [[ansible]] or [[terraform]] entry)."""

    kind: SourceKind
    name: str

    def collect(self, now: datetime) -> SourceResult:
        """Read the source. Never raises for source-side failures: returns ok=False."""
        ...
