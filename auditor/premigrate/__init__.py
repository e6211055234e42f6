"""`auditor premigrate`: every live host of the old platform against the migration plan.

    result = premigrate(config, PremigrateRequest(plan=Path("plan.txt"), old=("10.0.0.0/24",)),
                        prober=probe_hosts)
    result.migrations      # ranked: not in the plan and still in use first
    result.data            # report.json data, each host with `migration`

Definitions of "on the old platform", "in the plan" and "migrated":
`auditor.premigrate.classify` and docs/workflows.md.
"""

from auditor.premigrate.classify import (
    ActivitySummary,
    EntryStatus,
    Migration,
    Mode,
    OldSpace,
    classify_hosts,
    entry_status,
    match_entry,
    migration_findings,
)
from auditor.premigrate.plan import Plan, PlanEntry, load_plan, parse_plan_list, plan_from_inventory
from auditor.premigrate.run import PremigrateRequest, PremigrateResult, premigrate

__all__ = [
    "ActivitySummary",
    "EntryStatus",
    "Migration",
    "Mode",
    "OldSpace",
    "Plan",
    "PlanEntry",
    "PremigrateRequest",
    "PremigrateResult",
    "classify_hosts",
    "entry_status",
    "load_plan",
    "match_entry",
    "migration_findings",
    "parse_plan_list",
    "plan_from_inventory",
    "premigrate",
]
