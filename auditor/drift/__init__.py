"""Infrastructure drift: Terraform state and code against the live cloud, and [[policy]]
guard rails over live resources that hold whatever Terraform says.

    from auditor.drift.run import run_drift        # the whole check, one call
    from auditor.drift.story import seed_drift_story  # the DynamoDB story, for the lab

| module | owns |
|---|---|
| `model` | DriftItem, PolicyViolation, LiveResource, DriftResult, Unresolved (data only) |
| `resources` | the supported types and one normalised view per type (pure) |
| `live` | `get_live_*` boto3 reads, read-only, per type and region (I/O) |
| `hcl` | .tf code read with python-hcl2; variables, locals, ignore_changes (I/O + pure) |
| `compare` | state / code vs live: changed, missing, unmanaged, unresolved (pure) |
| `policy` | the [[policy]] language: parse (ConfigError naming file/key) and evaluate (pure) |
| `run` | `run_drift(config, now)`: the I/O and the pure parts put together |
| `story` | `seed_drift_story`: moto resources + matching state and .tf for demos and tests |

Findings are judged in `auditor.rules.drift` (rule ids `drift` and `policy`).

This package's __init__ imports only the data types on purpose: `auditor.config` imports
`auditor.drift.policy` while it parses, and `auditor.rules.drift` imports the model; an
eager import of `run` here would make those circular.
"""

from auditor.drift.model import (
    DriftItem,
    DriftKind,
    DriftResult,
    LiveResource,
    PolicyViolation,
    ReadScope,
    Unresolved,
)

__all__ = [
    "DriftItem",
    "DriftKind",
    "DriftResult",
    "LiveResource",
    "PolicyViolation",
    "ReadScope",
    "Unresolved",
]
