"""`auditor inspect`: a dossier on a host nobody knows. What is it, what runs on it, who
uses it, who knows about it, a verdict (in use / idle / unknown) and the next steps.

    from auditor.inspect import InspectRequest, inspect_hosts, render_json

    dossiers = inspect_hosts(config, InspectRequest(targets=("10.250.77.10",),
                                                    repos=(Path("~/src/iac"),)))
    Path("dossier.json").write_text(render_json(dossiers))

I/O lives in `run` (orchestration), `probe` (the SSH probe with the deeper facts), `http`
(front pages) and `repos` (git grep); `usage`, `steps`, `dossier` and the parsers are pure.
See docs/workflows.md.
"""

from auditor.inspect.dossier import Gathered, build_dossier
from auditor.inspect.model import (
    DOSSIER_SCHEMA,
    Client,
    Dossier,
    HttpFront,
    Identity,
    KnownBy,
    LoginSeen,
    NextStep,
    Reference,
    RepoSearch,
    Service,
    UseState,
    Verdict,
)
from auditor.inspect.render import (
    dossier_to_dict,
    render_html,
    render_json,
    render_markdown,
    render_terminal,
)
from auditor.inspect.run import InspectRequest, inspect_hosts
from auditor.inspect.usage import Activity, assess_activity, judge

__all__ = [
    "DOSSIER_SCHEMA",
    "Activity",
    "Client",
    "Dossier",
    "Gathered",
    "HttpFront",
    "Identity",
    "InspectRequest",
    "KnownBy",
    "LoginSeen",
    "NextStep",
    "Reference",
    "RepoSearch",
    "Service",
    "UseState",
    "Verdict",
    "assess_activity",
    "build_dossier",
    "dossier_to_dict",
    "inspect_hosts",
    "judge",
    "render_html",
    "render_json",
    "render_markdown",
    "render_terminal",
]
