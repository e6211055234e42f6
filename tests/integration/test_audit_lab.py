"""The slice that proves it: a real audit of the lab fleet, end to end.

nmap sweeps the lab subnet, ansible-inventory reads the lab inventories, boto3 reads the
lab's moto server, the Terraform state written at `lab up` is read, every reachable host is
probed over real SSH, and the reports are written and checked.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from auditor.config import IgnoreRule, load_config
from auditor.lab import LabState
from auditor.lab.spec import HOSTILE_HOSTNAME
from auditor.pipeline import execute
from auditor.probing import probe_hosts
from auditor.report.json_report import validate_report
from tests.builders import Page
from tests.integration.moto_server import lab_aws_env

pytestmark = pytest.mark.lab
CONFIG = Path(__file__).parents[2] / "inventories" / "lab" / "audit.toml"
DAY = 86400


@pytest.fixture(scope="module")
def report(
    lab: LabState, aws_env: None, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    # A visit from the auditor's own side (as `inspect`'s front-page fetch makes): it must
    # not count as somebody using the orphan.
    import urllib.request

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open("http://10.250.77.10/", timeout=5) as page:
        page.read()
    out = tmp_path_factory.mktemp("audit")
    config = load_config(CONFIG)
    config = replace(
        config,
        audit=replace(config.audit, store=out / "history.sqlite"),
        ignore=(IgnoreRule("analytics-02", "the data team's sandbox", date(2099, 1, 1)),),
    )
    outcome = execute(config, out_dir=out, prober=probe_hosts)
    data: dict[str, Any] = json.loads(outcome.written["json"].read_text())
    data["_out"] = str(out)
    return data


def by_label(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    hosts = {}
    for host in report["hosts"]:
        for name in host["hostnames"] + [host["label"]]:
            hosts[name] = host
    return hosts


def test_every_source_read(report: dict[str, Any]) -> None:
    sources = {s["kind"]: s for s in report["run"]["sources"]}
    assert set(sources) == {"network", "aws", "ansible", "terraform"}
    assert all(s["ok"] for s in sources.values()), [s["error"] for s in sources.values()]


def test_statuses_tell_the_story(report: dict[str, Any], lab: LabState) -> None:
    hosts = by_label(report)
    assert hosts["legacy-billing01"]["status"] == "unmanaged"
    for name in ("web01", "web02", "db01", "cache01", "app01", "intranet01"):
        assert hosts[name]["status"] == "managed", (name, hosts[name]["status_reason"])
    assert hosts["old-report01"]["status"] == "stale"
    assert hosts["hand-made-1"]["status"] == "cloud-unmanaged"
    assert hosts["analytics-01"]["status"] == "cloud-unmanaged"  # eu-west-1: second region
    assert hosts["analytics-02"]["status"] == "ignored"
    assert "data team's sandbox" in hosts["analytics-02"]["status_reason"]
    statuses = [h["status"] for h in report["hosts"]]
    assert statuses.count("missing") == 1
    assert statuses.count("unmanaged") == 1  # the bridge (this machine) is excluded
    # one machine seen by nmap, Ansible and EC2 is one host
    assert set(hosts["web01"]["sources"]) == {"network", "aws", "ansible"}
    assert set(hosts["app01"]["sources"]) == {"network", "aws", "terraform"}


def test_report_matches_schema_and_html_is_inert(report: dict[str, Any]) -> None:
    data = {k: v for k, v in report.items() if k != "_out"}
    validate_report(data)
    # intranet01's own hostname, a cron line and a log file name on it are markup
    intranet = by_label(report)["intranet01"]
    assert HOSTILE_HOSTNAME in intranet["hostnames"]
    assert any("onerror=alert(3)" in line for line in intranet["facts"]["cron"])
    assert any("onerror=alert(2)" in f["path"] for f in intranet["facts"]["log_activity"]["files"])
    out = Path(report["_out"])
    html = (out / "index.html").read_text()
    page = Page(html)
    assert "img" not in page.tags and "onerror" not in page.attrs
    # The report's own (CSP-hashed) script and its data block, which the browser never runs.
    assert [s.get("type") for s in page.script_tags].count("application/json") == 1
    assert len(page.script_tags) == 2
    data_block = html.split('id="report-data">', 1)[1].split("</script>", 1)[0]
    assert "<" not in data_block  # markup inside data is escaped: it cannot close the block
    assert HOSTILE_HOSTNAME in _strings(json.loads(data_block))  # there, as data
    for name in ("summary.md", "hosts.csv"):
        assert (out / name).exists()


def _strings(value: Any) -> set[str]:
    """Every string anywhere in a JSON value."""
    if isinstance(value, str):
        return {value}
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    return {s for item in items for s in _strings(item)}


def test_every_reachable_host_has_facts(report: dict[str, Any]) -> None:
    hosts = by_label(report)
    for name in ("legacy-billing01", "web01", "web02", "db01", "cache01", "app01"):
        host = hosts[name]
        assert host["ssh"]["state"] == "ok", (name, host["ssh"])
        facts = host["facts"]
        assert facts["hostname"] == name
        assert facts["uptime_seconds"] > 0 and facts["listeners"], name
    assert hosts["db01"]["ssh"]["port"] == 2222
    for name in ("old-report01", "hand-made-1"):
        assert hosts[name]["ssh"]["state"] == "not-attempted"
        assert hosts[name]["ssh"]["reason"]
    assert "outside every [[network]] target" in hosts["analytics-01"]["ssh"]["reason"]


def test_no_connection_outside_the_lab(report: dict[str, Any]) -> None:
    # Network safety: SSH only ever went to the lab's own namespaces.
    for host in report["hosts"]:
        if host["ssh"]["state"] != "not-attempted":
            assert host["ssh"]["address"].startswith("10.250.77."), host["ssh"]


def test_the_forgotten_centos5_box(report: dict[str, Any]) -> None:
    host = by_label(report)["legacy-billing01"]
    facts = host["facts"]
    assert facts["os"]["id"] == "centos" and facts["os"]["version"].startswith("5")
    assert facts["os"]["source"] == "/etc/redhat-release"
    assert facts["os"]["eol"]["status"] == "eol" and facts["os"]["eol"]["days_past"] > 3000
    assert facts["uptime_seconds"] >= 2000 * DAY
    http = [listener for listener in facts["listeners"] if listener["port"] == 80]
    assert http and http[0]["process"] == "httpd"
    assert "/etc/httpd/conf/httpd.conf" in (http[0]["cmdline"] or "")
    assert "10.250.77.1" not in {c["address"] for c in facts["clients"]}  # that is us
    owners = {c["owner"] for c in facts["clients"]}
    assert "team-payments" in owners
    assert any(s["name"] in ("httpd", "apache") and s["version"].startswith("1.3")
               for s in facts["software"])
    rules = {f["rule"]: f for f in report["findings"] if f["host"] == host["id"]}
    assert rules["unmanaged-host"]["severity"] == "critical"  # it serves traffic
    assert "eol-os" in rules and "long-uptime" in rules
    # Who uses it: every client of the log, per team; nobody declared an owner, so the team
    # sending most of the traffic is named, with its share (issue #12 parts 1 and 2).
    teams = {t["team"]: t for t in facts["client_teams"]}
    assert set(teams) == {"team-payments", "team-data"}
    assert teams["team-payments"]["requests"] > teams["team-data"]["requests"] > 0
    counted = sum(t["requests"] for t in facts["client_teams"])
    counted += sum(n["requests"] for n in facts["client_networks"])
    assert counted == sum(w["requests"] for w in facts["web_logs"])  # the whole window
    owner = host["owner"]
    assert (owner["team"], owner["source"]) == ("team-payments", "clients")
    assert owner["detail"].startswith("inferred from clients, ") and "% of requests" in owner["detail"]
    assert any(e.startswith("owner team-payments (clients: inferred")
               for e in rules["unmanaged-host"]["evidence"])


def test_owners_from_cloud_tags(report: dict[str, Any]) -> None:
    hosts = by_label(report)
    hand_made = hosts["hand-made-1"]["owner"]
    assert (hand_made["team"], hand_made["source"]) == ("bob", "tag")
    assert hand_made["detail"].startswith("tag Owner=bob on i-")
    assert hosts["analytics-01"]["owner"]["team"] == "data"


def _software(host: dict[str, Any], name: str) -> dict[str, Any]:
    found = [s for s in host["facts"]["software"] if s["name"] == name]
    assert len(found) == 1, (name, host["facts"]["software"])
    return found[0]


def test_distribution_packages_are_judged_by_the_os(report: dict[str, Any]) -> None:
    """Issue 12 part 4: the package manager of each host says who installed each program;
    a package of a maintained OS release takes the OS's status (no finding of its own), a
    hand-installed program and everything on an OS past support keep the upstream cycle."""
    hosts = by_label(report)
    findings = [(f["host"], f["rule"], f["title"]) for f in report["findings"]]
    lines = []

    # Debian 12 (web01): its nginx 1.22 is Debian's, in Debian's LTS: not end of life.
    web01 = hosts["web01"]
    assert web01["facts"]["os"]["version"].startswith("12.")  # the point release
    nginx = _software(web01, "nginx")
    assert nginx["package"] == {"manager": "dpkg", "name": "nginx", "version": "1.22.1-9+deb12u2"}
    assert nginx["eol"]["judged_by"] == "distribution"
    assert nginx["eol"]["status"] == web01["facts"]["os"]["eol"]["status"] != "eol"
    assert nginx["eol"]["basis"].startswith("maintained by debian 12 (")
    assert "upstream nginx 1.22 ended 2023-04-11" in nginx["eol"]["basis"]
    assert not [f for f in findings if f[0] == web01["id"] and f[1] == "eol-software"
                and "nginx" in f[2]]
    lines.append(f"web01 nginx: {nginx['eol']['status']} - {nginx['eol']['basis']}")

    # Ubuntu 22.04 (web02): nginx 1.18 from Ubuntu's package.
    web02_nginx = _software(hosts["web02"], "nginx")
    assert web02_nginx["package"]["version"] == "1.18.0-6ubuntu14.6"
    assert web02_nginx["eol"]["judged_by"] == "distribution"
    assert web02_nginx["eol"]["basis"].startswith("maintained by ubuntu 22.04 (")

    # A plain Debian host: openssl and ssh are Debian's; whatever this machine added by hand
    # (a JDK unpacked under /usr/lib/jvm, /usr/local/bin) keeps its upstream cycle.
    db01 = hosts["db01"]["facts"]["software"]
    assert {p["name"] for p in db01 if (p["package"] or {}).get("manager") == "dpkg"} >= {
        "openssl", "openssh"}  # fmt: skip
    for program in db01:
        judged = "distribution" if (program["package"] or {}).get("manager") else "upstream"
        assert program["eol"]["judged_by"] == judged, program

    # CentOS 5 (past support): rpm names the packages, the upstream cycles count; the
    # Apache 1.3 built by hand is end of life either way.
    legacy = hosts["legacy-billing01"]
    httpd = _software(legacy, "httpd")
    assert httpd["package"] is None
    assert (httpd["eol"]["judged_by"], httpd["eol"]["status"]) == ("upstream", "eol")
    assert "hand-installed" in httpd["eol"]["basis"]
    openssl = _software(legacy, "openssl")
    assert openssl["package"] == {"manager": "rpm", "name": "openssl", "version": "0.9.8e-40.el5_11"}
    assert openssl["eol"]["judged_by"] == "upstream"
    assert "centos 5 is past support since 2017-03-31" in openssl["eol"]["basis"]
    assert [f for f in findings if f[0] == legacy["id"] and f[1] == "eol-software"
            and f[2].startswith("httpd 1.3 ")]
    lines.append(f"legacy-billing01 httpd: {httpd['eol']['status']} - {httpd['eol']['basis']}")

    # Alpine (BusyBox, no apk binary needed): the apk database names the packages.
    cache_openssl = _software(hosts["cache01"], "openssl")
    assert cache_openssl["package"] == {"manager": "apk", "name": "openssl", "version": "3.1.4-r5"}
    print("\n" + "\n".join(lines))


def test_busybox_host_is_probed(report: dict[str, Any]) -> None:
    facts = by_label(report)["cache01"]["facts"]
    assert facts["os"]["id"] == "alpine"
    assert any(listener["port"] == 22 for listener in facts["listeners"])


def test_drift_story_in_the_audit(report: dict[str, Any]) -> None:
    hidden = [d for d in report["drift"] if d["ignored_by_iac"]]
    orders = {d["attribute"]: d for d in hidden if d["resource"] == "aws_dynamodb_table.orders"}
    assert orders["read_capacity"]["code"] == 100 and orders["read_capacity"]["live"] == 1
    assert orders["read_capacity"]["state"] == 1  # state and cloud agree: plan looks clean
    rules = {v["rule"] for v in report["policy_violations"]}
    assert {"no-ssh-from-anywhere", "prod-dynamodb-capacity"} <= rules


def test_drift_command_on_the_lab(lab: LabState, aws_env: None, tmp_path: Path) -> None:
    import subprocess

    result = subprocess.run(
        [".venv/bin/auditor", "drift", "-c", str(CONFIG), "-o", str(tmp_path)],
        capture_output=True, text=True, cwd=CONFIG.parents[2], timeout=300,
    )
    assert result.returncode == 1, result.stderr  # findings at or above [audit] fail_on
    assert "hidden by ignore_changes" in result.stdout
    data = json.loads((tmp_path / "report.json").read_text())
    validate_report(data)
    assert data["hosts"] == [] and data["drift"]


def test_instances_an_asg_launched_are_not_orphans(report: dict[str, Any]) -> None:
    # moto's ASGs launched these; no [[ownership]] rule in the config (issue #12 part 3).
    from auditor.lab.aws import UNSTATED_ASG

    def launched_by(group: str) -> list[dict[str, Any]]:
        return [h for h in report["hosts"] if h.get("cloud")
                and (h["cloud"].get("tags") or {}).get("aws:autoscaling:groupName") == group]

    workers, batch = launched_by("workers"), launched_by(UNSTATED_ASG)
    assert workers and batch
    for host in workers:  # the drift story's ASG is in the drift-story state
        assert host["status"] == "managed", host["status_reason"]
        assert ("via aws_autoscaling_group.workers in /run/auditor-lab/drift/state/"
                "terraform.tfstate") in host["status_reason"]
    for host in batch:  # made by hand, in no state: owned by its ASG, not cloud-unmanaged
        assert host["status"] == "owned", host["status_reason"]
        assert f"Auto Scaling group '{UNSTATED_ASG}'" in host["status_reason"]
        assert host["ssh"]["state"] == "not-attempted"  # 10.251.x: outside the lab sweep
    launchers = [f for f in report["findings"] if f["rule"] == "unmanaged-launcher"]
    assert [f["title"] for f in launchers] == [
        f"Auto Scaling group '{UNSTATED_ASG}' in 123456789012/eu-west-1 launches instances "
        "but is in no Terraform state read"
    ]
    assert all(h["cloud"]["instance_id"] in launchers[0]["evidence"][0] for h in batch)
    per_instance = {f["host"] for f in report["findings"] if f["rule"] == "cloud-unmanaged"}
    assert not per_instance & {h["id"] for h in workers + batch}
    assert report["summary"]["by_status"]["owned"] == len(batch)
    # the drift check sees the same ASG in no state: kept in `drift`, no second finding
    assert any(d["kind"] == "unmanaged" and d["id"] == UNSTATED_ASG for d in report["drift"])
    assert not [f for f in report["findings"] if f["rule"] == "drift" and UNSTATED_ASG in f["title"]]


def test_an_ignored_host_is_never_connected_to(lab: LabState) -> None:
    # web02 is alive in the sweep and listed in Ansible; an [[ignore]] rule must keep the
    # probe away: its sshd (LogLevel INFO) logs every connection, and must log none.
    from auditor.pipeline import discover

    config = load_config(CONFIG)
    config = replace(config, ignore=(IgnoreRule("web02", "change freeze on the web tier"),))
    with lab_aws_env():
        discovery = discover(config)
    hosts = {h.label: h for h in discovery.hosts}
    assert hosts["web02"].status.value == "ignored" and hosts["web02"].alive
    web02_log = Path(lab.host("web02").host_dir) / "sshd.log"
    web01_log = Path(lab.host("web01").host_dir) / "sshd.log"
    before = web02_log.read_text(), web01_log.read_text()
    probed = probe_hosts(config, (hosts["web02"], hosts["web01"]))
    after = web02_log.read_text(), web01_log.read_text()
    assert probed.ssh[hosts["web01"].id].state == "ok"
    assert after[1] != before[1]  # the control: a probe does leave lines in sshd.log
    outcome = probed.ssh[hosts["web02"].id]
    assert outcome.state == "not-attempted"
    assert "change freeze on the web tier" in (outcome.reason or "")
    assert after[0] == before[0], after[0][len(before[0]):]


def test_stale_means_checked_twice(report: dict[str, Any]) -> None:
    # The audit's own discover re-checks the listed host the sweep did not see (part 7).
    reason = by_label(report)["old-report01"]["status_reason"]
    assert "nor a direct check of 22, 80, 443, 2222/tcp (no ping, 3 retries)" in reason
