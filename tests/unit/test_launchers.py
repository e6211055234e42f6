"""Instances that something else launched: an ASG, a stack, a node group ... (issue #12 part 3).

The states are real v4 state files read by the real Terraform source; the cloud sightings are
what the EC2 source makes of an instance (tags, account, region).
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from auditor.config import Config, OwnershipRule, TerraformConfig
from auditor.launchers import defined_launcher, launched_by
from auditor.model import HostStatus, Observation, Severity, SourceKind, SourceResult
from auditor.reconcile import reconcile
from auditor.rules import RuleContext, evaluate
from auditor.sources.terraform import TerraformStateSource

NOW = datetime(2026, 11, 28, tzinfo=UTC)
TODAY = date(2026, 11, 28)
ACCOUNT = "123456789012"
ASG = "aws:autoscaling:groupName"
STACK = "aws:cloudformation:stack-name"


def ec2(iid: str, ip: str, region: str = "us-east-1", name: str | None = None,
        **tags: str) -> Observation:
    ids = [f"aws:{iid}", f"ip:{ip}"] + ([f"name:{name}"] if name else [])
    return Observation(SourceKind.AWS, "aws", tuple(ids), NOW, True, {
        "state": "running", "region": region, "account": ACCOUNT, "instance_id": iid,
        "tags": dict(tags, **({"Name": name} if name else {}))})  # fmt: skip


def cloud(*observations: Observation) -> SourceResult:
    return SourceResult(SourceKind.AWS, "aws", True, observations)


def block(type_: str, name: str, attributes: dict[str, Any]) -> dict[str, Any]:
    return {"mode": "managed", "type": type_, "name": name,
            "provider": 'provider["registry.terraform.io/hashicorp/aws"]',
            "instances": [{"schema_version": 0, "attributes": attributes}]}  # fmt: skip


def asg_block(name: str, region: str = "us-east-1") -> dict[str, Any]:
    arn = (f"arn:aws:autoscaling:{region}:{ACCOUNT}:autoScalingGroup:0f1e2d3c:"
           f"autoScalingGroupName/{name}")  # fmt: skip
    return block("aws_autoscaling_group", name.replace("-", "_"),
                 {"id": name, "name": name, "arn": arn, "desired_capacity": 2})


def state(tmp_path: Path, file: str, *blocks: dict[str, Any]) -> SourceResult:
    path = tmp_path / file
    path.write_text(json.dumps({"version": 4, "terraform_version": "1.6.6", "serial": 1,
                                "lineage": "l", "outputs": {}, "resources": list(blocks)}))
    return TerraformStateSource(TerraformConfig("tf", state=(str(path),))).collect(NOW)


def hosts_of(results: list[SourceResult], config: Config | None = None) -> dict[str, Any]:
    return {h.id: h for h in reconcile(results, config or Config(path=None), TODAY)}


def test_an_asg_in_a_state_read_makes_its_instances_managed(tmp_path: Path) -> None:
    tf = state(tmp_path, "prod.tfstate", asg_block("web"))
    hosts = hosts_of([tf, cloud(ec2("i-1", "10.0.0.30", **{ASG: "web"}),
                                ec2("i-2", "10.0.0.31", **{ASG: "batch"}))])
    web, batch = hosts["aws:i-1"], hosts["aws:i-2"]
    assert web.status is HostStatus.MANAGED
    assert "Auto Scaling group 'web'" in web.status_reason
    assert f"via aws_autoscaling_group.web in {tmp_path / 'prod.tfstate'}" in web.status_reason
    assert batch.status is HostStatus.OWNED  # not cloud-unmanaged: the ASG made it
    assert "Auto Scaling group 'batch'" in batch.status_reason
    assert "in no Terraform state read" in batch.status_reason


def test_a_same_named_asg_in_another_region_does_not_count(tmp_path: Path) -> None:
    tf = state(tmp_path, "eu.tfstate", asg_block("web", region="eu-west-1"))
    hosts = hosts_of([tf, cloud(ec2("i-1", "10.0.0.30", **{ASG: "web"}))])
    assert hosts["aws:i-1"].status is HostStatus.OWNED


def test_eks_node_groups_stacks_and_clusters(tmp_path: Path) -> None:
    tf = state(
        tmp_path, "eks.tfstate",
        block("aws_eks_node_group", "ng", {"id": "prod:general", "cluster_name": "prod",
                                           "node_group_name": "general"}),
        block("aws_eks_cluster", "main", {"id": "main", "name": "main",
                                          "arn": f"arn:aws:eks:us-east-1:{ACCOUNT}:cluster/main"}),
    )  # fmt: skip
    hosts = hosts_of([tf, cloud(
        # a managed node group's instance carries the group, its cluster and its ASG
        ec2("i-ng", "10.0.1.1", **{"eks:cluster-name": "prod", "eks:nodegroup-name": "general",
                                    ASG: "eks-general-0a1b"}),
        # same node group name in another cluster: not the one in the state
        ec2("i-other", "10.0.1.2", **{"eks:cluster-name": "staging",
                                       "eks:nodegroup-name": "general"}),
        # Karpenter's node: its pool is in Kubernetes, its cluster in the state
        ec2("i-karp", "10.0.1.3", **{"karpenter.sh/nodepool": "default",
                                      "eks:cluster-name": "main"}),
        # an ASG a CloudFormation stack made: the stack is what owns it
        ec2("i-cfn", "10.0.1.4", **{STACK: "legacy-api", ASG: "legacy-api-asg-1x2y"}),
        ec2("i-spot", "10.0.1.5", **{"aws:ec2spot:fleet-request-id": "sfr-0a1b2c"}),
        ec2("i-emr", "10.0.1.6", **{"aws:elasticmapreduce:job-flow-id": "j-2AB3CD"}),
    )])  # fmt: skip
    assert hosts["aws:i-ng"].status is HostStatus.MANAGED
    assert "via aws_eks_node_group.ng" in hosts["aws:i-ng"].status_reason
    assert hosts["aws:i-other"].status is HostStatus.OWNED
    assert "EKS node group 'staging:general'" in hosts["aws:i-other"].status_reason
    assert hosts["aws:i-karp"].status is HostStatus.MANAGED
    assert "via aws_eks_cluster.main" in hosts["aws:i-karp"].status_reason
    assert hosts["aws:i-cfn"].status is HostStatus.OWNED
    assert "CloudFormation stack 'legacy-api'" in hosts["aws:i-cfn"].status_reason
    assert "Spot Fleet request 'sfr-0a1b2c'" in hosts["aws:i-spot"].status_reason
    assert "EMR cluster 'j-2AB3CD'" in hosts["aws:i-emr"].status_reason


def test_state_resources_name_their_launcher() -> None:
    stack_arn = f"arn:aws:cloudformation:us-east-1:{ACCOUNT}:stack/legacy-api/4f2c-11ee"
    assert defined_launcher("aws_cloudformation_stack", stack_arn, {}) == (STACK, "legacy-api")
    assert defined_launcher("aws_spot_fleet_request", "sfr-1", {}) == (
        "aws:ec2spot:fleet-request-id", "sfr-1")
    assert defined_launcher("aws_instance", "i-1", {}) is None
    assert launched_by({"Name": "x", "Owner": "bob"}) == ()


def test_listed_wins_and_ownership_rules_stay_for_custom_tags(tmp_path: Path) -> None:
    ansible = SourceResult(SourceKind.ANSIBLE, "inv", True, (Observation(
        SourceKind.ANSIBLE, "inv", ("name:w1", "ip:10.0.0.30"), NOW, None,
        {"inventory": "hosts.ini", "inventory_hostname": "w1"}),))  # fmt: skip
    config = Config(path=None, ownership=(OwnershipRule("nomad:job", "nomad"),))
    hosts = hosts_of([ansible, cloud(ec2("i-1", "10.0.0.30", **{ASG: "web"}),
                                     ec2("i-2", "10.0.0.40", **{"nomad:job": "etl"}))], config)
    assert hosts["aws:i-1"].status is HostStatus.MANAGED
    assert "in Ansible inventory" in hosts["aws:i-1"].status_reason
    assert hosts["aws:i-2"].status is HostStatus.OWNED
    assert "owned by nomad" in hosts["aws:i-2"].status_reason


def test_one_finding_per_launcher_not_per_instance(tmp_path: Path) -> None:
    tf = state(tmp_path, "prod.tfstate", asg_block("web"))
    config = Config(path=None, ownership=(OwnershipRule("nomad:job", "nomad"),))
    results = [tf, cloud(
        ec2("i-w1", "10.0.0.30", **{ASG: "web"}),
        ec2("i-b1", "10.0.0.31", name="batch-a", **{ASG: "batch"}),
        ec2("i-b2", "10.0.0.32", name="batch-b", **{ASG: "batch"}),
        ec2("i-b3", "10.2.0.32", region="eu-west-1", **{ASG: "batch"}),
        ec2("i-s1", "10.0.0.33", **{STACK: "legacy-api"}),
        ec2("i-n1", "10.0.0.34", **{"nomad:job": "etl", ASG: "nomad-clients"}),
        ec2("i-hand", "10.0.0.35"),
    )]  # fmt: skip
    hosts = tuple(reconcile(results, config, TODAY))
    findings = evaluate(RuleContext(config, NOW, hosts))
    launchers = [f for f in findings if f.rule == "unmanaged-launcher"]
    assert [(f.title, f.severity) for f in launchers] == [
        (f"Auto Scaling group 'batch' in {ACCOUNT}/eu-west-1 launches instances but is in no "
         "Terraform state read", Severity.MEDIUM),
        (f"Auto Scaling group 'batch' in {ACCOUNT}/us-east-1 launches instances but is in no "
         "Terraform state read", Severity.MEDIUM),
        (f"CloudFormation stack 'legacy-api' in {ACCOUNT}/us-east-1 launches instances but is "
         "in no Terraform state read", Severity.INFO),
    ]
    batch = launchers[1]
    assert batch.host is None
    assert "on 2 instance(s): i-b1 (batch-a), i-b2 (batch-b)" in batch.evidence[0]
    # no per-instance findings for owned instances; the hand-made one still has its own
    per_host = {f.host for f in findings if f.rule == "cloud-unmanaged"}
    assert per_host == {"aws:i-hand"}


def test_owned_hosts_and_their_launcher_in_every_report(tmp_path: Path) -> None:
    import csv

    from auditor.pipeline import Discovery, build_run
    from auditor.report import write_reports
    from auditor.report.json_report import validate_report

    results = [cloud(ec2("i-b1", "10.0.0.31", name="batch-a", **{ASG: "batch"}),
                     ec2("i-b2", "10.0.0.32", name="batch-b", **{ASG: "batch"}))]  # fmt: skip
    config = Config(path=None)
    run = build_run(config, Discovery(NOW, tuple(results), reconcile(results, config, TODAY)))
    written = write_reports(run, tmp_path / "out")
    data = json.loads(written["json"].read_text())
    validate_report(data)  # "owned" is in the schema's status enum
    assert data["summary"]["by_status"]["owned"] == 2
    assert [f["rule"] for f in data["findings"]] == ["unmanaged-launcher"]
    rows = list(csv.DictReader(written["csv"].open()))
    assert {r["status"] for r in rows} == {"owned"}
    assert "owned **2**" in written["md"].read_text()
    html = written["html"].read_text()
    assert ".s-owned{" in html and '"owned"' in html  # a styled badge, in the host data


def test_the_drift_check_leaves_a_named_launcher_to_its_one_finding() -> None:
    # The audit's drift check sees the same hand-made ASG as an unmanaged resource: the
    # unmanaged-launcher finding (with its instances) is the one finding for it.
    from auditor.drift.model import DriftItem, DriftKind
    from auditor.pipeline import launcher_named_by_rules

    config = Config(path=None)
    hosts = reconcile([cloud(ec2("i-b1", "10.0.0.31", **{ASG: "batch"}))], config, TODAY)
    covered = launcher_named_by_rules(hosts, config)
    batch = DriftItem(DriftKind.UNMANAGED, None, "aws_autoscaling_group", "batch",
                      region="us-east-1")  # fmt: skip
    assert covered(batch)
    assert not covered(DriftItem(DriftKind.UNMANAGED, None, "aws_autoscaling_group", "batch",
                                 region="eu-west-1"))  # fmt: skip
    assert not covered(DriftItem(DriftKind.UNMANAGED, None, "aws_autoscaling_group", "idle",
                                 region="us-east-1"))  # no instances: drift's own finding
    assert not covered(DriftItem(DriftKind.CHANGED, "aws_autoscaling_group.batch",
                                 "aws_autoscaling_group", "batch", "max_size",
                                 region="us-east-1"))  # fmt: skip
