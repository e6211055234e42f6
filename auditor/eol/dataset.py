"""End-of-life data: the typed, validated form of `eol.json`, and where it is loaded from.

Two copies can exist:

- the embedded snapshot, package data at `auditor/eol/data/eol.json` (never anything outside
  the package);
- a refreshed copy written by `auditor eol update` to `<cache dir>/eol.json`, where the cache
  dir is `$XDG_CACHE_HOME/auditor` or `~/.cache/auditor`.

`load_eol_data` returns the refreshed copy when it is newer than the embedded one and valid;
otherwise the embedded one, with a warning saying why the cache was passed over. Both files
share one format (the embedded one, described in `data/README.md`); a refreshed file adds
`refreshed`, `refreshed_from` and `refreshed_products` at the top and `provenance` per product.
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

from auditor.errors import EolDataError

CACHE_FILE_NAME = "eol.json"
EMBEDDED_LABEL = "embedded"
REFRESHED_LABEL = "refreshed"

# A date field of a cycle: a date, a boolean when no date is known (True = already reached,
# False = not reached), or None when the source does not give it.
DateOrFlag = date | bool | None

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_FLAG_FIELDS = ("support", "eol", "extended", "lts")
_DATE_FIELDS = ("release", "latest_release")
_TEXT_FIELDS = ("latest", "codename", "release_label")


@dataclass(frozen=True)
class Cycle:
    """One release cycle of a product, e.g. RHEL "7" or Ubuntu "14.04"."""

    cycle: str
    release: date | None
    support: DateOrFlag  # end of active support
    eol: DateOrFlag  # end of life: no more security fixes
    extended: DateOrFlag  # end of paid/extended support (ELS, ESM, LTSS ...)
    lts: DateOrFlag
    latest: str | None
    latest_release: date | None
    codename: str | None
    release_label: str | None


@dataclass(frozen=True)
class Product:
    """One endoflife.date product and its cycles, newest first as the source lists them.

    `aliases` are the lower-case names the product is also known by (its permalink and
    alternate URLs without slashes, e.g. "redhat" for rhel). `provenance` is what an
    `EolStatus.source` says about data from this product: "embedded 2026-08-22" or
    "refreshed 2026-11-28".
    """

    slug: str
    label: str
    category: str | None
    aliases: tuple[str, ...]
    column_labels: Mapping[str, str | bool]
    cycles: tuple[Cycle, ...]
    provenance: str

    def find_cycle(self, cycle: str) -> Cycle | None:
        """The cycle whose id is exactly `cycle`, or None."""
        for candidate in self.cycles:
            if candidate.cycle == cycle:
                return candidate
        return None

    @property
    def cycle_ids(self) -> tuple[str, ...]:
        return tuple(c.cycle for c in self.cycles)


@dataclass(frozen=True)
class EolData:
    """A loaded, validated data set.

    `origin` is "embedded" or "refreshed"; `as_of` is how fresh it is (the source commit date
    of the embedded copy, the refresh date of a cached copy); `path` is where it was read from.
    `warnings` says why a cached copy was not used, when one was passed over.
    """

    products: Mapping[str, Product]
    origin: str
    as_of: date
    path: str
    document: Mapping[str, Any]
    warnings: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """E.g. "embedded 2026-08-22" or "refreshed 2026-11-28"."""
        return f"{self.origin} {self.as_of.isoformat()}"

    def product(self, name: str) -> Product | None:
        """The product whose slug or alias is `name` (case-insensitive), or None."""
        key = name.strip().strip("/").lower()
        found = self.products.get(key)
        if found is not None:
            return found
        for product in self.products.values():
            if key in product.aliases:
                return product
        return None


# --------------------------------------------------------------------------- locations


def default_cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """`$XDG_CACHE_HOME/auditor` when XDG_CACHE_HOME is set (and absolute), else
    `~/.cache/auditor`."""
    env = os.environ if environ is None else environ
    xdg = env.get("XDG_CACHE_HOME", "")
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / "auditor"
    home = env.get("HOME") or str(Path.home())
    return Path(home) / ".cache" / "auditor"


def cache_path(cache_dir: Path | str | None = None) -> Path:
    """Where the refreshed copy lives for `cache_dir` (default: `default_cache_dir()`)."""
    return Path(cache_dir if cache_dir is not None else default_cache_dir()) / CACHE_FILE_NAME


# --------------------------------------------------------------------------- loading


def load_embedded() -> EolData:
    """The snapshot shipped inside the package. Raises EolDataError if it is missing or bad
    (a broken install)."""
    return _load_embedded_cached()


@functools.lru_cache(maxsize=1)
def _load_embedded_cached() -> EolData:
    resource = resources.files("auditor.eol").joinpath("data", CACHE_FILE_NAME)
    where = f"embedded {resource}"
    try:
        text = resource.read_text(encoding="utf-8")
    except OSError as exc:
        raise EolDataError(f"cannot read the embedded EOL data ({where}): {exc}") from exc
    return parse_dataset(_decode(text, where), where)


def load_eol_data(cache_dir: Path | str | None = None) -> EolData:
    """The data to use: the refreshed copy in `cache_dir` when it is valid and newer than the
    embedded snapshot, else the embedded snapshot. A cache that cannot be read or is invalid is
    passed over with a warning in `EolData.warnings`, never an exception."""
    embedded = load_embedded()
    path = cache_path(cache_dir)
    if not path.exists():
        return embedded
    try:
        cached = read_dataset_file(path)
    except EolDataError as exc:
        return _with_warning(embedded, f"ignored the refreshed EOL data: {exc}")
    if cached.origin != REFRESHED_LABEL:
        return _with_warning(embedded, f"ignored {path}: it is not a refreshed copy")
    if cached.as_of <= embedded.as_of:
        return _with_warning(
            embedded,
            f"ignored {path}: refreshed {cached.as_of} is not newer than the embedded "
            f"data ({embedded.as_of}); run `auditor eol update` to refresh it",
        )
    return cached


def read_dataset_file(path: Path) -> EolData:
    """Read and validate one data file. Raises EolDataError naming the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise EolDataError(f"cannot read {path}: {exc.strerror or exc}") from exc
    return parse_dataset(_decode(text, str(path)), str(path))


