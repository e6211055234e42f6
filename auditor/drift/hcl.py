"""Terraform configuration (.tf) read with a real HCL parser (python-hcl2), for the values
the code asks for where state cannot help: attributes under `lifecycle { ignore_changes }`.

`read_code(folder)` is the I/O: it parses every `*.tf` file of a root module (and of the
local modules it calls), plus `terraform.tfvars` and `*.auto.tfvars[.json]`. `parse_module`
and everything below it are pure.

What is worked out, and what is not (never guessed: an `Unresolved` value says why):

- literals: strings (with escapes and heredocs), numbers, bools, null, lists and maps;
- `var.NAME` (value from terraform.tfvars / *.auto.tfvars, else the variable's literal
  default; in a child module, the calling module block's argument), `local.NAME`, and
  attribute/index steps into them (`var.capacity["read"]`, `local.tags.env`);
- string templates made of those (`"orders-${var.env}"`);
- `count.index` and `each.key` / `each.value` for the one instance being compared.

Not worked out: function calls, operators, conditionals, `for` expressions, references to
other resources, data sources or module outputs, `dynamic` blocks, values given at apply
time (`-var`, `-var-file`, `TF_VAR_*`), override files (`override.tf`, `*_override.tf`),
the JSON syntax (`*.tf.json`), and modules from a registry or git (only local `./` paths
are followed). A module called with count/for_each is matched to every instance of it;
its arguments that use count.index or each.* are unresolved.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from auditor.drift.model import Unresolved
from auditor.drift.resources import path_key

MAX_MODULE_DEPTH = 8

_NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][+-]?\d+)?")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_STATE_INDEX = re.compile(r'\[(?:\d+|"(?:[^"\\]|\\.)*")\]')
_META_KEYS = ("__is_block__", "__start_line__", "__end_line__", "__comments__")
# Blocks of a resource that are Terraform's, not the provider's.
_META_BLOCKS = ("lifecycle", "provisioner", "connection", "dynamic")


# --------------------------------------------------------------------------- the code model


@dataclass(frozen=True)
class ModuleScope:
    """The names one module's expressions can use, already resolved. `origins` says where
    each came from, for reports: `var.capacity` -> "var.capacity = 100 (default)"."""

    path: str | None  # None: the root module; else "module.app" or "module.a.module.b"
    variables: Mapping[str, Any] = field(default_factory=dict)
    locals: Mapping[str, Any] = field(default_factory=dict)
    origins: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CodeInstance:
    """One state object's counterpart in the code: its resolved arguments, where each
    resolved value came from, and what lifecycle.ignore_changes hides."""

    address: str  # the code address, e.g. `aws_dynamodb_table.orders` or `module.app.aws_x.y`
    file: str
    attributes: Mapping[str, Any]
    origins: Mapping[str, str]  # top-level argument -> "var.x = 1 (default), local.y"
    ignore_changes: tuple[str, ...]
    ignore_all: bool

    def ignores(self, path: str) -> bool:
        """Is this attribute path under ignore_changes? `tags` covers `tags["env"]`."""
        if self.ignore_all:
            return True
        return any(
            path == entry or path.startswith(entry + "[") or path.startswith(entry + ".")
            for entry in self.ignore_changes
        )

    def origin(self, path: str) -> str | None:
        top = path.split("[", 1)[0].split(".", 1)[0]
        return self.origins.get(top)


@dataclass(frozen=True)
class CodeResource:
    """A `resource "TYPE" "NAME"` block. `body` is python-hcl2's dict of it; values are
    resolved per instance (`instance(index)`), because count.index and each.key differ."""

    module: str | None
    type: str
    name: str
    file: str
    body: Mapping[str, Any] = field(compare=False)
    scope: ModuleScope = field(compare=False)

    @property
    def address(self) -> str:
        own = f"{self.type}.{self.name}"
        return f"{self.module}.{own}" if self.module else own

    def instance(self, index: int | str | None) -> CodeInstance:
        for_each = self.body.get("for_each")
        each_value: Any = Unresolved("each.value: the resource has no for_each")
        if for_each is not None and isinstance(index, str):
            collection = Resolver(self.scope).value(for_each)
            if isinstance(collection, Mapping):
                each_value = collection.get(index, Unresolved(f"each.value: no key {index!r}"))
            elif isinstance(collection, list):
                each_value = index  # a set of strings: each.value is each.key
            else:
                each_value = Unresolved("each.value: for_each is not a literal map or set")
        resolver = Resolver(
            self.scope,
            count_index=index if isinstance(index, int) and "count" in self.body else None,
            each_key=index if isinstance(index, str) and for_each is not None else None,
            each_value=each_value,
        )
        attributes: dict[str, Any] = {}
        origins: dict[str, str] = {}
        for key, raw in self.body.items():
            if key in _META_KEYS or key in _META_BLOCKS or key in ("count", "for_each"):
                continue
            resolver.refs.clear()
            attributes[key] = resolver.value(raw)
            if resolver.refs:
                origins[key] = ", ".join(dict.fromkeys(resolver.refs))
        for block in self.body.get("dynamic") or ():
            for label in block:
                if label not in _META_KEYS:
                    attributes[unquote(label)] = Unresolved(
                        f"{unquote(label)} is generated by a dynamic block"
                    )
        ignore_changes, ignore_all = lifecycle_ignores(self.body)
        return CodeInstance(
            self.address, self.file, attributes, origins, ignore_changes, ignore_all
        )


@dataclass(frozen=True)
class CodeModule:
    """What one configuration folder says: its resources (and its local modules'), the
    files that could not be read, and what was left out on purpose (`notes`)."""

    folder: str
    resources: tuple[CodeResource, ...] = ()
    errors: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    def index(self) -> dict[tuple[str | None, str, str], CodeResource]:
        """(module path without indices, type, name) -> resource, for matching state."""
        return {(r.module, r.type, r.name): r for r in self.resources}


def strip_module_indices(module: str | None) -> str | None:
    """`module.app[0].module.db["x"]` -> `module.app.module.db`: a code module block stands
    for every instance of it."""
    return _STATE_INDEX.sub("", module) if module else None


# --------------------------------------------------------------------------- reading (I/O)


def read_code(folder: Path) -> CodeModule:
    """Parse a root module folder (and the local modules it calls). Never raises: a file
    that does not parse is an error entry naming it, the other files still count."""
    errors: list[str] = []
    notes: list[str] = []
    resources = _read_module(Path(folder), None, {}, {}, errors, notes, depth=0, seen=())
    return CodeModule(str(folder), tuple(resources), tuple(errors), tuple(notes))


def parse_hcl(text: str, name: str) -> dict[str, Any]:
    """python-hcl2's dict of one file. Raises ValueError naming the file and the line."""
    import hcl2
    from lark.exceptions import LarkError

    options = hcl2.SerializationOptions(
        with_comments=False, preserve_heredocs=False, preserve_scientific_notation=False
    )
    try:
        data: dict[str, Any] = hcl2.loads(text, serialization_options=options)
    except LarkError as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"{name}: not valid HCL: {first_line}") from exc
    except (ValueError, TypeError, KeyError, RecursionError) as exc:
        raise ValueError(f"{name}: not valid HCL: {type(exc).__name__}: {exc}") from exc
    return data


