"""Where a release cycle stands on a given day: supported, security-only, extended-support,
eol or unknown. Pure: the audit date is always a parameter.

Rules, applied to the cycle's fields as endoflife.date defines them (a date is "reached" on
that day; `true` = already reached; `false` = not reached; null = not given):

- `eol` reached, and `extended` not reached (a later date, or `false`) -> extended-support
- `eol` reached otherwise (no `extended`, or it is reached too)          -> eol
- `eol` not reached, `support` reached                                   -> security-only
- `eol` not reached, `support` not reached or not given                  -> supported
- `eol` not given, or no product/cycle to look at                        -> unknown

`date` is the `eol` date in ISO form when it is a date, and `days_past` is
(audit date - eol date) in days: positive past end of life, negative = days left. Both are None
when `eol` is a boolean.
"""

from __future__ import annotations

from datetime import date

from auditor.eol.dataset import Cycle, DateOrFlag, EolData, Product
from auditor.model import EolStatus

SUPPORTED = "supported"
SECURITY_ONLY = "security-only"
EXTENDED_SUPPORT = "extended-support"
EOL = "eol"
UNKNOWN = "unknown"

STATUSES = (SUPPORTED, SECURITY_ONLY, EXTENDED_SUPPORT, EOL, UNKNOWN)


def reached(value: DateOrFlag, on: date) -> bool | None:
    """Whether a date-or-flag field is reached on `on`; None when the field is not given."""
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    return value <= on


def status_name(cycle: Cycle, on: date) -> str:
    """The status word for `cycle` on `on` (see the module docstring)."""
    eol_reached = reached(cycle.eol, on)
    if eol_reached is None:
        return UNKNOWN
    if eol_reached:
        return EXTENDED_SUPPORT if reached(cycle.extended, on) is False else EOL
    return SECURITY_ONLY if reached(cycle.support, on) else SUPPORTED


def cycle_status(product: Product, cycle: Cycle, on: date, seen: str | None = None) -> EolStatus:
    """The EolStatus of a known product cycle on `on`."""
    eol_date = cycle.eol if isinstance(cycle.eol, date) else None
    return EolStatus(
        product=product.slug,
        cycle=cycle.cycle,
        status=status_name(cycle, on),
        date=eol_date.isoformat() if eol_date else None,
        days_past=(on - eol_date).days if eol_date else None,
        source=product.provenance,
        seen=seen,
    )


def unknown_status(data: EolData, seen: str | None, product: Product | None = None) -> EolStatus:
    """Status "unknown": nothing mapped (`product` None) or the product is known but the cycle
    is not in the data (`product` given, `cycle` None). Never a guess."""
    return EolStatus(
        product=product.slug if product else None,
        cycle=None,
        status=UNKNOWN,
        date=None,
        days_past=None,
        source=product.provenance if product else data.label,
        seen=seen,
    )


def lookup_status(
    data: EolData, product: str | None, cycle: str | None, on: date, seen: str | None = None
) -> EolStatus:
    """Status of `product` (slug or alias) `cycle` on `on`; "unknown" when either is None or
    absent from the data."""
    found = data.product(product) if product else None
    if found is None:
        return unknown_status(data, seen)
    row = found.find_cycle(cycle) if cycle else None
    if row is None:
        return unknown_status(data, seen, found)
    return cycle_status(found, row, on, seen)
