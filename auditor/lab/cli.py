"""`python -m auditor.lab up|down|status`: a thin argparse layer over the library API.

Exit codes: 0 done (for `status`: up and healthy), 1 `status` found the lab down or
unhealthy, 2 usage error, 3 the lab could not be built or removed (LabError).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from ipaddress import IPv4Network
from pathlib import Path

from auditor.errors import LabError
from auditor.lab.core import LabStatus, lab_down, lab_status, lab_up
from auditor.lab.spec import (
    DEFAULT_FLEET_SUBNET,
    DEFAULT_MOTO_PORT,
    DEFAULT_STATE_DIR,
    DEFAULT_SUBNET,
    demo_spec,
    segments_spec,
)
from auditor.lab.state import LabState


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m auditor.lab",
        description="The auditor lab: SSH hosts in network namespaces "
        "on this machine, plus a moto AWS endpoint.",
    )
    sub = p.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="bring the lab up (root; idempotent)")
    up.add_argument(
        "--hosts",
        type=int,
        default=None,
        metavar="N",
        help="total number of hosts: the 7 demo hosts, then fillers fill-001... in the lab "
        "subnet, then in the fleet subnet (default: 7)",
    )
    up.add_argument(
        "--subnet",
        type=IPv4Network,
        default=DEFAULT_SUBNET,
        help=f"lab subnet (default {DEFAULT_SUBNET})",
    )
    up.add_argument(
        "--fleet-subnet",
        type=IPv4Network,
        default=DEFAULT_FLEET_SUBNET,
        help="second subnet on the bridge for the fillers the lab subnet cannot hold "
        f"(default {DEFAULT_FLEET_SUBNET}; used only then, and refused if any route or "
        "address of this machine overlaps it)",
    )
    up.add_argument(
        "--moto-port",
        type=int,
        default=DEFAULT_MOTO_PORT,
        help=f"moto server port on 127.0.0.1 (default {DEFAULT_MOTO_PORT})",
    )
    up.add_argument("--no-aws", action="store_true", help="do not start the moto server")
    up.add_argument(
        "--segments",
        action="store_true",
        help="the segmented lab instead: hosts on walled-off segments dc1 (10.250.98.0/24) "
        "and dc2 (10.250.99.0/24), a vantage namespace in each, a controller namespace "
        "reaching none, uplinks on 10.250.97.0/24 (no AWS; --hosts and subnets ignored)",
    )
    for name, helptext in (
        ("down", "stop and remove everything the lab created (root)"),
        ("status", "show hosts and whether each sshd answers"),
    ):
        sub.add_parser(name, help=helptext)
    for sp in sub.choices.values():
        sp.add_argument(
            "--state-dir",
            type=Path,
            default=DEFAULT_STATE_DIR,
            help=f"where the lab keeps keys, configs, logs (default {DEFAULT_STATE_DIR})",
        )
    sub.choices["status"].add_argument("--json", action="store_true", help="JSON output")
    return p


def _say(msg: str) -> None:
    print(f"lab: {msg}", file=sys.stderr)


# Beyond this many hosts, `up` lists the first ones and counts the rest.
LISTED_HOSTS = 40


def print_state(state: LabState) -> None:
    print(f"{'HOST':<18} {'ADDRESS':<15} {'PORT':>5}  PROFILE")
    for h in state.hosts[:LISTED_HOSTS]:
        print(f"{h.name:<18} {h.address:<15} {h.port:>5}  {h.profile}")
    if len(state.hosts) > LISTED_HOSTS:
        rest = state.hosts[LISTED_HOSTS:]
        print(f"... and {len(rest)} more, to {rest[-1].name} {rest[-1].address}")
    nets = " and ".join(str(n) for n in state.subnets)
    print(f"\n{len(state.hosts)} hosts on {nets} (bridge {state.bridge})")
    for seg in state.segments:
        print(f"segment {seg.name}: {seg.subnet} on {seg.bridge}, workers in netns {seg.netns}")
    for up in state.uplinks:
        print(f"uplink of {up.netns}: {up.remote} <-> {up.local} (this machine)")
    sd = state.state_dir
    print(
        f"\nssh -i {sd}/id_ed25519 -o UserKnownHostsFile={sd}/known_hosts "
        f"-o IdentitiesOnly=yes auditor@{state.hosts[0].address} hostname"
    )
    if state.aws is not None:
        print(
            f"AWS (moto): {state.aws.endpoint_url}  ids: {sd}/aws.json  "
            f"terraform state: {sd}/terraform.tfstate"
        )


def print_status(status: LabStatus) -> None:
    if not status.recorded:
        print(f"lab is down (no state in {status.state_dir})")
        return
    print(f"{'HOST':<18} {'ADDRESS':<15} {'PORT':>5}  {'PROFILE':<11} SSHD")
    for h in status.hosts:
        state = h.banner if h.answers else ("running, not answering" if h.running else "down")
        print(f"{h.name:<18} {h.address:<15} {h.port:>5}  {h.profile:<11} {state}")
    if status.aws_endpoint is not None:
        print(f"moto {status.aws_endpoint}: {'answers' if status.aws_answers else 'DOWN'}")
    print(
        "healthy"
        if status.healthy
        else "NOT healthy" + ("" if status.complete else " (bring-up did not finish)")
    )


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "up":
            spec = (
                segments_spec(state_dir=args.state_dir)
                if args.segments
                else demo_spec(
                    hosts=args.hosts,
                    subnet=args.subnet,
                    fleet_subnet=args.fleet_subnet,
                    state_dir=args.state_dir,
                    moto_port=None if args.no_aws else args.moto_port,
                )
            )
            print_state(lab_up(spec, log=_say))
            return 0
        if args.command == "down":
            lab_down(args.state_dir, log=_say)
            return 0
        status = lab_status(args.state_dir)
        if args.json:
            print(json.dumps({**asdict(status), "healthy": status.healthy}, indent=2))
        else:
            print_status(status)
        return 0 if status.healthy else 1
    except LabError as exc:
        _say(f"error: {exc}")
        return 3
    except KeyboardInterrupt:
        return 130
