"""Infrastructure drift: Terraform state and code against the live cloud, and [[policy]]
guard rails over live resources that hold whatever Terraform says.

    from auditor.drift.run import run_drift        # the whole check, one call

The demo's DynamoDB story (moto resources with matching state and .tf) is the lab's:
`auditor.lab.drift_story`.

| module | owns |
|---|---|
| `model` | DriftItem, PolicyViolation, LiveResource, DriftResult, Unresolved (data only) |
| `resources` | the supported types and one normalised view per type (pure) |
| `live` | `get_live`: boto3 reads, read-only, per type and region, from one table (I/O) |
| `hcl` | .tf code read with python-hcl2; variables, locals, ignore_changes (I/O + pure) |
| `compare` | state / code vs live: changed, missing, unmanaged, unresolved (pure) |
| `policy` | [[policy]]: parse the config's tables (ConfigError naming file, key); evaluate |
| `findings` | findings from drift items and policy violations (rule ids `drift`, `policy`) |
| `run` | `run_drift(config, now)`: the I/O and the pure parts put together |

`auditor.config` keeps the [[policy]] tables as written (`PolicyTables`); `policy` parses
them. Nothing below this package imports it. This __init__ imports only the data types, so
that importing them does not load boto3 and python-hcl2.
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
