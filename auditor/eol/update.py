"""`auditor eol update`: refresh the data from the endoflife.date API v1 into the user cache.

For each product (default: every product of the embedded set) it fetches
`GET {base}/products/<slug>/`, maps the API's split fields back to the data file's
(`eol = eolFrom if not null else isEol`, likewise support/eoas, extended/eoes, lts;
`latest = latest.name`, `latest_release = latest.date`), validates everything, merges the
result over the data in use, and writes `<cache dir>/eol.json` atomically (a temporary file in
the same folder, then `os.replace`). Any failure - unreachable API, HTTP error, bad JSON, a
bad date - raises EolDataError naming the URL, before anything is written: the old data stays.

Only http and https URLs are accepted. This is the one module of auditor.eol that does I/O
over the network, and it only does so when called.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from auditor.eol.dataset import (
    REFRESHED_LABEL,
    cache_path,
    load_embedded,
    load_eol_data,
    parse_dataset,
    parse_product,
)
from auditor.errors import EolDataError
from auditor.fileio import write_atomic

DEFAULT_API_BASE = "https://endoflife.date/api/v1"
DEFAULT_TIMEOUT_S = 20.0
MAX_RESPONSE_BYTES = 8 * 1024 * 1024
USER_AGENT = "auditor-eol-update/0.1"


@dataclass(frozen=True)
class UpdateResult:
    """What an update wrote: the cache file, the refresh date, the products fetched (sorted)
    and their cycle count, the API base used, and the label of the data it replaced."""

    path: Path
    refreshed: date
    base_url: str
    products: tuple[str, ...]
    cycles: int
    replaced: str


def update_eol_data(
    base_url: str = DEFAULT_API_BASE,
    cache_dir: Path | str | None = None,
    products: Iterable[str] | None = None,
    *,
    timeout: float = DEFAULT_TIMEOUT_S,
    fetched_on: date | None = None,
) -> UpdateResult:
    """Fetch `products` (endoflife.date slugs; default every embedded product) from the API at
    `base_url` and write the refreshed data to `<cache_dir>/eol.json` (default cache dir:
    `default_cache_dir()`).

    Products not fetched keep the data (and provenance) they had. `fetched_on` is the
    refresh date recorded in the file (default: today). Raises EolDataError - naming the URL
    and saying the old data was kept - on any failure; nothing is written then."""
    base = _check_base_url(base_url)
    refreshed = fetched_on or date.today()
    target = cache_path(cache_dir)
    current = load_eol_data(cache_dir)
    slugs = sorted(set(products) if products is not None else set(load_embedded().products))
    if not slugs:
        raise EolDataError("no products to update")

    provenance = f"{REFRESHED_LABEL} {refreshed.isoformat()}"
    fetched: dict[str, dict[str, Any]] = {}
    cycles = 0
    for slug in slugs:
        url = product_url(base, slug)
        try:
            record = api_product_to_record(slug, fetch_json(url, timeout), url)
            parsed = parse_product(slug, record, url, provenance)
        except EolDataError as exc:
            raise EolDataError(f"{exc}; {_kept(current.label, target)}") from exc
        fetched[slug] = {**record, "provenance": provenance}
        cycles += len(parsed.cycles)

    document = _merged_document(current.document, current.products, fetched, refreshed, base)
    parse_dataset(document, str(target))  # the whole file must load before it replaces anything
    try:
        write_atomically(target, json.dumps(document, indent=1, ensure_ascii=False) + "\n")
    except OSError as exc:
        raise EolDataError(
            f"cannot write {target}: {exc.strerror or exc}; {_kept(current.label, target)}"
        ) from exc
    return UpdateResult(
        path=target,
        refreshed=refreshed,
        base_url=base,
        products=tuple(slugs),
        cycles=cycles,
        replaced=current.label,
    )


def _kept(label: str, target: Path) -> str:
    return f"nothing was written to {target}; the {label} data stays in use"


def _check_base_url(base_url: str) -> str:
    parts = urlsplit(base_url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise EolDataError(
            f"the EOL API URL must be http(s), such as {DEFAULT_API_BASE}, got {base_url!r}"
        )
    return base_url.strip().rstrip("/")


def product_url(base: str, slug: str) -> str:
    """`{base}/products/{slug}/`, the API v1 product endpoint."""
    return f"{base.rstrip('/')}/products/{slug}/"


def fetch_json(url: str, timeout: float) -> Any:
    """GET `url` and decode its JSON body. Raises EolDataError naming the URL on a network
    error, a timeout, an HTTP error status, an oversized body or invalid JSON."""
    request = urllib.request.Request(
        url, headers={"Accept": "application/json", "User-Agent": USER_AGENT}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read(MAX_RESPONSE_BYTES + 1)
    except urllib.error.HTTPError as exc:
        raise EolDataError(f"{url}: HTTP {exc.code} {exc.reason}") from exc
    except urllib.error.URLError as exc:
        raise EolDataError(f"cannot reach {url}: {exc.reason}") from exc
    except (TimeoutError, OSError) as exc:
        raise EolDataError(f"cannot reach {url}: {exc}") from exc
    if len(body) > MAX_RESPONSE_BYTES:
        raise EolDataError(f"{url}: response larger than {MAX_RESPONSE_BYTES} bytes")
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EolDataError(f"{url}: not valid JSON ({exc})") from exc


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _pick(value_date: Any, value_flag: Any) -> Any:
    return value_date if value_date is not None else value_flag


def api_product_to_record(slug: str, payload: Any, url: str) -> dict[str, Any]:
    """An API v1 product response -> a product record in the data file's format.
    Raises EolDataError naming `url` when the response does not have the API's shape."""
    if not isinstance(payload, dict) or not isinstance(payload.get("result"), dict):
        raise EolDataError(f"{url}: expected an object with a 'result' object")
    result: dict[str, Any] = payload["result"]
    releases = result.get("releases")
    if not isinstance(releases, list) or not releases:
        raise EolDataError(f"{url}: result.releases must be a non-empty list")
    labels = _object(result.get("labels"))
    links = _object(result.get("links"))
    name = result.get("name") if isinstance(result.get("name"), str) else slug
    return {
        "label": result.get("label") or slug,
        "category": result.get("category"),
        "permalink": f"/{name}",
        "alternate_urls": [
            f"/{alias.strip('/')}"
            for alias in result.get("aliases") or ()
            if isinstance(alias, str)
        ],
        "identifiers": [
            {ident["type"]: ident["id"]}
            for ident in result.get("identifiers") or ()
            if isinstance(ident, dict)
            and isinstance(ident.get("type"), str)
            and isinstance(ident.get("id"), str)
        ],
        "version_command": result.get("versionCommand"),
        "release_policy": links.get("releasePolicy"),
        "release_label_template": None,
        "column_labels": {
            ours: labels[theirs]
            for theirs, ours in (("eoas", "support"), ("eol", "eol"), ("eoes", "extended"))
            if labels.get(theirs) is not None
        },
        "cycles": [
            _api_release_to_cycle(r, f"{url}: result.releases[{i}]") for i, r in enumerate(releases)
        ],
    }


