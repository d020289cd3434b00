"""Azure Policy and management groups for the loopback ARM fake (:class:`~._fake_arm.FakeArm`).

Served with the real API's JSON shapes and ``nextLink`` paging:

* ``POST /providers/Microsoft.Management/getEntities`` — every management
  group and subscription with ``properties.parent.id`` and
  ``parentNameChain`` (root first);
* ``{scope}/providers/Microsoft.Authorization/policyAssignments`` — list (for a
  subscription without ``$filter``: the assignments at its ancestor
  management groups, at the subscription and inside it; ``$filter=atScope()``
  leaves out those inside; ``atExactScope()`` only the scope's own; a
  management group's list is its own and its ancestors'), ``GET`` and
  ``PUT`` by id (``properties.scope`` filled in);
* ``…/policyExemptions`` — the same, for exemptions;
* ``…/policyDefinitions/{name}`` and ``…/policySetDefinitions/{name}`` — the
  two built-in location definitions are preloaded (:data:`BUILTIN_DEFINITIONS`:
  the same mode, parameter and ``if``/``then`` as Microsoft's published
  built-ins, checked against ``built-in-policies/policyDefinitions/General/
  AllowedLocations_Deny.json`` and ``ResourceGroupAllowedLocations_Deny.json``
  in github.com/Azure/azure-policy; the first's description says it "excludes
  resource groups … and resources that use the 'global' region"), custom ones
  by ``PUT`` or :meth:`PolicyStore.add_definition`.

Shapes: Microsoft Learn REST references "Policy Assignments - List", "Policy
Exemptions - List", "Policy Definitions - Get", "Policy Set Definitions - Get",
"Entities - List" (https://learn.microsoft.com/rest/api/policy/,
https://learn.microsoft.com/rest/api/managementgroups/entities/list).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["BUILTIN_DEFINITIONS", "PolicyStore"]

_AUTH = "/providers/microsoft.authorization/"
_MG = "/providers/microsoft.management/managementgroups/"


def _builtin(guid: str, display: str, rule_if: Any, mode: str) -> dict[str, Any]:
    return {
        "id": f"/providers/Microsoft.Authorization/policyDefinitions/{guid}",
        "type": "Microsoft.Authorization/policyDefinitions",
        "name": guid,
        "properties": {
            "displayName": display,
            "policyType": "BuiltIn",
            "mode": mode,
            "metadata": {"version": "1.0.0", "category": "General"},
            "parameters": {
                "listOfAllowedLocations": {
                    "type": "Array",
                    "metadata": {"displayName": "Allowed locations", "strongType": "location"},
                }
            },
            "policyRule": {"if": rule_if, "then": {"effect": "deny"}},
        },
    }


BUILTIN_DEFINITIONS: dict[str, dict[str, Any]] = {
    d["id"].lower(): d
    for d in (
        _builtin(
            "e56962a6-4747-49cd-b67b-bf8b01975c4c",
            "Allowed locations",
            {
                "allOf": [
                    {"field": "location", "notIn": "[parameters('listOfAllowedLocations')]"},
                    {"field": "location", "notEquals": "global"},
                    {"field": "type", "notEquals": "Microsoft.AzureActiveDirectory/b2cDirectories"},
                ]
            },
            "Indexed",
        ),
        _builtin(
            "e765b5de-1225-4ba3-bd56-1ac6695af988",
            "Allowed locations for resource groups",
            {
                "allOf": [
                    {"field": "type", "equals": "Microsoft.Resources/subscriptions/resourceGroups"},
                    {"field": "location", "notIn": "[parameters('listOfAllowedLocations')]"},
                ]
            },
            "All",
        ),
    )
}


def _scope(resource_id: str) -> str:
    return resource_id.lower().split(_AUTH, 1)[0].rstrip("/")


class PolicyStore:
    """The Azure Policy half of the fake: mixed into :class:`~._fake_arm.FakeArm`."""

    url: str
    subscriptions: dict[str, dict[str, Any]]

    def _init_policy(self) -> None:
        self.management_groups: dict[str, dict[str, Any]] = {}
        self.mg_parent: dict[str, str | None] = {}  # management group or subscription (lower) → parent MG
        self.policy_objects: dict[str, dict[str, Any]] = copy.deepcopy(BUILTIN_DEFINITIONS)

    # ------------------------------------------------------------------ world

    def add_management_group(self, name: str, parent: str | None = None, display_name: str | None = None) -> str:
        """A management group under ``parent`` (``None``: a root); returns its id."""
        mid = f"/providers/Microsoft.Management/managementGroups/{name}"
        self.management_groups[name.lower()] = {"id": mid, "name": name, "displayName": display_name or name}
        self.mg_parent[name.lower()] = parent.lower() if parent else None
        return mid

    def place_subscription(self, subscription_id: str, management_group: str) -> None:
        self.mg_parent[subscription_id.lower()] = management_group.lower()

    def ancestors(self, name: str) -> list[str]:
        """Management-group names above ``name`` (a management group or subscription), root first."""
        out: list[str] = []
        cur = self.mg_parent.get(name.lower())
        while cur:
            out.append(cur)
            cur = self.mg_parent.get(cur)
        return out[::-1]

    def add_definition(self, scope: str, name: str, properties: Mapping[str, Any], *, initiative: bool = False) -> str:
        kind = "policySetDefinitions" if initiative else "policyDefinitions"
        rid = f"{scope.rstrip('/')}/providers/Microsoft.Authorization/{kind}/{name}"
        self.policy_objects[rid.lower()] = {
            "id": rid,
            "type": f"Microsoft.Authorization/{kind}",
            "name": name,
            "properties": copy.deepcopy(dict(properties)),
        }
        return rid

    def assign(
        self,
        scope: str,
        name: str,
        definition_id: str,
        parameters: Mapping[str, Any] | None = None,
        *,
        not_scopes: Sequence[str] = (),
        enforcement_mode: str = "Default",
        **extra: Any,
    ) -> str:
        """A policy assignment; ``parameters`` as plain values (wrapped in ``{"value": …}``)."""
        props = {
            "displayName": name,
            "policyDefinitionId": definition_id,
            "parameters": {k: {"value": v} for k, v in (parameters or {}).items()},
            "notScopes": list(not_scopes),
            "enforcementMode": enforcement_mode,
            **extra,
        }
        return self._put_policy(
            f"{scope.rstrip('/')}/providers/Microsoft.Authorization/policyAssignments/{name}", props
        )

    def exempt(
        self,
        scope: str,
        name: str,
        assignment_id: str,
        *,
        category: str = "Waiver",
        reference_ids: Sequence[str] = (),
        expires_on: str | None = None,
    ) -> str:
        props: dict[str, Any] = {
            "policyAssignmentId": assignment_id,
            "policyDefinitionReferenceIds": list(reference_ids),
            "exemptionCategory": category,
            "displayName": name,
        }
        if expires_on:
            props["expiresOn"] = expires_on
        return self._put_policy(f"{scope.rstrip('/')}/providers/Microsoft.Authorization/policyExemptions/{name}", props)

    def _put_policy(self, rid: str, properties: Mapping[str, Any]) -> str:
        kind = rid.split("/providers/Microsoft.Authorization/", 1)[1].split("/")[0]
        obj: dict[str, Any] = {
            "id": rid,
            "type": f"Microsoft.Authorization/{kind}",
            "name": rid.rsplit("/", 1)[-1],
            "properties": copy.deepcopy(dict(properties)),
        }
        if kind.lower() == "policyassignments":
            obj["properties"]["scope"] = rid.split("/providers/Microsoft.Authorization/", 1)[0]
            obj["properties"].setdefault("notScopes", [])
            obj["properties"].setdefault("enforcementMode", "Default")
        self.policy_objects[rid.lower()] = obj
        return rid

    # ------------------------------------------------------------------ routing

    def policy_route(
        self, method: str, path: str, low: str, query: Mapping[str, str], body: Any
    ) -> tuple[int, Any] | None:
        """Answer a management-group or Azure Policy request, or ``None`` when it is not one."""
        if method == "POST" and low == "/providers/microsoft.management/getentities":
            return 200, self._page_policy(self._entities(), query, path)
        if _AUTH not in low:
            return None
        scope, _, rest = low.partition(_AUTH)
        parts = rest.split("/")
        kind = parts[0]
        if kind not in ("policyassignments", "policyexemptions", "policydefinitions", "policysetdefinitions"):
            return None
        if len(parts) == 1 and method == "GET":
            return self._list_policy(kind, scope.rstrip("/"), query, path)
        if len(parts) == 2 and method == "PUT":
            raw = path.rstrip("/")
            props = (body or {}).get("properties") if isinstance(body, Mapping) else None
            if not isinstance(props, Mapping):
                return 400, {"error": {"code": "InvalidRequestContent", "message": "properties are required"}}
            existed = raw.lower() in self.policy_objects
            if kind in ("policydefinitions", "policysetdefinitions"):
                scope_part = raw[: raw.lower().index(_AUTH)]
                self.add_definition(
                    scope_part, raw.rsplit("/", 1)[-1], props, initiative=kind == "policysetdefinitions"
                )
            else:
                self._put_policy(raw, props)
            return (200 if existed else 201), self.policy_objects[raw.lower()]
        if len(parts) == 2 and method == "GET":
            got = self.policy_objects.get(low.rstrip("/"))
            if got is None:
                code = "PolicyDefinitionNotFound" if "definitions" in kind else "PolicyAssignmentNotFound"
                return 404, {"error": {"code": code, "message": f"The policy object '{path}' was not found."}}
            return 200, got
        if len(parts) == 2 and method == "DELETE":
            gone = self.policy_objects.pop(low.rstrip("/"), None)
            return (200 if gone else 204), gone
        return None

    def _entities(self) -> list[dict[str, Any]]:
        out = []
        for name, mg in self.management_groups.items():
            chain = self.ancestors(name)
            out.append(
                self._entity(mg["id"], mg["name"], "Microsoft.Management/managementGroups", mg["displayName"], chain)
            )
        for sid, sub in self.subscriptions.items():
            chain = self.ancestors(sid)
            out.append(
                self._entity(
                    f"/subscriptions/{sub['subscriptionId']}",
                    sub["subscriptionId"],
                    "/subscriptions",
                    sub["displayName"],
                    chain,
                )
            )
        return out

    def _entity(self, eid: str, name: str, etype: str, display: str, chain: list[str]) -> dict[str, Any]:
        parent = {"id": f"/providers/Microsoft.Management/managementGroups/{chain[-1]}"} if chain else None
        return {
            "id": eid,
            "type": etype,
            "name": name,
            "properties": {
                "tenantId": getattr(self, "tenant_id", ""),
                "displayName": display,
                "parent": parent,
                "permissions": "view",
                "inheritedPermissions": "view",
                "parentNameChain": chain,
                "parentDisplayNameChain": [
                    self.management_groups[c]["displayName"] for c in chain if c in self.management_groups
                ],
            },
        }

    def _scope_ancestry(self, scope: str) -> list[str]:
        """Scopes (lower case) at and above ``scope``: ancestor management groups, subscription, resource group."""
        if scope.startswith(_MG):
            name = scope[len(_MG) :].split("/")[0]
            return [f"{_MG}{m}" for m in self.ancestors(name)] + [f"{_MG}{name}"]
        segs = scope.split("/")
        if len(segs) >= 3 and segs[1] == "subscriptions":
            sub = segs[2]
            out = [f"{_MG}{m}" for m in self.ancestors(sub)] + [f"/subscriptions/{sub}"]
            if len(segs) >= 5:
                out.append("/".join(segs[:5]))
            return out
        return [scope]

    def _list_policy(self, kind: str, scope: str, query: Mapping[str, str], path: str) -> tuple[int, Any]:
        if kind in ("policydefinitions", "policysetdefinitions"):
            items = [o for k, o in self.policy_objects.items() if f"{_AUTH}{kind}/" in k and _scope(k) == scope]
            return 200, self._page_policy(items, query, path)
        filt = query.get("$filter", "").replace(" ", "").lower()
        if scope.startswith(_MG) and not filt:
            filt = "atscope()"  # a management group's unfiltered list: its own and its ancestors' objects
        above = set(self._scope_ancestry(scope))
        items = []
        for k, o in self.policy_objects.items():
            if f"{_AUTH}{kind}/" not in k:
                continue
            s = _scope(k)
            if filt == "atexactscope()":
                ok = s == scope
            elif filt == "atscope()":
                ok = s in above
            else:
                ok = s in above or s.startswith(scope + "/")
            if ok:
                items.append(o)
        return 200, self._page_policy(items, query, path)

    def _page_policy(self, items: list[dict[str, Any]], query: Mapping[str, str], path: str) -> dict[str, Any]:
        from urllib.parse import urlencode

        size = int(getattr(self, "page_size", 100))
        start = int(query.get("$skiptoken", "0") or 0)
        out: dict[str, Any] = {"value": items[start : start + size]}
        if start + size < len(items):
            q = {k: v for k, v in query.items() if k != "$skiptoken"}
            q["$skiptoken"] = str(start + size)
            out["nextLink"] = f"{self.url}{path}?{urlencode(q)}"
        return out
