"""Repository search: whole mentions only, real `git grep` on repositories made here."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from auditor.inspect.repos import (
    SearchTerm,
    mentions,
    parse_git_grep,
    search_repos,
    search_terms,
)

ADDRESS = SearchTerm("10.250.77.1", "address")
NAME = SearchTerm("web01", "name")


@pytest.mark.parametrize(
    ("line", "found"),
    [
        ("host = 10.250.77.1", True),
        ('"10.250.77.1:8080"', True),
        ("ip=10.250.77.1,", True),
        ("see 10.250.77.1.", True),  # end of a sentence
        ("10.250.77.1/32", True),
        ("10.250.77.10", False),
        ("10.250.77.100", False),
        ("110.250.77.1", False),
        ("1.10.250.77.1", False),
        ("10.250.77.1.5", False),
        ("10.250.77.1a", False),
    ],
)
def test_address_boundaries(line: str, found: bool) -> None:
    assert (mentions(line, [ADDRESS]) is not None) is found


@pytest.mark.parametrize(
    ("line", "found"),
    [
        ("web01", True),
        ("ansible_host: web01.example.com", True),
        ("[web] WEB01", True),
        ("- name: web01", True),
        ('"web01":', True),
        ("web010", False),
        ("oldweb01", False),
        ("web01-backup", False),
        ("prod-web01", False),
        ("old.web01", False),
        ("web01_db", False),
    ],
)
def test_name_boundaries(line: str, found: bool) -> None:
    assert (mentions(line, [NAME]) is not None) is found


def test_terms_from_addresses_and_names() -> None:
    terms = search_terms(
        ["10.250.77.10", "not-an-ip", "::ffff:10.0.0.1", "2001:db8::1"],
        ["legacy-billing01.corp.example.", "LEGACY-BILLING01", "db", "localhost", "10.1.1.1"],
    )
    assert [(t.text, t.kind) for t in terms] == [
        ("10.250.77.10", "address"),
        ("10.0.0.1", "address"),  # IPv4-mapped: the IPv4 host, as files write it
        ("2001:db8::1", "address"),
        ("legacy-billing01.corp.example", "name"),
        ("legacy-billing01", "name"),
    ]


def test_parse_git_grep_output() -> None:
    raw = (
        b"inventory/hosts.ini\x0012\x00web01 ansible_host=10.250.77.11\n"
        b"notes:with:colons.md\x003\x00not web010 here\n"
        b"x.tf\x007\x00" + b"a" * 400 + b" web01\r\n"
        b"garbage line\n"
    )
    hits = parse_git_grep(raw, [NAME])
    assert hits[0] == ("inventory/hosts.ini", 12, "web01 ansible_host=10.250.77.11", "web01")
    assert len(hits) == 2 and hits[1][0] == "x.tf" and hits[1][2].endswith("…")


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-C", str(repo), "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
        check=True, capture_output=True,
    )  # fmt: skip


def make_repo(path: Path, files: dict[str, bytes]) -> Path:
    path.mkdir(parents=True)
    _git(path, "init", "-q")
    for name, data in files.items():
        target = path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    _git(path, "add", "-A")
    _git(path, "commit", "-qm", "fixture")
    return path


def test_search_finds_whole_mentions_in_tracked_text_files(tmp_path: Path) -> None:
    repo = make_repo(
        tmp_path / "iac",
        {
            "hosts.ini": b"[web]\nweb01 ansible_host=10.250.77.11\nweb010 ansible_host=10.250.77.110\n",
            "tf/main.tf": b'resource "x" "y" {\n  private_ip = "10.250.77.11"\n}\n',
            "logo.png": b"\x89PNG\x00\x00 10.250.77.11 web01",
        },
    )
    (repo / "untracked.txt").write_text("web01\n")
    result = search_repos([repo], search_terms(["10.250.77.11"], ["web01"]))
    found = {(r.path, r.line, r.term) for r in result.references}
    # one reference per line; addresses are tried before names
    assert found == {("hosts.ini", 2, "10.250.77.11"), ("tf/main.tf", 2, "10.250.77.11")}
    assert not result.errors and result.searched


def test_not_found_anywhere_is_an_answer(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "app", {"conf/app.yml": b"db: 10.250.77.13\nweb: web01\n"})
    result = search_repos([repo], search_terms(["10.250.77.1"], ["legacy-billing01"]))
    assert result.searched and result.references == () and result.errors == ()


def test_a_plain_folder_is_searched_without_git(tmp_path: Path) -> None:
    folder = tmp_path / "exported"
    folder.mkdir()
    (folder / "dns.zone").write_text("web01 IN A 10.250.77.11\n")
    result = search_repos([folder], search_terms([], ["web01"]))
    assert [(r.path, r.line) for r in result.references] == [("dns.zone", 1)]


def test_results_are_capped_per_repository(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "big", {"list.txt": b"web01\n" * 50})
    result = search_repos([repo], search_terms([], ["web01"]), max_results=10)
    assert len(result.references) == 10 and result.truncated == (str(repo),)


def test_missing_folder_is_an_error_entry(tmp_path: Path) -> None:
    result = search_repos([tmp_path / "nope"], search_terms([], ["web01"]))
    assert result.errors == (f"{tmp_path / 'nope'}: not a folder",)


def test_a_hostile_checkout_cannot_run_commands(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "evil", {"a.txt": b"web01\n"})
    marker = tmp_path / "pwned"
    with (repo / ".git" / "config").open("a") as config:
        config.write(f'[core]\n\tfsmonitor = "touch {marker}"\n\tpager = "touch {marker}"\n')
    result = search_repos([repo], search_terms([], ["web01"]))
    assert [r.path for r in result.references] == ["a.txt"]
    assert not marker.exists()