def _read_module(
    folder: Path,
    module_path: str | None,
    arguments: Mapping[str, Any],
    argument_origins: Mapping[str, str],
    errors: list[str],
    notes: list[str],
    *,
    depth: int,
    seen: tuple[Path, ...],
) -> list[CodeResource]:
    where = module_path or "root module"
    if not folder.is_dir():
        errors.append(f"{folder}: no such configuration folder ({where})")
        return []
    files: list[tuple[str, dict[str, Any]]] = []
    for path in sorted(folder.glob("*.tf")):
        if path.name == "override.tf" or path.name.endswith("_override.tf"):
            notes.append(f"{path}: override files are not merged; their values are not used")
            continue
        try:
            files.append((str(path), parse_hcl(path.read_text(encoding="utf-8"), str(path))))
        except (OSError, UnicodeDecodeError) as exc:
            errors.append(f"{path}: cannot read: {exc}")
        except ValueError as exc:
            errors.append(str(exc))
    for path in sorted(folder.glob("*.tf.json")):
        notes.append(f"{path}: the JSON configuration syntax is not read")
    if not files and not errors:
        errors.append(f"{folder}: no *.tf file ({where})")

    tfvars: dict[str, Any] = {}
    tfvars_origin: dict[str, str] = {}
    if module_path is None:  # terraform reads variable files in the root module only
        for path, values in _read_tfvars(folder, errors):
            for name, value in values.items():
                tfvars[name] = value
                tfvars_origin[name] = path.name

    scope = module_scope(files, module_path, arguments, argument_origins, tfvars, tfvars_origin)
    resources = list(module_resources(files, scope))

    for file, data in files:
        for labels, body in _labelled(data.get("module"), 1):
            child = f"module.{labels[0]}"
            child = f"{module_path}.{child}" if module_path else child
            source = Resolver(scope).value(body.get("source"))
            if not isinstance(source, str) or not source.startswith(("./", "../")):
                notes.append(
                    f"{file}: {child}: source {source!s} is not a local path; its resources "
                    "are compared with the cloud, not with their code"
                )
                continue
            target = (folder / source).resolve()
            if depth + 1 > MAX_MODULE_DEPTH or target in seen:
                notes.append(f"{file}: {child}: modules nest too deep or call themselves")
                continue
            args, origins = _module_arguments(body, scope, child)
            resources += _read_module(
                target, child, args, origins, errors, notes, depth=depth + 1,
                seen=(*seen, folder.resolve()),
            )  # fmt: skip
    return resources


