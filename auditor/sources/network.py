"""Network sweep with nmap (via python-nmap), or import of nmap XML made elsewhere.

`validate_target` is the gate every target passes before nmap sees it: only CIDRs,
addresses, nmap octet ranges and DNS names; anything that looks like an option or a shell
word is refused. nmap's XML is parsed here with defusedxml (python-nmap's own dict is not
used), and the same parser serves live scans and imported files.
"""

from __future__ import annotations

import io
import ipaddress
import logging
import os
import re
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeET
import nmap

from auditor.config import NetworkConfig
from auditor.errors import SourceError, TargetError
from auditor.model import ID_DNS, ID_IP, ID_MAC, Observation, SourceKind, SourceResult, ident
from auditor.sources.scan_privilege import ScanPrivilege, scan_privilege
from auditor.targets import validate_target

log = logging.getLogger(__name__)


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
    exclude_file: str | None = None,
    timing: tuple[str, ...] = (),
) -> ScanPlan:
    """The nmap invocation for a sweep. `no_ping` (-Pn) and more `max_retries` make the
    direct re-check of listed hosts the sweep missed (auditor.recheck)."""
    targets = tuple(validate_target(t) for t in config.targets)
    exclude = tuple(validate_target(t) for t in config.exclude)
    # Raw packets need root or cap_net_raw+cap_net_admin (auditor.sources.scan_privilege);
    # `privileged` overrides the detection (tests, and callers that already know).
    if privileged is None:
        privilege = scan_privilege()
    else:
        privilege = ScanPrivilege(privileged, "root", privileged and os.geteuid() != 0)
    # -n: no reverse DNS, so a sweep sends nothing to resolvers outside the targets.
    args = ["-n", "-T4", "--max-retries", str(max_retries)]
    args += ["--host-timeout", f"{config.host_timeout}s"] + (["-Pn"] if no_ping else [])
    if privilege.raw:
        args += ["-sS", "--privileged"] if privilege.tell_nmap else ["-sS"]
        scan_type = f"syn ({privilege.how}: ARP/ICMP discovery, SYN scan)"
    else:
        args += ["-sT", "--unprivileged"]
        scan_type = "connect (unprivileged: TCP discovery, connect scan)"
    if config.service_detection:
        args += ["-sV", "--version-light"]
    if exclude:
        args += ["--exclude", ",".join(exclude)]
    if exclude_file is not None:
        args += ["--excludefile", exclude_file]
    args += timing
    if any(":" in t for t in targets):
        if not all(":" in t for t in targets):
            raise TargetError(
                f"[[network]] {config.name}: mixes IPv4 and IPv6 targets; "
                "put each family in its own [[network]] section"
            )
        args.append("-6")
    ports = ",".join(str(p) for p in config.ports)
    return ScanPlan(targets, exclude, ports, " ".join(args), scan_type)


def nmap_command(plan: ScanPlan, nmap_path: str = "nmap") -> tuple[str, ...]:
    """The argv `run_nmap` executes for this plan: python-nmap's PortScanner.scan puts the
    XML-to-stdout flags first, then the targets, the ports and the arguments. Shown by
    --dry-run, so what it prints is what a run would start."""
    return (nmap_path, "-oX", "-", *plan.targets, "-p", plan.ports, *shlex.split(plan.arguments))


def run_nmap(plan: ScanPlan) -> bytes:
    """Run nmap and return its XML output. Raises SourceError with a usable cause."""
    try:
        scanner = nmap.PortScanner()
    except nmap.PortScannerError as exc:
        raise SourceError(f"nmap is not installed or not on PATH: {exc}") from exc
    log.debug("nmap: %s", shlex.join(nmap_command(plan, scanner._nmap_path)))
    try:
        scanner.scan(hosts=" ".join(plan.targets), ports=plan.ports, arguments=plan.arguments)
    except nmap.PortScannerError as exc:
        raise SourceError(f"nmap failed: {str(exc).strip()}") from exc
    output = scanner.get_nmap_last_output()
    return output if isinstance(output, bytes) else str(output).encode()


Sighting = Callable[[Observation], None]
"""Called with a host's Observation as soon as a live sweep reports it up."""

HostSeen = Callable[[dict[str, Any]], None]
"""Called with each host up as nmap reports it (the parser's dict), while the scan goes on."""


