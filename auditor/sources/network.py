"""Network sweep with nmap (via python-nmap), or import of nmap XML made elsewhere.

`validate_target` is the gate every target passes before nmap sees it: only CIDRs,
addresses, nmap octet ranges and DNS names; anything that looks like an option or a shell
word is refused. nmap's XML is parsed here with defusedxml (python-nmap's own dict is not
used), and the same parser serves live scans and imported files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeET
import nmap

from auditor.config import NetworkConfig
from auditor.errors import SourceError, TargetError
from auditor.model import ID_DNS, ID_IP, ID_MAC, Observation, SourceKind, SourceResult, ident
from auditor.targets import validate_target


@dataclass(frozen=True)
class ScanPlan:
    """The exact nmap invocation, decided before anything runs (and shown with --verbose)."""

    targets: tuple[str, ...]
    exclude: tuple[str, ...]
    ports: str
    arguments: str
    scan_type: str  # "syn (root)" or "connect (unprivileged)"


def plan_scan(
    config: NetworkConfig,
    *,
    privileged: bool | None = None,
    no_ping: bool = False,
    max_retries: int = 2,
) -> ScanPlan:
    """The nmap invocation for a sweep. `no_ping` (-Pn) and more `max_retries` make the
    direct re-check of listed hosts the sweep missed (auditor.recheck)."""
    targets = tuple(validate_target(t) for t in config.targets)
    exclude = tuple(validate_target(t) for t in config.exclude)
    if privileged is None:
        privileged = os.geteuid() == 0
    # -n: no reverse DNS, so a sweep sends nothing to resolvers outside the targets.
    args = ["-n", "-T4", "--max-retries", str(max_retries)]
    args += ["--host-timeout", f"{config.host_timeout}s"] + (["-Pn"] if no_ping else [])
    if privileged:
        args.append("-sS")
        scan_type = "syn (root: ARP/ICMP discovery, SYN scan)"
    else:
        args += ["-sT", "--unprivileged"]
        scan_type = "connect (unprivileged: TCP discovery, connect scan)"
    if config.service_detection:
        args += ["-sV", "--version-light"]
    if exclude:
        args += ["--exclude", ",".join(exclude)]
    if any(":" in t for t in targets):
        if not all(":" in t for t in targets):
            raise TargetError(
                f"[[network]] {config.name}: mixes IPv4 and IPv6 targets; "
                "put each family in its own [[network]] section"
            )
        args.append("-6")
    ports = ",".join(str(p) for p in config.ports)
    return ScanPlan(targets, exclude, ports, " ".join(args), scan_type)


def run_nmap(plan: ScanPlan) -> bytes:
    """Run nmap and return its XML output. Raises SourceError with a usable cause."""
    try:
        scanner = nmap.PortScanner()
    except nmap.PortScannerError as exc:
        raise SourceError(f"nmap is not installed or not on PATH: {exc}") from exc
    try:
        scanner.scan(hosts=" ".join(plan.targets), ports=plan.ports, arguments=plan.arguments)
    except nmap.PortScannerError as exc:
        raise SourceError(f"nmap failed: {str(exc).strip()}") from exc
    output = scanner.get_nmap_last_output()
    return output if isinstance(output, bytes) else str(output).encode()


@dataclass(frozen=True)
class ParsedScan:
    hosts: tuple[dict[str, Any], ...]
    complete: bool
    problem: str | None = None
    started: str | None = None
    args: str | None = None


def parse_nmap_xml(data: bytes, *, origin: str = "nmap output") -> ParsedScan:
    """Parse nmap XML (live or imported). A truncated file yields the hosts read before the
    cut, labelled incomplete; a file that is not nmap XML at all raises SourceError."""
    import io

    hosts: list[dict[str, Any]] = []
    started = args = None
    saw_root = finished = False
    try:
        for event, elem in SafeET.iterparse(io.BytesIO(data), events=("start", "end")):
            if event == "start" and elem.tag == "nmaprun":
                saw_root = True
                started, args = elem.get("startstr"), elem.get("args")
            elif event == "end" and elem.tag == "host":
                hosts.append(_parse_host(elem))
                elem.clear()
            elif event == "end" and elem.tag == "runstats":
                finished = True
    except ParseError as exc:
        if not saw_root:
            raise SourceError(f"{origin}: not nmap XML ({exc})") from exc
        return ParsedScan(
            tuple(hosts),
            False,
            f"{origin}: truncated or malformed XML ({exc}); "
            f"partial result with {len(hosts)} host(s)",
            started,
            args,
        )
    except Exception as exc:  # defusedxml raises its own types for entities/DTDs
        raise SourceError(f"{origin}: refused XML: {type(exc).__name__}: {exc}") from exc
    if not saw_root:
        raise SourceError(f"{origin}: not nmap XML (no <nmaprun> element)")
    if not finished:
        return ParsedScan(
            tuple(hosts),
            False,
            f"{origin}: scan did not finish (no <runstats>); "
            f"partial result with {len(hosts)} host(s)",
            started,
            args,
        )
    return ParsedScan(tuple(hosts), True, None, started, args)


def _parse_host(elem: Element) -> dict[str, Any]:
    status = elem.find("status")
    host: dict[str, Any] = {
        "state": status.get("state") if status is not None else "unknown",
        "reason": status.get("reason") if status is not None else None,
        "addresses": [],
        "mac": None,
        "vendor": None,
        "hostnames": [],
        "ports": [],
        "closed_ports": [],  # a reset is an answer too: something lives at that address
    }
    for addr in elem.findall("address"):
        kind, value = addr.get("addrtype"), addr.get("addr")
        if kind in ("ipv4", "ipv6") and value:
            host["addresses"].append(value)
        elif kind == "mac" and value:
            host["mac"] = value.lower()
            host["vendor"] = addr.get("vendor")
    for name in elem.findall("hostnames/hostname"):
        if name.get("name"):
            host["hostnames"].append(name.get("name"))
    for port in elem.findall("ports/port"):
        state = port.find("state")
        if state is not None and state.get("state") == "closed":
            host["closed_ports"].append(int(port.get("portid", "0")))
        if state is None or state.get("state") != "open":
            continue
        service = port.find("service")
        entry: dict[str, Any] = {
            "port": int(port.get("portid", "0")),
            "proto": port.get("protocol"),
        }
        if service is not None:
            entry["service"] = service.get("name")
            banner = " ".join(
                filter(
                    None, (service.get("product"), service.get("version"), service.get("extrainfo"))
                )
            )
            if banner:
                entry["banner"] = banner
        host["ports"].append(entry)
    return host


def to_observations(
    scan: ParsedScan, *, source_name: str, now: datetime, scan_type: str | None
) -> tuple[Observation, ...]:
    """Pure: one Observation per host nmap reported up."""
    out = []
    for host in scan.hosts:
        if host["state"] != "up" or not host["addresses"]:
            continue
        ids = [ident(ID_IP, a) for a in host["addresses"]]
        if host["mac"]:
            ids.append(ident(ID_MAC, host["mac"]))
        ids += [ident(ID_DNS, n.lower()) for n in host["hostnames"]]
        attributes = {
            "open_ports": sorted(host["ports"], key=lambda p: (p["proto"] or "", p["port"])),
            "reason": host["reason"],
            "scan_type": scan_type,
            "vendor": host["vendor"],
        }
        out.append(Observation(SourceKind.NETWORK, source_name, tuple(ids), now, True, attributes))
    return tuple(sorted(out, key=lambda o: o.identifiers))


class NmapSource:
    """A [[network]] section: a live sweep of its targets and/or imported XML files."""

    kind = SourceKind.NETWORK

    def __init__(self, config: NetworkConfig, *, privileged: bool | None = None) -> None:
        self.config = config
        self.name = config.name
        self._privileged = privileged

    def collect(self, now: datetime) -> SourceResult:
        observations: list[Observation] = []
        errors: list[str] = []
        details: dict[str, Any] = {
            "targets": list(self.config.targets),
            "exclude": list(self.config.exclude),
        }
        fatal: str | None = None
        for path in self.config.nmap_xml:
            try:
                scan = parse_nmap_xml(_read(path), origin=str(path))
            except SourceError as exc:
                errors.append(str(exc))
                continue
            if scan.problem:
                errors.append(scan.problem)
            observations += to_observations(scan, source_name=self.name, now=now, scan_type=None)
        if self.config.targets:
            try:
                plan = plan_scan(self.config, privileged=self._privileged)
                details.update(scan_type=plan.scan_type, arguments=plan.arguments)
                scan = parse_nmap_xml(run_nmap(plan))
                if scan.problem:
                    errors.append(scan.problem)
                observations += to_observations(
                    scan, source_name=self.name, now=now, scan_type=plan.scan_type
                )
            except (SourceError, TargetError) as exc:
                fatal = str(exc)
        if fatal is None and errors and not observations:
            fatal = errors.pop(0)
        return SourceResult(
            kind=self.kind,
            name=self.name,
            ok=fatal is None and not errors,
            observations=tuple(observations),
            error=fatal or (errors[0] if errors else None),
            errors=tuple(errors),
            details=details,
        )


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise SourceError(f"{path}: cannot read nmap XML: {exc.strerror or exc}") from exc