def _read_tfvars(folder: Path, errors: list[str]) -> Iterator[tuple[Path, dict[str, Any]]]:
    """terraform.tfvars[.json] then *.auto.tfvars[.json] in name order, as Terraform loads
    them (later files win)."""
    candidates = [folder / "terraform.tfvars", folder / "terraform.tfvars.json"]
    candidates += sorted(folder.glob("*.auto.tfvars")) + sorted(folder.glob("*.auto.tfvars.json"))
    for path in candidates:
        if not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
            if path.suffix == ".json":
                raw = json.loads(text)
                if not isinstance(raw, dict):
                    raise ValueError(f"{path}: expected a JSON object")
                # JSON values are literals already: mark them so they are not parsed again.
                yield path, {k: _Literal(v) for k, v in raw.items()}
            else:
                data = parse_hcl(text, str(path))
                yield path, {k: v for k, v in data.items() if k not in _META_KEYS}
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            errors.append(f"{path}: cannot read: {exc}")
        except ValueError as exc:
            errors.append(str(exc))


def _module_arguments(
    body: Mapping[str, Any], scope: ModuleScope, child: str
) -> tuple[dict[str, Any], dict[str, str]]:
    resolver = Resolver(scope)
    args: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for key, raw in body.items():
        if key in _META_KEYS or key in ("source", "version", "providers", "count", "for_each"):
            continue
        resolver.refs.clear()
        args[key] = _Literal(resolver.value(raw))
        origins[key] = f"{child} argument {key}" + (
            f" ({', '.join(resolver.refs)})" if resolver.refs else ""
        )
    return args, origins


# --------------------------------------------------------------------------- pure parts


@dataclass(frozen=True)
class _Literal:
    """A value that is already resolved (JSON tfvars, a module argument): not HCL text."""

    value: Any