def _decode(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise EolDataError(f"{where}: not valid JSON ({exc})") from exc


def _with_warning(data: EolData, warning: str) -> EolData:
    return EolData(
        products=data.products,
        origin=data.origin,
        as_of=data.as_of,
        path=data.path,
        document=data.document,
        warnings=(*data.warnings, warning),
    )


# --------------------------------------------------------------------------- validation


def parse_dataset(document: Any, where: str) -> EolData:
    """Validate a decoded data document and build the typed form.

    Raises EolDataError naming `where` and the offending key when the structure or a date is
    wrong. A document with a `refreshed` date is a refreshed copy; otherwise it is the
    embedded snapshot and its freshness is `source_commit_date`.
    """
    if not isinstance(document, dict):
        raise EolDataError(f"{where}: expected a JSON object at the top")
    refreshed = document.get("refreshed")
    if refreshed is not None:
        origin = REFRESHED_LABEL
        as_of = _require_date(refreshed, f"{where}: refreshed")
    else:
        origin = EMBEDDED_LABEL
        as_of = _require_date(document.get("source_commit_date"), f"{where}: source_commit_date")
    default_provenance = f"{origin} {as_of.isoformat()}"

    raw_products = document.get("products")
    if not isinstance(raw_products, dict) or not raw_products:
        raise EolDataError(f"{where}: 'products' must be a non-empty object")
    products: dict[str, Product] = {}
    for slug, raw in raw_products.items():
        products[slug] = parse_product(slug, raw, f"{where}: products.{slug}", default_provenance)
    return EolData(
        products=MappingProxyType(products),
        origin=origin,
        as_of=as_of,
        path=where,
        document=document,
    )


def parse_product(slug: str, raw: Any, where: str, default_provenance: str) -> Product:
    """Validate one product record (the `products.<slug>` object) and build its typed form.
    Raises EolDataError naming `where` and the key at fault."""
    if not isinstance(raw, dict):
        raise EolDataError(f"{where}: expected an object")
    label = raw.get("label")
    if not isinstance(label, str) or not label:
        raise EolDataError(f"{where}.label: expected a non-empty string")
    raw_cycles = raw.get("cycles")
    if not isinstance(raw_cycles, list) or not raw_cycles:
        raise EolDataError(f"{where}.cycles: expected a non-empty list")
    cycles = tuple(_parse_cycle(c, f"{where}.cycles[{i}]") for i, c in enumerate(raw_cycles))
    category = raw.get("category")
    column_labels = raw.get("column_labels") or {}
    if not isinstance(column_labels, dict):
        raise EolDataError(f"{where}.column_labels: expected an object")
    provenance = raw.get("provenance", default_provenance)
    if not isinstance(provenance, str):
        raise EolDataError(f"{where}.provenance: expected a string")
    return Product(
        slug=slug,
        label=label,
        category=category if isinstance(category, str) else None,
        aliases=_aliases(slug, raw),
        column_labels=MappingProxyType(dict(column_labels)),
        cycles=cycles,
        provenance=provenance,
    )


def _aliases(slug: str, raw: Mapping[str, Any]) -> tuple[str, ...]:
    names = {slug}
    permalink = raw.get("permalink")
    if isinstance(permalink, str):
        names.add(permalink)
    for alias in raw.get("alternate_urls") or ():
        if isinstance(alias, str):
            names.add(alias)
    return tuple(sorted({n.strip("/").lower() for n in names if n.strip("/")}))


def _parse_cycle(raw: Any, where: str) -> Cycle:
    if not isinstance(raw, dict):
        raise EolDataError(f"{where}: expected an object")
    cycle_id = raw.get("cycle")
    if not isinstance(cycle_id, str) or not cycle_id:
        raise EolDataError(f"{where}.cycle: expected a non-empty string, got {cycle_id!r}")
    where = f"{where} (cycle {cycle_id})"
    flags = {name: _date_or_flag(raw.get(name), f"{where}.{name}") for name in _FLAG_FIELDS}
    dates = {name: _optional_date(raw.get(name), f"{where}.{name}") for name in _DATE_FIELDS}
    texts = {name: _optional_text(raw.get(name), f"{where}.{name}") for name in _TEXT_FIELDS}
    return Cycle(
        cycle=cycle_id,
        release=dates["release"],
        support=flags["support"],
        eol=flags["eol"],
        extended=flags["extended"],
        lts=flags["lts"],
        latest=texts["latest"],
        latest_release=dates["latest_release"],
        codename=texts["codename"],
        release_label=texts["release_label"],
    )


def _require_date(value: Any, where: str) -> date:
    parsed = _optional_date(value, where)
    if parsed is None:
        raise EolDataError(f"{where}: expected a date YYYY-MM-DD, got nothing")
    return parsed


def _optional_date(value: Any, where: str) -> date | None:
    if value is None:
        return None
    if isinstance(value, str) and _ISO_DATE.match(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise EolDataError(f"{where}: expected a date YYYY-MM-DD or null, got {value!r}")


def _date_or_flag(value: Any, where: str) -> DateOrFlag:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str) and _ISO_DATE.match(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise EolDataError(f"{where}: expected a date YYYY-MM-DD, true, false or null, got {value!r}")


def _optional_text(value: Any, where: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)  # tolerate a number from a hand-edited file; versions are strings
    raise EolDataError(f"{where}: expected a string or null, got {value!r}")


# --------------------------------------------------------------------------- serialising


def flag_to_json(value: DateOrFlag) -> str | bool | None:
    """The JSON form of a date-or-flag: "YYYY-MM-DD", true, false or null."""
    if isinstance(value, date):
        return value.isoformat()
    return value
