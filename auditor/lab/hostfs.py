"""Each host's private view of the machine, prepared under `STATE/hosts/NAME/` before boot.

A host boots as PID 1 of its own PID namespace, inside its netns, its own UTS namespace
(hostname) and a private mount namespace, by running `boot.sh` (written here), which:

- overlays /etc, /var and /usr with upper dirs under the state dir, so the host can write
  anywhere there and the real files never change; binds a fresh /root from the state dir;
- mounts private tmpfs on /run, /tmp, /dev/shm (the state dir is bound back in if it lives
  there), and makes the rest of / read-only in its own view;
- for centos5, binds files over /proc/uptime, /proc/version, /proc/sys/kernel/osrelease
  (as LXCFS does) and starts the Apache 1.3 look-alike;
- configures eth0 and lo, then execs /usr/sbin/sshd -D with the sshd_config of the
  private /etc view.

Everything a profile changes is written into the upper dirs here: files, symlinks, and
overlay whiteouts (char device 0:0) that hide a lower file such as /etc/os-release.
"""

from __future__ import annotations

import os
import shlex
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from auditor.errors import LabError
from auditor.lab import logs
from auditor.lab.spec import AUDITOR_UID, AUDITOR_USER, HOSTILE_HOSTNAME, HostSpec, LabSpec, Profile

# 2000 days, the way /proc/uptime prints it (uptime, then idle seconds summed over CPUs).
CENTOS5_UPTIME = "172800000.00 343212345.67\n"
CENTOS5_KERNEL = "2.6.18-419.el5"
CENTOS5_PROC_VERSION = (
    f"Linux version {CENTOS5_KERNEL} (mockbuild@builder10.centos.org) "
    "(gcc version 4.1.2 20080704 (Red Hat 4.1.2-55)) "
    "#1 SMP Fri Feb 24 22:47:42 UTC 2017\n"
)
CENTOS5_HTTPD_CONF = """\
# httpd.conf for legacy-billing01 -- DO NOT TOUCH, ask Dave (left 2016)
ServerType standalone
ServerRoot "/etc/httpd"
PidFile /var/run/httpd.pid
Timeout 300
KeepAlive On
MaxClients 150
Listen 80
User apache
Group apache
ServerAdmin root@localhost
DocumentRoot "/var/www/html"
ServerSignature On
ErrorLog logs/error_log
LogLevel warn
LogFormat "%h %l %u %t \\"%r\\" %>s %b \\"%{Referer}i\\" \\"%{User-Agent}i\\"" combined
CustomLog logs/access_log combined
<Location /server-status>
    SetHandler server-status
    Order deny,allow
    Deny from all
    Allow from 10.20.0.0/16
</Location>
"""

# What CentOS 5.11's own programs answer to the version flags an audit uses (the Debian
# binaries underneath would give the game away): usr-relative path -> sh script.
_OPENSSL_5 = "OpenSSL 0.9.8e-fips-rhel5 01 Jul 2008"
CENTOS5_STUBS: dict[str, str] = {
    "bin/openssl": f"""#!/bin/sh
case "$1" in
  version) echo "{_OPENSSL_5}"
    [ "${{2:-}}" = "-a" ] && echo "built on: Mon Feb 20 10:35:09 EST 2017"; exit 0 ;;
esac
echo "openssl:Error: '$1' is an invalid command." >&2; exit 1
""",
    "bin/ssh": f"""#!/bin/sh
case "$1" in -V) echo "OpenSSH_4.3p2, {_OPENSSL_5}" >&2; exit 0 ;; esac
echo "ssh: outbound connections are disabled on this lab host" >&2; exit 255
""",
    "bin/php": """#!/bin/sh
case "$1" in -v|--version)
  echo "PHP 5.1.6 (cli) (built: Nov 29 2010 16:47:46)"
  echo "Copyright (c) 1997-2006 The PHP Group"
  echo "Zend Engine v2.1.0, Copyright (c) 1998-2006 Zend Technologies"; exit 0 ;;
esac
echo "Could not open input file: $1" >&2; exit 1
""",
    "bin/python": """#!/bin/sh
case "$1" in -V|--version) echo "Python 2.4.3" >&2; exit 0 ;; esac
echo "python: this lab host only answers --version" >&2; exit 2
""",
}

