"""``residency guardrails azure``: does Azure Policy's *Allowed locations* really confine each subscription?

Called through :func:`residency._guardrails.stream_guardrails` with a
:class:`residency._scan.ScanContext` (``context.accounts`` = subscription ids,
default every subscription the credential sees; ``context.session`` = an
azure-identity credential; ``context.endpoint_url`` = the management
endpoint; ``context.options["client_kwargs"]`` as for the scan). Everything is
read with plain management ``GET``/``POST`` requests through the azure-core
pipeline of an azure-mgmt-resource client (credential, retries), the way the
scan reads resources, so no Azure Policy SDK package is needed:

* the management-group hierarchy: ``POST /providers/Microsoft.Management/getEntities``
  (every management group and subscription with its ``parent`` and
  ``parentNameChain``; ``nextLink`` paging), read once;
* per subscription: ``…/providers/Microsoft.Authorization/policyAssignments``
  without a filter (the assignments at the subscription, at its ancestor
  management groups and at its resource groups) and
  ``…/policyExemptions`` likewise;
* each policy definition and initiative (policy set definition) an assignment
  refers to, fetched once across all subscriptions.

Semantics (Azure Policy documentation; see the README, "Guardrails"):

* An assignment applies to a subscription when its scope is an ancestor
  management group or the subscription itself, minus its ``notScopes``
  (a listed ancestor management group or the subscription: not covered; a
  listed resource group or resource: that part can write anywhere, reported as
  ``exempt`` unless another enforced assignment still restricts it).
  Resource-group-scope assignments cover only that resource group: listed in
  ``details``, they never make the subscription compliant.
* ``enforcementMode: DoNotEnforce``, a ``policyEffect`` override to anything
  but deny, ``resourceSelectors`` (the assignment then covers only some
  resources) and an effect that resolves to anything but ``deny`` make an
  assignment not enforced (reported in the chain).
* An exemption (``Waiver`` or ``Mitigated``, not expired) at the subscription
  or an ancestor management group lifts the assignment (or only the
  initiative members in ``policyDefinitionReferenceIds``); one at a resource
  group leaves that resource group free.
* Recognised location rules: the built-ins *Allowed locations*
  (``e56962a6-4747-49cd-b67b-bf8b01975c4c``, parameter
  ``listOfAllowedLocations``, mode ``Indexed``: resources) and *Allowed
  locations for resource groups* (``e765b5de-1225-4ba3-bd56-1ac6695af988``),
  alone or inside initiatives (``[parameters('x')]`` resolved through the
  initiative's parameters and defaults), and custom definitions of the same
  shape (``field: location`` ``notIn`` a list, optionally ``notEquals
  global`` / ``type notEquals …`` / ``type equals resourceGroups``, effect
  deny). Anything else is ignored for location, with a note.
* Effective allowed locations = the intersection of every enforced rule's
  list, separately for resources and resource groups (mode ``Indexed``
  definitions do not evaluate resource groups, so both are needed). Neither
  restricted: writable anywhere. One restricted: the other side can be in
  any public region.
* *Allowed locations* exempts ``global`` and resource types without a
  location: the details say so; ``global`` in an allowed list goes through
  the policy like any location (unknown countries: a violation).

A read that fails (403 on assignments or exemptions, a definition that cannot
be fetched, a ``notScopes`` management group when the hierarchy could not be
read) makes the subscription ``unknown`` with the reason, unless a known
write outside already makes it a violation.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import attrs

from residency._catalog import catalog
from residency._findings import Finding
from residency._guardrails import Reach, judge
from residency._policy import Policy

from . import _accounts

__all__ = [
    "ALLOWED_LOCATIONS",
    "ALLOWED_RG_LOCATIONS",
    "API_VERSIONS",
    "LocationRule",
    "emit",
    "guardrails",
    "location_rule",
]

ALLOWED_LOCATIONS = "/providers/Microsoft.Authorization/policyDefinitions/e56962a6-4747-49cd-b67b-bf8b01975c4c"
"""The built-in *Allowed locations* definition (resources; parameter ``listOfAllowedLocations``)."""
ALLOWED_RG_LOCATIONS = "/providers/Microsoft.Authorization/policyDefinitions/e765b5de-1225-4ba3-bd56-1ac6695af988"
"""The built-in *Allowed locations for resource groups* definition."""

API_VERSIONS = {
    "assignments": "2023-04-01",
    "definitions": "2023-04-01",
    "exemptions": "2022-07-01-preview",
    "entities": "2021-04-01",
}

RESOURCES = "resources"
RESOURCE_GROUPS = "resource groups"
_RG_TYPE = "microsoft.resources/subscriptions/resourcegroups"
_PARAM = re.compile(r"^\[\s*parameters\(\s*'([^']+)'\s*\)\s*\]$", re.IGNORECASE)
_NOT_COVERED = (
    "Allowed locations does not evaluate location 'global' nor resource types without a location "
    "(and, in mode Indexed, not resource groups): those can still be created anywhere"
)


def _norm(location: str) -> str:
    return str(location).replace(" ", "").lower()


# --------------------------------------------------------------------------- definitions


@attrs.frozen
class LocationRule:
    """What one policy definition restricts, if it is a location rule.

    ``targets`` is ``("resources",)``, ``("resource groups",)`` or both;
    ``locations`` is the parameter expression or literal list of allowed
    locations; ``effect`` the literal effect or its parameter expression;
    ``notes`` the conditions that leave something out (``global``, a type).
    """

    targets: tuple[str, ...]
    locations: Any
    effect: Any
    notes: tuple[str, ...] = ()


def location_rule(definition: Mapping[str, Any]) -> LocationRule | str:
    """The location rule of a policy definition, or why it is not one.

    >>> rule = location_rule({"properties": {"mode": "Indexed", "policyRule": {
    ...     "if": {"allOf": [{"field": "location", "notIn": "[parameters('listOfAllowedLocations')]"},
    ...                      {"field": "location", "notEquals": "global"}]},
    ...     "then": {"effect": "deny"}}}})
    >>> rule.targets, rule.locations, rule.effect
    (('resources',), "[parameters('listOfAllowedLocations')]", 'deny')
    >>> location_rule({"properties": {"mode": "Indexed", "policyRule": {
    ...     "if": {"not": {"field": "location", "in": "[parameters('allowedLocations')]"}},
    ...     "then": {"effect": "deny"}}}}).locations
    "[parameters('allowedLocations')]"
    >>> location_rule({"properties": {"policyRule": {"if": {"field": "tags", "exists": "false"},
    ...     "then": {"effect": "deny"}}}})
    'not a location rule'
    """
    props = definition.get("properties") or {}
    rule = props.get("policyRule") or {}
    cond = rule.get("if") or {}
    then = rule.get("then") or {}
    conds: list[Any] = cond["allOf"] if isinstance(cond.get("allOf"), list) else [cond]
    locations: Any = None
    notes: list[str] = []
    rg = False
    for c in conds:
        if not isinstance(c, Mapping):
            return "not a location rule"
        inner = c.get("not")
        if isinstance(inner, Mapping) and str(inner.get("field", "")).lower() == "location" and "in" in inner:
            c = {"field": "location", "notIn": inner["in"]}  # the documented example's form
        field = str(c.get("field", "")).lower()
        if field == "location" and "notIn" in c and locations is None:
            locations = c["notIn"]
        elif field == "location" and str(c.get("notEquals", "")).lower() == "global":
            notes.append("location 'global' is not evaluated")
        elif field == "type" and "notEquals" in c:
            notes.append(f"resource type {c['notEquals']} is not evaluated")
        elif field == "type" and str(c.get("equals", "")).lower() == _RG_TYPE:
            rg = True
        else:
            return "not a location rule" if locations is None else f"an unrecognised condition {dict(c)}"
    if locations is None:
        return "not a location rule"
    mode = str(props.get("mode") or "Indexed").lower()
    if rg:
        targets: tuple[str, ...] = (RESOURCE_GROUPS,)
    elif mode == "all":
        targets = (RESOURCES, RESOURCE_GROUPS)
    else:
        targets = (RESOURCES,)
    return LocationRule(targets, locations, then.get("effect"), tuple(notes))


def _resolve(value: Any, supplied: Mapping[str, Any], declared: Mapping[str, Any]) -> Any:
    """``[parameters('x')]`` → the supplied ``{"value": …}`` or the declared ``defaultValue``."""
    if isinstance(value, str):
        m = _PARAM.match(value.strip())
        if m:
            name = m.group(1)
            got = {k.lower(): v for k, v in supplied.items()}.get(name.lower())
            if isinstance(got, Mapping) and "value" in got:
                return got["value"]
            decl = {k.lower(): v for k, v in declared.items()}.get(name.lower())
            if isinstance(decl, Mapping) and "defaultValue" in decl:
                return decl["defaultValue"]
            raise LookupError(f"parameter '{name}' has no value")
    return value


# --------------------------------------------------------------------------- reading


class _Once:
    """Fetch each key once across threads (definitions shared by many assignments)."""

    def __init__(self, fetch: Callable[[str], Any]) -> None:
        self._fetch = fetch
        self._lock = threading.Lock()
        self._futures: dict[str, Future[Any]] = {}

    def get(self, key: str) -> Any:
        with self._lock:
            fut = self._futures.get(key.lower())
            mine = fut is None
            if fut is None:
                fut = self._futures[key.lower()] = Future()
        if mine:
            try:
                fut.set_result(self._fetch(key))
            except BaseException as exc:
                fut.set_exception(exc)
        return fut.result()


def _short(exc: BaseException) -> str:
    from azure.core.exceptions import HttpResponseError

    if isinstance(exc, HttpResponseError) and exc.status_code:
        code = getattr(getattr(exc, "error", None), "code", None) or exc.reason
        return f"HTTP {exc.status_code} {code}".strip()
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class _Reader:
    def __init__(self, client: Any) -> None:
        self.client = client
        self.definitions = _Once(self._definition)
        #: entity name (lower case) → display name, from the hierarchy
        self.names: dict[str, str] = {}

    def _send(self, method: str, url: str, api_version: str | None) -> Any:
        from azure.core.exceptions import HttpResponseError
        from azure.core.rest import HttpRequest

        params = {"api-version": api_version} if api_version else None
        response = self.client.send_request(HttpRequest(method, url, params=params))
        if response.status_code >= 400:
            raise HttpResponseError(response=response)
        return response.json()

    def items(self, path: str, api_version: str, method: str = "GET") -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        page = self._send(method, path, api_version)
        while True:
            out.extend(page.get("value") or [])
            nxt = page.get("nextLink")
            if not nxt:
                return out
            page = self._send(method, nxt, None)

    def _definition(self, definition_id: str) -> dict[str, Any]:
        got: dict[str, Any] = self._send("GET", definition_id, API_VERSIONS["definitions"])
        return got

    def hierarchy(self) -> dict[str, list[str]]:
        """Entity name (lower case) → its ancestors' names, root first."""
        out: dict[str, list[str]] = {}
        for e in self.items("/providers/Microsoft.Management/getEntities", API_VERSIONS["entities"], "POST"):
            props = e.get("properties") or {}
            chain = [str(n).lower() for n in props.get("parentNameChain") or []]
            if not chain and (props.get("parent") or {}).get("id"):
                chain = [str(props["parent"]["id"]).rstrip("/").rsplit("/", 1)[-1].lower()]
            out[str(e.get("name", "")).lower()] = chain
            self.names[str(e.get("name", "")).lower()] = str(props.get("displayName") or "")
        return out


