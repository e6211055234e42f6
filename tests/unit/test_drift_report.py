"""Drift in report.json (schema) and in index.html (a section, hostile strings inert)."""

from __future__ import annotations

import json
from dataclasses import replace

from auditor.drift.model import DriftItem, DriftKind, DriftResult, PolicyViolation
from auditor.model import AuditRun, Severity
from auditor.report.html_report import SCRIPT, render_html
from auditor.report.json_report import render_json, run_to_dict, validate_report
from tests.builders import Page
from tests.unit.test_report import HOSTILE, sample_run

RESULT = DriftResult(
    drift=(
        DriftItem(DriftKind.CHANGED, "aws_dynamodb_table.orders", "aws_dynamodb_table", "orders",
                  "read_capacity", code=100, state=1, live=1, ignored_by_iac=True,
                  region="us-east-1", note="code: dynamodb.tf"),
        DriftItem(DriftKind.UNMANAGED, None, "aws_dynamodb_table", HOSTILE, live=HOSTILE,
                  region="us-east-1"),
        DriftItem(DriftKind.CHANGED, "aws_security_group.web", "aws_security_group", "sg-1",
                  "ingress", live={"rule": HOSTILE}),
    ),
    violations=(
        PolicyViolation("no-ssh", Severity.CRITICAL, None, "aws_security_group", "sg-1", HOSTILE,
                        "us-east-1", "ingress", [HOSTILE], f"not: {HOSTILE}"),
    ),
    errors=(f"aws 'x': region {HOSTILE}: access denied",),
)  # fmt: skip


def _run() -> AuditRun:
    run: AuditRun = sample_run()
    return replace(run, extra=RESULT.report_extra())


def test_report_json_carries_drift_and_validates() -> None:
    data = json.loads(render_json(_run()))
    validate_report(data)
    first = data["drift"][0]
    assert first == {
        "kind": "changed", "resource": "aws_dynamodb_table.orders", "type": "aws_dynamodb_table",
        "id": "orders", "attribute": "read_capacity", "code": 100, "state": 1, "live": 1,
        "ignored_by_iac": True, "region": "us-east-1", "note": "code: dynamodb.tf",
        "state_file": None,
    }  # fmt: skip
    violation = data["policy_violations"][0]
    assert {k: violation[k] for k in ("rule", "resource", "attribute", "live", "expected")} == {
        "rule": "no-ssh", "resource": None, "attribute": "ingress", "live": [HOSTILE],
        "expected": f"not: {HOSTILE}",
    }  # fmt: skip
    assert violation["severity"] == "critical"
    assert data["drift_errors"] == list(RESULT.errors)


def test_schema_rejects_a_drift_entry_without_its_fields() -> None:
    import jsonschema
    import pytest

    data = run_to_dict(_run())
    del data["drift"][0]["ignored_by_iac"]
    with pytest.raises(jsonschema.ValidationError):
        validate_report(data)


def test_html_has_a_drift_section_and_hostile_strings_stay_text() -> None:
    html = render_html(_run())
    assert 'id="drift"' in html and 'href="#drift"' in html
    assert "ignored by IaC" in html and "aws_dynamodb_table.orders" in html
    parser = Page(html)
    assert parser.scripts == [SCRIPT] and len(parser.data_blocks) == 1
    assert "img" not in parser.tags and not [a for a in parser.attrs if a.startswith("on")]
    assert sum(HOSTILE in t for t in parser.text) >= 4  # shown as text, never as markup


def test_html_without_drift_has_no_drift_section() -> None:
    html = render_html(sample_run())
    assert 'id="drift"' not in html and 'href="#drift"' not in html
