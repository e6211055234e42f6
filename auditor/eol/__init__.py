"""End-of-life status for operating systems and server software.

Embedded endoflife.date data (package data, `data/eol.json`, MIT, notice in `data/LICENSE`),
an optional refreshed copy in the user cache (`auditor eol update`), and pure lookups:

    data = load_eol_data()                                  # cache if newer, else embedded
    identity = identify_os({"/etc/redhat-release": "CentOS release 5.11 (Final)\\n"})
    status = os_eol(identity, on=audit_date, data=data)     # EolStatus(centos, 5, eol, ...)
    software_eol("httpd", "Server version: Apache/2.2.15 (Unix)", on=audit_date, data=data)

Every status function takes the audit date; none reads the clock. See docs/eol.md.
"""

from auditor.eol.dataset import (
    Cycle,
    EolData,
    Product,
    cache_path,
    default_cache_dir,
    load_embedded,
    load_eol_data,
)
from auditor.eol.osmap import os_eol, os_product_cycle, with_os_eol
from auditor.eol.releases import (
    RELEASE_FILE_PATHS,
    identify_os,
    parse_alpine_release,
    parse_debian_version,
    parse_lsb_release,
    parse_os_release,
    parse_redhat_release,
    parse_suse_release,
)
from auditor.eol.show import CycleRow, ProductReport, describe, render_show, status_phrase
from auditor.eol.software import software_eol, software_product, with_software_eol
from auditor.eol.status import (
    EOL,
    EXTENDED_SUPPORT,
    SECURITY_ONLY,
    STATUSES,
    SUPPORTED,
    UNKNOWN,
    lookup_status,
)
from auditor.eol.update import DEFAULT_API_BASE, UpdateResult, update_eol_data

__all__ = [
    "DEFAULT_API_BASE",
    "EOL",
    "EXTENDED_SUPPORT",
    "RELEASE_FILE_PATHS",
    "SECURITY_ONLY",
    "STATUSES",
    "SUPPORTED",
    "UNKNOWN",
    "Cycle",
    "CycleRow",
    "EolData",
    "Product",
    "ProductReport",
    "UpdateResult",
    "cache_path",
    "default_cache_dir",
    "describe",
    "identify_os",
    "load_embedded",
    "load_eol_data",
    "lookup_status",
    "os_eol",
    "os_product_cycle",
    "parse_alpine_release",
    "parse_debian_version",
    "parse_lsb_release",
    "parse_os_release",
    "parse_redhat_release",
    "parse_suse_release",
    "render_show",
    "software_eol",
    "software_product",
    "status_phrase",
    "update_eol_data",
    "with_os_eol",
    "with_software_eol",
]
