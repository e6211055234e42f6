from __future__ import annotations

from pathlib import Path

import pytest

from auditor.config import DEFAULT_PORTS, load_config
from auditor.errors import ConfigError
from auditor.model import Severity
from auditor.starter import default_store, starter_config


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "audit.toml"
    path.write_text(text)
    return path


def test_starter_config_loads_reads_nothing_and_keeps_history(tmp_path: Path) -> None:
    store = tmp_path / "data 'x\\y\"" / "auditor" / "history.sqlite"  # quoting survives
    config = load_config(write(tmp_path, starter_config(store)))
    # Run unedited, it sweeps, lists and connects to nothing.
    assert (config.network, config.aws, config.ansible, config.terraform) == ((), (), (), ())
    assert config.audit.store == store
    assert config.ssh.host_key_policy == "strict"
    assert config.audit.fail_on is Severity.HIGH


def test_starter_sections_load_once_uncommented(tmp_path: Path) -> None:
    text = starter_config(tmp_path / "h.sqlite")
    for section in ("[[network]]", "[[ansible]]"):
        text = text.replace(f"# {section}", section)
    for key in ("name = \"office\"", "targets =", "exclude =", "inventory ="):
        text = text.replace(f"# {key}", key)
    config = load_config(write(tmp_path, text))
    assert config.network[0].targets == ("192.168.10.0/24",)
    assert config.network[0].ports == DEFAULT_PORTS
    assert config.ansible[0].inventory == (tmp_path / "inventory/hosts.ini",)


def test_the_default_store_follows_xdg(tmp_path: Path) -> None:
    assert default_store({"XDG_DATA_HOME": str(tmp_path)}) == tmp_path / "auditor" / "history.sqlite"
    assert default_store({}) == Path.home() / ".local/share/auditor/history.sqlite"


def test_full_config(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, """
[audit]
name = "x"
store = "state/auditor.sqlite"
fail_on = "critical"
[[network]]
targets = ["10.0.0.0/24", "10.0.1.1-50"]
exclude = ["10.0.0.1"]
ports = [22, 80]
[[network]]
name = "dmz"
nmap_xml = ["/abs/scan.xml"]
[[aws]]
regions = ["us-east-1", "eu-west-1"]
endpoint_url = "http://127.0.0.1:5000"
assume_role = ["arn:aws:iam::1:role/r"]
page_size = 5
[[ansible]]
inventory = "inv/hosts.ini"
[[terraform]]
state = ["tf/*.tfstate", "s3://bucket/key.tfstate"]
config = ["tf"]
[ssh]
user = "auditor"
key_file = "~/.ssh/id_ed25519"
host_key_policy = "tofu"
port = 2222
concurrency = 8
timeout = 5
sudo = true
jump_host = "ops@bastion:22"
[owners]
"10.20.0.0/16" = "team-payments"
"10.20.5.0/24" = "team-fraud"
"db-*" = "team-data"
[[ownership]]
tag = "aws:autoscaling:groupName"
system = "autoscaling"
[[ignore]]
match = "10.0.0.9"
reason = "printer"
expires = 2027-01-31
"""))
    assert config.audit.store == tmp_path / "state/auditor.sqlite"
    assert config.audit.fail_on is Severity.CRITICAL
    assert config.network[0].name == "network-1" and config.network[1].name == "dmz"
    assert config.network[0].ports == (22, 80)
    assert config.aws[0].page_size == 5
    assert config.ansible[0].inventory == (tmp_path / "inv/hosts.ini",)
    assert config.terraform[0].state == (str(tmp_path / "tf/*.tfstate"), "s3://bucket/key.tfstate")
    assert config.ssh.ports == (2222,) and config.ssh.sudo and config.ssh.host_key_policy == "tofu"
    assert str(config.ssh.key_file).endswith(".ssh/id_ed25519")
    assert config.ignore[0].expires is not None and config.ignore[0].expires.year == 2027
    # most specific CIDR wins; names match patterns
    assert config.owner_of("10.20.5.7") == "team-fraud"
    assert config.owner_of("10.20.6.7") == "team-payments"
    assert config.owner_of("10.99.0.1") is None
    assert config.owner_of(None, ("db-01",)) == "team-data"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[ssh]\ntimout = 3\n", "[ssh]: unknown key 'timout'"),
        ("[ssh]\ntimeout = 'soon'\n", "[ssh] key 'timeout': expected a number > 0 and at most 300, got string 'soon'"),
        ("[ssh]\nhost_key_policy = 'yolo'\n", "expected one of strict, tofu"),
        ("[ssh]\nconcurrency = 0\n", "key 'concurrency': expected an integer between 1 and 512"),
        ("[[network]]\ntargets = [1]\n", "[[network]] #1 key 'targets'"),
        ("[[network]]\nports = [22]\n", "needs 'targets' or 'nmap_xml'"),
        ("[[network]]\ntargets=['a']\nports = [70000]\n", "TCP ports (1-65535)"),
        ("[audit]\nfail_on = 'urgent'\n", "unknown severity 'urgent'"),
        ("[audti]\n", "unknown section 'audti'"),
        ("[[ansible]]\nname='x'\n", "key 'inventory' is required"),
        ("[owners]\n'10.0.0.0/33' = 'x'\n", "not a valid CIDR"),
        ("[owners]\n'10.0.0.0/8' = 3\n", "expected a team name"),
        ("[[ignore]]\nmatch = '10.0.0.1'\n", "keys 'match' and 'reason' are required"),
        ("[[ignore]]\nmatch = 'x'\nreason='y'\nexpires='tomorrow'\n", "expected a date"),
        ("[audit\n", "invalid TOML"),
    ],
)
def test_config_errors_name_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert message in str(info.value)
    assert str(path) in str(info.value)


def test_missing_file_is_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "nope.toml")


def test_sudo_is_off_a_root_shell_or_fixed_commands(tmp_path: Path) -> None:
    for value, shell, commands in (("false", False, False), ("true", True, False),
                                   ('"commands"', False, True)):  # fmt: skip
        ssh = load_config(write(tmp_path, f"[ssh]\nsudo = {value}\n")).ssh
        assert (ssh.sudo, ssh.sudo_commands) == (shell, commands), value
    assert load_config(write(tmp_path, "[ssh]\n")).ssh.sudo_commands is False
    with pytest.raises(ConfigError, match=r"\[ssh\] key 'sudo': expected true, false or \"commands\""):
        load_config(write(tmp_path, '[ssh]\nsudo = "root"\n'))
