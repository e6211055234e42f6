"""Terraform (state, and the code under ignore_changes) against the live cloud. Pure.

For every state object of a supported type:

- its live counterpart is found by id (and the region and account of its ARN);
- not found, in a region and account that was read completely for that type: `missing`;
  not found where the read failed: nothing is said (the read errors say why);
- found: every compared attribute (see `auditor.drift.resources`) whose state value
  differs from the live value is `changed`. When the code puts the attribute under
  `lifecycle { ignore_changes }`, the value written in the code is compared with the live
  value too: after a refresh, state follows the cloud, so state and cloud agree while the
  code still asks for something else. That is the drift nothing else shows
  (`ignored_by_iac`). A code value that cannot be worked out is `unresolved`, never guessed.

Live resources whose id is in no state read are `unmanaged`, unless something else owns
them on purpose (`LiveResource.controlled_by`, or an [[ownership]] tag).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from auditor.drift.hcl import CodeInstance, CodeResource, strip_module_indices
from auditor.drift.model import DriftItem, DriftKind, LiveResource, ReadScope, Unresolved
from auditor.drift.resources import (
    SPECS,
    SUPPORTED_TYPES,
    ResourceSpec,
    arn_region_account,
    display_attribute,
    flatten,
)
from auditor.sources.terraform import StateResource

CodeIndex = Mapping[tuple[str | None, str, str], CodeResource]


class _Absent:
    """The code does not mention the attribute: it has no opinion."""

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT = _Absent()


@dataclass(frozen=True)
class TerraformSide:
    """One [[terraform]] section: its state objects and the code that goes with them."""

    name: str
    resources: tuple[StateResource, ...]
    code: CodeIndex = field(default_factory=dict)


def compare(
    sides: Sequence[TerraformSide],
    live: Sequence[LiveResource],
    read: Collection[ReadScope],
    *,
    judge_presence: Collection[str] = SUPPORTED_TYPES,
    owned_by_tag: Callable[[LiveResource], str | None] | None = None,
) -> tuple[DriftItem, ...]:
    """Every drift item, sorted by resource, attribute and kind. `judge_presence` names the
    types whose missing/unmanaged objects are reported (`audit` leaves aws_instance to
    reconcile, which already calls such hosts missing and cloud-unmanaged)."""
    index = LiveIndex(live)
    items: list[DriftItem] = []
    for side in sides:
        for resource in side.resources:
            spec = SPECS.get(resource.type)
            if spec is None or resource.deposed:
                continue
            items += compare_resource(
                spec, resource, index, read, side.code, judge_presence=judge_presence
            )
    managed = managed_keys(r for side in sides for r in side.resources)
    items += find_unmanaged(live, managed, judge_presence, owned_by_tag)
    return tuple(sorted(items, key=_item_order))


def _item_order(item: DriftItem) -> tuple[str, ...]:
    return (
        item.resource or "~",
        item.type,
        item.id or "",
        item.attribute or "",
        str(item.state),
        str(item.live),
        item.kind.value,
    )


class LiveIndex:
    """Live resources by (type, id); a region and account pick among namesakes."""

    def __init__(self, live: Iterable[LiveResource]) -> None:
        self._by_key: dict[tuple[str, str], list[LiveResource]] = {}
        for resource in live:
            self._by_key.setdefault((resource.type, resource.id), []).append(resource)

    def find(
        self, type_: str, key: str, region: str | None, account: str | None
    ) -> LiveResource | None:
        for candidate in self._by_key.get((type_, key), ()):
            if region and candidate.region != region:
                continue
            if account and candidate.account and candidate.account != account:
                continue
            return candidate
        return None


def was_read(
    read: Collection[ReadScope], type_: str, region: str | None, account: str | None
) -> bool:
    """Was this type read completely where the state says the resource lives? Without a
    region (no ARN in state) nothing can be judged."""
    if region is None:
        return False
    return any(
        s.type == type_ and s.region == region and (account is None or s.account in (None, account))
        for s in read
    )


def compare_resource(
    spec: ResourceSpec,
    resource: StateResource,
    index: LiveIndex,
    read: Collection[ReadScope],
    code: CodeIndex,
    *,
    judge_presence: Collection[str] = SUPPORTED_TYPES,
) -> list[DriftItem]:
    key = spec.state_key(resource.attributes)
    if key is None:
        return []
    region, account = arn_region_account(resource.attributes.get("arn"))
    live = index.find(resource.type, key, region, account)
    if live is None:
        if resource.type in judge_presence and was_read(read, resource.type, region, account):
            where = f"{region}" + (f" (account {account})" if account else "")
            return [
                _whole(
                    resource,
                    key,
                    region,
                    f"in Terraform state, not in the cloud ({where} was read)",
                )
            ]
        return []
    if live.attributes.get("instance_state") == "terminated":
        if resource.type not in judge_presence:
            return []
        gone = _whole(resource, key, live.region, "in Terraform state; the instance is terminated")
        return [replace(gone, state=resource.attributes.get("instance_state"), live="terminated")]
    instance = code_instance(code, resource)
    return compare_attributes(spec, resource, live, instance)


def _whole(resource: StateResource, key: str, region: str | None, note: str) -> DriftItem:
    return DriftItem(
        DriftKind.MISSING,
        resource.address,
        resource.type,
        key,
        region=region,
        note=note,
        state_file=resource.state_file,
    )


def code_instance(code: CodeIndex, resource: StateResource) -> CodeInstance | None:
    """The code of one state object: the same module (instance keys aside), type and name."""
    found = code.get((strip_module_indices(resource.module), resource.type, resource.name))
    return found.instance(resource.index) if found else None


def compare_attributes(
    spec: ResourceSpec,
    resource: StateResource,
    live: LiveResource,
    code: CodeInstance | None,
) -> list[DriftItem]:
    """Pure: the drift of one state object against its live counterpart (and its code)."""
    state_flat = flatten(spec, spec.from_terraform(resource.attributes))
    live_flat = flatten(spec, live.attributes)
    code_view = spec.from_terraform(code.attributes) if code else {}
    code_flat = flatten(spec, code_view)
    paths = set(state_flat) | set(live_flat)
    if code is not None:
        paths |= {p for p in code_flat if code.ignores(p)}

    items: list[DriftItem] = []
    for path in sorted(paths):
        state_value, live_value = state_flat.get(path), live_flat.get(path)
        ignored = code is not None and code.ignores(path)
        code_value = _code_value(spec, code_view, code_flat, path) if code else ABSENT
        resolved = code_value is not ABSENT and not isinstance(code_value, Unresolved)
        state_differs = not spec.equal(path, state_value, live_value)
        code_differs = ignored and resolved and not spec.equal(path, code_value, live_value)
        attribute = display_attribute(spec, path)
        if state_differs or code_differs:
            items.append(
                DriftItem(
                    DriftKind.CHANGED,
                    resource.address,
                    resource.type,
                    live.id,
                    attribute,
                    code=code_value if resolved else None,
                    state=state_value,
                    live=live_value,
                    ignored_by_iac=ignored,
                    region=live.region,
                    note=_note(code, path, code_value, ignored),
                    state_file=resource.state_file,
                )
            )
        elif ignored and isinstance(code_value, Unresolved) and path in code_flat:
            # One entry where the code's value stops being knowable (`tags`, not each tag).
            items.append(
                DriftItem(
                    DriftKind.UNRESOLVED,
                    resource.address,
                    resource.type,
                    live.id,
                    attribute,
                    state=state_value,
                    live=live_value,
                    ignored_by_iac=True,
                    region=live.region,
                    note=f"code value not resolvable: {code_value.reason}",
                    state_file=resource.state_file,
                )
            )
    return items


def _code_value(
    spec: ResourceSpec, code_view: Mapping[str, Any], code_flat: Mapping[str, Any], path: str
) -> Any:
    """The code's value at `path`: its own, an Unresolved ancestor's, None for a rule the
    code's complete rule set lacks, or ABSENT when the code says nothing."""
    if path in code_flat:
        return code_flat[path]
    top = path.split("[", 1)[0].split(".", 1)[0]
    if isinstance(code_view.get(top), Unresolved):
        return code_view[top]
    for ancestor, value in code_flat.items():
        if isinstance(value, Unresolved) and (
            path.startswith(ancestor + "[") or path.startswith(ancestor + ".")
        ):
            return value
    if top in spec.rule_sets and top in code_view:
        return None  # the code lists every rule; this one is not among them
    return ABSENT


