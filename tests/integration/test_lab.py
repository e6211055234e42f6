"""The lab is real: SSH into every host with the lab key and strict host keys, check each
profile from the inside, check moto's seeded cloud and the Terraform state, then take the lab
down and check nothing is left. Only lab addresses and 127.0.0.1 are contacted.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

import paramiko
import pytest

from auditor.config import load_config
from auditor.errors import LabError
from auditor.lab import LabState, demo_spec, lab_down, lab_status, lab_up
from auditor.lab.aws import MISSING_INSTANCE_ID, UNSTATED_ASG, ec2_client
from auditor.lab.cli import main as lab_main
from auditor.lab.net import conflicts_in
from auditor.lab.spec import DEMO_HOSTS, HOSTILE_HOSTNAME, mac_for

LAB_NET = IPv4Network("10.250.77.0/24")
HOSTNAMES = [name for name, *_ in DEMO_HOSTS]


def _lab_address(address: str) -> str:
    # Network safety: every connection made by this file goes through here or to 127.0.0.1.
    assert IPv4Address(address) in LAB_NET, f"{address} is not a lab address"
    return address


class Fleet:
    """Cached paramiko connections into the lab, strict about host keys."""

    def __init__(self, lab: LabState) -> None:
        self.lab = lab
        self._clients: dict[tuple[str, str], paramiko.SSHClient] = {}

    def client(self, host: str, user: str = "auditor") -> paramiko.SSHClient:
        key = (host, user)
        if key not in self._clients:
            h = self.lab.host(host)
            c = paramiko.SSHClient()
            c.load_host_keys(str(self.lab.known_hosts))
            c.set_missing_host_key_policy(paramiko.RejectPolicy())
            c.connect(
                _lab_address(h.address),
                port=h.port,
                username=user,
                key_filename=str(self.lab.key_file),
                look_for_keys=False,
                allow_agent=False,
                timeout=5,
                banner_timeout=5,
                auth_timeout=5,
            )
            self._clients[key] = c
        return self._clients[key]

    def run(self, host: str, command: str, user: str = "auditor") -> tuple[int, str, str]:
        _, stdout, stderr = self.client(host, user).exec_command(command, timeout=15)
        out = stdout.read().decode()
        err = stderr.read().decode()
        return stdout.channel.recv_exit_status(), out, err

    def ok(self, host: str, command: str, user: str = "auditor") -> str:
        rc, out, err = self.run(host, command, user)
        assert rc == 0, f"{host}: `{command}` exited {rc}: {err}"
        return out

    def close(self) -> None:
        for c in self._clients.values():
            c.close()


@pytest.fixture(scope="module")
def fleet(lab: LabState) -> Iterator[Fleet]:
    f = Fleet(lab)
    yield f
    f.close()


# ------------------------------------------------------------------ every host


@pytest.mark.lab
@pytest.mark.parametrize("name", HOSTNAMES)
def test_host_answers_with_its_own_hostname_and_sudo(fleet: Fleet, name: str) -> None:
    # the hostile-strings host's own name is markup, on purpose
    expected = HOSTILE_HOSTNAME if name == "intranet01" else name
    assert fleet.ok(name, "hostname").strip() == expected
    assert fleet.ok(name, "id -un; id -u").split() == ["auditor", "1777"]
    assert fleet.ok(name, "sudo -n id -u").strip() == "0"
    assert fleet.ok(name, "hostname", user="root").strip() == expected


@pytest.mark.lab
def test_password_login_is_not_offered(lab: LabState) -> None:
    h = lab.host("web01")
    transport = paramiko.Transport((_lab_address(h.address), h.port))
    try:
        transport.start_client(timeout=5)
        with pytest.raises(paramiko.BadAuthenticationType) as exc:
            transport.auth_none("auditor")
        assert exc.value.allowed_types == ["publickey"]
    finally:
        transport.close()


@pytest.mark.lab
def test_openssh_client_with_strict_known_hosts(lab: LabState) -> None:
    for name in ("web01", "db01"):
        h = lab.host(name)
        out = subprocess.run(
            [
                "ssh",
                "-i",
                str(lab.key_file),
                "-o",
                f"UserKnownHostsFile={lab.known_hosts}",
                "-o",
                "GlobalKnownHostsFile=/dev/null",
                "-o",
                "StrictHostKeyChecking=yes",
                "-o",
                "BatchMode=yes",
                "-o",
                "IdentitiesOnly=yes",
                "-o",
                "ConnectTimeout=5",
                "-F",
                "/dev/null",
                "-p",
                str(h.port),
                f"auditor@{_lab_address(h.address)}",
                "hostname",
            ],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == name


@pytest.mark.lab
def test_known_hosts_names_port_2222_in_brackets(lab: LabState) -> None:
    lines = lab.known_hosts.read_text().splitlines()
    assert any(line.startswith("[db01]:2222,[10.250.77.13]:2222 ssh-ed25519 ") for line in lines)
    assert any(line.startswith("web01,10.250.77.11 ssh-ed25519 ") for line in lines)
    assert len(lines) == 2 * len(lab.hosts)  # ed25519 + ecdsa per host


@pytest.mark.lab
def test_db01_listens_on_2222_only(fleet: Fleet, lab: LabState) -> None:
    assert lab.host("db01").port == 2222
    assert fleet.ok("db01", "hostname").strip() == "db01"
    listening = fleet.ok("db01", "cat /proc/net/tcp")
    local_ports = {
        int(line.split()[1].split(":")[1], 16)
        for line in listening.splitlines()[1:]
        if line.split()[3] == "0A"
    }
    assert local_ports == {2222}


@pytest.mark.lab
def test_hosts_cannot_change_the_real_machine(fleet: Fleet) -> None:
    marker = f"auditor-lab-test-{os.getpid()}"
    for path in (f"/etc/{marker}", f"/usr/{marker}", f"/var/{marker}", f"/root/{marker}"):
        fleet.ok("web01", f"sudo -n sh -c 'echo x > {path} && test -e {path}'")
        assert not Path(path).exists(), f"{path} leaked out of the lab host"
    rc, _, err = fleet.run("web01", f"sudo -n touch /opt/{marker}")
    assert rc != 0 and "Read-only" in err
    assert not Path(f"/opt/{marker}").exists()


# ------------------------------------------------------------------ centos5


@pytest.mark.lab
def test_centos5_release_files(fleet: Fleet) -> None:
    host = "legacy-billing01"
    assert fleet.ok(host, "cat /etc/redhat-release").strip() == "CentOS release 5.11 (Final)"
    for path in (
        "/etc/os-release",
        "/etc/lsb-release",
        "/usr/lib/os-release",
        "/etc/debian_version",
    ):
        rc, _, _ = fleet.run(host, f"test -e {path}")
        assert rc != 0, f"{path} should not exist on CentOS 5"
    assert fleet.ok(host, "uname -r").strip() == "2.6.18-419.el5"
    assert "2.6.18-419.el5" in fleet.ok(host, "cat /proc/version")
    assert "openssl-0.9.8e-40.el5_11.x86_64" in fleet.ok(host, "rpm -qa").splitlines()
    assert fleet.ok(host, "openssl version").startswith("OpenSSL 0.9.8e")
    assert fleet.run(host, "python --version")[2].strip() == "Python 2.4.3"
    assert fleet.run(host, "command -v python3")[0] != 0


@pytest.mark.lab
def test_centos5_uptime_is_2000_days(fleet: Fleet) -> None:
    seconds = float(fleet.ok("legacy-billing01", "cat /proc/uptime").split()[0])
    assert seconds >= 2000 * 86400


@pytest.mark.lab
def test_centos5_has_netstat_not_ss(fleet: Fleet) -> None:
    rc, out, _ = fleet.run("legacy-billing01", "command -v ss")
    assert rc != 0 and out == ""
    assert fleet.ok("legacy-billing01", "command -v netstat").strip().endswith("/netstat")
    # Modern Debian still has ss: the hiding is the centos5 host's alone.
    assert fleet.ok("web01", "command -v ss").strip()


@pytest.mark.lab
def test_centos5_httpd_looks_like_apache_1_3(fleet: Fleet) -> None:
    host = "legacy-billing01"
    assert (
        fleet.ok(host, "/usr/sbin/httpd -v").splitlines()[0]
        == "Server version: Apache/1.3.42 (Unix)"
    )
    assert fleet.ok(host, "/usr/sbin/httpd -v").splitlines()[1].startswith("Server built:")
    pid = fleet.ok(host, "pidof httpd || pgrep -x httpd").split()[0]
    assert fleet.ok(host, f"cat /proc/{pid}/comm").strip() == "httpd"
    cmdline = fleet.ok(host, f"tr '\\0' ' ' < /proc/{pid}/cmdline").strip()
    assert cmdline == "/usr/sbin/httpd -f /etc/httpd/conf/httpd.conf"
    conf = fleet.ok(host, "cat /etc/httpd/conf/httpd.conf")
    assert "CustomLog logs/access_log combined" in conf
    assert fleet.ok(host, "readlink -f /etc/httpd/logs").strip() == "/var/log/httpd"
    assert ":80 " in fleet.ok(host, "netstat -tln")


@pytest.mark.lab
def test_centos5_port_80_serves_apache_and_logs_the_request(fleet: Fleet, lab: LabState) -> None:
    addr = _lab_address(lab.host("legacy-billing01").address)
    conn = http.client.HTTPConnection(addr, 80, timeout=5)
    try:
        conn.request("GET", "/?from=lab-test", headers={"User-Agent": "lab-test/1"})
        resp = conn.getresponse()
        resp.read()
    finally:
        conn.close()
    assert resp.status == 200
    assert resp.getheader("Server") == "Apache/1.3.42 (Unix)"
    last = fleet.ok("legacy-billing01", "tail -n 1 /var/log/httpd/access_log")
    assert last.startswith(f"{lab.gateway} - - [")
    assert '"GET /?from=lab-test HTTP/1.1" 200 ' in last and '"lab-test/1"' in last


_COMBINED = re.compile(
    r'^(\S+) \S+ \S+ \[([^\]]+)\] "(\S+) (\S+) [^"]*" (\d{3}) (\d+|-) '
    r'"[^"]*" "[^"]*"$'
)


@pytest.mark.lab
def test_centos5_access_log_is_recent_and_from_the_payments_subnet(fleet: Fleet) -> None:
    lines = fleet.ok("legacy-billing01", "sudo -n cat /var/log/httpd/access_log").splitlines()
    assert len(lines) >= 300
    now = datetime.now().astimezone()
    clients, paths = [], []
    for line in lines:
        m = _COMBINED.match(line)
        assert m, f"not combined format: {line}"
        stamp = datetime.strptime(m.group(2), "%d/%b/%Y:%H:%M:%S %z")
        assert now - timedelta(days=8) < stamp <= now + timedelta(minutes=1), line
        clients.append(m.group(1))
        paths.append(m.group(4))
    payments = sum(c.startswith("10.20.") for c in clients)
    data = sum(c.startswith("10.30.") for c in clients)
    assert payments > len(lines) / 2
    assert data > 10
    assert any(p.startswith(("/admin/", "/server-status", "/phpmyadmin/")) for p in paths)
    days = {ln.split("[", 1)[1][:11] for ln in lines}
    assert len(days) >= 6  # spread over the week


@pytest.mark.lab
def test_centos5_syslog_files_are_recent(fleet: Fleet) -> None:
    now = datetime.now()
    recent = {
        (now - timedelta(days=d)).strftime("%b ") + f"{(now - timedelta(days=d)).day:2d}"
        for d in range(8)
    }
    for path in ("/var/log/messages", "/var/log/secure"):
        lines = fleet.ok("legacy-billing01", f"sudo -n cat {path}").splitlines()
        assert lines, path
        assert all(line[:6] in recent for line in lines), path
        assert all(" legacy-billing01 " in line for line in lines)


# ------------------------------------------------------------------ other profiles


@pytest.mark.lab
def test_ubuntu_profile(fleet: Fleet) -> None:
    os_release = fleet.ok("web02", "cat /etc/os-release")
    assert "ID=ubuntu" in os_release and 'VERSION_ID="22.04"' in os_release
    assert "DISTRIB_RELEASE=22.04" in fleet.ok("web02", "cat /etc/lsb-release")


@pytest.mark.lab
def test_alpine_profile_has_busybox_tools(fleet: Fleet) -> None:
    os_release = fleet.ok("cache01", "cat /etc/os-release")
    assert "ID=alpine" in os_release
    assert fleet.ok("cache01", "cat /etc/alpine-release").strip().startswith("3.18")
    assert "BusyBox" in fleet.ok("cache01", "ls --help 2>&1 || true")
    assert fleet.ok("cache01", "readlink -f /bin/sh").strip().endswith("/busybox")
    rc, _, _ = fleet.run("cache01", "command -v bash")
    assert rc != 0


@pytest.mark.lab
def test_debian_profile_is_the_real_debian(fleet: Fleet) -> None:
    assert "ID=debian" in fleet.ok("web01", "cat /etc/os-release")
    assert (
        fleet.ok("app01", "cat /etc/debian_version").strip()
        == Path("/etc/debian_version").read_text().strip()
    )


@pytest.mark.lab
@pytest.mark.parametrize(
    ("name", "server"), [("web01", "nginx/1.22.1"), ("web02", "nginx/1.18.0 (Ubuntu)")]
)
def test_web_hosts_run_their_distributions_nginx(
    fleet: Fleet, lab: LabState, name: str, server: str
) -> None:
    h = lab.host(name)
    assert h.http_port == 80 and h.web_pid is not None
    conn = http.client.HTTPConnection(_lab_address(h.address), 80, timeout=5)
    try:
        conn.request("HEAD", "/")
        resp = conn.getresponse()
    finally:
        conn.close()
    assert resp.status == 200 and resp.getheader("Server") == server
    rc, _, err = fleet.run(name, "/usr/sbin/nginx -v")
    assert rc == 0 and err.strip() == f"nginx version: {server}"
    pid = fleet.ok(name, "pgrep -x nginx").split()[0]
    assert fleet.ok(name, f"tr '\\0' ' ' < /proc/{pid}/cmdline").startswith(
        "nginx: master process /usr/sbin/nginx"
    )
    assert '"HEAD / HTTP/1.1" 200' in fleet.ok(name, "tail -n 1 /var/log/nginx/access.log")
    # Only the web hosts serve HTTP.
    assert lab.host("db01").http_port is None


@pytest.mark.lab
def test_each_host_sees_only_its_own_processes(fleet: Fleet) -> None:
    comms = fleet.ok("legacy-billing01", "ps -e -o comm=").split()
    assert "httpd" in comms and "moto_server" not in comms
    assert fleet.ok("web01", "cat /proc/1/comm").strip() == "sshd"


@pytest.mark.lab
def test_neighbour_entries_are_pinned_on_both_sides_of_every_link(lab: LabState) -> None:
    # Permanent entries are exempt from the machine's gc_thresh limits (README "The lab").
    def neighbours(*netns: str, dev: str) -> dict[str, dict[str, object]]:
        out = subprocess.run([*("ip", *netns), "-j", "-4", "neigh", "show", "dev", dev],
                             capture_output=True, text=True, check=True).stdout  # fmt: skip
        return {e["dst"]: e for e in json.loads(out or "[]")}

    bridge = neighbours(dev=lab.bridge)
    for h in lab.hosts:
        entry = bridge[h.address]
        assert entry["state"] == ["PERMANENT"] and entry["lladdr"] == mac_for(IPv4Address(h.address))
        inside = neighbours("-n", h.netns, dev="eth0")[lab.gateway]
        assert inside["state"] == ["PERMANENT"]
        assert inside["lladdr"] == mac_for(IPv4Address(lab.gateway))
    link = subprocess.run(["ip", "-j", "link", "show", "dev", lab.bridge], capture_output=True,
                          text=True, check=True).stdout  # fmt: skip
    assert json.loads(link)[0]["address"] == mac_for(IPv4Address(lab.gateway))


# ------------------------------------------------------------------ AWS (moto) and IaC


@pytest.mark.lab
def test_moto_has_the_seeded_instances(lab: LabState) -> None:
    assert lab.aws is not None
    assert lab.aws.endpoint_url.startswith("http://127.0.0.1:")
    home = ec2_client(lab.aws.endpoint_url, "us-east-1")
    found = {
        i["PrivateIpAddress"]: i
        for r in home.describe_instances()["Reservations"]
        for i in r["Instances"]
        # the drift story's own VPC (10.252.0.0/16): its resized instance and its ASG's
        if not i["PrivateIpAddress"].startswith("10.252.")
    }
    assert set(found) == {"10.250.77.15", "10.250.77.11", "10.250.77.200"}
    names = {
        ip: {t["Key"]: t["Value"] for t in i.get("Tags", [])}["Name"] for ip, i in found.items()
    }
    assert names == {
        "10.250.77.15": "app01",
        "10.250.77.11": "web01",
        "10.250.77.200": "hand-made-1",
    }
    other = ec2_client(lab.aws.endpoint_url, "eu-west-1")
    launched_by = {
        i["PrivateIpAddress"]: {t["Key"]: t["Value"] for t in i.get("Tags", [])}.get(
            "aws:autoscaling:groupName"
        )
        for r in other.describe_instances()["Reservations"]
        for i in r["Instances"]
    }
    assert all(ip.startswith("10.251.") for ip in launched_by)
    # analytics-01/02, and the instance the hand-made ASG launched (owned, issue #12 part 3)
    assert sorted(launched_by.values(), key=str) == [None, None, UNSTATED_ASG]
    recorded = json.loads((Path(lab.state_dir) / "aws.json").read_text())
    assert {i["instance_id"] for i in recorded["instances"]} == {
        i.instance_id for i in lab.aws.instances
    }
    assert found["10.250.77.15"]["InstanceId"] == lab.aws.instance("app01").instance_id


@pytest.mark.lab
def test_terraform_state_matches_the_cloud(lab: LabState) -> None:
    assert lab.aws is not None
    tf = json.loads(lab.terraform_state.read_text())
    assert tf["version"] == 4
    instances = {
        (r["name"], inst.get("index_key")): inst["attributes"]
        for r in tf["resources"]
        if r["type"] == "aws_instance"
        for inst in r["instances"]
    }
    app = instances[("app", 0)]
    assert app["private_ip"] == "10.250.77.15"
    assert app["id"] == lab.aws.instance("app01").instance_id
    assert instances[("etl", None)]["id"] == MISSING_INSTANCE_ID
    ec2 = ec2_client(lab.aws.endpoint_url, "us-east-1")
    live = {
        i["InstanceId"] for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]
    }
    assert app["id"] in live and MISSING_INSTANCE_ID not in live


# ------------------------------------------------------------------ lifecycle


@pytest.mark.lab
def test_status_is_healthy(lab: LabState) -> None:
    status = lab_status(Path(lab.state_dir))
    assert status.healthy, status
    assert {h.name for h in status.hosts} == set(HOSTNAMES)
    assert all(h.banner and h.banner.startswith("SSH-2.0-OpenSSH") for h in status.hosts)


@pytest.mark.lab
def test_up_again_is_a_no_op(lab: LabState) -> None:
    again = lab_up(demo_spec(state_dir=Path(lab.state_dir)))
    assert [h.init_pid for h in again.hosts] == [h.init_pid for h in lab.hosts]
    assert again.aws == lab.aws


def test_overlapping_routes_and_addresses_are_conflicts() -> None:
    subnet = IPv4Network("10.250.77.0/24")
    routes = [
        {"dst": "default", "gateway": "192.0.2.1", "dev": "eth0"},
        {"dst": "10.250.0.0/16", "dev": "wg0", "table": "main"},
        {"dst": "10.250.77.0/24", "dev": "audlab0"},
        {"dst": "10.250.77.9", "type": "blackhole", "table": "42"},
        {"dst": "192.0.2.0/24", "dev": "eth0"},
    ]
    addrs = [
        {
            "ifname": "eth0",
            "addr_info": [{"family": "inet", "local": "192.0.2.2", "prefixlen": 24}],
        },
        {
            "ifname": "tun3",
            "addr_info": [{"family": "inet", "local": "10.250.77.77", "prefixlen": 32}],
        },
        {
            "ifname": "audlab0",
            "addr_info": [{"family": "inet", "local": "10.250.77.1", "prefixlen": 24}],
        },
    ]
    found = conflicts_in(subnet, routes, addrs)
    assert [c.detail for c in found] == [
        "10.250.0.0/16 dev wg0 table main",
        "10.250.77.9 dev blackhole table 42",
        "10.250.77.77/32 on tun3",
    ]


INVENTORY = Path(__file__).resolve().parents[2] / "inventories" / "lab"


def test_lab_inventories_describe_the_lab_partly() -> None:
    tool = Path(sys.executable).parent / "ansible-inventory"
    if not tool.exists():
        pytest.skip("ansible-inventory (ansible-core) is not installed in this environment")
    out = subprocess.run(
        [
            str(tool),
            "-i",
            str(INVENTORY / "hosts.ini"),
            "-i",
            str(INVENTORY / "hosts.yml"),
            "--list",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        env={**os.environ, "ANSIBLE_LOCAL_TEMP": "/tmp/.ansible-lab-test"},
    )
    hostvars = json.loads(out.stdout)["_meta"]["hostvars"]
    spec = demo_spec()
    assert set(hostvars) == {"web01", "web02", "db01", "cache01", "intranet01", "old-report01"}
    for name in ("web01", "web02", "db01", "cache01"):
        assert hostvars[name]["ansible_host"] == str(spec.host(name).address)
    assert int(hostvars["db01"]["ansible_port"]) == spec.host("db01").port == 2222
    assert hostvars["old-report01"]["ansible_host"] == "10.250.77.50"
    assert all(h.address != IPv4Address("10.250.77.50") for h in spec.hosts)


def test_example_terraform_state_and_config() -> None:
    tf = json.loads((INVENTORY / "terraform" / "terraform.tfstate").read_text())
    assert tf["version"] == 4
    ips = {
        f"{r['type']}.{r['name']}": r["instances"][0]["attributes"].get("private_ip")
        for r in tf["resources"]
    }
    assert ips["aws_instance.app"] == "10.250.77.15"
    assert ips["aws_instance.etl"] == "10.250.77.60"
    config = load_config(INVENTORY / "audit.toml")
    # Network safety: the demo config targets the lab subnet and loopback only.
    assert [n.targets for n in config.network] == [(str(LAB_NET),)]
    assert all((a.endpoint_url or "").startswith("http://127.0.0.1:") for a in config.aws)
    assert config.terraform[0].state == ("/run/auditor-lab/terraform.tfstate",)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch to an unprivileged user")
def test_without_root_up_explains_why_root_is_needed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state_dir = tmp_path / "state"
    os.seteuid(65534)
    try:
        with pytest.raises(LabError, match="needs root"):
            lab_up(demo_spec(state_dir=state_dir))
        rc = lab_main(["up", "--state-dir", str(state_dir)])
    finally:
        os.seteuid(0)
    assert rc == 3
    err = capsys.readouterr().err
    assert "needs root" in err and "network namespaces" in err
    assert not state_dir.exists()


@pytest.mark.lab
@pytest.mark.lab_down
def test_down_removes_everything(lab: LabState, lab_session: object) -> None:
    if getattr(lab_session, "preexisting", False):
        pytest.skip("the lab was up before this session: leaving it up")
    pids = [p for h in lab.hosts for p in (h.init_pid, h.supervisor_pid, h.web_pid) if p]
    assert lab.aws is not None and lab.aws.pid is not None
    pids.append(lab.aws.pid)
    lab_down(Path(lab.state_dir))
    lab_session.down = True  # type: ignore[attr-defined]
    netns = subprocess.run(
        ["ip", "netns", "list"], capture_output=True, text=True, check=True
    ).stdout
    assert "audlab" not in netns
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
    assert "audlab" not in links and "audv-" not in links
    assert "audlab" not in Path("/proc/mounts").read_text()
    for pid in pids:
        stat = Path(f"/proc/{pid}/stat")
        assert not stat.exists() or stat.read_text().rsplit(")", 1)[1].split()[0] == "Z", pid
    assert not Path(lab.state_dir).exists()
    # And a second down is harmless.
    assert lab_down(Path(lab.state_dir)) == ()
