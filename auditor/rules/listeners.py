"""unexpected-listener: a TCP service reachable from other machines that nobody expects.

A listener counts when it is TCP and bound to a non-loopback address (0.0.0.0, ::, or one
of the host's own addresses). It is expected when its port is

- in `[audit] expected_ports` (default: 22),
- in `[audit] expected_ports_by_group` for one of the host's Ansible groups,
- the port we reached SSH on, or
- open in the network sweep (the sweep already shows it, in the host's open ports).

What is left is a service the network sweep did not show (filtered by a firewall, or a port
the sweep did not scan) and that no one listed: a debug port, a forgotten app, a backdoor.
UDP is left out on purpose: dhclient, ntpd, mDNS and friends would drown the signal.
"""

from __future__ import annotations

from collections.abc import Iterable

from auditor.model import Finding, Host, Listener, Severity, SourceKind
from auditor.rules.common import RuleContext, is_loopback, probed_at, ssh_ports


def host_groups(host: Host) -> set[str]:
    groups: set[str] = set()
    for obs in host.observations:
        if obs.source == SourceKind.ANSIBLE:
            groups.update(str(g) for g in obs.attributes.get("groups") or ())
    return groups


def expected_ports(ctx: RuleContext, host: Host) -> tuple[set[int], list[str]]:
    """The ports expected on `host` and where each part of that list comes from."""
    audit = ctx.config.audit
    ports = set(audit.expected_ports)
    why = [f"[audit] expected_ports {sorted(audit.expected_ports)}"]
    for group in sorted(host_groups(host)):
        extra = audit.expected_ports_by_group.get(group)
        if extra:
            ports.update(extra)
            why.append(f"group {group} {sorted(extra)}")
    ports |= ssh_ports(host, ctx.ssh.get(host.id))
    ports.update(host.open_ports)
    return ports, why


def describe(listener: Listener) -> str:
    text = f"{listener.proto} {listener.address}:{listener.port}"
    who = [
        f"pid {listener.pid}" if listener.pid is not None else "",
        listener.process or "",
        f"user {listener.user}" if listener.user else "",
    ]
    detail = ", ".join(w for w in who if w)
    if detail:
        text += f" ({detail})"
    if listener.cmdline:
        text += f" cmdline {listener.cmdline!r}"
    elif listener.exe:
        text += f" exe {listener.exe}"
    return text


def listener_findings(ctx: RuleContext) -> Iterable[Finding]:
    for host, facts in ctx.probed():
        if not facts.listeners:
            continue
        ports, why = expected_ports(ctx, host)
        by_port: dict[int, list[Listener]] = {}
        for listener in facts.listeners:
            if listener.proto != "tcp" or is_loopback(listener.address):
                continue
            if listener.port not in ports:
                by_port.setdefault(listener.port, []).append(listener)
        swept = any(o.source == SourceKind.NETWORK for o in host.observations)
        sweep = (
            f"not open in the network sweep (sweep saw: {', '.join(map(str, host.open_ports))})"
            if swept and host.open_ports
            else "not open in the network sweep"
            if swept
            else "no network sweep saw this host"
        )
        for port, listeners in sorted(by_port.items()):
            names = sorted({x.process for x in listeners if x.process})
            yield Finding(
                "unexpected-listener",
                Severity.MEDIUM,
                host.id,
                f"Unexpected listener on port {port}/tcp",
                (
                    *(describe(x) for x in listeners),
                    "process: " + (", ".join(names) if names else "unknown (needs root)"),
                    f"expected ports: {', '.join(why)}; {sweep}",
                    probed_at(facts),
                ),
            )