def module_scope(
    files: Sequence[tuple[str, Mapping[str, Any]]],
    module_path: str | None,
    arguments: Mapping[str, Any] | None = None,
    argument_origins: Mapping[str, str] | None = None,
    tfvars: Mapping[str, Any] | None = None,
    tfvars_origin: Mapping[str, str] | None = None,
) -> ModuleScope:
    """Pure: the variables and locals of one module, resolved. A variable's value is, in
    order: the calling module's argument, a tfvars value, the literal default."""
    arguments, tfvars = arguments or {}, tfvars or {}
    variables: dict[str, Any] = {}
    origins: dict[str, str] = {}
    empty = Resolver(ModuleScope(module_path))
    for _, data in files:
        for labels, body in _labelled(data.get("variable"), 1):
            name = labels[0]
            ref = f"var.{name}"
            if name in arguments:
                variables[name] = empty.value(arguments[name])
                origins[ref] = (argument_origins or {}).get(name, "module argument")
            elif name in tfvars:
                variables[name] = empty.value(tfvars[name])
                origins[ref] = f"{ref} = {_show(variables[name])} ({(tfvars_origin or {})[name]})"
            elif "default" in body:
                variables[name] = empty.value(body["default"])
                origins[ref] = f"{ref} = {_show(variables[name])} (default)"
            else:
                variables[name] = Unresolved(
                    f"{ref} has no default and no tfvars value (it is given at apply time)"
                )
                origins[ref] = f"{ref} (no default)"
    raw_locals: dict[str, Any] = {}
    for _, data in files:
        for block in data.get("locals") or ():
            raw_locals.update({k: v for k, v in block.items() if k not in _META_KEYS})
    scope = ModuleScope(module_path, variables, {}, origins)
    return _resolve_locals(scope, raw_locals)


def _resolve_locals(scope: ModuleScope, raw_locals: Mapping[str, Any]) -> ModuleScope:
    """Locals may use each other in any order; resolve on demand, refusing cycles."""
    resolved: dict[str, Any] = {}
    origins = dict(scope.origins)
    resolving: set[str] = set()

    def lookup(name: str) -> Any:
        if name in resolved:
            return resolved[name]
        if name not in raw_locals:
            return Unresolved(f"local.{name} is not defined")
        if name in resolving:
            return Unresolved(f"local.{name} refers to itself")
        resolving.add(name)
        resolver = Resolver(scope, local_lookup=lookup)
        value = resolver.value(raw_locals[name])
        resolving.discard(name)
        resolved[name] = value
        refs = ", ".join(dict.fromkeys(r for r in resolver.refs))
        origins[f"local.{name}"] = f"local.{name}" + (f" ({refs})" if refs else "")
        return value

    for name in raw_locals:
        lookup(name)
    return ModuleScope(scope.path, scope.variables, resolved, origins)


def module_resources(
    files: Sequence[tuple[str, Mapping[str, Any]]], scope: ModuleScope
) -> Iterator[CodeResource]:
    for file, data in files:
        for (type_, name), body in _labelled(data.get("resource"), 2):
            yield CodeResource(scope.path, type_, name, file, body, scope)


def parse_module(
    sources: Mapping[str, str], module_path: str | None = None
) -> tuple[tuple[CodeResource, ...], tuple[str, ...]]:
    """Pure: file name -> HCL text, to the module's resources and the parse errors. (Tests
    and callers holding text use this; `read_code` reads folders.)"""
    files: list[tuple[str, dict[str, Any]]] = []
    errors: list[str] = []
    for name, text in sorted(sources.items()):
        try:
            files.append((name, parse_hcl(text, name)))
        except ValueError as exc:
            errors.append(str(exc))
    scope = module_scope(files, module_path)
    return tuple(module_resources(files, scope)), tuple(errors)