CENTOS5_CRONTAB = """\
SHELL=/bin/bash
PATH=/sbin:/bin:/usr/sbin:/usr/bin
MAILTO=root
HOME=/

# run-parts
01 * * * * root run-parts /etc/cron.hourly
02 4 * * * root run-parts /etc/cron.daily
22 4 * * 0 root run-parts /etc/cron.weekly
42 4 1 * * root run-parts /etc/cron.monthly
"""
CENTOS5_BILLING_CRON = """\
# nightly invoice export to the payments SFTP drop (dave, 2013)
15 2 * * * root /opt/billing/bin/nightly-export.sh >/dev/null 2>&1
*/10 * * * * root /opt/billing/bin/retry-failed-charges.sh
"""

# Tools a CentOS 5 box does not have; hidden in its /usr by whiteouts (when present below).
CENTOS5_HIDDEN = (
    "bin/ss",
    "sbin/ss",
    "bin/systemctl",
    "bin/hostnamectl",
    "bin/timedatectl",
    "bin/journalctl",
    "bin/loginctl",
    "bin/busctl",
    "bin/dpkg",
    "bin/dpkg-query",
    "bin/apt",
    "bin/apt-get",
    "bin/apt-cache",
    "bin/lsb_release",
    "lib/os-release",
)
ALPINE_HIDDEN = (
    "bin/bash",
    "bin/dpkg",
    "bin/dpkg-query",
    "bin/rpm",
    "bin/apt",
    "bin/apt-get",
    "bin/apt-cache",
    "bin/lsb_release",
    "bin/systemctl",
)
# Never replaced by BusyBox applets in the alpine view: what the lab itself relies on.
BUSYBOX_KEEP = frozenset({"busybox"})

UBUNTU_LSB = """\
DISTRIB_ID=Ubuntu
DISTRIB_RELEASE=22.04
DISTRIB_CODENAME=jammy
DISTRIB_DESCRIPTION="Ubuntu 22.04.5 LTS"
"""


def _files() -> Path:
    return Path(str(resources.files("auditor.lab") / "files"))


@dataclass(frozen=True)
class KeyPair:
    private_openssh: bytes
    public_line: str  # "ssh-ed25519 AAAA... comment"

    @property
    def key_type(self) -> str:
        return self.public_line.split()[0]

    @property
    def key_b64(self) -> str:
        return self.public_line.split()[1]


def generate_key(kind: str, comment: str) -> KeyPair:
    """An OpenSSH key pair (`ed25519` or `ecdsa`), made in-process: no ssh-keygen runs."""
    priv: ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey
    if kind == "ed25519":
        priv = ed25519.Ed25519PrivateKey.generate()
    elif kind == "ecdsa":
        priv = ec.generate_private_key(ec.SECP256R1())
    else:
        raise ValueError(kind)
    private = priv.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    public = (
        priv.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )
    return KeyPair(private, f"{public} {comment}")


def write_key(path: Path, key: KeyPair) -> None:
    _write(path, key.private_openssh, 0o600)
    _write(path.with_name(path.name + ".pub"), key.public_line + "\n", 0o644)


def whiteout(path: Path) -> None:
    """Hide the lower file at this path in the overlay's merged view."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() or path.is_symlink():
        path.unlink()
    os.mknod(path, stat.S_IFCHR | 0o000, os.makedev(0, 0))


def opaque_dir(path: Path, subdirs: tuple[str, ...] = ()) -> None:
    """An empty directory in the merged view: the lower one's contents are hidden."""
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        path.unlink()
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o755)
    os.setxattr(path, "trusted.overlay.opaque", b"y")
    for sub in subdirs:
        (path / sub).mkdir(exist_ok=True)