# --------------------------------------------------------------------------- evaluation


@attrs.define
class _Rule:
    """One enforced-or-not location rule of one assignment (or initiative member)."""

    assignment: Mapping[str, Any]
    label: str
    targets: tuple[str, ...]
    locations: tuple[str, ...] | None
    enforced: bool
    why: str
    reference_id: str | None = None
    notes: tuple[str, ...] = ()


def _scope_of(resource_id: str) -> str:
    return resource_id.lower().split("/providers/microsoft.authorization/", 1)[0]


def _scope_label(scope: str, sub: str) -> str:
    s = scope.lower()
    if s.startswith("/providers/microsoft.management/managementgroups/"):
        return f"management group {s.rsplit('/', 1)[-1]}"
    if s == f"/subscriptions/{sub.lower()}":
        return f"subscription {sub}"
    if "/resourcegroups/" in s:
        rest = s.split("/resourcegroups/", 1)[1]
        return f"resource group {rest}" if "/" not in rest else f"resource {rest}"
    return scope


def _depth(scope: str, ancestors: Sequence[str]) -> tuple[int, str]:
    s = scope.lower()
    if s.startswith("/providers/microsoft.management/managementgroups/"):
        name = s.rsplit("/", 1)[-1]
        return (ancestors.index(name) if name in ancestors else -1), s
    return (len(ancestors) + s.count("/")), s