def _api_release_to_cycle(release: Any, where: str) -> dict[str, Any]:
    if not isinstance(release, dict):
        raise EolDataError(f"{where}: expected an object")
    latest = _object(release.get("latest"))
    return {
        "cycle": release.get("name"),
        "release": release.get("releaseDate"),
        "support": _pick(release.get("eoasFrom"), release.get("isEoas")),
        "eol": _pick(release.get("eolFrom"), release.get("isEol")),
        "extended": _pick(release.get("eoesFrom"), release.get("isEoes")),
        "lts": _pick(release.get("ltsFrom"), release.get("isLts")),
        "latest": latest.get("name"),
        "latest_release": latest.get("date"),
        "codename": release.get("codename"),
        "release_label": release.get("label"),
    }


def _merged_document(
    current: Mapping[str, Any],
    current_products: Mapping[str, Any],
    fetched: Mapping[str, dict[str, Any]],
    refreshed: date,
    base: str,
) -> dict[str, Any]:
    products: dict[str, Any] = {}
    for slug, raw in current.get("products", {}).items():
        products[slug] = {**raw, "provenance": current_products[slug].provenance}
    products.update(fetched)
    meta = {k: v for k, v in current.items() if k != "products"}
    return {
        **meta,
        "refreshed": refreshed.isoformat(),
        "refreshed_from": base,
        "refreshed_products": sorted(fetched),
        "products": products,
    }


def write_atomically(path: Path, text: str) -> None:
    """Readers see the old cache or the new one, never half (auditor.fileio)."""
    write_atomic(path, text)
