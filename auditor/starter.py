"""The commented starter config that `auditor init` writes.

Run unedited it scans nothing and connects nowhere: every source is commented out, so the
first audit only says there is nothing to read. History is on from the start (a store under
the XDG data folder), so a webhook alerts only on findings that are new from the first night.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path


def default_store(env: Mapping[str, str] | None = None) -> Path:
    """Where `auditor init` puts the history: $XDG_DATA_HOME/auditor, else ~/.local/share."""
    env = os.environ if env is None else env
    data_home = Path(env.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return data_home / "auditor" / "history.sqlite"


def starter_config(store: Path) -> str:
    """The starter config text, its history kept in `store`."""
    return STARTER_CONFIG.replace("@STORE@", _toml_string(str(store)))


def _toml_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


STARTER_CONFIG = """\
# auditor config. Relative paths are relative to this file.
# Run:  auditor audit --config audit.toml      (or `auditor discover` for no SSH)
# As written, it reads nothing: uncomment and edit the sources below first.

[audit]
name = "nightly"
reports = "reports"            # folder for index.html, report.json, ...
store = @STORE@   # run history: first/last seen, changes between runs
# store = "postgresql://auditor@db.example/auditor_history?sslmode=verify-full"
#                              # ... or in PostgreSQL (pip install 'auditor[postgres]'; the
#                              # password from $AUDITOR_STORE_PASSWORD or $PGPASSWORD)
fail_on = "high"               # exit 1 when a finding is this severe or worse
uptime_days = 365              # longer uptime than this is a finding (unpatched kernel)
# gone_after_days = 7          # a host unseen this long is reported gone (once)
# silent_days = 30             # no log written for this long: the host is silent
# expected_ports = [22]        # listeners on these ports are never "unexpected"
# expected_ports_by_group = { web = [80, 443] }   # more, per inventory group
# notify = "https://hooks.example.com/T000/B000/XXX"   # webhook on new findings
# notify_timeout = 10
# baseline = "accepted.toml"   # [[accept]] entries in a file of their own
# metrics = "/var/lib/node_exporter/textfile_collector/auditor.prom"   # Prometheus textfile
# owner_tags = ["Owner", "owner", "Team", "team"]   # cloud tags naming a host's team

# One [[network]] per segment to sweep with nmap. Targets: CIDRs, addresses,
# nmap octet ranges (10.0.0.1-50) or DNS names. Nothing else is accepted.
# [[network]]
# name = "office"
# targets = ["192.168.10.0/24"]
# exclude = ["192.168.10.1"]
# ports = [22, 80, 443, 3306, 5432, 8080]   # default: common server ports
# service_detection = true                  # nmap -sV: SSH/HTTP banners
# nmap_xml = ["scans/dmz.xml"]              # import scans made elsewhere
# host_timeout = 120                        # seconds nmap may spend on one host
# vantage = "dc1"                          # with [engine]: which [[vantage]] sweeps it
# second_look = true                        # sweep the silent addresses once more

# [[aws]]
# name = "prod"
# profile = "prod-readonly"                 # or the usual env / SSO credential chain
# regions = ["eu-west-1", "us-east-1"]      # empty: every enabled region
# assume_role = ["arn:aws:iam::111111111111:role/auditor-readonly"]
# endpoint_url = "http://127.0.0.1:5000"    # moto or a compatible endpoint
# page_size = 1000                          # DescribeInstances page size

# [[ansible]]
# name = "inventory"
# inventory = ["inventory/hosts.ini"]       # anything ansible-inventory accepts
# resolve_timeout = 2                       # seconds to resolve an inventory host name

# [[terraform]]
# name = "infra"
# state = ["terraform/*.tfstate", "s3://tf-state/prod/terraform.tfstate"]
# config = ["terraform/"]                   # .tf code, for ignore_changes drift
# s3_endpoint_url = "http://127.0.0.1:9000" # for s3:// state on an S3-compatible store
# s3_profile = "state-reader"
# https:// state (GitLab-managed): credentials in $TF_HTTP_USERNAME / $TF_HTTP_PASSWORD