def _rules(reader: _Reader, assignment: Mapping[str, Any], notes: list[str]) -> list[_Rule]:
    """The location rules inside one assignment (one, several for an initiative, none)."""
    props = assignment.get("properties") or {}
    label = str(props.get("displayName") or assignment.get("name") or assignment.get("id"))
    def_id = str(props.get("policyDefinitionId") or "")
    supplied = props.get("parameters") or {}
    base_enforced, base_why = True, "enforced"
    if str(props.get("enforcementMode") or "Default").lower() == "donotenforce":
        base_enforced, base_why = False, "enforcementMode DoNotEnforce: not enforced"
    elif props.get("resourceSelectors"):
        base_enforced, base_why = False, "resourceSelectors: applies to some resources only, not counted"
    definition = reader.definitions.get(def_id)
    members: list[tuple[Mapping[str, Any], Any, str | None]] = []  # (definition, parameter values, reference id)
    if "/policysetdefinitions/" in def_id.lower():
        set_props = definition.get("properties") or {}
        declared = set_props.get("parameters") or {}
        for m in set_props.get("policyDefinitions") or []:
            member_def = reader.definitions.get(str(m.get("policyDefinitionId") or ""))
            values: dict[str, Any] = {}
            for name, v in (m.get("parameters") or {}).items():
                raw = v.get("value") if isinstance(v, Mapping) else v
                values[name] = {"value": _resolve(raw, supplied, declared)}
            members.append((member_def, values, m.get("policyDefinitionReferenceId")))
    else:
        members.append((definition, supplied, None))
    out: list[_Rule] = []
    for member_def, values, ref in members:
        rule = location_rule(member_def)
        mlabel = label + (f" / {ref}" if ref else "")
        if isinstance(rule, str):
            if rule != "not a location rule":
                notes.append(f"assignment '{mlabel}': ignored for location: {rule}")
            elif '"location"' in json.dumps((member_def.get("properties") or {}).get("policyRule"), default=str):
                notes.append(f"assignment '{mlabel}': its rule tests location in a form not recognised: ignored")
            continue
        declared = (member_def.get("properties") or {}).get("parameters") or {}
        try:
            locs = _resolve(rule.locations, values, declared)
            effect = str(_resolve(rule.effect, values, declared) or "")
        except LookupError as exc:
            raise LookupError(f"assignment '{mlabel}': {exc}") from exc
        if not isinstance(locs, list):
            raise ValueError(f"assignment '{mlabel}': allowed locations are not a list: {locs!r}")
        enforced, why = base_enforced, base_why
        if enforced and effect.lower() != "deny":
            enforced, why = False, f"effect {effect or 'missing'}: not enforced"
        for o in props.get("overrides") or []:
            if str(o.get("kind", "")).lower() == "policyeffect" and str(o.get("value", "")).lower() != "deny":
                selected = [
                    str(x).lower()
                    for s in o.get("selectors") or []
                    if str(s.get("kind", "")).lower() == "policydefinitionreferenceid"
                    for x in s.get("in") or []
                ]
                if not selected or (ref and ref.lower() in selected):
                    enforced, why = False, f"effect overridden to {o.get('value')}: not enforced"
        out.append(
            _Rule(assignment, mlabel, rule.targets, tuple(_norm(x) for x in locs), enforced, why, ref, rule.notes)
        )
    return out


