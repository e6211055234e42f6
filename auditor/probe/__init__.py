"""The SSH probe: one POSIX sh script built from per-fact snippets, and pure parsers that
turn its output into `auditor.model.Facts`.

    options = ProbeOptions.from_settings(config.ssh)        # or ProbeOptions(sudo=..., ...)
    script = build_script(options)                           # send to `sh -s` on stdin
    facts = parse_probe_output(stdout, options.nonce, collected_at=now, log_days=7,
                               owner_of=lambda a: config.owner_of(a))

See docs/probe.md for the facts, their fallbacks and the output format.
"""

from auditor.probe.facts import ALL_FACTS
from auditor.probe.interface import FactUpdate, ParseContext, Privilege, ProbeFact
from auditor.probe.options import DEFAULT_SEARCH_PATH, ProbeOptions, new_nonce
from auditor.probe.parse import parse_probe_output
from auditor.probe.script import build_script
from auditor.probe.sections import Part, ProbeOutput, Section, split_output

__all__ = [
    "ALL_FACTS",
    "DEFAULT_SEARCH_PATH",
    "FactUpdate",
    "ParseContext",
    "Part",
    "Privilege",
    "ProbeFact",
    "ProbeOptions",
    "ProbeOutput",
    "Section",
    "build_script",
    "new_nonce",
    "parse_probe_output",
    "split_output",
]