def sweep_streaming(
    plan: ScanPlan, on_host: HostSeen, *, origin: str = "nmap output"
) -> ParsedScan:
    """Run nmap (the very argv `nmap_command` shows) and parse its XML as nmap writes it:
    `on_host` hears of each host up as soon as its <host> element is complete, so its probe
    can start while the scan goes on (issue 14). Fails as `run_nmap` does: SourceError when
    nmap is missing, or when its output is not complete XML and it said why on stderr."""
    path = shutil.which("nmap")
    if path is None:
        raise SourceError("nmap is not installed or not on PATH")
    argv = nmap_command(plan, path)
    log.debug("nmap: %s", shlex.join(argv))
    scan: ParsedScan | None = None
    problem = ""
    with tempfile.TemporaryFile(prefix="auditor-nmap-") as errors:
        # stderr to a file, not a pipe: a chatty nmap cannot block on a full pipe while we
        # read its stdout.
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=errors, bufsize=0)  # fmt: skip
        try:
            # Unbuffered: each read returns what nmap has written so far.
            output: Any = process.stdout
            try:
                scan = parse_nmap_xml(output, origin=origin, on_host=on_host)
            except SourceError as exc:
                problem = str(exc)
            process.wait()
        finally:
            if process.poll() is None:  # the read stopped early (a cap, Ctrl-C): nmap goes too
                process.kill()
                process.wait()
        errors.seek(0)
        said = errors.read().decode("utf-8", errors="replace").strip()
    if scan is not None and (scan.complete or not said):
        return scan
    # Output that is not complete XML, and nmap said why: what run_nmap reports.
    raise SourceError(f"nmap failed: {said or problem}")


# Caps on an imported scan. A sweep of a /8 with one address in 256 up is 65k hosts; the
# host cap leaves room for ten times that and stops a file that would fill memory. The size
# cap stops a file that would take an hour to read.
MAX_XML_BYTES = 4 * 1024**3
MAX_HOSTS = 1_000_000  # hosts up, kept (hosts down are counted, not kept)
MAX_PORTS = 65536 * 2  # per host: every TCP and UDP port
MAX_NAMES = 64  # hostnames per host
MAX_PROBLEMS = 20  # bad elements named one by one; past this only counted


@dataclass(frozen=True)
class ParsedScan:
    hosts: tuple[dict[str, Any], ...]  # the hosts up
    complete: bool
    problem: str | None = None  # why the result is partial
    started: str | None = None
    args: str | None = None
    # Elements dropped for a bad or missing attribute, each named ("host 10.0.0.5: <port
    # portid='abc'>: ..."); the rest of the file still counts.
    dropped: tuple[str, ...] = ()
    hosts_down: int = 0
    # Addresses nmap found silent, from <runstats>: a live scan lists no <host> for them.
    silent: int = 0
    # The longest probe timeout nmap settled on for a host that answered (<times to>, µs):
    # how long an answer on this network may take.
    slowest_answer_us: int = 0


class _ScanTooLarge(Exception):
    pass


class _CappedReader:
    """A binary file for iterparse that stops at `limit` bytes."""

    def __init__(self, stream: BinaryIO, limit: int) -> None:
        self.stream, self.limit, self.read_so_far = stream, limit, 0

    def read(self, size: int = -1) -> bytes:
        chunk = self.stream.read(size if size >= 0 else self.limit + 1)
        self.read_so_far += len(chunk)
        if self.read_so_far > self.limit:
            raise _ScanTooLarge
        return chunk