def lifecycle_ignores(body: Mapping[str, Any]) -> tuple[tuple[str, ...], bool]:
    """lifecycle.ignore_changes as attribute paths (`read_capacity`, `tags["Owner"]`), and
    whether it is `all`. An index into a set (`global_secondary_index[0]`) cannot be
    matched to one element, so it stands for the whole attribute."""
    entries: list[str] = []
    for block in body.get("lifecycle") or ():
        value = block.get("ignore_changes") if isinstance(block, Mapping) else None
        if value is None:
            continue
        if isinstance(value, str):
            if _strip_expression(value) == "all":
                return (), True
            value = [value]
        for item in value if isinstance(value, list) else ():
            path = _ignore_path(_strip_expression(str(item)))
            if path:
                entries.append(path)
    return tuple(dict.fromkeys(entries)), False


def _strip_expression(text: str) -> str:
    text = text.strip()
    if text.startswith("${") and text.endswith("}"):
        text = text[2:-1].strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':  # terraform 0.11 quoted the names
        text = text[1:-1]
    return text


def _ignore_path(text: str) -> str | None:
    steps = _traversal(text)
    if not steps or not isinstance(steps[0], str):
        return None
    top = steps[0]
    # `tags["Owner"]` ignores one key of a map; anything deeper or an index into a set
    # (`global_secondary_index[0].read_capacity`) stands for the whole attribute.
    if len(steps) > 1 and isinstance(steps[1], str) and text[len(top) :].startswith("["):
        return top + path_key(steps[1])
    return top


def _labelled(entries: Any, depth: int) -> Iterator[tuple[tuple[str, ...], dict[str, Any]]]:
    """python-hcl2's `[{"\\"type\\"": {"\\"name\\"": body}}]` -> ((type, name), body)."""
    for entry in entries or ():
        if not isinstance(entry, Mapping):
            continue
        yield from _labels(entry, depth, ())


def _labels(
    entry: Mapping[str, Any], depth: int, prefix: tuple[str, ...]
) -> Iterator[tuple[tuple[str, ...], dict[str, Any]]]:
    for label, inner in entry.items():
        if label in _META_KEYS or not isinstance(inner, Mapping):
            continue
        labels = (*prefix, unquote(label))
        if depth == 1:
            yield labels, dict(inner)
        else:
            yield from _labels(inner, depth - 1, labels)


def unquote(label: str) -> str:
    if len(label) >= 2 and label[0] == label[-1] == '"':
        value = _template_literal(label[1:-1])
        return value if isinstance(value, str) else label[1:-1]
    return label


def _show(value: Any) -> str:
    if isinstance(value, Unresolved):
        return str(value)
    return json.dumps(value, ensure_ascii=False, default=str)


# --------------------------------------------------------------------------- expressions