def _hide_machine_software(etc: Path, usr: Path) -> None:
    """What this machine has installed beyond Debian's base (JDKs, PostgreSQL, whatever is
    in /usr/local) and Debian's cron jobs: a dressed-up host must not show them."""
    for rel in ("lib/jvm", "lib/postgresql"):
        if (Path("/usr") / rel).exists():
            whiteout(usr / rel)
    opaque_dir(usr / "local", ("bin", "sbin", "lib", "share", "etc", "include", "src"))
    for name in ("cron.d", "cron.daily", "cron.hourly", "cron.weekly", "cron.monthly"):
        opaque_dir(etc / name)


def _write(path: Path, text: str | bytes, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_symlink() or path.exists():
        path.unlink()
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    path.chmod(mode)


def _symlink(path: Path, target: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_symlink() or path.exists():
        path.unlink()
    path.symlink_to(target)


def _layer(hdir: Path, name: str, mode: int) -> tuple[Path, Path]:
    upper, work = hdir / f"{name}.upper", hdir / f"{name}.work"
    for d in (upper, work):
        d.mkdir(parents=True, exist_ok=True)
    # The merged root directory takes its owner and mode from the upper dir.
    os.chown(upper, 0, 0)
    upper.chmod(mode)
    return upper, work


def python_for_scripts() -> str:
    """The interpreter for the Python look-alikes: the system's, else the running one.

    The real file, not the `python3` symlink: the centos5 host hides `python3`.
    """
    if Path("/usr/bin/python3").exists():
        return os.path.realpath("/usr/bin/python3")
    return os.path.realpath(sys.executable)


def _install_script(
    dest: Path, resource: str, interpreter: str | None, replace: tuple[str, str] | None = None
) -> None:
    text = (_files() / resource).read_text()
    if replace is not None:
        text = text.replace(*replace)
    if interpreter is not None:
        first, _, rest = text.partition("\n")
        if first.startswith("#!"):
            text = f"#!{interpreter} -I\n{rest}"
    _write(dest, text, 0o755)


def _make_home(home: Path, uid: int, mode: int) -> None:
    """A home directory with the distribution's skeleton dotfiles."""
    home.mkdir(parents=True)
    skel = Path("/etc/skel")
    for dot in sorted(skel.iterdir()) if skel.is_dir() else []:
        if dot.is_file():
            shutil.copyfile(dot, home / dot.name)
            os.chown(home / dot.name, uid, uid)
    home.chmod(mode)
    os.chown(home, uid, uid)


def _passwd_entries(hdir: Path, profile: Profile) -> tuple[str, str, str]:
    """passwd, group and shadow for the host: the machine's accounts, every password field
    `*` (no password, not locked: sshd without PAM refuses locked accounts), plus `auditor`."""
    root_shell = "/bin/ash" if profile is Profile.ALPINE else "/bin/bash"
    home = hdir / "home" / AUDITOR_USER
    passwd, shadow, group = [], [], []
    for line in Path("/etc/passwd").read_text().splitlines():
        parts = line.split(":")
        if len(parts) != 7 or parts[0] == AUDITOR_USER or parts[2] == str(AUDITOR_UID):
            continue
        if parts[0] == "root":
            parts[6] = root_shell
        passwd.append(":".join(parts))
        shadow.append(f"{parts[0]}:*:19500:0:99999:7:::")
    passwd.append(
        f"{AUDITOR_USER}:x:{AUDITOR_UID}:{AUDITOR_UID}:auditor lab account:{home}:/bin/sh"
    )
    shadow.append(f"{AUDITOR_USER}:*:19500:0:99999:7:::")
    for line in Path("/etc/group").read_text().splitlines():
        parts = line.split(":")
        if len(parts) == 4 and parts[0] != AUDITOR_USER and parts[2] != str(AUDITOR_UID):
            group.append(line)
    group.append(f"{AUDITOR_USER}:x:{AUDITOR_UID}:")
    return ("\n".join(passwd) + "\n", "\n".join(group) + "\n", "\n".join(shadow) + "\n")


def sshd_config(host: HostSpec, profile: Profile, hdir: Path) -> str:
    lines = [
        f"# auditor lab: {host.name} ({profile.value}); generated, private to this host",
        f"Port {host.port}",
        f"ListenAddress {host.address}",
        "AddressFamily inet",
        "HostKey /etc/ssh/ssh_host_ed25519_key",
        "HostKey /etc/ssh/ssh_host_ecdsa_key",
        "PidFile /run/sshd.pid",
        # Keys live in the host's private /etc (physically under the state dir): no real
        # home directory is read, and StrictModes passes wherever the state dir is.
        "AuthorizedKeysFile /etc/ssh/authorized_keys/%u",
        "PubkeyAuthentication yes",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "PermitRootLogin prohibit-password",
        f"AllowUsers root {AUDITOR_USER}",
        "UsePAM no",
        "StrictModes yes",
        "UseDNS no",
        "PrintMotd no",
        "PrintLastLog no",
        "X11Forwarding no",
        "MaxStartups 64:30:128",
        "LoginGraceTime 30",
        "LogLevel INFO",
        "Subsystem sftp internal-sftp",
    ]
    if profile not in (Profile.DEBIAN12, Profile.FILLER):
        lines.append("DebianBanner no")
    return "\n".join(lines) + "\n"


def _etc_common(
    spec: LabSpec, host: HostSpec, profile: Profile, hdir: Path, etc: Path, authorized: str
) -> None:
    passwd, group, shadow = _passwd_entries(hdir, profile)
    _write(etc / "passwd", passwd)
    _write(etc / "group", group)
    _write(etc / "shadow", shadow, 0o640)
    _write(etc / "hostname", f"{host.name}\n")
    _write(
        etc / "hosts",
        f"127.0.0.1\tlocalhost\n{host.address}\t{host.name}\n{spec.gateway_for(host)}\tauditor-lab-gw\n",
    )
    # No name server is reachable from a lab host; glibc gives up at once on loopback.
    _write(
        etc / "resolv.conf",
        "# auditor lab: no DNS\nnameserver 127.0.0.1\noptions timeout:1 attempts:1\n",
    )
    _write(
        etc / "sudoers.d" / AUDITOR_USER,
        f"# auditor lab: the audit account may sudo without a password\n"
        f"{AUDITOR_USER} ALL=(ALL) NOPASSWD: ALL\n",
        0o440,
    )
    (etc / "sudoers.d").chmod(0o755)
    ssh = etc / "ssh"
    ssh.mkdir(parents=True, exist_ok=True)
    ssh.chmod(0o755)
    # Hide the real machine's host keys from the lab hosts.
    for lower in Path("/etc/ssh").glob("ssh_host_*"):
        whiteout(ssh / lower.name)
    for kind in ("ed25519", "ecdsa"):
        write_key(ssh / f"ssh_host_{kind}_key", generate_key(kind, f"root@{host.name}"))
    _write(ssh / "sshd_config", sshd_config(host, profile, hdir))
    keys = ssh / "authorized_keys"
    keys.mkdir(exist_ok=True)
    keys.chmod(0o755)
    for user in ("root", AUDITOR_USER):
        _write(keys / user, authorized)


def _profile_centos5(host: HostSpec, hdir: Path, etc: Path, usr: Path, now: datetime) -> None:
    _write(etc / "redhat-release", "CentOS release 5.11 (Final)\n")
    _write(etc / "issue", "CentOS release 5.11 (Final)\nKernel \\r on an \\m\n\n")
    _write(etc / "issue.net", "CentOS release 5.11 (Final)\nKernel \\r on an \\m\n\n")
    for name in ("os-release", "lsb-release", "debian_version"):
        whiteout(etc / name)
    _write(etc / "httpd" / "conf" / "httpd.conf", CENTOS5_HTTPD_CONF)
    _symlink(etc / "httpd" / "logs", "../../var/log/httpd")
    _write(etc / "sysconfig" / "network", f"NETWORKING=yes\nHOSTNAME={host.name}\n")
    _hide_machine_software(etc, usr)
    _write(etc / "crontab", CENTOS5_CRONTAB)
    _write(etc / "cron.d" / "billing", CENTOS5_BILLING_CRON)
    _write(
        etc / "cron.daily" / "logrotate",
        "#!/bin/sh\n/usr/sbin/logrotate /etc/logrotate.conf\n",
        0o755,
    )
    for rel in CENTOS5_HIDDEN:
        if (Path("/usr") / rel).exists() or (Path("/usr") / rel).is_symlink():
            whiteout(usr / rel)
    # Its package manager is rpm (the look-alike answers `-qf` for the stubs below); the
    # Debian underneath keeps its dpkg database out of sight.
    _hide_package_databases(hdir, ("dpkg",))
    (hdir / "var.upper" / "lib" / "rpm").mkdir(parents=True, exist_ok=True)
    py = python_for_scripts()
    _install_script(usr / "sbin" / "httpd", "webserver.py", py)
    _install_script(usr / "bin" / "rpm", "rpm.py", py)
    _install_script(usr / "bin" / "uname", "uname.sh", None)
    for rel, script in CENTOS5_STUBS.items():
        _write(usr / rel, script, 0o755)
    if py != "/usr/bin/python3" and Path("/usr/bin/python3").exists():
        whiteout(usr / "bin" / "python3")  # CentOS 5 had Python 2.4 only
    # /var/log of the box, bound over the Debian one (CentOS logs, no Debian logs).
    varlog = hdir / "varlog"
    (varlog / "httpd").mkdir(parents=True, exist_ok=True)
    _write(varlog / "httpd" / "access_log", "\n".join(logs.access_log(now)) + "\n")
    _write(varlog / "httpd" / "error_log", "")
    _write(varlog / "messages", "\n".join(logs.messages_log(now, host.name)) + "\n", 0o600)
    _write(varlog / "secure", "\n".join(logs.secure_log(now, host.name)) + "\n", 0o600)
    _write(varlog / "yum.log", "\n".join(logs.yum_log()) + "\n", 0o600)
    for name in ("wtmp", "lastlog", "btmp", "cron", "maillog"):
        _write(varlog / name, "", 0o600 if name == "btmp" else 0o644)
    procfs = hdir / "proc"
    procfs.mkdir(exist_ok=True)
    _write(procfs / "uptime", CENTOS5_UPTIME, 0o444)
    _write(procfs / "version", CENTOS5_PROC_VERSION, 0o444)
    _write(procfs / "osrelease", CENTOS5_KERNEL + "\n", 0o444)


def _profile_ubuntu(etc: Path, usr: Path) -> None:
    os_release = (_files() / "os-release" / "ubuntu_2204").read_text()
    _write(etc / "os-release", os_release)
    _write(usr / "lib" / "os-release", os_release)
    _write(etc / "lsb-release", UBUNTU_LSB)
    _write(etc / "debian_version", "bookworm/sid\n")
    _write(etc / "issue", "Ubuntu 22.04.5 LTS \\n \\l\n\n")
    _write(etc / "issue.net", "Ubuntu 22.04.5 LTS\n")


NGINX_CONF = """\
user www-data;
worker_processes auto;
pid /run/nginx.pid;
events { worker_connections 768; }
http {
    sendfile on;
    server_tokens on;
    access_log /var/log/nginx/access.log;
    error_log /var/log/nginx/error.log;
    include /etc/nginx/conf.d/*.conf;
    include /etc/nginx/sites-enabled/*;
}
"""


def _service_nginx(host: HostSpec, hdir: Path, etc: Path, usr: Path) -> None:
    """The distribution's nginx on :80 (Debian 12: 1.22.1; Ubuntu 22.04: 1.18.0)."""
    version = "nginx/1.18.0 (Ubuntu)" if host.profile is Profile.UBUNTU2204 else "nginx/1.22.1"
    _install_script(
        usr / "sbin" / "nginx",
        "webserver.py",
        python_for_scripts(),
        ('NGINX_VERSION = "nginx/1.22.1"', f'NGINX_VERSION = "{version}"'),
    )
    _write(etc / "nginx" / "nginx.conf", NGINX_CONF)
    package = NGINX_PACKAGES.get(host.profile)
    if package is not None:
        _register_nginx_package(hdir, *package)
    logdir = hdir / "var.upper" / "log" / "nginx"
    logdir.mkdir(parents=True, exist_ok=True)
    logdir.chmod(0o755)


# Alpine 3.18's packages of the programs the alpine host shows (the binaries are the Debian
# ones underneath): name, version, files (absolute, resolved), in /lib/apk/db/installed's
# format, which the probe reads with awk.
ALPINE_PACKAGES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("busybox", "1.36.1-r7", ("/usr/bin/busybox",)),
    ("openssl", "3.1.4-r5", ("/usr/bin/openssl",)),
    ("openssh-client-default", "9.3_p2-r1", ("/usr/bin/ssh",)),
    ("python3", "3.11.8-r1", ("/usr/bin/python3", "/usr/bin/python3.11")),
)


def alpine_apk_database() -> str:
    """/lib/apk/db/installed for ALPINE_PACKAGES: a record per package, `F:` folder lines
    (relative, as apk writes them) each followed by its `R:` files."""
    records = []
    for name, version, files in ALPINE_PACKAGES:
        lines = [f"P:{name}", f"V:{version}", "A:x86_64", f"o:{name}"]
        folders: dict[str, list[str]] = {}
        for path in files:
            folder, _, base = path.rpartition("/")
            folders.setdefault(folder.lstrip("/"), []).append(base)
        for folder, bases in folders.items():
            lines.append(f"F:{folder}")
            lines += [f"R:{base}" for base in bases]
        records.append("\n".join(lines) + "\n")
    return "\n".join(records) + "\n"


def _hide_package_databases(hdir: Path, names: tuple[str, ...]) -> None:
    """A dressed-up host has only its own package manager's database in /var/lib: the
    machine's dpkg (and rpm, where Debian's rpm is installed) are hidden."""
    for name in names:
        if Path("/var/lib", name).exists():
            whiteout(hdir / "var.upper" / "lib" / name)


# The nginx look-alike registered with dpkg the way the distribution's package is, so the
# probe finds it packaged (judged by the OS): profile -> (version, maintainer).
NGINX_PACKAGES: dict[Profile, tuple[str, str]] = {
    Profile.DEBIAN12: (
        "1.22.1-9+deb12u2",
        "Debian Nginx Maintainers <pkg-nginx-maintainers@alioth-lists.debian.net>",
    ),
    Profile.UBUNTU2204: (
        "1.18.0-6ubuntu14.6",
        "Ubuntu Developers <ubuntu-devel-discuss@lists.ubuntu.com>",
    ),
}


def _register_nginx_package(hdir: Path, version: str, maintainer: str) -> None:
    """nginx in the host's dpkg database: its file list and a status stanza (the machine's
    own status file plus it, in the host's /var)."""
    info = hdir / "var.upper" / "lib" / "dpkg" / "info"
    info.mkdir(parents=True, exist_ok=True)
    _write(info / "nginx.list", "/.\n/usr\n/usr/sbin\n/usr/sbin/nginx\n")
    status = Path("/var/lib/dpkg/status")
    text = status.read_text() if status.exists() else ""
    if "\nPackage: nginx\n" not in "\n" + text:
        text = text.rstrip("\n") + "\n\n" if text.strip() else ""
        text += (
            "Package: nginx\nStatus: install ok installed\nPriority: optional\n"
            f"Section: httpd\nInstalled-Size: 1350\nMaintainer: {maintainer}\n"
            f"Architecture: amd64\nVersion: {version}\n"
            "Description: small, powerful, scalable web/proxy server\n"
        )
    _write(info.parent / "status", text)


def busybox_applets() -> tuple[str, ...]:
    """`busybox --list-full` (paths like `usr/bin/wget`), or () without BusyBox."""
    if shutil.which("busybox") is None:
        return ()
    out = subprocess.run(
        ["busybox", "--list-full"], capture_output=True, text=True, check=False
    ).stdout
    return tuple(line.strip() for line in out.splitlines() if line.strip())


def _profile_alpine(hdir: Path, etc: Path, usr: Path, applets: Iterable[str]) -> None:
    os_release = (_files() / "os-release" / "alpine_3_18").read_text()
    _write(etc / "os-release", os_release)
    _write(usr / "lib" / "os-release", os_release)
    _write(etc / "alpine-release", "3.18.12\n")
    _write(etc / "issue", "Welcome to Alpine Linux 3.18\nKernel \\r on an \\m (\\l)\n\n")
    for name in ("lsb-release", "debian_version", "crontab"):
        whiteout(etc / name)
    _hide_machine_software(etc, usr)
    varlog = hdir / "varlog"
    varlog.mkdir(exist_ok=True)
    for name in ("messages", "wtmp", "lastlog"):
        _write(varlog / name, "", 0o644)
    for rel in ALPINE_HIDDEN:
        if (Path("/usr") / rel).exists():
            whiteout(usr / rel)
    _hide_package_databases(hdir, ("dpkg", "rpm"))
    _write(usr / "lib" / "apk" / "db" / "installed", alpine_apk_database())
    # BusyBox over the usual tools: every applet replaces the Debian tool of the same name
    # in /usr/bin and /usr/sbin (with merged /usr that covers /bin and /sbin too), so the
    # host answers like Alpine whatever PATH a client brings: `ls --help` says BusyBox,
    # /bin/sh is ash. PATH tricks (sshd SetEnv) would miss absolute paths and `sudo`.
    target = os.path.realpath(shutil.which("busybox") or "/bin/busybox")
    for full in applets:
        name = full.rsplit("/", 1)[-1]
        if name in BUSYBOX_KEEP:
            continue
        dirs = {"sbin" if "sbin/" in full else "bin"}
        for d in ("bin", "sbin"):
            if (Path("/usr") / d / name).exists():
                dirs.add(d)
        for d in dirs:
            _symlink(usr / d / name, target)


def boot_script(spec: LabSpec, host: HostSpec, profile: Profile, hdir: Path) -> str:
    """The POSIX sh run as PID 1 of the host's namespaces; it ends by exec'ing sshd."""
    q = shlex.quote
    state = str(spec.state_dir)
    lines = [
        "#!/bin/sh",
        f"# auditor lab: boots {host.name} ({profile.value}); generated by `auditor lab up`",
        "set -eu",
        "cd /",
        f"H={q(str(hdir))}",
        f"STATE={q(state)}",
        # `hostname` refuses markup; the kernel takes any bytes, as a hostile host would.
        (
            f"printf '%s' {q(HOSTILE_HOSTNAME)} > /proc/sys/kernel/hostname"
            if "hostile" in host.services
            else f"hostname {q(host.name)}"
        ),
        # Network first, with the tools of the real /usr, in one `ip` run (a 1,000-host lab
        # boots 1,000 of these scripts): the gateway's MAC is pinned, so the machine-wide
        # neighbour limits never see the lab (LabSpec.neighbours).
        "printf '%s\\n' 'link set lo up' 'link set dev eth0 addrgenmode none' "
        f"'addr add {host.address}/{spec.subnet_of(host).prefixlen} dev eth0' "
        "'link set eth0 up' "
        f"'neigh replace {spec.gateway_for(host)} lladdr {spec.gateway_mac_for(host)} dev eth0 "
        "nud permanent' | ip -batch -",
        'ov() { mount -n -t overlay "audlab-$1" '
        '-o "lowerdir=$2,upperdir=$H/$1.upper,workdir=$H/$1.work" "$2"; }',
        # The state dir gets a mount of its own, so it stays writable when / goes read-only.
        'mount -n --bind "$STATE" "$STATE"',
        "ov etc /etc",
        "ov var /var",
        # A fresh home for root: the machine's /root (dotfiles, credentials) stays unseen.
        'mount -n --bind "$H/home/root" /root',
    ]
    if profile in (Profile.CENTOS5, Profile.ALPINE):
        lines.append('mount -n --bind "$H/varlog" /var/log')  # its own logs, not Debian's
    lines += [
        # A private tmpfs over $1, built aside in $2 and moved into place; if the state dir
        # lives below $1 it is bound back in first, so its paths stay valid in the host.
        "private_tmpfs() {",
        '  mount -n -t tmpfs -o "mode=$3,size=64m" audlab-tmpfs "$2"',
        '  case "$STATE/" in "$1"/*)',
        '    rel=${STATE#"$1"/}; mkdir -p "$2/$rel"; mount -n --bind "$STATE" "$2/$rel";;',
        "  esac",
        '  mount -n --move "$2" "$1"',
        "}",
        'private_tmpfs /run "$H/mnt/run" 755',
        "mkdir -m 755 /run/sshd",
        "mkdir -m 1777 /run/lock",
        ": > /run/utmp",
        'private_tmpfs /tmp "$H/mnt/tmp" 1777',
        "mount -n -t tmpfs -o mode=1777,size=64m audlab-shm /dev/shm",
    ]
    if profile is Profile.CENTOS5:
        lines += [
            'mount -n --bind "$H/proc/uptime" /proc/uptime',
            'mount -n --bind "$H/proc/version" /proc/version',
            'mount -n --bind "$H/proc/osrelease" /proc/sys/kernel/osrelease',
        ]
    lines += [
        # Everything not overlaid above (/home, /opt, /srv, the work tree...) is read-only
        # in the host: this changes this namespace's mount flags, not the filesystem.
        "mount -n -o remount,bind,ro /",
        # Last: after this, the alpine host's mount/ip are BusyBox applets.
        "ov usr /usr",
    ]
    if profile is Profile.CENTOS5:
        lines.append(
            '/usr/sbin/httpd -f /etc/httpd/conf/httpd.conf </dev/null >>"$H/httpd.out" 2>&1 &'
        )
    if "nginx" in host.services:
        lines.append('/usr/sbin/nginx </dev/null >>"$H/nginx.out" 2>&1 &')
    lines.append('exec /usr/sbin/sshd -D -f /etc/ssh/sshd_config -E "$H/sshd.log"')
    return "\n".join(lines) + "\n"


def _hostile_strings(hdir: Path, etc: Path) -> None:
    """Markup where a host controls the text: a cron line and a log file's name."""
    _write(
        etc / "cron.d" / "intranet",
        "# <script>alert('cron')</script>\n"
        "*/5 * * * * root /usr/bin/true '<img src=x onerror=alert(3)>'\n",
    )
    log_dir = hdir / "var.upper" / "log"
    log_dir.mkdir(parents=True, exist_ok=True)
    _write(log_dir / "<img src=x onerror=alert(2)>.log", "</pre><script>alert(4)</script>\n")


def prepare_host(
    spec: LabSpec, host: HostSpec, authorized: str, now: datetime, applets: tuple[str, ...] = ()
) -> Path:
    """Write everything host `host` boots from into `STATE/hosts/NAME/`; returns that dir."""
    profile = host.profile
    hdir = spec.state_dir / "hosts" / host.name
    if hdir.exists():
        shutil.rmtree(hdir)
    hdir.mkdir(parents=True)
    hdir.chmod(0o755)
    etc, _ = _layer(hdir, "etc", 0o755)
    _layer(hdir, "var", 0o755)
    for d in ("mnt/run", "mnt/tmp"):
        (hdir / d).mkdir(parents=True)
    _make_home(hdir / "home" / "root", 0, 0o700)
    _make_home(hdir / "home" / AUDITOR_USER, AUDITOR_UID, 0o750)
    _etc_common(spec, host, profile, hdir, etc, authorized)
    usr, _ = _layer(hdir, "usr", 0o755)
    if profile is Profile.CENTOS5:
        _profile_centos5(host, hdir, etc, usr, now)
    elif profile is Profile.UBUNTU2204:
        _profile_ubuntu(etc, usr)
    elif profile is Profile.ALPINE:
        if not applets:
            raise LabError("the alpine profile needs BusyBox (apt-get install busybox)")
        _profile_alpine(hdir, etc, usr, applets)
    if "nginx" in host.services:
        _service_nginx(host, hdir, etc, usr)
    if "hostile" in host.services:
        _hostile_strings(hdir, etc)
    _write(hdir / "boot.sh", boot_script(spec, host, profile, hdir), 0o755)
    for name in ("sshd.log", "boot.log"):
        _write(hdir / name, "", 0o644)
    return hdir