def parse_nmap_xml(
    data: bytes | BinaryIO,
    *,
    origin: str = "nmap output",
    max_hosts: int = MAX_HOSTS,
    max_bytes: int = MAX_XML_BYTES,
    on_host: HostSeen | None = None,
) -> ParsedScan:
    """Parse nmap XML (live output or an imported file), streaming: each <host> is read,
    kept when up, and freed, so memory follows the hosts up, not the file. A truncated file
    yields the hosts before the cut, labelled incomplete, and so do the caps (`max_hosts`
    hosts up, `max_bytes` read). An element with a bad or missing required attribute
    (`portid="abc"`, an address that is not one) is dropped and named in `dropped`; a file
    that is not nmap XML at all raises SourceError. `on_host` is called with each host up
    as it is read (a live scan's stream: auditor.sources.network.sweep_streaming)."""
    stream = _CappedReader(io.BytesIO(data) if isinstance(data, bytes) else data, max_bytes)
    hosts: list[dict[str, Any]] = []
    dropped: list[str] = []
    started = args = None
    root: Element | None = None
    finished = False
    down = silent = slowest = 0
    cut: str | None = None
    try:
        for event, elem in SafeET.iterparse(stream, events=("start", "end")):
            if event == "start":
                if root is None:
                    if elem.tag != "nmaprun":
                        raise SourceError(f"{origin}: not nmap XML (no <nmaprun> element)")
                    root = elem
                    started, args = elem.get("startstr"), elem.get("args")
                continue
            if elem.tag == "host":
                host = _parse_host(elem, dropped)
                times = elem.find("times")
                timeout = times.get("to", "") if times is not None else ""
                if host is not None and host["state"] == "up" and timeout.isdigit():
                    slowest = max(slowest, int(timeout))
                if root is not None:
                    root.clear()  # the host is read: free it and everything before it
                if host is None:
                    continue
                if host["state"] != "up":
                    down += 1
                    continue
                if len(hosts) >= max_hosts:
                    cut = f"more than {max_hosts} hosts up"
                    break
                hosts.append(host)
                if on_host is not None:
                    on_host(host)
            elif elem.tag == "runstats":
                finished = True
                totals = elem.find("hosts")
                down_attr = totals.get("down", "0") if totals is not None else "0"
                silent = int(down_attr) if down_attr.isdigit() else 0
    except _ScanTooLarge:
        cut = f"larger than {max_bytes} bytes"
    except ParseError as exc:
        if root is None:
            raise SourceError(f"{origin}: not nmap XML ({exc})") from exc
        return ParsedScan(
            tuple(hosts),
            False,
            f"{origin}: truncated or malformed XML ({exc}); "
            f"partial result with {len(hosts)} host(s)",
            started,
            args,
            _named(origin, dropped),
            down,
        )
    except (SourceError, OSError):
        raise
    except Exception as exc:  # defusedxml raises its own types for entities/DTDs
        raise SourceError(f"{origin}: refused XML: {type(exc).__name__}: {exc}") from exc
    if root is None:
        raise SourceError(f"{origin}: not nmap XML (no <nmaprun> element)")
    if cut is not None:
        problem = f"{origin}: {cut}; read stopped there, partial result with {len(hosts)} host(s)"
    elif not finished:
        problem = (
            f"{origin}: scan did not finish (no <runstats>); "
            f"partial result with {len(hosts)} host(s)"
        )
    else:
        problem = None
    return ParsedScan(
        tuple(hosts), problem is None, problem, started, args, _named(origin, dropped), down,
        silent, slowest,
    )  # fmt: skip


def _named(origin: str, dropped: list[str]) -> tuple[str, ...]:
    shown = [f"{origin}: {what}" for what in dropped[:MAX_PROBLEMS]]
    if len(dropped) > MAX_PROBLEMS:
        shown.append(f"{origin}: ... and {len(dropped) - MAX_PROBLEMS} more elements dropped")
    return tuple(shown)


def _tag(elem: Element) -> str:
    """The element as a reader finds it in the file: `<port portid='abc' protocol='tcp'>`."""
    attributes = " ".join(f"{k}={v!r}" for k, v in sorted(elem.attrib.items()))
    return f"<{elem.tag}{' ' if attributes else ''}{attributes}>"