class Resolver:
    """Works out the value of python-hcl2 expressions in one module scope. `refs` collects
    the variables and locals used since it was last cleared (for report notes)."""

    def __init__(
        self,
        scope: ModuleScope,
        *,
        count_index: int | None = None,
        each_key: str | None = None,
        each_value: Any = None,
        local_lookup: Any = None,
    ) -> None:
        self.scope = scope
        self.count_index = count_index
        self.each_key = each_key
        self.each_value = each_value
        self._local_lookup = local_lookup
        self.refs: list[str] = []

    def value(self, raw: Any) -> Any:
        if isinstance(raw, _Literal):
            return raw.value
        if raw is None or isinstance(raw, bool | int | float):
            return raw
        if isinstance(raw, str):
            return self._string(raw)
        if isinstance(raw, list):
            return [self.value(item) for item in raw]
        if isinstance(raw, Mapping):
            out: dict[str, Any] = {}
            for key, item in raw.items():
                if key in _META_KEYS:
                    continue
                resolved_key = self._key(key)
                if isinstance(resolved_key, Unresolved):
                    return resolved_key
                out[resolved_key] = self.value(item)
            return out
        return Unresolved(f"unexpected value {raw!r}")

    def _key(self, key: str) -> str | Unresolved:
        if key.startswith("${") and key.endswith("}"):
            value = self.expression(key[2:-1])
            if isinstance(value, Unresolved):
                return value
            return str(value) if not isinstance(value, bool) else str(value).lower()
        return unquote(key)

    def _string(self, raw: str) -> Any:
        if len(raw) >= 2 and raw[0] == raw[-1] == '"':
            return self.template(raw[1:-1])
        if raw.startswith("${") and raw.endswith("}"):
            return self.expression(raw[2:-1])
        return Unresolved(f"`{raw}` is not a value")

    def template(self, body: str) -> Any:
        """A quoted string's content: escapes, and `${...}` interpolations."""
        parts = _template_parts(body)
        if isinstance(parts, Unresolved):
            return parts
        if len(parts) == 1 and isinstance(parts[0], _Interpolation):
            return self.expression(parts[0].text)  # "${var.x}" keeps var.x's type
        out: list[str] = []
        for part in parts:
            if isinstance(part, str):
                out.append(part)
                continue
            value = self.expression(part.text)
            if isinstance(value, Unresolved):
                return value
            if isinstance(value, bool):
                out.append("true" if value else "false")
            elif isinstance(value, int | float | str):
                out.append(str(value))
            else:
                return Unresolved(f"`${{{part.text}}}` is not a string in a template")
        return "".join(out)

    def expression(self, text: str) -> Any:
        text = _unwrap_parens(text.strip())
        if _NUMBER.fullmatch(text):
            number = float(text)
            return int(number) if number.is_integer() and "." not in text else number
        if text in ("true", "false"):
            return text == "true"
        if text == "null":
            return None
        if len(text) >= 2 and text[0] == '"' and _string_end(text, 1) == len(text) - 1:
            return self.template(text[1:-1])
        steps = _traversal(text)
        if steps is None or not steps or not isinstance(steps[0], str):
            return Unresolved(
                f"`{text}` is an expression (function, operator or conditional), not evaluated"
            )
        return self._reference(text, steps)

    def _reference(self, text: str, steps: list[str | int]) -> Any:
        root = steps[0]
        rest = steps[1:]
        if root in ("var", "local"):
            if not rest or not isinstance(rest[0], str):
                return Unresolved(f"`{text}`: expected {root}.NAME")
            name = rest[0]
            ref = f"{root}.{name}"
            self.refs.append(self.scope.origins.get(ref, ref))
            if root == "var":
                value = self.scope.variables.get(
                    name, Unresolved(f"var.{name} is not declared in this module")
                )
            elif self._local_lookup is not None:
                value = self._local_lookup(name)
            else:
                value = self.scope.locals.get(name, Unresolved(f"local.{name} is not defined"))
            return _walk(value, rest[1:], text)
        if root == "count" and rest == ["index"]:
            if self.count_index is None:
                return Unresolved("count.index outside a resource with count")
            return self.count_index
        if root == "each" and rest[:1] in (["key"], ["value"]):
            if self.each_key is None:
                return Unresolved(f"{root}.{rest[0]} outside a resource with for_each")
            value = self.each_key if rest[0] == "key" else self.each_value
            return _walk(value, rest[1:], text)
        if root in ("path", "terraform"):
            return Unresolved(f"`{text}` depends on where and how terraform runs")
        return Unresolved(f"`{text}` refers to another resource, data source or module output")


@dataclass(frozen=True)
class _Interpolation:
    text: str


def _template_parts(body: str) -> list[str | _Interpolation] | Unresolved:
    parts: list[str | _Interpolation] = []
    buf: list[str] = []
    i = 0
    while i < len(body):
        if body.startswith("$${", i) or body.startswith("%%{", i):
            buf.append(body[i + 1 : i + 3])
            i += 3
        elif body.startswith("${", i):
            end = _closing_brace(body, i + 2)
            if end is None:
                return Unresolved("an interpolation that never ends")
            inner = body[i + 2 : end]
            if inner.startswith("~") or inner.endswith("~"):
                return Unresolved("a template with whitespace strip markers (~)")
            if buf:
                parts.append("".join(buf))
                buf = []
            parts.append(_Interpolation(inner))
            i = end + 1
        elif body.startswith("%{", i):
            return Unresolved("a template directive (%{ if } / %{ for })")
        elif body[i] == "\\" and i + 1 < len(body):
            char, i = _escape(body, i)
            buf.append(char)
        else:
            buf.append(body[i])
            i += 1
    if buf:
        parts.append("".join(buf))
    return parts


