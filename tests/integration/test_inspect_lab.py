"""`auditor inspect` on the lab, for real: SSH into the forgotten CentOS 5 box, fetch its
front page, run the lab's sources, search a git repository made here; then web01, which
the repository does mention.

Network safety: SSH and HTTP only to the lab's own addresses (10.250.77.0/24 namespaces);
sources as the lab audit runs them (nmap of the lab subnet, moto on 127.0.0.1).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from auditor.commands.inspect import inspect
from auditor.lab import LabState
from tests.builders import Page

pytestmark = pytest.mark.lab
CONFIG = Path(__file__).parents[2] / "inventories" / "lab" / "audit.toml"
LAB_KEY = "/run/auditor-lab/id_ed25519"
LAB_KNOWN_HOSTS = "/run/auditor-lab/known_hosts"

# An IaC checkout that knows web01 (by name and address) and other lab hosts, and holds
# near-misses of the orphan's address and name, but never the orphan itself.
IAC_FILES = {
    "inventory/hosts.ini": (
        "[web]\nweb01 ansible_host=10.250.77.11\nweb02 ansible_host=10.250.77.12\n"
        "[db]\ndb01 ansible_host=10.250.77.13 ansible_port=2222\n"
    ),
    "terraform/main.tf": (
        'resource "aws_instance" "web" {\n  private_ip = "10.250.77.11"\n'
        '  tags = { Name = "web01" }\n}\n'
    ),
    "docs/decommissioned.md": (
        "legacy-billing010 was retired in 2019; old-legacy-billing01 too.\n"
        "The printer range starts at 10.250.77.100; the gateway is 10.250.77.1.\n"
    ),
}


@pytest.fixture(scope="module")
def iac_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = tmp_path_factory.mktemp("iac")
    for name, text in IAC_FILES.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    git = ["git", "-C", str(repo), "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "lab inventory"], check=True)
    return repo


def run_inspect(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(inspect, list(args), catch_exceptions=False)
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def orphan(
    lab: LabState, iac_repo: Path, aws_env: None, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("inspect-orphan")
    code, output = run_inspect(
        "10.250.77.10", "--config", str(CONFIG), "--repos", str(iac_repo),
        "--json", str(out / "d.json"), "--html", str(out / "d.html"), "--md", str(out / "d.md"),
    )  # fmt: skip
    assert code == 0, output
    data: dict[str, Any] = json.loads((out / "d.json").read_text())
    data["_out"] = str(out)
    data["_terminal"] = output
    return data


def test_names_its_http_service(orphan: dict[str, Any]) -> None:
    assert orphan["host"] == "legacy-billing01" and orphan["address"] == "10.250.77.10"
    web = next(s for s in orphan["services"] if s["port"] == 80)
    assert web["process"] == "httpd"
    assert web["http"]["server"].startswith("Apache/1.3.42")
    assert web["http"]["title"] == "ACME Billing" and web["http"]["status"] == 200
    assert web["software"] == "httpd 1.3.42"
    assert "/etc/httpd/conf/httpd.conf" in web["configs"]
    assert "/var/log/httpd/access_log" in web["logs"]
    assert web["package"] is None  # the hand-built Apache belongs to no package
    assert web["started_by"]["kind"] and web["started_at"]
    assert {p["path"] for p in web["admin_paths"]} & {"/admin/", "/server-status", "/phpmyadmin/"}


def test_what_it_is(orphan: dict[str, Any]) -> None:
    identity = orphan["identity"]
    assert identity["os_id"] == "centos" and identity["os_version"].startswith("5")
    assert identity["os_eol"] == "eol"
    assert identity["uptime_seconds"] >= 2000 * 86400
    assert identity["reached_as"] == "auditor@10.250.77.10:22"
    assert identity["virtualization"]  # systemd-detect-virt or the fallbacks said something


def test_its_clients_belong_to_team_payments(orphan: dict[str, Any]) -> None:
    owners = [c["owner"] for c in orphan["clients"]]
    assert owners.count("team-payments") > owners.count("team-data") > 0
    assert all(c["address"] != "10.250.77.1" for c in orphan["clients"])  # not the auditor
    assert any(lg["user"] in ("billing", "deploy", "root") for lg in orphan["logins"])
    assert any("/opt/billing/bin/nightly-export.sh" in c for c in orphan["cron"])
    # The team table: every client of the log counted on the box, busiest team first.
    teams = [(t["team"], t["share"]) for t in orphan["teams"]]
    assert [team for team, _ in teams] == ["team-payments", "team-data"]
    assert sum(share for _, share in teams) in (99, 100, 101)  # rounding; no unowned clients
    counted = sum(t["requests"] for t in orphan["teams"])
    assert any(e.startswith(f"{counted} requests from ") for e in orphan["verdict"]["evidence"])
    contact = [s["text"] for s in orphan["next_steps"] if s["kind"] == "contact"]
    assert contact[0].startswith("Contact team-payments: ") and "% of all)" in contact[0]
    assert contact[1].startswith("Contact team-data: ")


def test_nobody_knows_about_it(orphan: dict[str, Any]) -> None:
    known = orphan["known_by"]
    assert known["checked"] and known["listed_by"] == [] and known["status"] == "unmanaged"
    assert [m["kind"] for m in known["sources"]] == ["network"]  # the sweep sees it, that's all
    assert {s.split(":")[0] for s in known["sources_run"]} == {
        "network",
        "aws",
        "ansible",
        "terraform",
    }
    assert orphan["repo_search"]["searched"] and orphan["references"] == []
    assert orphan["repo_search"]["errors"] == []
    steps = " ".join(s["text"] for s in orphan["next_steps"])
    assert "No repository mentions it" in steps
    assert "No inventory, state or cloud account lists it" in steps
    assert "Contact team-payments" in steps


def test_verdict_in_use(orphan: dict[str, Any]) -> None:
    assert orphan["verdict"]["state"] == "in use"
    assert any("requests from" in e for e in orphan["verdict"]["evidence"])
    assert "IN USE" in orphan["_terminal"] and "no repository mentions it" in orphan["_terminal"]


def test_html_and_markdown_files(orphan: dict[str, Any]) -> None:
    out = Path(orphan["_out"])
    tags = Page((out / "d.html").read_text()).tags
    assert "script" not in tags and "section" in tags
    page = (out / "d.html").read_text()
    assert "ACME Billing" in page
    who = page[page.index("3. Who uses it?") : page.index("4. Who knows about it?")]
    assert who.index("team-payments") < who.index("Top client addresses")
    assert "--crit:" in page  # the main report's stylesheet
    assert "no repository mentions it" in (out / "d.md").read_text()


def test_web01_is_found_in_the_repository(
    lab: LabState, iac_repo: Path, aws_env: None, tmp_path: Path
) -> None:
    code, output = run_inspect(
        "10.250.77.11", "--config", str(CONFIG), "--repos", str(iac_repo),
        "--json", str(tmp_path / "web01.json"), "--quiet",
    )  # fmt: skip
    assert code == 0, output
    data = json.loads((tmp_path / "web01.json").read_text())
    assert data["host"] == "web01"
    found = {(r["path"], r["line"]) for r in data["references"]}
    assert found == {("inventory/hosts.ini", 2), ("terraform/main.tf", 2), ("terraform/main.tf", 3)}
    assert {m["kind"] for m in data["known_by"]["sources"]} >= {"ansible", "network"}
    assert data["known_by"]["status"] == "managed"
    web = next(s for s in data["services"] if s["port"] == 80)
    assert web["process"] == "nginx" and web["http"]["server"].startswith("nginx/")
    ssh = next(s for s in data["services"] if s["port"] == 22)
    assert ssh["package"] == "openssh-server"


def test_an_address_and_ssh_access_are_enough(lab: LabState, tmp_path: Path) -> None:
    code, output = run_inspect(
        "10.250.77.10", "--ssh-user", "auditor", "--key", LAB_KEY,
        "--known-hosts", LAB_KNOWN_HOSTS, "--sudo", "--json", str(tmp_path / "d.json"), "--quiet",
    )  # fmt: skip
    assert code == 0, output
    data = json.loads((tmp_path / "d.json").read_text())
    assert data["host"] == "legacy-billing01" and data["verdict"]["state"] == "in use"
    assert data["known_by"]["checked"] is False and data["repo_search"]["searched"] is False
    assert all(c["owner"] is None for c in data["clients"])  # no [owners] without a config


def test_an_unreachable_address_is_a_dossier_too(lab: LabState, tmp_path: Path) -> None:
    code, _ = run_inspect(
        "10.250.77.50", "--ssh-user", "auditor", "--key", LAB_KEY,
        "--known-hosts", LAB_KNOWN_HOSTS, "--json", str(tmp_path / "d.json"), "--quiet",
    )  # fmt: skip
    assert code == 3  # nothing could be probed
    data = json.loads((tmp_path / "d.json").read_text())
    assert data["verdict"]["state"] == "unknown" and data["probe"]["state"] == "skipped"
    assert data["next_steps"][0]["kind"] == "access"
