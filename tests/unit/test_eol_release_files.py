"""Pre-os-release systems: golden release files (tests/fixtures/release-files/<case>/etc/...)
-> OsIdentity -> product/cycle, plus the parsers' edge cases."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from auditor.eol import (
    identify_os,
    load_embedded,
    os_product_cycle,
    parse_alpine_release,
    parse_debian_version,
    parse_lsb_release,
    parse_os_release,
    parse_redhat_release,
    parse_suse_release,
)
from auditor.eol.releases import parse_key_values

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "release-files"


@dataclass(frozen=True)
class Expected:
    id: str | None
    version: str | None
    source: str
    raw: str
    mapped: tuple[str, str | None] | None  # as in test_eol_os_release.EXPECTED


EXPECTED: dict[str, Expected] = {
    "centos_5_11": Expected(
        "centos", "5.11", "/etc/redhat-release", "CentOS release 5.11 (Final)", ("centos", "5")
    ),
    "centos_6_10": Expected(
        "centos", "6.10", "/etc/centos-release", "CentOS release 6.10 (Final)", ("centos", "6")
    ),
    "centos_7_9_without_os_release": Expected(
        "centos",
        "7.9.2009",
        "/etc/centos-release",
        "CentOS Linux release 7.9.2009 (Core)",
        ("centos", "7"),
    ),
    "centos_stream_8": Expected(
        "centos", "8", "/etc/centos-release", "CentOS Stream release 8", ("centos-stream", "8")
    ),
    "rhel_4_9": Expected(
        "rhel",
        "4",
        "/etc/redhat-release",
        "Red Hat Enterprise Linux AS release 4 (Nahant Update 9)",
        ("rhel", "4"),
    ),
    "rhel_5_11": Expected(
        "rhel",
        "5.11",
        "/etc/redhat-release",
        "Red Hat Enterprise Linux Server release 5.11 (Tikanga)",
        ("rhel", "5"),
    ),
    "rhel_6_10": Expected(
        "rhel",
        "6.10",
        "/etc/system-release",  # same line as redhat-release; system-release is tried first
        "Red Hat Enterprise Linux Server release 6.10 (Santiago)",
        ("rhel", "6"),
    ),
    "red_hat_linux_9": Expected(
        "redhat", "9", "/etc/redhat-release", "Red Hat Linux release 9 (Shrike)", None
    ),
    # Oracle Linux 6 puts a *Red Hat* line in redhat-release: oracle-release must win.
    "oracle_linux_6_10": Expected(
        "ol",
        "6.10",
        "/etc/oracle-release",
        "Oracle Linux Server release 6.10",
        ("oracle-linux", "6"),
    ),
    # Oracle Enterprise Linux 5: mapped to oracle-linux, whose data starts at 6 -> unknown,
    # and never "rhel 5" from its redhat-release.
    "oracle_enterprise_linux_5_11": Expected(
        "ol",
        "5.11",
        "/etc/enterprise-release",
        "Enterprise Linux Enterprise Linux Server release 5.11 (Carthage)",
        ("oracle-linux", None),
    ),
    "scientific_linux_6_10": Expected(
        "scientific",
        "6.10",
        "/etc/system-release",
        "Scientific Linux release 6.10 (Carbon)",
        None,
    ),
    "fedora_8": Expected(
        "fedora", "8", "/etc/fedora-release", "Fedora release 8 (Werewolf)", ("fedora", "8")
    ),
    "fedora_core_6": Expected(
        "fedora", "6", "/etc/fedora-release", "Fedora Core release 6 (Zod)", ("fedora", "6")
    ),
    "rocky_8_9_without_os_release": Expected(
        "rocky",
        "8.9",
        "/etc/rocky-release",
        "Rocky Linux release 8.9 (Green Obsidian)",
        ("rocky-linux", "8"),
    ),
    "almalinux_9_3_without_os_release": Expected(
        "almalinux",
        "9.3",
        "/etc/almalinux-release",
        "AlmaLinux release 9.3 (Shamrock Pampas Cat)",
        ("almalinux", "9"),
    ),
    "amazon_linux_ami_2018_03": Expected(
        "amzn",
        "2018.03",
        "/etc/system-release",
        "Amazon Linux AMI release 2018.03",
        ("amazon-linux", "2018.03"),
    ),
    "amazon_linux_ami_2014_09": Expected(
        "amzn",
        "2014.09",
        "/etc/system-release",
        "Amazon Linux AMI release 2014.09",
        ("amazon-linux", "2014.09"),
    ),
    "amazon_linux_2": Expected(
        "amzn", "2", "/etc/system-release", "Amazon Linux release 2 (Karoo)", ("amazon-linux", "2")
    ),
    "amazon_linux_2023": Expected(
        "amzn",
        "2023.6.20241212",
        "/etc/system-release",
        "Amazon Linux release 2023.6.20241212 (Amazon Linux)",
        ("amazon-linux", "2023"),
    ),
    "sles_10_sp4": Expected(
        "sles",
        "10.4",
        "/etc/SuSE-release",
        "SUSE Linux Enterprise Server 10 (x86_64); VERSION = 10; PATCHLEVEL = 4",
        ("sles", "10.4"),
    ),
    "sles_11_sp4": Expected(
        "sles",
        "11.4",
        "/etc/SuSE-release",
        "SUSE Linux Enterprise Server 11 (x86_64); VERSION = 11; PATCHLEVEL = 4",
        ("sles", "11.4"),
    ),
    "sles_12_sp1": Expected(
        "sles",
        "12.1",
        "/etc/SuSE-release",
        "SUSE Linux Enterprise Server 12 (x86_64); VERSION = 12; PATCHLEVEL = 1",
        ("sles", "12.1"),
    ),
    "sles_12_ga": Expected(
        "sles",
        "12",
        "/etc/SuSE-release",
        "SUSE Linux Enterprise Server 12 (x86_64); VERSION = 12; PATCHLEVEL = 0",
        ("sles", "12.0"),
    ),
    "opensuse_13_1": Expected(
        "opensuse",
        "13.1",
        "/etc/SuSE-release",
        "openSUSE 13.1 (x86_64); VERSION = 13.1",
        ("opensuse", "13.1"),
    ),
    "centos_8_1_with_os_release": Expected(
        "centos",
        "8.1.1911",
        "/etc/os-release",
        'PRETTY_NAME="CentOS Linux 8 (Core)"',
        ("centos", "8"),
    ),
    "centos_7_9_with_os_release": Expected(
        "centos",
        "7.9.2009",
        "/etc/os-release",
        'PRETTY_NAME="CentOS Linux 7 (Core)"',
        ("centos", "7"),
    ),
    "debian_7_9_with_os_release": Expected(
        "debian",
        "7.9",
        "/etc/os-release",
        'PRETTY_NAME="Debian GNU/Linux 7 (wheezy)"',
        ("debian", "7"),
    ),
    "debian_12_11_with_os_release": Expected(
        "debian",
        "12.11",
        "/etc/os-release",
        'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"',
        ("debian", "12"),
    ),
    "debian_6_0_10": Expected("debian", "6.0.10", "/etc/debian_version", "6.0.10", ("debian", "6")),
    "debian_7_11": Expected("debian", "7.11", "/etc/debian_version", "7.11", ("debian", "7")),
    # testing/unstable has no release cycle: the product is known, the cycle is not
    "debian_squeeze_sid": Expected(
        "debian", None, "/etc/debian_version", "squeeze/sid", ("debian", None)
    ),
    # Ubuntu's debian_version holds a Debian codename; lsb-release must win
    "ubuntu_10_04": Expected(
        "ubuntu",
        "10.04",
        "/etc/lsb-release",
        'DISTRIB_DESCRIPTION="Ubuntu 10.04.4 LTS"',
        ("ubuntu", "10.04"),
    ),
    "ubuntu_14_04": Expected(
        "ubuntu",
        "14.04",
        "/etc/lsb-release",
        'DISTRIB_DESCRIPTION="Ubuntu 14.04.6 LTS"',
        ("ubuntu", "14.04"),
    ),
    "alpine_3_8_2": Expected(
        "alpine", "3.8.2", "/etc/alpine-release", "3.8.2", ("alpine-linux", "3.8")
    ),
}


def _read_case(case: str) -> dict[str, str]:
    root = FIXTURES / case
    return {
        "/" + str(path.relative_to(root)): path.read_text()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def test_every_case_has_an_expectation() -> None:
    cases = sorted(p.name for p in FIXTURES.iterdir() if p.is_dir())
    assert cases == sorted(EXPECTED)


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_release_files_identify_and_map(case: str) -> None:
    expected = EXPECTED[case]
    identity = identify_os(_read_case(case))
    assert identity is not None
    assert (identity.id, identity.version, identity.source, identity.raw) == (
        expected.id,
        expected.version,
        expected.source,
        expected.raw,
    )
    assert os_product_cycle(identity, load_embedded()) == expected.mapped


# --------------------------------------------------------------------------- choosing


def test_os_release_beats_every_other_file() -> None:
    identity = identify_os(
        {
            "/etc/redhat-release": "CentOS Linux release 7.9.2009 (Core)\n",
            "/etc/os-release": 'NAME="CentOS Linux"\nID="centos"\nVERSION_ID="7"\n',
        }
    )
    assert identity is not None
    assert identity.source == "/etc/os-release"
    # ... and the distribution's own file still adds the point release os-release lacks.
    assert identity.version == "7.9.2009"


def test_unparseable_os_release_falls_through() -> None:
    identity = identify_os(
        {
            "/etc/os-release": "\n# nothing here\n",
            "/etc/redhat-release": "CentOS release 5.11 (Final)\n",
        }
    )
    assert identity is not None
    assert identity.source == "/etc/redhat-release"


def test_bare_names_mean_etc() -> None:
    identity = identify_os({"system-release": "Amazon Linux AMI release 2018.03\n"})
    assert identity is not None
    assert identity.source == "/etc/system-release"


def test_nothing_recognisable_is_none() -> None:
    assert identify_os({}) is None
    assert identify_os({"/etc/redhat-release": ""}) is None
    assert identify_os({"/etc/hostname": "web1\n"}) is None
    assert identify_os({"/etc/redhat-release": "garbage without the word\n"}) is None


# --------------------------------------------------------------------------- parsers


def test_key_values_quotes_escapes_and_comments() -> None:
    text = (
        "# a comment\n"
        "\n"
        "ID=debian\n"
        'NAME="Debian GNU/Linux"\n'
        "VERSION_ID='12'\n"
        'PRETTY_NAME="Say \\"hi\\" \\$HOME"\n'
        "  ID_LIKE=rhel   # trailing comment\n"
        "not an assignment\n"
        'BROKEN="unterminated\n'
        "EMPTY=\n"
    )
    assert parse_key_values(text) == {
        "ID": "debian",
        "NAME": "Debian GNU/Linux",
        "VERSION_ID": "12",
        "PRETTY_NAME": 'Say "hi" $HOME',
        "ID_LIKE": "rhel",
        "BROKEN": "unterminated",
        "EMPTY": "",
    }


def test_os_release_without_pretty_name_uses_name_and_id_line() -> None:
    identity = parse_os_release('ID="XCP-ng"\nNAME="XCP-ng"\nVERSION_ID="7.4.0"\n')
    assert identity is not None
    assert identity.id == "xcp-ng"  # IDs are lower-cased
    assert identity.pretty_name == "XCP-ng"
    assert identity.raw == 'ID="XCP-ng"'


def test_os_release_without_id_or_name_is_none() -> None:
    assert parse_os_release("VERSION_ID=1\n") is None


def test_lsb_release_without_distrib_id_is_none() -> None:
    assert parse_lsb_release("LSB_VERSION=base-4.0-amd64:base-4.0-noarch\n") is None


def test_lsb_release_maps_distrib_id_spellings() -> None:
    identity = parse_lsb_release(
        "DISTRIB_ID=RedHatEnterpriseServer\nDISTRIB_RELEASE=6.10\n"
        'DISTRIB_DESCRIPTION="Red Hat Enterprise Linux Server release 6.10 (Santiago)"\n'
    )
    assert identity is not None
    assert (identity.id, identity.version) == ("rhel", "6.10")


@pytest.mark.parametrize(
    ("line", "os_id", "version", "name"),
    [
        ("CentOS release 5.11 (Final)", "centos", "5.11", "CentOS"),
        ("CentOS Linux release 7.9.2009 (Core)", "centos", "7.9.2009", "CentOS Linux"),
        ("CentOS Stream release 9", "centos", "9", "CentOS Stream"),
        (
            "Red Hat Enterprise Linux Server release 5.11 (Tikanga)",
            "rhel",
            "5.11",
            "Red Hat Enterprise Linux Server",
        ),
        ("Red Hat Enterprise Linux release 8.10 (Ootpa)", "rhel", "8.10", None),
        ("Amazon Linux AMI release 2018.03", "amzn", "2018.03", "Amazon Linux AMI"),
        ("Oracle Linux Server release 6.10", "ol", "6.10", "Oracle Linux Server"),
        ("Scientific Linux release 6.10 (Carbon)", "scientific", "6.10", None),
        ("Scientific Linux SL release 5.5 (Boron)", "scientific", "5.5", None),
        ("Fedora release 8 (Werewolf)", "fedora", "8", "Fedora"),
        ("XenServer release 7.6.0 (xenenterprise)", "xenenterprise", "7.6.0", None),
        ("Some New Linux release 1.2 (Thing)", "some-new-linux", "1.2", None),
    ],
)
def test_redhat_release_lines(line: str, os_id: str, version: str, name: str | None) -> None:
    identity = parse_redhat_release(line + "\n", "/etc/redhat-release")
    assert identity is not None
    assert (identity.id, identity.version) == (os_id, version)
    assert identity.raw == line
    assert identity.pretty_name == line
    if name is not None:
        assert identity.name == name


def test_suse_release_pretty_name_says_service_pack() -> None:
    identity = parse_suse_release((FIXTURES / "sles_11_sp4" / "etc" / "SuSE-release").read_text())
    assert identity is not None
    assert identity.name == "SUSE Linux Enterprise Server"
    assert identity.pretty_name == "SUSE Linux Enterprise Server 11 SP4"


def test_suse_release_desktop_is_not_server() -> None:
    identity = parse_suse_release(
        "SUSE Linux Enterprise Desktop 11 (x86_64)\nVERSION = 11\nPATCHLEVEL = 4\n"
    )
    assert identity is not None
    assert identity.id == "sled"
    assert os_product_cycle(identity, load_embedded()) is None


def test_suse_release_rejects_a_key_value_file() -> None:
    assert parse_suse_release("VERSION = 11\n") is None


@pytest.mark.parametrize(
    ("text", "version"),
    [("7.11\n", "7.11"), ("6.0.10\n", "6.0.10"), ("3.1\n", "3.1"), ("bookworm/sid\n", None)],
)
def test_debian_version(text: str, version: str | None) -> None:
    identity = parse_debian_version(text)
    assert identity is not None
    assert identity.id == "debian"
    assert identity.version == version


def test_debian_3_1_maps_to_its_major_minor_cycle() -> None:
    identity = parse_debian_version("3.1\n")
    assert identity is not None
    assert os_product_cycle(identity, load_embedded()) == ("debian", "3.1")


def test_alpine_release_rejects_non_versions() -> None:
    assert parse_alpine_release("edge\n") is None
    identity = parse_alpine_release("3.8.2\n")
    assert identity is not None and identity.version == "3.8.2"


@pytest.mark.parametrize(
    ("case", "pretty"),
    [
        ("centos_8_1_with_os_release", "CentOS Linux 8.1.1911 (Core)"),
        ("debian_7_9_with_os_release", "Debian GNU/Linux 7.9 (wheezy)"),
        ("debian_12_11_with_os_release", "Debian GNU/Linux 12.11 (bookworm)"),
    ],
)
def test_the_point_release_shows_in_the_pretty_name(case: str, pretty: str) -> None:
    identity = identify_os(_read_case(case))
    assert identity is not None and identity.pretty_name == pretty


@pytest.mark.parametrize(
    ("os_release", "other", "text"),
    [
        # A point release of another major is not this system's (a stale or copied file).
        ('ID=debian\nVERSION_ID="12"\n', "/etc/debian_version", "11.9\n"),
        # Testing/unstable: a codename names no point release.
        ('ID=debian\nVERSION_ID="12"\n', "/etc/debian_version", "bookworm/sid\n"),
        # os-release already says more than the major.
        ('ID=rocky\nVERSION_ID="8.9"\n', "/etc/rocky-release", "Rocky Linux release 8.10\n"),
        # Not a distribution whose files carry point releases.
        ('ID=ubuntu\nVERSION_ID="22.04"\n', "/etc/debian_version", "bookworm/sid\n"),
    ],
)
def test_the_point_release_is_taken_only_when_it_extends_the_major(
    os_release: str, other: str, text: str
) -> None:
    alone = identify_os({"/etc/os-release": os_release})
    both = identify_os({"/etc/os-release": os_release, other: text})
    assert alone is not None and both == alone