def _template_literal(body: str) -> str | Unresolved:
    parts = _template_parts(body)
    if isinstance(parts, Unresolved):
        return parts
    if any(isinstance(p, _Interpolation) for p in parts):
        return Unresolved("a template")
    return "".join(p for p in parts if isinstance(p, str))


_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\"}


def _escape(body: str, i: int) -> tuple[str, int]:
    kind = body[i + 1]
    if kind in _ESCAPES:
        return _ESCAPES[kind], i + 2
    width = {"u": 4, "U": 8}.get(kind)
    if width:
        digits = body[i + 2 : i + 2 + width]
        if len(digits) == width and all(c in "0123456789abcdefABCDEF" for c in digits):
            return chr(int(digits, 16)), i + 2 + width
    return body[i : i + 2], i + 2


def _closing_brace(text: str, start: int) -> int | None:
    """Index of the `}` closing an interpolation that starts at `start`, skipping nested
    braces and quoted strings."""
    depth = 1
    i = start
    while i < len(text):
        char = text[i]
        if char == '"':
            end = _string_end(text, i + 1)
            if end is None:
                return None
            i = end + 1
            continue
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return None


def _string_end(text: str, start: int) -> int | None:
    """Index of the quote ending a string whose content starts at `start`."""
    i = start
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text.startswith("${", i):
            end = _closing_brace(text, i + 2)
            if end is None:
                return None
            i = end + 1
            continue
        if text[i] == '"':
            return i
        i += 1
    return None


def _unwrap_parens(text: str) -> str:
    while text.startswith("(") and text.endswith(")"):
        depth = 0
        for position, char in enumerate(text):
            depth += char == "("
            depth -= char == ")"
            if depth == 0 and position < len(text) - 1:
                return text  # "(a) + (b)": the parentheses do not wrap it all
        text = text[1:-1].strip()
    return text


def _traversal(text: str) -> list[str | int] | None:
    """`var.tags["env"].x[0]` -> ["var", "tags", "env", "x", 0]; None when `text` is not a
    plain traversal (a call, an operator ...)."""
    match = _IDENT.match(text)
    if not match:
        return None
    steps: list[str | int] = [match.group()]
    i = match.end()
    while i < len(text):
        if text[i] == ".":
            match = _IDENT.match(text, i + 1)
            if match:
                steps.append(match.group())
                i = match.end()
                continue
            digits = re.match(r"\d+", text[i + 1 :])
            if not digits:
                return None
            steps.append(int(digits.group()))  # legacy `list.0` index syntax
            i += 1 + digits.end()
        elif text[i] == "[":
            end = text.find("]", i)
            if end < 0:
                return None
            inner = text[i + 1 : end].strip()
            if inner.isdigit():
                steps.append(int(inner))
            elif len(inner) >= 2 and inner[0] == inner[-1] == '"':
                literal = _template_literal(inner[1:-1])
                if isinstance(literal, Unresolved):
                    return None
                steps.append(literal)
            else:
                return None
            i = end + 1
        else:
            return None
    return steps


def _walk(value: Any, steps: Sequence[str | int], text: str) -> Any:
    for step in steps:
        if isinstance(value, Unresolved):
            return value
        if isinstance(value, Mapping) and str(step) in value:
            value = value[str(step)]
        elif isinstance(value, list) and isinstance(step, int) and 0 <= step < len(value):
            value = value[step]
        else:
            return Unresolved(f"`{text}`: no {step!r} in {_show(value)}")
    return value