def _parse_host(elem: Element, dropped: list[str]) -> dict[str, Any] | None:
    """One <host>: None (and a line in `dropped`) when it has no usable address."""
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
    for addr in elem.iterfind("address"):
        kind, value = addr.get("addrtype"), addr.get("addr")
        if kind in ("ipv4", "ipv6") and value is not None and _is_ip(value, kind):
            host["addresses"].append(value)
        elif kind == "mac" and value is not None and _MAC.match(value):
            host["mac"] = value.lower()
            host["vendor"] = addr.get("vendor")
        else:
            dropped.append(f"{_tag(addr)}: not an address of its addrtype; address dropped")
    if not host["addresses"]:
        if host["state"] == "up":
            shown = _tag(status if status is not None else elem)
            dropped.append(f"<host> with no valid IP address ({shown}); dropped")
        return None
    where = f"host {host['addresses'][0]}"
    if status is None or not status.get("state"):
        dropped.append(f"{where}: no <status state=...> (up or down?); host dropped")
        return None
    for name in elem.iterfind("hostnames/hostname"):
        if name.get("name") and len(host["hostnames"]) < MAX_NAMES:
            host["hostnames"].append(name.get("name"))
    if host["state"] != "up":
        return host
    for port in elem.iterfind("ports/port"):
        state = port.find("state")
        if state is not None and state.get("state") == "closed":
            host["closed_ports"].append(int(port.get("portid", "0")))
        if state is None or state.get("state") != "open":
            continue
        portid, proto = port.get("portid"), port.get("protocol")
        if portid is None or proto is None:
            dropped.append(f"{where}: {_tag(port)}: no portid or protocol; port dropped")
            continue
        if not (portid.isdigit() and 0 < int(portid) <= 65535):
            dropped.append(f"{where}: {_tag(port)}: portid is not a port number; port dropped")
            continue
        if len(host["ports"]) >= MAX_PORTS:
            break
        entry: dict[str, Any] = {"port": int(portid), "proto": proto}
        service = port.find("service")
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


