"""Who may send raw packets: root, ambient capabilities, or file capabilities on nmap.

The `security.capability` values are real: read back with os.getxattr after `setcap` on this
machine (revision 2 with and without the effective flag; revision 3 from `setcap -n 1000`)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from auditor.sources.scan_privilege import (
    RAW_SCAN_CAPABILITIES,
    ambient_capabilities,
    decide,
    file_capabilities,
    scan_privilege,
)

# setcap cap_net_raw,cap_net_admin+eip
EIP_V2 = bytes.fromhex("0100000200300000003000000000000000000000")
# setcap cap_net_raw,cap_net_admin+ip (no effective flag: not raised at exec)
IP_V2 = bytes.fromhex("0000000200300000003000000000000000000000")
# setcap -n 1000 cap_net_raw,cap_net_admin+eip (namespaced, revision 3)
EIP_V3 = bytes.fromhex("0100000300300000003000000000000000000000e8030000")

STATUS = """Name:\tcat
Umask:\t0022
CapInh:\t0000000000000000
CapPrm:\t0000000000003000
CapEff:\t0000000000003000
CapBnd:\t000001ffffffffff
CapAmb:\t0000000000003000
"""


def test_file_capabilities_from_real_xattrs() -> None:
    assert file_capabilities(EIP_V2) == RAW_SCAN_CAPABILITIES
    assert file_capabilities(EIP_V3) == RAW_SCAN_CAPABILITIES
    assert file_capabilities(IP_V2) == 0  # permitted but never effective
    for garbage in (b"", b"\x01\x00\x00\x02", b"\x01\x00\x00\x09" + bytes(16)):
        with pytest.raises(ValueError):
            file_capabilities(garbage)


def test_ambient_capabilities_from_proc_status() -> None:
    assert ambient_capabilities(STATUS) == RAW_SCAN_CAPABILITIES
    assert ambient_capabilities("Name:\tx\nCapEff:\t0000000000003000\n") == 0  # old kernel


def test_decide() -> None:
    assert decide(0, 0, None, None).raw and not decide(0, 0, None, None).tell_nmap
    ambient = decide(1000, RAW_SCAN_CAPABILITIES, None, "/usr/bin/nmap")
    assert ambient.raw and ambient.tell_nmap and "ambient" in ambient.how
    capped = decide(1000, 0, RAW_SCAN_CAPABILITIES, "/usr/bin/nmap")
    assert capped.raw and capped.tell_nmap and "/usr/bin/nmap" in capped.how
    only_raw = 1 << 13
    assert not decide(1000, only_raw, only_raw, "/usr/bin/nmap").raw  # both are needed
    assert not decide(1000, 0, None, None).raw


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setcap") is None or shutil.which("nmap") is None,
    reason="needs root and setcap to give a copy of nmap file capabilities",
)
def test_a_copy_of_nmap_with_file_capabilities(tmp_path: Path) -> None:
    nmap = tmp_path / "nmap"
    shutil.copy(shutil.which("nmap") or "", nmap)
    plain = scan_privilege(str(nmap))
    assert plain.raw  # we are root
    subprocess.run(["setcap", "cap_net_raw,cap_net_admin+eip", str(nmap)], check=True)
    assert file_capabilities(os.getxattr(nmap, "security.capability")) == RAW_SCAN_CAPABILITIES