[ssh]
# enabled = true               # false: no host is probed
user = "auditor"
# key_file = "~/.ssh/auditor_ed25519"
# known_hosts = "~/.ssh/known_hosts"
host_key_policy = "strict"     # strict: refuse unknown keys; tofu: record first-seen keys
# tofu_known_hosts = "~/.local/share/auditor/known_hosts"   # where tofu records them
# An encrypted key_file is unlocked with $AUDITOR_SSH_KEY_PASSPHRASE (never put it here).
# ports = [22]                 # (or port = 22)
# concurrency = 16
# timeout = 10                 # seconds for each connect step
# deadline = 90                # seconds for a whole host: connect + probe
# sudo = false                 # true: `sudo -n sh -s` for socket owners and logs;
#                              # "commands": only fixed read-only commands via sudo
# jump_host = "auditor@bastion.example.com:22"
# jump_host_concurrency = 8    # sessions through one jump host at once (engine: all workers)
# proxy_command = \"\"\"aws ssm start-session --target %i --document-name AWS-StartSSHSession \\
#   --parameters portNumber=%p\"\"\"      # AWS Systems Manager: docs/ssh.md
# use_ssh_config = true        # read ~/.ssh/config (Match exec never runs for discovered names)
# log_days = 7                 # window for web logs, logins and "who uses it"
# legacy_algorithms = ["10.0.5.*"]   # allow CentOS 5-era kex/ciphers for these hosts only
# software_cache = true        # don't rerun `httpd -v` & co. on binaries unchanged since the
#                              # last audit (kept in ~/.cache/auditor/software-versions.json)

# Owning teams, by client or host address (most specific CIDR wins) or host name pattern.
[owners]
# "10.20.0.0/16" = "team-payments"
# "db-*" = "team-data"

# Instances AWS launched for an ASG, a CloudFormation stack, an EKS node group, Karpenter,
# a Spot Fleet or EMR are recognised by their aws:/eks: tags without any config. For
# systems of your own that tag what they launch ("key" or "key=value-glob"):
# [[ownership]]
# tag = "nomad:job"
# system = "nomad"

# Known exceptions: hidden from verdicts until they expire, and never connected to.
# [[ignore]]
# match = "192.168.10.250"
# reason = "printer, owned by facilities"
# expires = 2027-06-30

# A finding looked at and accepted until a date: reported as accepted, not counted for
# fail_on or the webhook. `auditor accept RULE HOST --reason ... --expires ...` appends one.
# [[accept]]
# rule = "eol-os"
# host = "legacy-*"             # or resource = "aws_dynamodb_table.sessions" (run-level)
# reason = "replaced by the Q1 migration (OPS-42)"
# expires = 2027-03-31

# Guard rails over live cloud resources, whatever Terraform says: docs/drift.md.
# [[policy]]
# name = "prod-dynamodb-capacity"
# resource = "aws_dynamodb_table"
# where = { tags = { env = "prod" } }
# require_any = [ { billing_mode = "PAY_PER_REQUEST" }, { read_capacity = { ge = 50 } } ]

# Sweeps and probes from inside each segment, by `auditor worker` processes there
# (docs/distributed.md). Without [engine] everything runs on this machine.
# [engine]
# broker = "redis://broker.internal:6379/0"  # or amqp://; $AUDITOR_BROKER_URL wins
# worker_timeout = 60                        # seconds before a silent vantage is given up
# batch_size = 8                             # hosts per probe task
# queue_prefix = "auditor"                   # queues: auditor.<vantage>
# redelivery_after = 300                     # Redis: a dead worker's task goes elsewhere
# limiter = "postgresql://db.internal/audit" # session limits' leases, Redis or PostgreSQL
#                                            # (default: a Redis broker, a PostgreSQL store)
# lease = 30                                 # a dead worker's session slots come back after

# [[vantage]]
# name = "dc1"
# networks = ["10.20.0.0/16", "vpc-0abc1234def567890"]
# concurrency = 32                           # hosts at once, all dc1 workers together
"""
