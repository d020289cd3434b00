"""Check a Terraform/OpenTofu plan before it is applied: ``residency plan PLAN.json``.

The input is what ``terraform show -json PLANFILE`` (or ``tofu show -json``)
prints: the plan's ``resource_changes``, its ``prior_state``, the
``configuration`` (provider blocks, module calls, unevaluated expressions)
and the root ``variables``. For every resource the plan creates or changes
(every resource in the prior state too with ``all_resources``), the rules in
:mod:`residency._plan_rules` say where its data lands, and each place is
decided by the policy exactly as a scan decides it: the same
:class:`~residency.Finding`, the same :class:`~residency._scan.ScanResult`,
the same reports and exit codes.

How a resource's location is resolved:

* **AWS** — the per-resource ``region`` argument (provider v6) when set, else
  the region of the provider configuration the resource uses
  (``provider_config_key``, aliases and modules included): a constant, a root
  variable (its value in the plan) or a module variable (the module call's
  argument, followed up to the root). A provider block without ``region`` is
  unknown: the environment at apply time decides.
* **Azure** — ``location``; geo-redundant storage also lands in the catalog's
  region pair; databases without ``location`` live where their server does.
* **Google Cloud** — ``location``, ``region`` or ``zone``, else the provider's
  default region.
* A value known only after apply is followed through the configuration's
  references (``aws_s3_bucket.replica.arn`` → that bucket's region) where it can
  be; otherwise that part of the resource is ``unknown``. A resource of another
  provider that carries a location is ``unknown``; one with no location and no
  data (IAM, random, null …) is not a finding. Deleted resources never are.

>>> import residency
>>> plan = {"format_version": "1.2", "planned_values": {}, "resource_changes": [
...     {"address": "aws_s3_bucket.logs", "mode": "managed", "type": "aws_s3_bucket", "name": "logs",
...      "provider_name": "registry.terraform.io/hashicorp/aws",
...      "change": {"actions": ["create"], "after": {"bucket": "logs"}, "after_unknown": {"arn": True}}}],
...     "configuration": {"provider_config": {"aws": {"name": "aws",
...         "expressions": {"region": {"constant_value": "eu-west-2"}}}},
...       "root_module": {"resources": [{"address": "aws_s3_bucket.logs", "mode": "managed",
...         "type": "aws_s3_bucket", "name": "logs", "provider_config_key": "aws"}]}}}
>>> result = residency.check_plan(plan)
>>> [(f.resource_id, f.status, f.locations[0].code) for f in result.findings]
[('aws_s3_bucket.logs', 'violation', 'eu-west-2')]
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from typing import IO, Any

import attrs

from ._catalog import Location
from ._errors import PlanError
from ._findings import FINDING_STATUSES, Finding, evaluate, unreadable
from ._plan_rules import Placement, placements, service_of
from ._policy import Policy, load_policy
from ._scan import Gaps, ScanResult, Scope

__all__ = ["DEFAULT_MAX_BYTES", "PlanInput", "PlannedResource", "check_plan", "read_plan"]

#: a plan file larger than this is refused (``max_bytes``, ``--max-plan-size`` raise it): checking one takes
#: about 5 times its size in memory (a 103 MB plan: 0.54 GB), so the limit bounds memory
DEFAULT_MAX_BYTES = 128 * 1024 * 1024

PlanInput = str | os.PathLike[str] | Mapping[str, Any]

#: registry namespace/type -> catalog provider
_PROVIDERS: Mapping[str, str] = {
    "hashicorp/aws": "aws",
    "hashicorp/awscc": "aws",
    "hashicorp/azurerm": "azure",
    "azure/azapi": "azure",
    "hashicorp/google": "gcp",
    "hashicorp/google-beta": "gcp",
}
_LOCATION_ATTRS = ("location", "region", "zone", "locations", "regions")
_MODULE_STEP = re.compile(r'module\.([A-Za-z0-9_-]+)(\[(?:"(?:[^"\\]|\\.)*"|[0-9]+)\])?(?:\.|$)')
_REFERENCE = re.compile(r'^([a-z][a-z0-9_]*)\.([A-Za-z0-9_-]+)(\[(?:"(?:[^"\\]|\\.)*"|[0-9]+)\])?')


def _module_calls(module_address: str) -> tuple[str, ...]:
    """``module.a[0].module.b["x"]`` -> ``("a", "b")``."""
    return tuple(m.group(1) for m in _MODULE_STEP.finditer(module_address or ""))


# --------------------------------------------------------------------------- reading


def _label(source: PlanInput, index: int) -> str:
    if isinstance(source, Mapping):
        return f"<plan {index}>"
    text = os.fspath(source)
    return "<stdin>" if text == "-" else text


def read_plan(
    source: str | os.PathLike[str] | IO[bytes], *, label: str | None = None, max_bytes: int = DEFAULT_MAX_BYTES
) -> dict[str, Any]:
    """Read and validate one plan file (``"-"``: standard input); raises :class:`PlanError`."""
    name = label or ("<stdin>" if source == "-" else str(getattr(source, "name", source)))
    try:
        if hasattr(source, "read") or source == "-":
            stream = source if hasattr(source, "read") else sys.stdin.buffer
            raw = stream.read(max_bytes + 1)
            if len(raw) > max_bytes:
                raise PlanError(name, None, _too_big(len(raw), max_bytes, more=True))
            head, text = raw[:2], _decode(name, raw)
            del raw
        else:
            path = os.fspath(source)
            if os.path.isdir(path):
                raise PlanError(name, None, "is a directory, not a plan file")
            size = os.path.getsize(path)
            if size > max_bytes:
                raise PlanError(name, None, _too_big(size, max_bytes))
            with open(path, "rb") as f:
                head = f.read(2)
                f.seek(0)
                # decoded while read: the bytes and the text are never both in memory whole
                with io.TextIOWrapper(f, encoding="utf-8") as t:
                    try:
                        text = t.read()
                    except UnicodeDecodeError as exc:
                        raise PlanError(name, None, _not_utf8(head, exc)) from None
    except OSError as exc:
        raise PlanError(name, None, f"cannot read it: {exc.strerror or exc}") from None
    if head == b"PK":
        raise PlanError(name, None, "a binary plan file; convert it with 'terraform show -json PLANFILE > plan.json'")
    try:
        data = _loads_plan(text)
    except json.JSONDecodeError as exc:
        hint = " (truncated? write it again with 'terraform show -json PLANFILE > plan.json')"
        if not text.strip():
            problem = "the file is empty (write it with 'terraform show -json PLANFILE > plan.json')"
        elif exc.pos >= len(text.rstrip()) - 1 or exc.msg.startswith("Unterminated string"):
            problem = f"JSON ends early at line {exc.lineno}, column {exc.colno}{hint}"
        else:
            where = f"line {exc.lineno}, column {exc.colno}"
            problem = f"not JSON at {where}: {exc.msg} (expected the output of 'terraform show -json PLANFILE')"
        raise PlanError(name, None, problem) from None
    except (RecursionError, ValueError) as exc:
        raise PlanError(name, None, f"not JSON: {exc}") from None
    validate_plan(data, name)
    return data  # type: ignore[no-any-return]


_WS = re.compile(r"[ \t\n\r]*")
#: top-level keys never read: parsed to find their end, then dropped (planned_values repeats every change's after)
_DROPPED = frozenset({"planned_values", "resource_drift", "relevant_attributes", "output_changes", "checks"})
#: parts of a resource change never read
_DROPPED_CHANGE = ("before_sensitive", "after_sensitive", "replace_paths", "importing")


def _skip(text: str, pos: int) -> int:
    m = _WS.match(text, pos)
    return m.end() if m else pos


def _loads_plan(text: str) -> Any:
    """``json.loads`` for a plan, keeping only what is read: a plan's memory is mostly values nobody judges.

    Top-level keys are decoded one at a time and resource changes one by one, each trimmed as it is decoded
    (its ``before`` too when it has an ``after``), so parts that are never read are never all alive at once.
    Anything unexpected goes to ``json.loads`` for its exact error.

    >>> plan = _loads_plan('{"format_version": "1.2", "planned_values": {"x": 1}, "resource_changes": '
    ...     '[{"address": "a.b", "change": {"before": {"x": 1}, "after": {"x": 2}, "after_sensitive": {}}}]}')
    >>> plan["planned_values"], plan["resource_changes"]
    ({}, [{'address': 'a.b', 'change': {'after': {'x': 2}}}])
    """
    try:
        return _decode_plan(text, json.JSONDecoder())
    except (json.JSONDecodeError, IndexError, TypeError):
        return json.loads(text)


def _decode_plan(text: str, dec: json.JSONDecoder) -> Any:
    pos = _skip(text, 0)
    if not text.startswith("{", pos):
        return json.loads(text)
    out: dict[str, Any] = {}
    pos = _skip(text, pos + 1)
    if text.startswith("}", pos):
        pos += 1
    else:
        while True:
            key, pos = dec.raw_decode(text, pos)
            pos = _skip(text, pos)
            if not text.startswith(":", pos) or not isinstance(key, str):
                raise json.JSONDecodeError("Expecting ':' delimiter", text, pos)
            pos = _skip(text, pos + 1)
            value: Any
            if key == "resource_changes" and text.startswith("[", pos):
                value, pos = _decode_changes(text, pos, dec)
            else:
                value, pos = dec.raw_decode(text, pos)
            if key in _DROPPED:
                value = {}  # present (a plan has planned_values), never read
            out[key] = value
            pos = _skip(text, pos)
            if text.startswith(",", pos):
                pos = _skip(text, pos + 1)
                continue
            if text.startswith("}", pos):
                pos += 1
                break
            raise json.JSONDecodeError("Expecting ',' delimiter", text, pos)
    if _skip(text, pos) != len(text):
        raise json.JSONDecodeError("Extra data", text, pos)
    return out


def _decode_changes(text: str, pos: int, dec: json.JSONDecoder) -> tuple[list[Any], int]:
    changes: list[Any] = []
    pos = _skip(text, pos + 1)
    if text.startswith("]", pos):
        return changes, pos + 1
    while True:
        rc, pos = dec.raw_decode(text, pos)
        change = rc.get("change") if isinstance(rc, dict) else None
        if isinstance(change, dict):
            for key in _DROPPED_CHANGE:
                change.pop(key, None)
            if isinstance(change.get("after"), dict):
                change.pop("before", None)
        changes.append(rc)
        pos = _skip(text, pos)
        if text.startswith(",", pos):
            pos = _skip(text, pos + 1)
        elif text.startswith("]", pos):
            return changes, pos + 1
        else:
            raise json.JSONDecodeError("Expecting ',' delimiter", text, pos)


def _not_utf8(head: bytes, exc: UnicodeDecodeError) -> str:
    if head == b"PK":
        return "a binary plan file; convert it with 'terraform show -json PLANFILE > plan.json'"
    return f"not UTF-8 text (byte {exc.start}): not the output of 'terraform show -json PLANFILE'"


def _decode(name: str, raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PlanError(name, None, _not_utf8(raw[:2], exc)) from None


def _too_big(size: int, limit: int, *, more: bool = False) -> str:
    mb = 1024 * 1024
    return (
        f"{'more than ' if more else ''}{size / mb:,.0f} MB, over the {limit / mb:,.0f} MB limit for a plan "
        "(raise it with --max-plan-size MB, or split the configuration)"
    )


#: 1.x (Terraform >= 1.1, OpenTofu); 0.1 and 0.2 (Terraform 0.12-1.0) hold the same keys read here
_FORMAT = re.compile(r"^(1\.[0-9]+|0\.[12])$")
_SHAPES: tuple[tuple[str, type], ...] = (
    ("resource_changes", list),
    ("variables", Mapping),
    ("configuration", Mapping),
    ("prior_state", Mapping),
)


def validate_plan(data: object, name: str) -> None:
    """Refuse anything that is not a plan this release reads, with the reason (:class:`PlanError`).

    >>> validate_plan({"version": 4, "serial": 1, "lineage": "x", "resources": []}, "s.json")
    Traceback (most recent call last):
    ...
    residency._errors.PlanError: s.json: a Terraform state file, not a plan (use 'terraform show -json PLANFILE')
    """
    if not isinstance(data, Mapping):
        raise PlanError(name, None, f"not a plan: the JSON is {type(data).__name__}, expected an object")
    if {"lineage", "serial"} <= data.keys() and "format_version" not in data:
        raise PlanError(name, None, "a Terraform state file, not a plan (use 'terraform show -json PLANFILE')")
    if "format_version" not in data:
        raise PlanError(name, "format_version", "missing: not the output of 'terraform show -json PLANFILE'")
    version = data["format_version"]
    if not isinstance(version, str) or not _FORMAT.match(version):
        raise PlanError(
            name,
            "format_version",
            f"unsupported version {version!r}; this release reads 0.1, 0.2 and 1.x (Terraform >= 0.12, OpenTofu)",
        )
    if "planned_values" not in data and "resource_changes" not in data:
        what = "a state (terraform show -json without a plan file)" if "values" in data else "not a plan"
        raise PlanError(name, None, f"{what}: no planned_values or resource_changes ('terraform show -json PLANFILE')")
    for key, kind in _SHAPES:
        if key in data and data[key] is not None and not isinstance(data[key], kind):
            expected = "a list" if kind is list else "an object"
            raise PlanError(name, key, f"expected {expected}, got {type(data[key]).__name__}")


# --------------------------------------------------------------------------- one plan


def _short_provider(provider_name: str) -> tuple[str, str]:
    """``registry.terraform.io/hashicorp/aws`` -> (``"aws"``, ``"hashicorp/aws"``); unknown ones keep their type."""
    parts = (provider_name or "").split("/")
    key = "/".join(parts[-2:]) if len(parts) >= 2 else f"hashicorp/{parts[-1]}"
    return _PROVIDERS.get(key.lower(), parts[-1].lower() or "unknown"), key


@attrs.define(eq=False)
class _Raw:
    """A resource instance as the plan lists it (a change, or a prior-state entry)."""

    address: str
    module: str
    type: str
    name: str
    provider_name: str
    values: Mapping[str, Any]
    unknown: Any
    judged: bool


class Plan:
    """One parsed plan with its indexes (resources by address, configuration by module, buckets by name)."""

    def __init__(self, data: Mapping[str, Any], label: str, *, all_resources: bool = False) -> None:
        self.data = data
        self.label = label
        self.variables: Mapping[str, Any] = data.get("variables") or {}
        config = data.get("configuration") or {}
        self.provider_configs: Mapping[str, Any] = config.get("provider_config") or {}
        self.root_module: Mapping[str, Any] = config.get("root_module") or {}
        self.resources: dict[str, _Raw] = {}
        self.deleted: set[str] = set()
        self.by_config: dict[str, list[str]] = {}
        self._config_index: dict[tuple[str, ...], dict[str, Mapping[str, Any]]] = {}
        self._buckets: dict[str, str] | None = None
        self._homes: dict[str, tuple[str | None, str]] = {}
        self._resolving: set[str] = set()
        self._index(all_resources)

    # ----------------------------------------------------------- indexes

    def _index(self, all_resources: bool) -> None:
        for i, rc in enumerate(self.data.get("resource_changes") or ()):
            _check_change(rc, self.label, i)
            if rc.get("mode", "managed") != "managed":
                continue
            change = rc["change"]
            actions = change["actions"]
            if "create" not in actions and ("delete" in actions or "forget" in actions):
                self.deleted.add(str(rc.get("address", "")))  # never a finding, nor a place data lands
                continue
            judged = any(a in ("create", "update") for a in actions) or all_resources
            after = change.get("after")
            values = after if isinstance(after, Mapping) else (change.get("before") or {})
            self._add(
                _Raw(
                    address=rc["address"],
                    module=str(rc.get("module_address") or _module_of(rc["address"], rc["type"], rc.get("name"))),
                    type=str(rc.get("type", "")),
                    name=str(rc.get("name", "")),
                    provider_name=str(rc.get("provider_name", "")),
                    values=values if isinstance(values, Mapping) else {},
                    unknown=change.get("after_unknown") or {},
                    judged=judged,
                )
            )
        prior = (self.data.get("prior_state") or {}).get("values") or {}
        for module in _state_modules(prior.get("root_module") or {}):
            for res in module.get("resources") or ():
                if not isinstance(res, Mapping) or res.get("mode", "managed") != "managed":
                    continue
                address = str(res.get("address", ""))
                if address in self.resources or address in self.deleted:
                    continue
                self._add(
                    _Raw(
                        address=address,
                        module=str(module.get("address", "")),
                        type=str(res.get("type", "")),
                        name=str(res.get("name", "")),
                        provider_name=str(res.get("provider_name", "")),
                        values=res.get("values") or {},
                        unknown={},
                        judged=all_resources,
                    )
                )

    def _add(self, raw: _Raw) -> None:
        self.resources[raw.address] = raw
        key = f"{raw.module + '.' if raw.module else ''}{raw.type}.{raw.name}"
        self.by_config.setdefault(key, []).append(raw.address)

    def config_resource(self, module: str, type_: str, name: str) -> Mapping[str, Any] | None:
        """The configuration block of a resource (its ``provider_config_key`` and ``expressions``)."""
        calls = _module_calls(module)
        if calls not in self._config_index:
            mod: Mapping[str, Any] | None = self.root_module
            for call in calls:
                mod = ((mod or {}).get("module_calls") or {}).get(call, {}).get("module")
            index: dict[str, Mapping[str, Any]] = {}
            for res in (mod or {}).get("resources") or ():
                if isinstance(res, Mapping) and res.get("mode", "managed") == "managed":
                    index.setdefault(str(res.get("address")), res)
            self._config_index[calls] = index
        return self._config_index[calls].get(f"{type_}.{name}")

    def module_call(self, calls: Sequence[str]) -> Mapping[str, Any] | None:
        mod: Mapping[str, Any] = self.root_module
        call: Mapping[str, Any] | None = None
        for name in calls:
            call = (mod.get("module_calls") or {}).get(name)
            if not isinstance(call, Mapping):
                return None
            mod = call.get("module") or {}
        return call

    def bucket_region(self, name: str) -> tuple[str | None, str]:
        """The region of the S3 bucket ``name`` if the plan (or its prior state) has it."""
        if self._buckets is None:
            self._buckets = {}
            for raw in self.resources.values():
                if raw.type == "aws_s3_bucket" and isinstance(raw.values.get("bucket"), str):
                    self._buckets.setdefault(raw.values["bucket"], raw.address)
        address = self._buckets.get(name)
        if address is None:
            return None, f"bucket {name!r} is not in this plan, so its region cannot be known from it"
        return self.home(address)

    # ----------------------------------------------------------- values

    def expression(self, expr: object, calls: tuple[str, ...]) -> tuple[Any, bool, str]:
        """The value of a configuration expression in module ``calls``: (value, known, why not)."""
        if not isinstance(expr, Mapping):
            return None, False, "not set"
        if "constant_value" in expr:
            return expr["constant_value"], True, ""
        refs = [r for r in expr.get("references") or () if isinstance(r, str)]
        for ref in refs:
            if ref.startswith("var."):
                return self.variable(calls, ref[4:].split(".")[0].split("[")[0])
        return None, False, f"set from {', '.join(refs[:2]) or 'an expression'}, which the plan does not evaluate"

    def variable(self, calls: tuple[str, ...], name: str) -> tuple[Any, bool, str]:
        """A variable's value: root ones from the plan, module ones from the module call (up to the root)."""
        if not calls:
            var = self.variables.get(name)
            if isinstance(var, Mapping) and "value" in var:
                return var["value"], True, ""
            return None, False, f"variable {name!r} has no value in the plan"
        call = self.module_call(calls)
        if call is None:
            return None, False, f"module {'.'.join(calls)} is not in the configuration"
        expr = (call.get("expressions") or {}).get(name)
        if expr is not None:
            return self.expression(expr, calls[:-1])
        default = ((call.get("module") or {}).get("variables") or {}).get(name) or {}
        if "default" in default:
            return default["default"], True, ""
        return None, False, f"variable {name!r} of module {'.'.join(calls)} has no value in the configuration"

    def provider_setting(self, key: str, setting: str, calls: tuple[str, ...]) -> tuple[Any, bool, str]:
        """``setting`` (``region``) of provider configuration ``key`` (``aws.west``, ``module.x:aws``)."""
        pc = self.provider_configs.get(key)
        if pc is None and ":" in key:
            module, local = key.rsplit(":", 1)
            if not module.startswith("module."):  # Terraform < 1.1 named only the module call
                module = ".".join(f"module.{c}" for c in calls)
            parent = _module_calls(module)[:-1]
            # no block in the module: it inherits the parent's default configuration
            up = (".".join(f"module.{c}" for c in parent) + ":" + local) if parent else local
            return self.provider_setting(up, setting, parent)
        if pc is None:
            return None, False, f'no provider "{key}" block in the configuration: the environment decides at apply'
        module = str(pc.get("module_address") or (key.rsplit(":", 1)[0] if ":" in key else ""))
        expr = (pc.get("expressions") or {}).get(setting)
        if expr is None:
            return None, False, f'provider "{key}" sets no {setting}: the environment decides at apply'
        value, known, why = self.expression(expr, _module_calls(module))
        return value, known, (f'provider "{key}" {setting}: {why}' if not known else "")

    def home(self, address: str) -> tuple[str | None, str]:
        """Where the resource at ``address`` keeps its data (its first placement)."""
        if address in self._homes:
            return self._homes[address]
        raw = self.resources.get(address)
        if raw is None:
            return None, f"{address} is not in this plan"
        if address in self._resolving:
            return None, f"{address} refers back to itself"
        self._resolving.add(address)
        try:
            found = placements(PlannedResource(self, raw)) or []
        finally:
            self._resolving.discard(address)
        first = found[0] if found else Placement(None, "", f"{address} has no location")
        answer = (first.location, first.why or (f"{address}: location unknown" if first.location is None else ""))
        self._homes[address] = answer
        return answer


