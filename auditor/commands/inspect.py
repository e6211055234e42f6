"""`auditor inspect HOST...`: a dossier on a server nobody knows.

Works for a host in no inventory at all: an address and SSH access are enough
(`--ssh-user`, `--key`, `--known-hosts`), or `--config` for its [ssh] section, [owners] and
sources. Exit codes: 0 dossiers written, 2 usage or config error, 3 no host could be
probed (the dossiers are still written: they say why), 130 interrupted.
"""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn

import click

from auditor.commands.options import SshFlags, build_config, quiet_option, ssh_options
from auditor.exitcodes import EXIT_FAILED, EXIT_OK, run_guarded
from auditor.visible import visible


@click.command("inspect")
@click.argument("hosts", nargs=-1, required=True)
@ssh_options
@click.option(
    "--repos",
    "repos",
    multiple=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="A local checkout (IaC, app configs) to search for the host (repeatable).",
)
@click.option(
    "--reverse-dns",
    is_flag=True,
    help="Name the clients by reverse DNS (off by default: no DNS queries).",
)
@click.option(
    "--no-sources",
    is_flag=True,
    help="Do not run the config's sources (known-by is then not checked).",
)
@click.option("--no-http", is_flag=True, help="Do not fetch the front pages of HTTP services.")
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the dossier as JSON (one host: an object; several: a list).",
)
@click.option(
    "--html",
    "html_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the dossier as one self-contained HTML file.",
)
@click.option(
    "--md",
    "md_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the dossier as Markdown.",
)
@quiet_option
def inspect(
    hosts: tuple[str, ...],
    ssh: SshFlags,
    repos: tuple[Path, ...],
    reverse_dns: bool,
    no_sources: bool,
    no_http: bool,
    json_path: Path | None,
    html_path: Path | None,
    md_path: Path | None,
    quiet: bool,
) -> NoReturn:  # fmt: skip
    """Investigate HOST (address or name): what it is, what runs on it, who uses it, who
    knows about it, a verdict (in use / idle / unknown) and a checklist of next steps.

    \b
    auditor inspect 10.0.0.5 --ssh-user auditor --key ~/.ssh/id_ed25519 \\
        --known-hosts ~/.ssh/known_hosts --repos ~/src/iac --repos ~/src/app --html out.html
    auditor inspect -c audit.toml web01 --json web01.json
    """

    def body() -> int:
        from rich.console import Console

        from auditor.commands.console import StdoutConsole
        from auditor.fileio import write_atomic
        from auditor.inspect.render import (
            render_html,
            render_json,
            render_markdown,
            render_terminal,
        )
        from auditor.inspect.run import InspectRequest, inspect_hosts

        config = ssh.config()
        errors = Console(stderr=True, highlight=False)
        request = InspectRequest(
            targets=hosts,
            repos=repos,
            reverse_dns=reverse_dns,
            use_sources=not no_sources,
            window_days=ssh.days,
            fetch_http=not no_http,
        )

        def progress(message: str) -> None:
            if not quiet:
                errors.print(visible(message), style="dim", markup=False)

        dossiers = inspect_hosts(config, request, progress=progress)
        for path, render in ((json_path, render_json), (html_path, render_html),
                             (md_path, render_markdown)):  # fmt: skip
            if path is not None:
                write_atomic(path, render(dossiers))
                if not quiet:
                    errors.print(f"wrote {path}", markup=False)
        if not quiet:
            console = StdoutConsole(highlight=False)
            if not console.is_terminal:
                console = StdoutConsole(highlight=False, width=120)
            render_terminal(dossiers, console)
        return EXIT_OK if any(d.probe_state == "ok" for d in dossiers) else EXIT_FAILED

    run_guarded(body)


__all__ = ["build_config", "inspect", "ssh_options"]
