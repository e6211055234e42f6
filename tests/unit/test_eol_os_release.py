"""Every os-release file in tests/fixtures/os-release (155 distributions, from chef/os_release,
Apache-2.0) maps to the product/cycle in EXPECTED, or to an explicit unknown.

EXPECTED is the mapping policy written out: a change in what any distribution maps to must
change this table. Values: (product, cycle) when the status is known; (product, None) when the
product is known but the version names no cycle in the data; None when nothing maps.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from auditor.eol import identify_os, load_embedded, os_eol, os_product_cycle, parse_os_release

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "os-release"
AUDIT_DATE = date(2026, 11, 28)

EXPECTED: dict[str, tuple[str, str | None] | None] = {
    "alma_10": ("almalinux", "10"),
    "alma_8": ("almalinux", "8"),
    "alma_9": ("almalinux", "9"),
    "alpine_3_10": ("alpine-linux", "3.10"),
    "alpine_3_11": ("alpine-linux", "3.11"),
    "alpine_3_12": ("alpine-linux", "3.12"),
    "alpine_3_13": ("alpine-linux", "3.13"),
    "alpine_3_14": ("alpine-linux", "3.14"),
    "alpine_3_15": ("alpine-linux", "3.15"),
    "alpine_3_16": ("alpine-linux", "3.16"),
    "alpine_3_17": ("alpine-linux", "3.17"),
    "alpine_3_18": ("alpine-linux", "3.18"),
    "alpine_3_19": ("alpine-linux", "3.19"),
    "alpine_3_20": ("alpine-linux", "3.20"),
    "alpine_3_21": ("alpine-linux", "3.21"),
    "alpine_3_22": ("alpine-linux", "3.22"),
    "alpine_3_23": ("alpine-linux", "3.23"),
    "alpine_3_8": ("alpine-linux", "3.8"),
    "alpine_3_9": ("alpine-linux", "3.9"),
    "amazon_2": ("amazon-linux", "2"),
    "amazon_2018": ("amazon-linux", "2018.03"),
    "amazon_2023": ("amazon-linux", "2023"),
    "antergos": None,
    "arch": None,  # rolling release
    "archarm": None,
    "arcolinux": None,
    "azurelinux_3": None,
    "bottlerocket": (
        "amazon-linux",
        "2",
    ),  # the file upstream ships under this name is Amazon Linux 2's
    "buildroot": None,
    "cachyos": None,
    "cbl-mariner_2": None,
    "centos_7": ("centos", "7"),
    "centos_8": ("centos", "8"),
    "centos_stream_8": ("centos-stream", "8"),  # ID=centos, NAME="CentOS Stream"
    "centos_stream_9": ("centos-stream", "9"),  # ID=centos, NAME="CentOS Stream"
    "clearlinux_1": None,
    "clearos_7": None,
    "coreos": None,
    "cos_97": None,
    "cumulus_3_7": None,
    "cumulus_5_12": None,
    "debian_10": ("debian", "10"),
    "debian_11": ("debian", "11"),
    "debian_12": ("debian", "12"),
    "debian_13": ("debian", "13"),
    "debian_7": ("debian", "7"),
    "debian_8": ("debian", "8"),
    "debian_9": ("debian", "9"),
    "elementary_5": None,
    "elementary_6": None,
    "elementary_7": None,  # ID_LIKE="ubuntu debian" but elementary 7 is not Debian 7
    "endeavouros": None,
    "fedora_28": ("fedora", "28"),
    "fedora_29": ("fedora", "29"),
    "fedora_30": ("fedora", "30"),
    "fedora_31": ("fedora", "31"),
    "fedora_32": ("fedora", "32"),
    "fedora_33": ("fedora", "33"),
    "fedora_34": ("fedora", "34"),
    "fedora_35": ("fedora", "35"),
    "fedora_36": ("fedora", "36"),
    "fedora_37": ("fedora", "37"),
    "fedora_38": ("fedora", "38"),
    "fedora_39": ("fedora", "39"),
    "fedora_40": ("fedora", "40"),
    "fedora_41": ("fedora", "41"),
    "fedora_42": ("fedora", "42"),
    "fedora_43": ("fedora", "43"),
    "flatcar": None,
    "gardenlinux": None,  # the file is Huawei Cloud EulerOS's (ID=hce): no data
    "gentoo_214": None,
    "gentoo_218": None,
    "hce_2": None,
    "ios_xr_6": None,
    "kali_2018_4": None,
    "kali_2019_4": None,
    "kali_2025_4": None,
    "kubuntu_22_04": ("ubuntu", "22.04"),
    "kubuntu_24_04": ("ubuntu", "24.04"),
    "linuxmint_18": None,
    "linuxmint_19": None,
    "linuxmint_20": None,
    "linuxmint_21": None,  # Mint numbers its own releases
    "linuxmint_22": None,
    "lubuntu_22_04": ("ubuntu", "22.04"),
    "lubuntu_24_04": ("ubuntu", "24.04"),
    "mageia_6": None,  # ID_LIKE fedora, but Mageia 6 is not Fedora 6
    "mageia_9": None,
    "manjaro": None,
    "manjaro-arm": None,
    "mxlinux": ("debian", "12"),  # MX Linux ships Debian's own os-release (ID=debian)
    "nexus_7": None,
    "nixos": None,
    "nobara": None,  # Fedora-based, own product: not guessed
    "openeuler": None,
    "opensuse_13": ("opensuse", "13.2"),
    "opensuseleap_15": ("opensuse", "15.6"),
    "opensuseleap_16": ("opensuse", "16.0"),
    "opensuseleap_42_3": ("opensuse", "42.3"),
    "opensusetumbleweed": None,  # rolling release
    "openwrt_2203": None,
    "oracle_7": ("oracle-linux", "7"),
    "oracle_8": ("oracle-linux", "8"),
    "oracle_9": ("oracle-linux", "9"),
    "parrot": None,
    "photon_1": None,
    "photon_2": None,
    "photon_3": None,
    "pop_os_22_04": ("ubuntu", "22.04"),  # derivative with Ubuntu's numbers: allow-listed
    "rancheros_1_4": None,
    "raspbian_10": ("debian", "10"),  # derivative with Debian's numbers: allow-listed
    "raspbian_11": ("debian", "11"),
    "raspbian_8": ("debian", "8"),
    "redhat_10": ("rhel", "10"),
    "redhat_7": ("rhel", "7"),
    "redhat_8": ("rhel", "8"),
    "redhat_9": ("rhel", "9"),
    "rocky_8": ("rocky-linux", "8"),
    "rocky_9": ("rocky-linux", "9"),
    "scientific_7": None,  # a RHEL rebuild with no endoflife.date page
    "slackware_14_2": None,
    "sled_12_3": None,
    "sled_15": None,
    "sles_11": ("sles", "11.4"),
    "sles_12": ("sles", "12.5"),
    "sles_15": ("sles", "15.7"),
    "sles_sap_12_0": None,  # SLES for SAP has its own lifecycle: not in the data
    "sles_sap_12_1": None,
    "sles_sap_12_2": None,
    "sles_sap_12_3": ("sles", "12.3"),  # says ID=sles
    "steamos": None,
    "suse-microos": None,
    "ubios": None,
    "ubuntu_1404": ("ubuntu", "14.04"),
    "ubuntu_1604": ("ubuntu", "16.04"),
    "ubuntu_1804": ("ubuntu", "18.04"),
    "ubuntu_2004": ("ubuntu", "20.04"),
    "ubuntu_2204": ("ubuntu", "22.04"),
    "ubuntu_2404": ("ubuntu", "24.04"),
    "ubuntu_2504": ("ubuntu", "25.04"),
    "ubuntu_2510": ("ubuntu", "25.10"),
    "ubuntubudgie_24_04": ("ubuntu", "24.04"),
    "ubuntumate_24_04": ("ubuntu", "24.04"),
    "ubuntuunity_22_04": ("ubuntu", "22.04"),
    "ubuntuunity_24_04": ("ubuntu", "24.04"),
    "virtuozzo_7": None,
    "wolfi": None,
    "wrlinux": None,
    "xbian": ("debian", None),  # ID=raspbian but VERSION_ID=1.0 is no Debian cycle
    "xcp-ng_7_4": None,
    "xcp-ng_7_5": None,
    "xcp-ng_8": None,  # built on CentOS 7, so not centos 8
    "xenserver_7_6": None,
    "xubuntu_24_04": ("ubuntu", "24.04"),
    "zorin": None,
}


def _fixture_names() -> list[str]:
    return sorted(p.name for p in FIXTURES.iterdir() if p.name != "LICENSE")


def test_every_fixture_has_an_expectation() -> None:
    names = _fixture_names()
    assert len(names) == 155
    assert sorted(EXPECTED) == names


def test_license_is_kept_beside_the_fixtures() -> None:
    assert "Apache License" in (FIXTURES / "LICENSE").read_text()


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_os_release_fixture_maps_as_expected(name: str) -> None:
    text = (FIXTURES / name).read_text()
    identity = identify_os({"/etc/os-release": text})
    assert identity is not None
    assert identity.source == "/etc/os-release"
    data = load_embedded()

    assert os_product_cycle(identity, data) == EXPECTED[name]

    status = os_eol(identity, AUDIT_DATE, data)
    expected = EXPECTED[name]
    if expected is None or expected[1] is None:
        assert status.status == "unknown"
        assert status.cycle is None
        assert status.product == (expected[0] if expected else None)
        assert status.date is None and status.days_past is None
    else:
        assert (status.product, status.cycle) == expected
        assert status.status != "unknown"
    assert status.seen  # the identity we judged is always kept as evidence
    assert status.source == "embedded 2026-08-22"


def test_os_release_identity_fields() -> None:
    identity = parse_os_release((FIXTURES / "ubuntu_1404").read_text())
    assert identity is not None
    assert identity.id == "ubuntu"
    assert identity.version == "14.04"
    assert identity.name == "Ubuntu"
    assert identity.pretty_name == "Ubuntu 14.04.6 LTS"
    assert identity.raw == 'PRETTY_NAME="Ubuntu 14.04.6 LTS"'
    assert identity.source == "/etc/os-release"


def test_usr_lib_os_release_is_used_when_etc_is_missing() -> None:
    identity = identify_os({"/usr/lib/os-release": (FIXTURES / "sles_15").read_text()})
    assert identity is not None
    assert identity.source == "/usr/lib/os-release"
    assert os_product_cycle(identity, load_embedded()) == ("sles", "15.7")
