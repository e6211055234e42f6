"""A proxy command's tokens are filled inside words that were split first: a discovered value
never becomes a second word, an option or shell syntax."""

from __future__ import annotations

import pytest

from auditor.remote.proxy import expand_proxy_command

pytestmark = pytest.mark.hostile

SSM = (
    "aws ssm start-session --target %i --document-name AWS-StartSSHSession "
    "--parameters portNumber=%p"
)


def test_the_ssm_recipe() -> None:
    argv = expand_proxy_command(SSM, "10.0.0.5", 22, "auditor", "web01", "i-0abc12345678def00")
    assert argv == (
        "aws", "ssm", "start-session", "--target", "i-0abc12345678def00",
        "--document-name", "AWS-StartSSHSession", "--parameters", "portNumber=22",
    )  # fmt: skip


def test_tokens_fill_words_they_never_split_them() -> None:
    argv = expand_proxy_command(
        "sh -c 'exec nc %h %p' proxy-%r@%n 100%%", "10.0.0.5", 2222, "ops", "db01"
    )
    assert argv == ("sh", "-c", "exec nc 10.0.0.5 2222", "proxy-ops@db01", "100%")


@pytest.mark.parametrize(
    ("host", "user", "alias", "instance_id"),
    [
        ("x;touch /tmp/pwned;#", "auditor", "a", None),
        ("10.0.0.5", "root; rm -rf /", "a", None),
        ("10.0.0.5", "auditor", "a", "i-0abc$(id)"),
        ("10.0.0.5 -oProxyCommand=x", "auditor", "a", None),
    ],
)
def test_values_that_are_not_names_are_refused(
    host: str, user: str, alias: str, instance_id: str | None
) -> None:
    with pytest.raises(ValueError):
        expand_proxy_command("nc %h %p %r %i", host, 22, user, alias, instance_id)


def test_a_hostile_alias_falls_back_to_the_address() -> None:
    argv = expand_proxy_command("connect %n", "10.0.0.5", 22, "auditor", "$(reboot)")
    assert argv == ("connect", "10.0.0.5")


@pytest.mark.parametrize(
    ("template", "message"),
    [("", "empty"), ("nc %x", "unknown token %x"), ("nc 'unclosed", "quotation"),
     ("aws ssm start-session --target %i", "instance id")],
)  # fmt: skip
def test_bad_templates_say_what_is_wrong(template: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        expand_proxy_command(template, "10.0.0.5", 22, "auditor", "web01")
