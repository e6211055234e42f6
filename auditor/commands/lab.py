"""`auditor lab up|down|status`: the demo/test fleet (auditor.lab; needs root)."""

from __future__ import annotations

import sys
from typing import NoReturn

import click


@click.group("lab")
def lab() -> None:
    """The demo/test fleet: network namespaces with real sshd hosts (needs root)."""


@lab.command("up")
@click.option("--hosts", "extra_hosts", type=int, default=0, help="Extra filler hosts.")
@click.option(
    "--segments",
    is_flag=True,
    help="The segmented lab: walled-off segments dc1 and dc2, a vantage namespace in each "
    "(for `auditor worker`), a controller namespace reaching neither.",
)
def lab_up_cmd(extra_hosts: int, segments: bool) -> NoReturn:
    """Build the lab (idempotent)."""
    from auditor.lab.cli import main as lab_main

    sys.exit(lab_main(["up", "--segments"] if segments else ["up", "--hosts", str(extra_hosts)]))


@lab.command("down")
def lab_down_cmd() -> NoReturn:
    """Remove everything the lab created."""
    from auditor.lab.cli import main as lab_main

    sys.exit(lab_main(["down"]))


@lab.command("status")
def lab_status_cmd() -> NoReturn:
    """Show the lab's hosts and whether their sshd answers."""
    from auditor.lab.cli import main as lab_main

    sys.exit(lab_main(["status"]))