_MAC = re.compile(r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$")


def _is_ip(text: str, kind: str) -> bool:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return False
    return address.version == (4 if kind == "ipv4" else 6)


def to_observations(
    scan: ParsedScan, *, source_name: str, now: datetime, scan_type: str | None
) -> tuple[Observation, ...]:
    """Pure: one Observation per host nmap reported up. Equal port entries are one dict,
    shared by the hosts that have them (issue 14: a fleet answers on the same few ports)."""
    out = []
    entries: dict[tuple[Any, ...], _Entry] = {}
    for host in scan.hosts:
        if host["state"] != "up" or not host["addresses"]:
            continue  # (the parser keeps only hosts up; a ParsedScan built by hand may not)
        ids = [ident(ID_IP, a) for a in host["addresses"]]
        if host["mac"]:
            ids.append(ident(ID_MAC, host["mac"]))
        ids += [ident(ID_DNS, n.lower()) for n in host["hostnames"]]
        attributes = {
            "open_ports": sorted(
                (_shared(entries, p) for p in host["ports"]),
                key=lambda p: (p["proto"] or "", p["port"]),
            ),
            "reason": host["reason"],
            "scan_type": scan_type,
            "vendor": host["vendor"],
        }
        out.append(Observation(SourceKind.NETWORK, source_name, tuple(ids), now, True, attributes))
    return tuple(sorted(out, key=lambda o: o.identifiers))


_Entry = dict[str, Any]


def _shared(entries: dict[tuple[Any, ...], _Entry], entry: _Entry) -> _Entry:
    """`entry`, or the equal one seen before (a port entry of scalars)."""
    try:
        return entries.setdefault(tuple(entry.items()), entry)
    except TypeError:  # a value that is not hashable (a ParsedScan built by hand)
        return entry


class NmapSource:
    """A [[network]] section: a live sweep of its targets and/or imported XML files."""

    kind = SourceKind.NETWORK
    streams = True  # collect(now, sightings=...) hands over each host up as nmap finds it
    # collect(now, sightings=..., first_pass=...) says when the first pass is over: what it
    # has not seen by then only the second look may still find.
    tells_first_pass = True

    def __init__(self, config: NetworkConfig, *, privileged: bool | None = None) -> None:
        self.config = config
        self.name = config.name
        self._privileged = privileged

    def collect(
        self,
        now: datetime,
        sightings: Sighting | None = None,
        first_pass: Callable[[SourceResult], None] | None = None,
    ) -> SourceResult:
        """Import the section's files, then sweep its targets (and take the second look).
        With `sightings`, the live scans run through `sweep_streaming` and each host up is
        handed over as its Observation the moment nmap reports it (equal to the one the result
        then holds); imported files are read whole first, as without. `first_pass` is called
        once the first pass's hosts are all handed over, before the second look (not at all
        when the first pass fails), with the result the source would give if it ended there."""
        observations: list[Observation] = []
        errors: list[str] = []
        details: dict[str, Any] = {
            "targets": list(self.config.targets),
            "exclude": list(self.config.exclude),
        }
        fatal: str | None = None

        def take(scan: ParsedScan, scan_type: str | None) -> None:
            if scan.problem:
                errors.append(scan.problem)
            errors.extend(scan.dropped)
            observations.extend(
                to_observations(scan, source_name=self.name, now=now, scan_type=scan_type)
            )

        for path in self.config.nmap_xml:
            try:
                take(_parse_file(path), None)
            except SourceError as exc:
                errors.append(str(exc))
        if self.config.targets:
            try:
                plan = plan_scan(self.config, privileged=self._privileged)
                details.update(scan_type=plan.scan_type, arguments=plan.arguments)
                scan = self._scan(plan, "nmap output", now, sightings)
                take(scan, plan.scan_type)
                if first_pass is not None:
                    first_pass(self._result(observations, errors, details, None))
                if self.config.second_look and scan.complete and scan.silent:
                    again = self._second_look(scan, now, sightings)
                    details.update(second_look_found=len(again.hosts))
                    take(again, plan.scan_type)
            except (SourceError, TargetError) as exc:
                fatal = str(exc)
        return self._result(observations, errors, details, fatal)

    def _result(
        self,
        observations: list[Observation],
        errors: list[str],
        details: dict[str, Any],
        fatal: str | None,
    ) -> SourceResult:
        errors = list(errors)
        if fatal is None and errors and not observations:
            fatal = errors.pop(0)
        return SourceResult(
            kind=self.kind,
            name=self.name,
            ok=fatal is None and not errors,
            observations=tuple(observations),
            error=fatal or (errors[0] if errors else None),
            errors=tuple(errors),
            details=dict(details),
        )

    def _second_look(
        self, first: ParsedScan, now: datetime, sightings: Sighting | None
    ) -> ParsedScan:
        """The same sweep again over the addresses the first pass found silent: its hosts
        up go to nmap's exclude file (written here, on the auditor's machine: an argv of
        10,000 addresses would be long to show and to read)."""
        up = sorted({a for host in first.hosts for a in host["addresses"]})
        # One exclusion list, in the file: the section's own excludes go along with the hosts.
        excluded = [validate_target(t) for t in self.config.exclude] + up
        config = replace(self.config, exclude=())
        with tempfile.NamedTemporaryFile("w", prefix="auditor-sweep-", suffix=".txt") as listed:
            listed.write("".join(f"{entry}\n" for entry in excluded))
            listed.flush()
            plan = plan_scan(config, privileged=self._privileged, exclude_file=listed.name,
                             timing=second_look_timing(first))  # fmt: skip
            log.info("%s: second look at %d silent address(es)", self.name, first.silent)
            return self._scan(plan, "nmap (second look)", now, sightings)

    def _scan(
        self, plan: ScanPlan, origin: str, now: datetime, sightings: Sighting | None
    ) -> ParsedScan:
        if sightings is None:
            return parse_nmap_xml(run_nmap(plan), origin=origin)

        def seen(host: dict[str, Any]) -> None:
            one = ParsedScan((host,), True)
            for observation in to_observations(
                one, source_name=self.name, now=now, scan_type=plan.scan_type
            ):
                sightings(observation)

        return sweep_streaming(plan, seen, origin=origin)


def second_look_timing(first: ParsedScan) -> tuple[str, ...]:
    """nmap timing for the second look, from what the first pass learnt. Left alone, nmap
    starts a pass of silent addresses knowing nothing of the network: a cautious timeout per
    probe and few probes at once, 9 s for 205 silent addresses on the lab where the first
    pass over all 254 took 1.9 s. The hosts that answered say how long an answer takes here:
    three times the slowest of their timeouts is ample, and probes to silent addresses may
    go out many at a time (1.6 s). No host answered: nmap's own caution stays."""
    if not first.slowest_answer_us:
        return ()
    rtt_ms = max(100, -(-first.slowest_answer_us // 1000))
    return ("--initial-rtt-timeout", f"{rtt_ms}ms", "--max-rtt-timeout", f"{3 * rtt_ms}ms",
            "--min-parallelism", "64")  # fmt: skip


def _parse_file(path: Path) -> ParsedScan:
    try:
        with path.open("rb") as stream:
            return parse_nmap_xml(stream, origin=str(path))
    except OSError as exc:
        raise SourceError(f"{path}: cannot read nmap XML: {exc.strerror or exc}") from exc
