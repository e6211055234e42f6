"""Who knows about a host in code: every line of the given checkouts (IaC, app configs)
that names one of its addresses or names.

One `git grep -n -z -I -F -i -e TERM...` per repository (fixed strings, binaries skipped,
tracked files of the working tree; a folder that is not a git checkout is searched with
`--no-index`), then a pure filter keeps only whole mentions: `10.250.77.1` is not in
`10.250.77.10`, `web01` is not in `web010` nor in `oldweb01`, but `web01.example.com` and
`"10.250.77.11:80"` are. Results are capped per repository. git is run with its fsmonitor
and pager off, so a hostile checkout's config cannot make it run anything.
"""

from __future__ import annotations

import ipaddress
import os
import re
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from auditor.inspect.model import Reference, RepoSearch
from auditor.targets import is_address, is_host_name

MAX_RESULTS = 200  # references kept per repository
MAX_TEXT = 300  # characters of each line kept
TIMEOUT = 60.0  # seconds per repository
MAX_OUTPUT = 16 * 1024 * 1024
# Names this short or this generic would match everywhere.
MIN_NAME = 3
GENERIC_NAMES = frozenset({"localhost", "localdomain", "localhost.localdomain", "www", "host"})


@dataclass(frozen=True)
class SearchTerm:
    text: str
    kind: str  # address | name


def search_terms(addresses: Iterable[str], names: Iterable[str]) -> tuple[SearchTerm, ...]:
    """The strings to look for: each address, and each name with its short form
    (`web01.example.com` -> also `web01`). Too short or generic names are left out, and so
    is anything that is not a host name (the host's own answers are hostile strings: a NUL
    would end `git grep`, a newline would become a second pattern)."""
    terms: dict[str, SearchTerm] = {}
    for address in addresses:
        try:
            ip = ipaddress.ip_address(address.strip())
        except ValueError:
            continue
        # An IPv4-mapped IPv6 address is that IPv4 host, and files name it in dotted form
        # (Python 3.13 prints ::ffff:10.0.0.1, older ones ::ffff:a00:1: neither is in a repo).
        mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
        text = str(mapped or ip)
        terms.setdefault(text, SearchTerm(text, "address"))
    for name in names:
        name = name.strip().rstrip(".").lower()
        if not is_host_name(name):
            continue
        for candidate in (name, name.split(".", 1)[0]):
            if len(candidate) < MIN_NAME or candidate in GENERIC_NAMES or is_address(candidate):
                continue
            terms.setdefault(candidate, SearchTerm(candidate, "name"))
    return tuple(terms.values())


def _boundary_pattern(term: SearchTerm) -> re.Pattern[str]:
    escaped = re.escape(term.text)
    if term.kind == "address":
        # Not inside a longer number or dotted quad: no digit, letter, "_" or "." before;
        # no digit, letter or "_" after, and no "." followed by a digit (10.0.0.1.5).
        return re.compile(rf"(?<![\w.]){escaped}(?![\w]|\.\d)", re.IGNORECASE)
    # A host name: not inside a longer name. "-" and "." join labels, so neither may sit
    # before it; after it "." is allowed (web01.example.com), "-" and word characters not.
    return re.compile(rf"(?<![\w.-]){escaped}(?![\w-])", re.IGNORECASE)


def mentions(line: str, terms: Sequence[SearchTerm]) -> SearchTerm | None:
    """The first term the line mentions as a whole address or name, else None."""
    for term in terms:
        if _boundary_pattern(term).search(line):
            return term
    return None


def parse_git_grep(output: bytes, terms: Sequence[SearchTerm]) -> list[tuple[str, int, str, str]]:
    """`git grep -n -z` output (`path\\0line\\0text\\n`) -> (path, line, text, term) for
    the lines that mention a term as a whole word (see `mentions`)."""
    hits = []
    for raw in output.split(b"\n"):
        if not raw:
            continue
        parts = raw.split(b"\0", 2)
        if len(parts) != 3 or not parts[1].isdigit():
            continue
        path = parts[0].decode("utf-8", errors="replace")
        text = parts[2].decode("utf-8", errors="replace").rstrip("\r")
        term = mentions(text, terms)
        if term is None:
            continue
        shown = text.strip()
        if len(shown) > MAX_TEXT:
            shown = shown[:MAX_TEXT] + "…"
        hits.append((path, int(parts[1]), shown, term.text))
    return hits


def git_grep_command(repo: Path, terms: Sequence[SearchTerm], *, tracked: bool) -> list[str]:
    command = [
        "git", "-c", "core.fsmonitor=false", "-c", "core.pager=cat",
        "-c", f"safe.directory={repo}", "-C", str(repo), "grep",
        "-n", "-z", "-I", "-F", "-i", "--no-color",
    ]  # fmt: skip
    if not tracked:
        command.append("--no-index")
    for term in terms:
        command += ["-e", term.text]
    return command


def search_repos(
    repos: Sequence[Path],
    terms: Sequence[SearchTerm],
    *,
    max_results: int = MAX_RESULTS,
    timeout: float = TIMEOUT,
) -> RepoSearch:
    """Search every repository; a repository that cannot be searched is an error entry,
    never an exception."""
    references: list[Reference] = []
    truncated: list[str] = []
    errors: list[str] = []
    for repo in repos:
        label = str(repo)
        if not repo.is_dir():
            errors.append(f"{label}: not a folder")
            continue
        if not terms:
            continue
        hits, error = _grep_one(repo.resolve(), terms, timeout)
        if error:
            errors.append(f"{label}: {error}")
            continue
        if len(hits) > max_results:
            truncated.append(label)
            hits = hits[:max_results]
        references += [Reference(label, path, line, text, term) for path, line, text, term in hits]
    return RepoSearch(
        searched=True,
        repos=tuple(str(r) for r in repos),
        terms=tuple(t.text for t in terms),
        references=tuple(references),
        truncated=tuple(truncated),
        errors=tuple(errors),
    )


def _grep_one(
    repo: Path, terms: Sequence[SearchTerm], timeout: float
) -> tuple[list[tuple[str, int, str, str]], str | None]:
    tracked = (repo / ".git").exists() or _inside_work_tree(repo)
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0", "LC_ALL": "C"}
    try:
        done = subprocess.run(
            git_grep_command(repo, terms, tracked=tracked),
            capture_output=True,
            timeout=timeout,
            env=env,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except FileNotFoundError:
        return [], "git is not installed"
    except subprocess.TimeoutExpired:
        return [], f"git grep took longer than {timeout:g}s"
    # git grep: 0 found, 1 nothing found, anything else an error.
    if done.returncode not in (0, 1):
        message = done.stderr.decode("utf-8", errors="replace").strip().split("\n")[0]
        return [], f"git grep failed: {message or f'exit status {done.returncode}'}"
    return parse_git_grep(done.stdout[:MAX_OUTPUT], terms), None


def _inside_work_tree(repo: Path) -> bool:
    try:
        done = subprocess.run(
            ["git", "-c", f"safe.directory={repo}", "-C", str(repo), "rev-parse",
             "--is-inside-work-tree"],
            capture_output=True, timeout=10, check=False, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0 and done.stdout.strip() == b"true"
