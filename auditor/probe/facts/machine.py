"""What kind of machine this is: virtualisation, hardware model, CPUs, memory, and where
the auditor's own SSH connection comes from. Used by `auditor inspect` only (INSPECT_FACTS).

Best first: `systemd-detect-virt` (systemd hosts), then what anyone may read without
dmesg or root: /sys/class/dmi/id/{sys_vendor,product_name,...}, the `hypervisor` CPU flag
in /proc/cpuinfo, /proc/xen, /proc/vz, /.dockerenv, /run/.containerenv and /proc/1/cgroup.
No metadata service is ever queried (169.254.169.254 is off limits): the DMI vendor names
the cloud when there is one.

`$SSH_CONNECTION` ("client port server port") names the auditor's address as the host
sees it, so the auditor's own sessions and connections can be left out of "who uses it".
"""

from __future__ import annotations

from dataclasses import dataclass

from auditor.probe.interface import FactUpdate, ParseContext, part_failure
from auditor.probe.options import ProbeOptions
from auditor.probe.parsers.addresses import normalise_address
from auditor.probe.sections import Section
from auditor.probe.shell import fill, quote

DMI_FIELDS = (
    "sys_vendor", "product_name", "product_version", "board_vendor", "board_name",
    "bios_vendor", "chassis_vendor",
)  # fmt: skip

AWK_CPUINFO = r"""
$1 ~ /^flags/ && f == 0 { f = 1; n = split($2, a, " "); for (i = 1; i <= n; i++)
  if (a[i] == "hypervisor") h = 1 }
$1 ~ /^model name/ && m == "" { m = $2; sub(/^[ \t]+/, "", m) }
$1 ~ /^processor/ { c++ }
END { print "hypervisor=" (h + 0); print "cpus=" (c + 0); print "model=" m }
"""

_SNIPPET = r"""
if _has systemd-detect-virt; then
  _tt @CT@; O=$($TT systemd-detect-virt 2>&1); _o machine/virt $? "$O"
else
  _o machine/virt 127 "systemd-detect-virt: command not found"
fi
O=
for f in @DMI@; do
  [ -r "/sys/class/dmi/id/$f" ] && O="$O$f=$(sed -n 1p "/sys/class/dmi/id/$f" 2>/dev/null)
"
done
_o machine/dmi 0 "$O"
O=$(awk -F: @AWK_CPU@ /proc/cpuinfo 2>&1); _o machine/cpu $? "$O"
O=$(awk '$1 == "MemTotal:" { print $2 }' /proc/meminfo 2>&1); _o machine/memory $? "$O"
O=
for f in /.dockerenv /run/.containerenv /proc/xen /proc/vz /proc/bc; do
  [ -e "$f" ] && O="$O$f
"
done
O="$O$(sed -n '1,20p' /proc/1/cgroup 2>/dev/null | sed 's/^/cgroup /')"
_o machine/hints 0 "$O"
_o machine/ssh 0 "${SSH_CONNECTION:-}"
"""


@dataclass(frozen=True)
class MachineHints:
    """Hints about the machine; any of them may be None when nothing said."""

    virtualization: str | None  # kvm, vmware, xen, docker, lxc, none ... (None: unknown)
    virtualization_source: str | None  # what said so (evidence)
    vendor: str | None  # DMI sys_vendor
    product: str | None  # DMI product_name
    cloud: str | None  # aws, gcp, azure, openstack ... from the DMI vendor/product only
    hypervisor_flag: bool | None  # the CPU's `hypervisor` flag
    cpu_model: str | None = None
    cpus: int | None = None
    memory_kb: int | None = None
    auditor_address: str | None = None  # our address as the host sees it ($SSH_CONNECTION)


# DMI product/vendor words -> hypervisor, as systemd-detect-virt names them.
_DMI_VIRT = (
    ("vmware", "vmware"),
    ("virtualbox", "oracle"),
    ("innotek", "oracle"),
    ("kvm", "kvm"),
    ("qemu", "qemu"),
    ("standard pc (", "kvm"),  # QEMU/KVM machine types: "Standard PC (i440FX + PIIX, 1996)"
    ("hvm domu", "xen"),
    ("xen", "xen"),
    ("bochs", "bochs"),
    ("parallels", "parallels"),
    ("amazon ec2", "amazon"),
    ("google compute engine", "google"),
    ("openstack", "kvm"),
    ("droplet", "kvm"),
    ("virtual machine", "microsoft"),  # Hyper-V/Azure: "Microsoft Corporation Virtual Machine"
)
_DMI_CLOUD = (
    ("amazon", "aws"),
    ("google", "gcp"),
    ("microsoft corporation virtual machine", "azure or hyper-v"),
    ("openstack", "openstack"),
    ("digitalocean", "digitalocean"),
    ("droplet", "digitalocean"),
    ("hetzner", "hetzner"),
    ("alibaba", "alibaba"),
    ("oraclecloud", "oracle cloud"),
)