def _module_of(address: str, type_: str, name: object) -> str:
    """The module part of an address, for plans that leave ``module_address`` out.

    >>> _module_of('module.a["x.y"].aws_s3_bucket.b[0]', "aws_s3_bucket", "b")
    'module.a["x.y"]'
    """
    if not address.startswith("module."):
        return ""
    cut = address.rfind(f".{type_}.{name}")
    return address[:cut] if cut > 0 else ""


def _check_change(rc: object, label: str, i: int) -> None:
    """A resource change has an address, a type and a change with its actions, or the plan is refused."""
    key = f"resource_changes[{i}]"
    if not isinstance(rc, Mapping):
        raise PlanError(label, key, f"expected an object, got {type(rc).__name__}")
    for field in ("address", "type"):
        if not isinstance(rc.get(field), str) or not rc[field]:
            raise PlanError(label, f"{key}.{field}", "missing or not a string")
    change = rc.get("change")
    if not isinstance(change, Mapping) or not isinstance(change.get("actions"), list):
        raise PlanError(label, f"{key}.change", "expected an object with a list of actions")
    for side in ("before", "after"):
        if change.get(side) is not None and not isinstance(change[side], Mapping):
            raise PlanError(label, f"{key}.change.{side}", f"expected an object, got {type(change[side]).__name__}")


