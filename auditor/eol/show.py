"""`auditor eol show PRODUCT [CYCLE]`: the cycles of one product and where each stands on a
date, as data (`describe`) and as plain text (`render_show`). Pure."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from datetime import date

from auditor.eol.dataset import Cycle, DateOrFlag, EolData, Product
from auditor.eol.status import EOL, EXTENDED_SUPPORT, SECURITY_ONLY, SUPPORTED, cycle_status
from auditor.errors import EolDataError
from auditor.model import EolStatus


@dataclass(frozen=True)
class CycleRow:
    """One cycle, with its dates as display text ("2024-06-30", "yes" = reached with no date,
    "no" = not reached, "" = not given) and its status on the report date."""

    cycle: str
    codename: str | None
    release: str
    support: str
    eol: str
    extended: str
    latest: str
    status: EolStatus


@dataclass(frozen=True)
class ProductReport:
    """A product's cycles (newest first) as of `on`. `column_labels` says what support / eol /
    extended mean for this product (e.g. RHEL's eol is "Maintenance Support")."""

    slug: str
    label: str
    provenance: str
    on: date
    column_labels: tuple[tuple[str, str], ...]
    rows: tuple[CycleRow, ...]


def describe(product: str, cycle: str | None = None, *, on: date, data: EolData) -> ProductReport:
    """The report for `product` (slug or alias, e.g. "redhat", "httpd"), all cycles or just
    `cycle`. Raises EolDataError naming close matches for an unknown product or the known
    cycles for an unknown cycle."""
    found = data.product(product)
    if found is None:
        names = sorted({*data.products, *(a for p in data.products.values() for a in p.aliases)})
        close = difflib.get_close_matches(product.lower(), names, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise EolDataError(f"no product {product!r} in the EOL data{hint}")
    cycles: tuple[Cycle, ...] = found.cycles
    if cycle is not None:
        row = found.find_cycle(cycle)
        if row is None:
            known = ", ".join(found.cycle_ids)
            raise EolDataError(f"{found.slug} has no cycle {cycle!r} (known: {known})")
        cycles = (row,)
    return ProductReport(
        slug=found.slug,
        label=found.label,
        provenance=found.provenance,
        on=on,
        column_labels=_column_labels(found),
        rows=tuple(_row(found, c, on) for c in cycles),
    )


def _column_labels(product: Product) -> tuple[tuple[str, str], ...]:
    # Labels may carry HTML (Debian: 'Debian <abbr title="Long Term Support">LTS</abbr>').
    return tuple(
        (column, re.sub(r"<[^>]+>", "", label).strip())
        for column in ("support", "eol", "extended")
        if isinstance(label := product.column_labels.get(column), str)
    )


def _flag_text(value: DateOrFlag) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return value.isoformat()


def _row(product: Product, cycle: Cycle, on: date) -> CycleRow:
    return CycleRow(
        cycle=cycle.cycle,
        codename=cycle.codename,
        release=cycle.release.isoformat() if cycle.release else "",
        support=_flag_text(cycle.support),
        eol=_flag_text(cycle.eol),
        extended=_flag_text(cycle.extended),
        latest=cycle.latest or "",
        status=cycle_status(product, cycle, on),
    )


def status_phrase(status: EolStatus) -> str:
    """A short human phrase: "eol since 2017-03-31 (3529 days)", "supported until 2029-05-31
    (914 days left)", "unknown" ..."""
    days = status.days_past
    when = ""
    if status.date is not None and days is not None:
        when = f" ({days} days ago)" if days >= 0 else f" ({-days} days left)"
    phrases = {
        EOL: ("eol", "eol since"),
        EXTENDED_SUPPORT: ("extended support only", "extended support only, eol"),
        SECURITY_ONLY: ("security fixes only", "security fixes only until"),
        SUPPORTED: ("supported", "supported until"),
    }
    if status.status not in phrases:
        return "unknown"
    bare, dated = phrases[status.status]
    return f"{dated} {status.date}{when}" if status.date else bare


def render_show(report: ProductReport) -> str:
    """Plain-text table of `report`, one line per cycle, for the terminal."""
    header = ("cycle", "released", "support", "eol", "extended", "latest", "status")
    lines = [
        (
            row.cycle + (f" ({row.codename})" if row.codename else ""),
            row.release,
            row.support,
            row.eol,
            row.extended,
            row.latest,
            status_phrase(row.status),
        )
        for row in report.rows
    ]
    widths = [max(len(cells[i]) for cells in (header, *lines)) for i in range(len(header))]
    out = [
        f"{report.label} ({report.slug}) - {report.provenance} data, status on "
        f"{report.on.isoformat()}"
    ]
    if report.column_labels:
        out.append("  " + "; ".join(f"{col} = {label}" for col, label in report.column_labels))
    for cells in (header, *lines):
        out.append("  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip())
    return "\n".join(out) + "\n"


def show_json(report: ProductReport) -> dict[str, object]:
    """The report as JSON-ready data (`auditor eol show --format json`)."""
    return {
        "product": report.slug,
        "label": report.label,
        "provenance": report.provenance,
        "on": report.on.isoformat(),
        "columns": dict(report.column_labels),
        "cycles": [
            {
                "cycle": row.cycle,
                "codename": row.codename,
                "release": row.release,
                "support": row.support,
                "eol": row.eol,
                "extended": row.extended,
                "latest": row.latest,
                "status": row.status.status,
                "eol_date": row.status.date,
                "days_past": row.status.days_past,
            }
            for row in report.rows
        ],
    }