def parse_key_values(text: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in text.split("\n"):
        key, sep, value = line.partition("=")
        if sep and key.strip():
            values[key.strip()] = value.strip()
    return values


def virtualization_from(
    detect_virt: str | None,
    dmi: dict[str, str],
    hints: tuple[str, ...],
    hypervisor_flag: bool | None,
) -> tuple[str | None, str | None]:
    """(what the machine runs on, what said so). `detect_virt` is systemd-detect-virt's
    answer when it ran. Containers win over the hardware they run on (both are shown)."""
    if detect_virt:
        return detect_virt, "systemd-detect-virt"
    container = _container_from(hints)
    if container:
        return container
    described = " ".join(dmi.get(k, "") for k in ("sys_vendor", "product_name")).lower()
    for word, name in _DMI_VIRT:
        if word in described:
            return name, f"DMI: {dmi.get('sys_vendor', '')} {dmi.get('product_name', '')}".strip()
    if "/proc/xen" in hints:
        return "xen", "/proc/xen exists"
    if hypervisor_flag:
        return "vm", "the CPU reports the hypervisor flag"
    if dmi and hypervisor_flag is False:
        return "none", "DMI names real hardware and the CPU has no hypervisor flag"
    return None, None


def _container_from(hints: tuple[str, ...]) -> tuple[str, str] | None:
    if "/.dockerenv" in hints:
        return "docker", "/.dockerenv exists"
    if "/run/.containerenv" in hints:
        return "podman", "/run/.containerenv exists"
    if "/proc/vz" in hints and "/proc/bc" not in hints:
        return "openvz", "/proc/vz without /proc/bc (an OpenVZ container)"
    for line in hints:
        if not line.startswith("cgroup "):
            continue
        path = line.rsplit(":", 1)[-1]
        for word, name in (("/docker", "docker"), ("/lxc", "lxc"), ("/kubepods", "kubernetes")):
            if path.startswith(word) or f"{word}/" in path or f"{word}-" in path:
                return name, f"PID 1 cgroup {path}"
    return None


def cloud_from(dmi: dict[str, str]) -> str | None:
    described = " ".join(
        dmi.get(k, "") for k in ("sys_vendor", "product_name", "bios_vendor", "board_vendor")
    ).lower()
    for word, name in _DMI_CLOUD:
        if word in described:
            return name
    return None


def parse_machine(section: Section) -> tuple[MachineHints, dict[str, str]]:
    """MachineHints from the machine/* parts, and reasons for what could not be read."""
    errors: dict[str, str] = {}
    virt_part = section.get("virt")
    detect_virt = None
    if virt_part is not None and virt_part.status in (0, 1):
        # systemd-detect-virt exits 1 and prints "none" on bare metal.
        answer = virt_part.first_line()
        detect_virt = answer if answer and " " not in answer else None
    dmi_part = section.get("dmi")
    dmi = parse_key_values(dmi_part.body) if dmi_part else {}
    dmi = {k: v for k, v in dmi.items() if v and v.lower() not in _DMI_PLACEHOLDERS}
    cpu_part = section.get("cpu")
    cpu = parse_key_values(cpu_part.body) if cpu_part and cpu_part.ok else {}
    if not cpu:
        errors["machine.cpu"] = part_failure(cpu_part, "/proc/cpuinfo")
    flag = {"1": True, "0": False}.get(cpu.get("hypervisor", ""))
    hints_part = section.get("hints")
    hints = tuple(line.strip() for line in (hints_part.lines if hints_part else ()) if line.strip())
    virtualization, source = virtualization_from(detect_virt, dmi, hints, flag)
    memory_part = section.get("memory")
    memory = memory_part.first_line() if memory_part and memory_part.ok else ""
    ssh_part = section.get("ssh")
    ssh_words = ssh_part.first_line().split() if ssh_part else []
    hints_value = MachineHints(
        virtualization=virtualization,
        virtualization_source=source,
        vendor=dmi.get("sys_vendor"),
        product=dmi.get("product_name"),
        cloud=cloud_from(dmi),
        hypervisor_flag=flag,
        cpu_model=cpu.get("model") or None,
        cpus=int(cpu["cpus"]) if cpu.get("cpus", "").isdigit() and cpu["cpus"] != "0" else None,
        memory_kb=int(memory) if memory.isdigit() else None,
        auditor_address=normalise_address(ssh_words[0]) if len(ssh_words) == 4 else None,
    )
    return hints_value, errors


# Values vendors leave in DMI fields that say nothing.
_DMI_PLACEHOLDERS = frozenset(
    {"to be filled by o.e.m.", "default string", "system product name", "not specified",
     "none", "o.e.m.", "system manufacturer"}
)  # fmt: skip


@dataclass(frozen=True)
class MachineFact:
    name: str = "machine"
    fields: tuple[str, ...] = ("machine",)
    privileged: bool = False

    def snippet(self, options: ProbeOptions) -> str:
        return fill(
            _SNIPPET,
            CT=options.command_timeout,
            DMI=" ".join(DMI_FIELDS),
            AWK_CPU=quote(AWK_CPUINFO),
        )

    def parse(self, section: Section, context: ParseContext) -> FactUpdate:
        hints, errors = parse_machine(section)
        return FactUpdate({"machine": hints}, errors)
