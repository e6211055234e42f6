"""The error tree. Library code raises these; third-party exceptions are translated where
they enter (paramiko, boto3, ansible-inventory, nmap) into one of them, with a cause a person
can act on.

    AuditorError
    ├── ConfigError          bad config file: names the file, the key and what was expected
    ├── TargetError          an nmap target that is not a CIDR, range or name
    ├── SourceError          a source could not be read (nmap, AWS, inventory, state)
    ├── ProbeError           an SSH probe failed (becomes a SkippedHost, never stops a run)
    │   └── HostKeyError     unknown or changed host key
    ├── StoreError           the history store is locked, corrupt or too new
    ├── EolDataError         end-of-life data missing, invalid or not refreshable
    ├── OutputError          a report or other file could not be written (full disk,
    │                        read-only folder, permission); also an OSError
    └── LabError             the lab cannot be built here (not root, subnet in use ...)

CLI exit codes: 2 for ConfigError/TargetError (usage), 3 for the rest (the run failed), and 3
for any unexpected exception too (one line; the traceback with `auditor --debug`).
"""

from __future__ import annotations


class AuditorError(Exception):
    """Base of every error the library raises on purpose."""


class ConfigError(AuditorError):
    pass


class TargetError(AuditorError):
    pass


class SourceError(AuditorError):
    pass


class ProbeError(AuditorError):
    pass


class HostKeyError(ProbeError):
    pass


class StoreError(AuditorError):
    pass


class EolDataError(AuditorError):
    pass


class LabError(AuditorError):
    pass


class OutputError(AuditorError, OSError):
    """Names the file we meant to write and why it failed. An OSError too, so code that
    treats a failed write as a warning (`except OSError`) keeps working."""