def _public_regions() -> tuple[str, ...]:
    return tuple(loc.code for loc in catalog().locations("azure") if loc.kind == "region")


def _intersect(lists: Sequence[tuple[str, ...]]) -> tuple[str, ...] | None:
    if not lists:
        return None
    keep = set(lists[0])
    for other in lists[1:]:
        keep &= set(other)
    return tuple(x for x in lists[0] if x in keep)


def _evaluate(
    reader: _Reader,
    sub: str,
    hierarchy: dict[str, list[str]] | None,
    hierarchy_error: str | None,
    today: dt.date,
) -> Reach:
    sub_l = sub.lower()
    sub_scope = f"/subscriptions/{sub_l}"
    ancestors = (hierarchy or {}).get(sub_l, [])
    notes: list[str] = []
    errors: list[str] = []
    try:
        assignments = reader.items(
            f"{sub_scope}/providers/Microsoft.Authorization/policyAssignments", API_VERSIONS["assignments"]
        )
    except Exception as exc:
        return Reach(
            "azure",
            sub,
            (),
            error=f"policy assignments could not be read: {_short(exc)}",
            resource_type="Microsoft.Resources/subscriptions",
            details={"not_covered": _NOT_COVERED},
        )
    try:
        exemptions = reader.items(
            f"{sub_scope}/providers/Microsoft.Authorization/policyExemptions", API_VERSIONS["exemptions"]
        )
    except Exception as exc:
        exemptions = []
        errors.append(f"policy exemptions could not be read: {_short(exc)}")

    rules: list[tuple[str, _Rule]] = []  # (scope, rule)
    rg_rules: list[dict[str, Any]] = []
    for a in assignments:
        props = a.get("properties") or {}
        scope = str(props.get("scope") or _scope_of(str(a.get("id", "")))).lower().rstrip("/")
        try:
            found = _rules(reader, a, notes)
        except Exception as exc:
            if "/resourcegroups/" not in scope:
                errors.append(f"assignment {a.get('name')}: its definition could not be read: {_short(exc)}")
            else:
                notes.append(f"assignment {a.get('name')} at {scope}: its definition could not be read: {_short(exc)}")
            continue
        for r in found:
            if scope.startswith(sub_scope + "/"):
                rg_rules.append(
                    {
                        "assignment": r.label,
                        "scope": _scope_label(scope, sub),
                        "locations": list(r.locations or ()),
                        "enforced": r.enforced,
                        "note": "covers only this resource group",
                    }
                )
            else:
                rules.append((scope, r))

    # notScopes and exemptions
    holes: dict[str, list[tuple[int, str]]] = {}  # part of the subscription → (id of the rule, why not covered)
    chain: list[tuple[tuple[int, str], str]] = []
    details_assignments: list[dict[str, Any]] = []
    active: list[tuple[str, _Rule]] = []
    for scope, r in rules:
        a_props = r.assignment.get("properties") or {}
        covered, why = True, r.why
        for ns in a_props.get("notScopes") or []:
            n = str(ns).lower().rstrip("/")
            if n == sub_scope:
                covered, why = False, "notScopes lists the subscription: not covered"
            elif n.startswith("/providers/microsoft.management/managementgroups/"):
                mg = n.rsplit("/", 1)[-1]
                if hierarchy is None or sub_l not in hierarchy:
                    errors.append(
                        f"assignment '{r.label}' excludes management group {mg}, and the hierarchy "
                        f"could not be read ({hierarchy_error or 'the subscription is not in it'})"
                    )
                elif mg in ancestors:
                    covered, why = False, f"notScopes lists management group {mg} (an ancestor): not covered"
            elif n.startswith(sub_scope + "/"):
                holes.setdefault(n, []).append((id(r), f"'{r.label}' (notScopes)"))
        for e in exemptions:
            ep = e.get("properties") or {}
            if str(ep.get("policyAssignmentId", "")).lower() != str(r.assignment.get("id", "")).lower():
                continue
            refs = [str(x).lower() for x in ep.get("policyDefinitionReferenceIds") or []]
            if refs and (r.reference_id or "").lower() not in refs:
                continue
            expires = ep.get("expiresOn")
            if expires and _expired(str(expires), today):
                notes.append(f"exemption {e.get('name')} on '{r.label}' expired on {expires}: ignored")
                continue
            escope = _scope_of(str(e.get("id", ""))).rstrip("/")
            kind = ep.get("exemptionCategory") or "exemption"
            if escope == sub_scope or escope.startswith("/providers/microsoft.management/"):
                covered, why = False, f"exempt ({kind}, exemption {e.get('name')}): not enforced"
            elif escope.startswith(sub_scope + "/"):
                holes.setdefault(escope, []).append((id(r), f"'{r.label}' (exemption {e.get('name')}, {kind})"))
        enforced = covered and r.enforced
        targets = " and ".join(r.targets)
        chain.append((_depth(scope, ancestors), f"{_scope_label(scope, sub)}: '{r.label}' ({targets}) {why}"))
        details_assignments.append(
            {
                "assignment": str(r.assignment.get("id", "")),
                "name": r.label,
                "scope": scope,
                "targets": list(r.targets),
                "locations": list(r.locations or ()),
                "enforced": enforced,
                "why": why,
                "excludes": list(r.notes),
            }
        )
        if enforced:
            active.append((scope, r))

    allowed: dict[str, tuple[str, ...] | None] = {}
    for target in (RESOURCES, RESOURCE_GROUPS):
        allowed[target] = _intersect([r.locations or () for _, r in active if target in r.targets])
    exempt: list[str] = []
    extra: set[str] = set()
    for part, lifters in sorted(holes.items()):
        label = _scope_label(part, sub)
        lifted = {rule_id for rule_id, _ in lifters}
        for target in (RESOURCES, RESOURCE_GROUPS):
            rest = _intersect([r.locations or () for _, r in active if target in r.targets and id(r) not in lifted])
            if allowed[target] is None:
                continue
            if rest is None:
                by = ", ".join(w for _, w in lifters)
                if target == RESOURCES:
                    exempt.append(f"{label} can create resources anywhere: not covered by {by}")
                else:
                    exempt.append(f"{label}: its own location is not bound: not covered by {by}")
            else:
                extra.update(rest)
    res, rgs = allowed[RESOURCES], allowed[RESOURCE_GROUPS]
    writable: tuple[str, ...] | None
    if res is None and rgs is None:
        writable = None
    else:
        every = _public_regions()
        merged = list(res if res is not None else every) + list(rgs if rgs is not None else every) + sorted(extra)
        writable = tuple(dict.fromkeys(merged))
        for target, got in ((RESOURCES, res), (RESOURCE_GROUPS, rgs)):
            if got is None:
                chain.append(((1 << 20, ""), f"no enforced location rule for {target}: {target} can be in any region"))
    details = {
        "allowed_locations": {k.replace(" ", "_"): (None if v is None else list(v)) for k, v in allowed.items()},
        "assignments": details_assignments,
        "resource_group_assignments": rg_rules,
        "notes": notes,
        "not_covered": _NOT_COVERED,
        "management_groups": list(ancestors),
    }
    return Reach(
        "azure",
        sub,
        writable,
        exempt=exempt,
        chain=[text for _, text in sorted(chain, key=lambda x: x[0])],
        error="; ".join(errors) or None,
        name=reader.names.get(sub_l, ""),
        resource_type="Microsoft.Resources/subscriptions",
        details=details,
    )


