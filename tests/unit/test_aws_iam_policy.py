"""docs/aws-iam.md's least-privilege policy is exactly the calls the code makes.

The calls are found in the code, not listed by hand: in every module of the package that
talks to AWS (imports boto3), each operation of the services it creates clients for, written
as a method call (`.describe_instances(`) or a paginator name (`"describe_instances"`). The
lab's seeding code (auditor/lab, the drift story included) writes to moto, never to a real
account, and is left out."""

from __future__ import annotations

import json
import re
from pathlib import Path

import botocore.session
from botocore import xform_name

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "auditor"
DOC = ROOT / "docs" / "aws-iam.md"
LAB_ONLY = (PACKAGE / "lab",)
SERVICES = ("ec2", "sts", "dynamodb", "autoscaling", "rds", "s3")

# Operations whose IAM action has another name, or that need no permission at all.
ACTION_OF = {
    ("s3", "ListObjectsV2"): "s3:ListBucket",
    ("sts", "GetCallerIdentity"): None,
}


def aws_modules() -> dict[Path, str]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        if any(path == lab or lab in path.parents for lab in LAB_ONLY):
            continue
        text = path.read_text()
        if re.search(r"^\s*import boto3|^\s*from boto3", text, re.MULTILINE):
            found[path] = text
    return found


def calls_in_code() -> set[str]:
    session = botocore.session.get_session()
    actions: set[str] = set()
    modules = aws_modules()
    for service in SERVICES:
        for operation in session.get_service_model(service).operation_names:
            name = re.escape(xform_name(operation))
            call = re.compile(rf"\.{name}\(|[\"']{name}[\"']")
            if any(call.search(text) for text in modules.values()):
                action = ACTION_OF.get((service, operation), f"{service}:{operation}")
                if action is not None:
                    actions.add(action)
    return actions


def actions_in_doc() -> set[str]:
    [block] = re.findall(r"```json\n(.*?)```", DOC.read_text(), re.DOTALL)
    policy = json.loads(block)
    return {action for statement in policy["Statement"] for action in statement["Action"]}


def test_the_search_sees_the_modules_that_call_aws() -> None:
    names = {p.relative_to(PACKAGE).as_posix() for p in aws_modules()}
    assert {"sources/aws.py", "drift/live.py", "sources/terraform.py"} <= names


def test_the_documented_policy_is_exactly_the_calls_the_code_makes() -> None:
    in_code = calls_in_code()
    in_doc = actions_in_doc()
    assert in_code - in_doc == set(), "the code calls these; add them to docs/aws-iam.md"
    assert in_doc - in_code == set(), "docs/aws-iam.md grants these; the code never calls them"


def test_every_action_is_read_only() -> None:
    read_only = re.compile(r"^[a-z0-9]+:(Describe|List|Get)\w+$|^sts:AssumeRole$")
    assert {a for a in actions_in_doc() if not read_only.match(a)} == set()
