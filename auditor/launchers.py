"""Systems that launch EC2 instances on their own, and how to recognise them. Pure.

AWS tags what an Auto Scaling group, a CloudFormation stack, an EKS node group, Karpenter,
a Spot Fleet or an EMR cluster launches (`aws:autoscaling:groupName` ...). Such an instance
is in no inventory and no state by design: it belongs to its launcher. When the launcher
itself is defined in a Terraform state we read, the instance is managed through it; when it
is not, the instance is `owned` by it, and the launcher (not each instance) is what a
finding names.

`LAUNCHERS` is in order of precedence: when an instance carries several tags (an ASG made by
a CloudFormation stack, an EKS node group's ASG), the outermost system is the one named.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Launcher:
    """One kind of system: the instance tag AWS sets, and the state resources defining it."""

    tag: str
    kind: str  # for people: "Auto Scaling group"
    state_types: tuple[str, ...]  # Terraform resource types that define such a system


@dataclass(frozen=True)
class LaunchedBy:
    """An instance's launcher, as its tags name it."""

    launcher: Launcher
    key: str  # the name a state resource must have to be this system, e.g. the ASG's name
    tag_value: str

    @property
    def label(self) -> str:
        return f"{self.launcher.kind} '{self.key}'"


@dataclass(frozen=True)
class DefinedLauncher:
    """A launcher a Terraform state defines: matched to instances by tag, account, region."""

    tag: str
    key: str
    address: str  # the resource address in its state
    state_file: str
    account: str | None = None
    region: str | None = None

    def matches(self, launched: LaunchedBy, account: str | None, region: str | None) -> bool:
        """Same kind, same name, and — where both sides know them — same account and region
        (ASG and stack names repeat across accounts and regions)."""
        return (
            self.tag == launched.launcher.tag
            and self.key == launched.key
            and _same(self.account, account)
            and _same(self.region, region)
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "tag": self.tag,
            "key": self.key,
            "address": self.address,
            "state_file": self.state_file,
            "account": self.account,
            "region": self.region,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DefinedLauncher:
        return cls(
            tag=str(data["tag"]),
            key=str(data["key"]),
            address=str(data["address"]),
            state_file=str(data["state_file"]),
            account=data.get("account"),
            region=data.get("region"),
        )


EKS_CLUSTER_TAG = "eks:cluster-name"
CLOUDFORMATION = Launcher(
    "aws:cloudformation:stack-name", "CloudFormation stack", ("aws_cloudformation_stack",)
)
LAUNCHERS: tuple[Launcher, ...] = (
    CLOUDFORMATION,
    Launcher("eks:nodegroup-name", "EKS node group", ("aws_eks_node_group",)),
    # Karpenter node pools live in Kubernetes, not in a Terraform state of AWS resources: their
    # nodes are managed when their EKS cluster is (the eks:cluster-name tag, below).
    Launcher("karpenter.sh/nodepool", "Karpenter node pool", ()),
    Launcher("aws:elasticmapreduce:job-flow-id", "EMR cluster", ("aws_emr_cluster",)),
    Launcher("aws:ec2spot:fleet-request-id", "Spot Fleet request", ("aws_spot_fleet_request",)),
    Launcher("aws:autoscaling:groupName", "Auto Scaling group", ("aws_autoscaling_group",)),
    Launcher(EKS_CLUSTER_TAG, "EKS cluster", ("aws_eks_cluster",)),
)
_BY_STATE_TYPE = {t: launcher for launcher in LAUNCHERS for t in launcher.state_types}


def launcher_of_type(resource_type: str) -> Launcher | None:
    """The kind of launcher a Terraform resource type defines (aws_autoscaling_group ...)."""
    return _BY_STATE_TYPE.get(resource_type)


def launched_by(tags: Mapping[str, Any]) -> tuple[LaunchedBy, ...]:
    """Every launcher an instance's tags name, outermost first."""
    found = []
    for launcher in LAUNCHERS:
        value = tags.get(launcher.tag)
        if not isinstance(value, str) or not value:
            continue
        key = value
        if launcher.tag == "eks:nodegroup-name" and tags.get(EKS_CLUSTER_TAG):
            key = f"{tags[EKS_CLUSTER_TAG]}:{value}"  # node group names repeat across clusters
        found.append(LaunchedBy(launcher, key, value))
    return tuple(found)


def defined_launcher(
    resource_type: str, resource_id: str | None, attributes: Mapping[str, Any]
) -> tuple[str, str] | None:
    """(tag, key) of the launcher a state resource defines, or None when it defines none.
    The key is what the launched instances' tag says: the ASG's or stack's name, the node
    group's `cluster:group`, the EMR cluster's or Spot Fleet request's id."""
    launcher = launcher_of_type(resource_type)
    if launcher is None:
        return None
    key: Any
    if resource_type == "aws_eks_node_group":
        cluster, group = attributes.get("cluster_name"), attributes.get("node_group_name")
        key = f"{cluster}:{group}" if cluster and group else resource_id
    elif resource_type in ("aws_autoscaling_group", "aws_eks_cluster"):
        key = attributes.get("name") or resource_id
    elif resource_type == "aws_cloudformation_stack":
        # The id is the stack's ARN: arn:aws:cloudformation:REGION:ACCOUNT:stack/NAME/UUID
        key = attributes.get("name") or _arn_resource_part(resource_id, 1)
    else:
        key = resource_id
    return (launcher.tag, str(key)) if key else None


def _arn_resource_part(arn: str | None, index: int) -> str | None:
    if not arn or not arn.startswith("arn:"):
        return None
    pieces = arn.split(":", 5)[-1].split("/")
    return pieces[index] if len(pieces) > index else None


def _same(a: str | None, b: str | None) -> bool:
    return a is None or b is None or a == b