def _expired(value: str, today: dt.date) -> bool:
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).date() < today
    except ValueError:
        return False


# --------------------------------------------------------------------------- entry points


def guardrails(context: Any) -> Iterator[Finding]:
    """Yield one ``guardrail`` finding per subscription (see the module docstring)."""
    from azure.mgmt.resource.subscriptions import SubscriptionClient

    from ._scan import _list_subscriptions

    policy: Policy = context.policy
    client_kwargs = dict(context.options.get("client_kwargs") or {})
    if context.endpoint_url:
        client_kwargs["base_url"] = context.endpoint_url
    credential: Any = context.session if context.session is not None else _accounts.new_default_credential()
    subs = list(context.accounts or [])
    if not subs:
        from residency._errors import ProviderError

        try:
            subs = [str(s["subscriptionId"]) for s in _list_subscriptions(credential, client_kwargs) if not s["gone"]]
        except Exception as exc:
            raise ProviderError(f"azure: cannot list subscriptions: {_short(exc)}") from exc
    reader = _Reader(SubscriptionClient(credential, **client_kwargs))
    hierarchy: dict[str, list[str]] | None
    hierarchy_error: str | None = None
    try:
        hierarchy = reader.hierarchy()
    except Exception as exc:
        hierarchy, hierarchy_error = None, _short(exc)
        context.notes.append(f"azure: the management-group hierarchy could not be read ({hierarchy_error})")
    today = context.today or dt.date.today()
    with ThreadPoolExecutor(max_workers=max(1, int(context.concurrency)), thread_name_prefix="residency-azgr") as pool:
        futures = [pool.submit(_evaluate, reader, s, hierarchy, hierarchy_error, today) for s in subs]
        for sub, fut in zip(subs, futures, strict=True):
            context.accounts_scanned.append(sub)
            try:
                reach = fut.result()
            except Exception as exc:
                reach = Reach(
                    "azure",
                    sub,
                    (),
                    error=f"guardrails could not be evaluated: {_short(exc)}",
                    resource_type="Microsoft.Resources/subscriptions",
                )
            yield judge(policy, reach, today=context.today)


