"""A typed, read-only view of one host's facts as report.json holds them (issue 17).

For code outside report/ that reads the facts of a stored run back: history's fact changes
between two runs first. It wraps the mapping (a spooled or stored host's facts are read when
first looked at) and copies nothing. Stored reports come from older versions and are not
ours to trust: a value of the wrong type reads as absent rather than raising, but for a
listener, whose proto, address and port are what it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any


def parse_time(value: Any) -> datetime | None:
    """An ISO time as report.json writes it; None for anything else."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


@dataclass(frozen=True)
class ListenerView:
    """A listening socket (report.json `facts.listeners[]`)."""

    proto: str
    address: str
    port: int
    process: str | None = None

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> ListenerView:
        """Raises KeyError or ValueError when proto, address or port is missing or wrong."""
        process = data.get("process")
        return cls(
            str(data["proto"]), str(data["address"]), int(data["port"]),
            str(process) if process else None,
        )  # fmt: skip

    @property
    def key(self) -> tuple[str, str, int]:
        """The same socket in two runs: its process may have changed."""
        return (self.proto, self.address, self.port)

    def text(self) -> str:
        """`tcp 0.0.0.0:22 sshd`, `tcp [::]:80` (an IPv6 address in brackets)."""
        address = f"[{self.address}]" if ":" in self.address else self.address
        return f"{self.proto} {address}:{self.port}" + (f" {self.process}" if self.process else "")


@dataclass(frozen=True)
class FactsView:
    """One host's report.json `facts`. A fact that was not collected is None (an empty list
    is a fact: nothing listens, no software found)."""

    data: Mapping[str, Any]

    def collected(self, fact: str) -> bool:
        """Whether the probe collected `fact` (report.json's key), empty or not."""
        return self.data.get(fact) is not None

    @property
    def collected_at(self) -> datetime | None:
        return parse_time(self.data.get("collected_at"))

    @property
    def uptime_seconds(self) -> float | None:
        uptime = self.data.get("uptime_seconds")
        return float(uptime) if isinstance(uptime, int | float) else None

    @property
    def boot(self) -> datetime | None:
        """When the host booted: its boot time, or when collected less its uptime."""
        boot = parse_time(self.data.get("boot_time"))
        if boot is not None:
            return boot
        collected, uptime = self.collected_at, self.uptime_seconds
        if collected is not None and uptime is not None:
            return collected - timedelta(seconds=uptime)
        return None

    @property
    def os_text(self) -> str | None:
        """The OS as a person names it: its pretty name, or name (or id) and version."""
        os = self.data.get("os")
        if not isinstance(os, Mapping):
            return None
        parts = [os.get("name") or os.get("id"), os.get("version")]
        text = os.get("pretty_name") or " ".join(str(p) for p in parts if p)
        return str(text) if text else None

    @property
    def kernel(self) -> str | None:
        kernel = self.data.get("kernel")
        return str(kernel) if kernel else None

    @property
    def listeners(self) -> tuple[ListenerView, ...] | None:
        listeners = self.data.get("listeners")
        return None if listeners is None else tuple(ListenerView.of(x) for x in listeners)

    @property
    def client_teams(self) -> frozenset[str] | None:
        """The teams among the host's clients (None: clients were not collected): those the
        host counted itself, or else the owners of its top clients and web log clients."""
        if self.data.get("clients") is None:
            return None
        if self.data.get("client_teams") is not None:
            return frozenset(str(t["team"]) for t in self.data["client_teams"])
        clients = list(self.data.get("clients") or ())
        for web in self.data.get("web_logs") or ():
            clients += list(web.get("top_clients") or ())
        return frozenset(str(c["owner"]) for c in clients if c.get("owner"))

    @property
    def software(self) -> Mapping[str, str] | None:
        """Program name -> version."""
        software = self.data.get("software")
        if software is None:
            return None
        return {str(s["name"]): str(s["version"]) for s in software}