def _note(code: CodeInstance | None, path: str, code_value: Any, ignored: bool) -> str | None:
    parts: list[str] = []
    if code is not None:
        if isinstance(code_value, Unresolved):
            parts.append(f"code value not resolvable: {code_value.reason}")
        elif code_value is not ABSENT:
            origin = code.origin(path)
            parts.append(f"code: {code.file}" + (f", from {origin}" if origin else ""))
    if ignored:
        parts.append("lifecycle.ignore_changes hides this from terraform plan")
    return "; ".join(parts) or None


# --------------------------------------------------------------------------- unmanaged


def managed_keys(resources: Iterable[StateResource]) -> set[tuple[str, str]]:
    """(type, id) of every object any state holds, deposed ones included (they exist)."""
    keys: set[tuple[str, str]] = set()
    for resource in resources:
        spec = SPECS.get(resource.type)
        key = spec.state_key(resource.attributes) if spec else None
        if key:
            keys.add((resource.type, key))
    return keys


def find_unmanaged(
    live: Iterable[LiveResource],
    managed: Collection[tuple[str, str]],
    judge_presence: Collection[str] = SUPPORTED_TYPES,
    owned_by_tag: Callable[[LiveResource], str | None] | None = None,
) -> list[DriftItem]:
    items = []
    for resource in live:
        if resource.type not in judge_presence or (resource.type, resource.id) in managed:
            continue
        if resource.controlled_by or resource.attributes.get("instance_state") == "terminated":
            continue
        if owned_by_tag is not None and owned_by_tag(resource):
            continue
        items.append(
            DriftItem(
                DriftKind.UNMANAGED,
                None,
                resource.type,
                resource.id,
                live=resource.name,
                region=resource.region,
                note="in the cloud, in no Terraform state that was read",
            )
        )
    return items


def state_regions(resources: Iterable[StateResource]) -> set[str]:
    """Regions named by the ARNs of supported resources: where to look when [[aws]] names
    no region."""
    regions = set()
    for resource in resources:
        if resource.type in SPECS:
            region, _ = arn_region_account(resource.attributes.get("arn"))
            if region:
                regions.add(region)
    return regions