def emit(policy: Policy) -> dict[str, Any]:
    """Two policy assignments (resources and resource groups) that allow only the policy's Azure regions.

    >>> from residency import load_policy
    >>> doc = emit(load_policy("eu"))
    >>> [a["properties"]["policyDefinitionId"].rsplit("/", 1)[-1] for a in doc["assignments"]]
    ['e56962a6-4747-49cd-b67b-bf8b01975c4c', 'e765b5de-1225-4ba3-bd56-1ac6695af988']
    >>> "uksouth" in doc["assignments"][0]["properties"]["parameters"]["listOfAllowedLocations"]["value"]
    False
    """
    allowed = [
        loc.code
        for loc in catalog().locations("azure")
        if loc.kind == "region" and policy.check("azure", loc).status == "allowed"
    ]
    assignments = []
    for suffix, definition, what in (
        ("locations", ALLOWED_LOCATIONS, "resources"),
        ("rg-locations", ALLOWED_RG_LOCATIONS, "resource groups"),
    ):
        assignments.append(
            {
                "name": f"residency-{policy.name}-{suffix}"[:64],
                "properties": {
                    "displayName": f"eu-residency '{policy.name}': allowed locations for {what}",
                    "policyDefinitionId": definition,
                    "parameters": {"listOfAllowedLocations": {"value": allowed}},
                    "enforcementMode": "Default",
                    "nonComplianceMessages": [
                        {"message": f"Data residency policy '{policy.name}': {what} must be in {', '.join(allowed)}"}
                    ],
                    "metadata": {"createdBy": "eu-residency", "policy": policy.name},
                },
            }
        )
    return {
        "provider": "azure",
        "policy": policy.name,
        "apiVersion": API_VERSIONS["assignments"],
        "howTo": (
            "PUT each assignment at {scope}/providers/Microsoft.Authorization/policyAssignments/{name}"
            f"?api-version={API_VERSIONS['assignments']} (scope: the tenant root management group, or a "
            "subscription); do not list subscriptions in notScopes"
        ),
        "notCovered": _NOT_COVERED,
        "assignments": assignments,
    }