def _state_modules(root: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    stack = [root]
    while stack:
        m = stack.pop()
        if not isinstance(m, Mapping):
            continue
        yield m
        stack.extend(m.get("child_modules") or ())


_MISSING = object()


class PlannedResource:
    """One resource instance of a plan, as the rules see it."""

    def __init__(self, plan: Plan, raw: _Raw) -> None:
        self.plan = plan
        self.raw = raw
        self.address = raw.address
        self.type = raw.type
        self.provider, self.provider_key = _short_provider(raw.provider_name)
        self.values = raw.values
        self.calls = _module_calls(raw.module)
        self.config = plan.config_resource(raw.module, raw.type, raw.name) or {}
        self.default_role = "resource"

    def value(self, *path: str | int) -> tuple[Any, bool]:
        """The planned value at ``path`` and whether it is known before apply."""
        node: Any = self.values
        marks: Any = self.raw.unknown
        for step in path:
            if marks is True:
                return None, False
            marks = _step(marks, step)
            node = _step(node, step)
        if marks is True:
            return None, False
        return (None if node is _MISSING else node), True

    def unknown_at(self, *names: str) -> bool:
        """Whether any block along ``names`` (through every list element) is unknown until apply."""

        def walk(marks: Any, rest: tuple[str, ...]) -> bool:
            if marks is True:
                return True
            if not rest:
                return False
            if isinstance(marks, list):
                return any(walk(m, rest) for m in marks)
            if isinstance(marks, Mapping):
                return walk(marks.get(rest[0]), rest[1:])
            return False

        return walk(self.raw.unknown, names)

    def has(self, attr: str) -> bool:
        return attr in self.values or self.unknown_at(attr) or self.configured(attr)

    def configured(self, attr: str) -> bool:
        return attr in (self.config.get("expressions") or {})

    @property
    def tags(self) -> dict[str, str]:
        for key in ("tags_all", "tags", "effective_labels", "labels"):
            value, known = self.value(key)
            if known and isinstance(value, Mapping) and value:
                return {str(k): str(v) for k, v in value.items() if isinstance(v, str | int | float | bool)}
        return {}

    def provider_setting(self, setting: str) -> tuple[str | None, str]:
        key = str(self.config.get("provider_config_key") or self.provider_key.split("/")[-1])
        value, known, why = self.plan.provider_setting(key, setting, self.calls)
        if known and isinstance(value, str) and value:
            return value, ""
        return None, why or f'provider "{key}" {setting} is not set'

    def aws_region(self) -> tuple[str | None, str]:
        value, known = self.value("region")
        if known and isinstance(value, str) and value:
            return value, ""
        if self.configured("region"):
            return self.referenced_home(("region",), what="region")
        return self.provider_setting("region")

    def referenced_home(self, where: Sequence[str | int], *, what: str) -> tuple[str | None, str]:
        """Follow the configuration expression at ``where``: a variable's value, or the referenced resource's home."""
        expr: Any = self.config.get("expressions") or {}
        for step in where:
            if isinstance(step, int) and isinstance(expr, list):
                expr = expr[step] if step < len(expr) else (expr[0] if expr else None)
            elif isinstance(expr, Mapping):
                expr = expr.get(step)
            else:
                expr = None
        unknown = f"{what} is known only after apply"
        if not isinstance(expr, Mapping):
            return None, unknown
        if "constant_value" in expr and isinstance(expr["constant_value"], str):
            return expr["constant_value"], ""
        prefix = self.raw.module + "." if self.raw.module else ""
        for ref in expr.get("references") or ():
            if not isinstance(ref, str):
                continue
            if ref.startswith("var."):
                value, known, why = self.plan.variable(self.calls, ref[4:].split(".")[0])
                if known and isinstance(value, str):
                    return value, ""
                return None, f"{what}: {why}"
            m = _REFERENCE.match(ref)
            if not m or m.group(1) in ("local", "module", "data", "each", "count", "path", "terraform", "self"):
                continue
            target = f"{prefix}{m.group(1)}.{m.group(2)}"
            addresses = [target + m.group(3)] if m.group(3) else self.plan.by_config.get(target, [])
            homes = {self.plan.home(a) for a in addresses if a in self.plan.resources}
            if len(homes) == 1:
                region, why = homes.pop()
                return region, (f"{what} ({ref}): {why}" if region is None else "")
            if homes:
                return None, f"{what} ({ref}) is one of several resources in different places"
            return None, f"{what} ({ref}) is not in this plan"
        if expr.get("references"):
            unknown += " (set from an expression the plan does not evaluate)"
        return None, unknown


def _step(node: Any, step: str | int) -> Any:
    if isinstance(step, int):
        return node[step] if isinstance(node, list) and step < len(node) else _MISSING
    return node.get(step, _MISSING) if isinstance(node, Mapping) else _MISSING


# --------------------------------------------------------------------------- judging

_UNKNOWN_AT_APPLY = "not known from the plan"


def _unknown_location(provider: str) -> Location:
    return Location(provider, "unknown", name=_UNKNOWN_AT_APPLY, kind="unknown", source="plan")


def _judge(policy: Policy, r: PlannedResource, found: Sequence[Placement], today: dt.date | None) -> Finding:
    """One finding: known places decided by the policy; a known place outside stays a violation."""
    common: dict[str, Any] = {
        "provider": r.provider,
        "account": r.plan.label,
        "service": service_of(r.type),
        "resource_type": r.type,
        "resource_id": r.address,
        "tags": r.tags,
    }
    known = [(p.location, p.role) for p in found if p.location is not None]
    missing = [p for p in found if p.location is None]
    home = next((p.location for p in found if p.location), "") or ""
    unread = [f"{p.role}: {p.why or _UNKNOWN_AT_APPLY}" for p in missing]
    f = evaluate(policy, placements=known, region=home, today=today, unread=unread, **common)
    if not missing:
        return f
    # the unknown parts keep their role in the report, and say why
    return attrs.evolve(
        f,
        locations=(*f.locations, *[_unknown_location(r.provider)] * len(missing)),
        roles=(*f.roles, *(p.role for p in missing)),
        reasons=(*f.reasons, *(p.why or _UNKNOWN_AT_APPLY for p in missing)),
    )


def _other_provider(policy: Policy, r: PlannedResource) -> Finding | None:
    """A resource of a provider eu-residency does not read: unknown if it carries a location, else nothing."""
    where = [a for a in _LOCATION_ATTRS if a in r.values or r.unknown_at(a)]
    if not where:
        return None
    shown = ", ".join(f"{a}={r.values.get(a)!r}" if a in r.values else f"{a} (known after apply)" for a in where)
    return unreadable(
        provider=r.provider,
        account=r.plan.label,
        service=service_of(r.type),
        resource_type=r.type,
        resource_id=r.address,
        error=f"provider {r.provider_key} is not one eu-residency reads (aws, azurerm, google): {shown}",
        policy=policy.name,
        tags=r.tags,
    )


def judge_plan(plan: Plan, policy: Policy, *, today: dt.date | None = None) -> Iterator[Finding]:
    """Every finding of one plan, in plan order."""
    for raw in list(plan.resources.values()):
        if not raw.judged:
            continue
        r = PlannedResource(plan, raw)
        if r.provider not in ("aws", "azure", "gcp"):
            other = _other_provider(policy, r)
            if other is not None:
                yield other
            continue
        found = placements(r)
        if found is None:
            continue
        yield _judge(policy, r, found, today)


def _as_plans(plans: PlanInput | Sequence[PlanInput]) -> list[PlanInput]:
    if isinstance(plans, str | os.PathLike | Mapping):
        return [plans]
    return list(plans)


def check_plan(
    plans: PlanInput | Sequence[PlanInput],
    policy: str | Policy = "eu",
    *,
    all_resources: bool = False,
    config_dir: str | os.PathLike[str] | None = None,
    today: dt.date | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> ScanResult:
    """Decide every resource a Terraform/OpenTofu plan creates or changes (``all_resources``: every one).

    ``plans`` is a path to ``terraform show -json`` output, a parsed plan, or a
    sequence of them. The result is the scan's :class:`ScanResult`: one
    finding per judged resource, ``resource_id`` its address
    (``module.data.aws_s3_bucket.y[0]``), ``account`` the plan file.
    ``config_dir`` (the ``.tf`` sources) lets SARIF reports point at the file
    and line of each resource block. Raises :class:`PlanError` for anything
    that is not a plan this release reads, :class:`PolicyError` for a bad policy.
    """
    pol = load_policy(policy)
    started = dt.datetime.now(dt.timezone.utc)
    findings: list[Finding] = []
    described: list[dict[str, Any]] = []
    labels: list[str] = []
    notes: list[str] = []
    sources: dict[str, tuple[str, int]] = {}
    for i, source in enumerate(_as_plans(plans)):
        label = _label(source, i)
        if isinstance(source, Mapping):
            validate_plan(source, label)
            data: Mapping[str, Any] = source
        else:
            data = read_plan(source, label=label, max_bytes=max_bytes)
        try:
            plan = Plan(data, label, all_resources=all_resources)
            found = list(judge_plan(plan, pol, today=today))
        except (AttributeError, TypeError, KeyError, IndexError, ValueError) as exc:
            raise PlanError(label, None, f"not a plan this release can read ({type(exc).__name__}: {exc})") from None
        findings += found
        labels.append(label)
        described.append(
            {
                "file": label,
                "format_version": data.get("format_version"),
                "terraform_version": data.get("terraform_version"),
                "resources": len(plan.resources),
                "judged": len(found),
                "all_resources": all_resources,
            }
        )
        if config_dir is not None:
            from ._plan_source import locate_blocks

            located, why = locate_blocks(plan, config_dir, [f.resource_id for f in found])
            sources.update({f"{f.key}": located[f.resource_id] for f in found if f.resource_id in located})
            notes += why
    finished = dt.datetime.now(dt.timezone.utc)
    order = {s: i for i, s in enumerate(FINDING_STATUSES)}
    findings.sort(key=lambda f: (order[f.status], f.account, f.resource_id))
    scope = Scope(
        provider="terraform",
        policy=pol.name,
        accounts=tuple(labels),
        regions=None,
        services=None,
        plans=tuple(described),
    )
    return ScanResult(
        scope=scope,
        findings=findings,
        gaps=Gaps().extend(findings).lines,
        notes=notes,
        started=started,
        finished=finished,
        source_locations=sources,
        allow_unknown=pol.unknown_findings == "allow",
    )
