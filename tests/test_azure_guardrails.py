"""Azure guardrails: Allowed-locations assignments, their scopes and exemptions, judged per subscription.

Everything runs against the loopback ARM fake (management groups, policy
assignments, exemptions and definitions in the real API's shapes, see
``providers/azure/_fake_policy.py``) through the azure-core pipeline of the
real SDK client.
"""

from __future__ import annotations

import importlib.util
import pathlib
import sys
from typing import Any

import pytest
from residency.providers.azure._fake_arm import FakeArm
from residency.providers.azure._guardrails import ALLOWED_LOCATIONS, ALLOWED_RG_LOCATIONS

from residency import load_policy
from residency._findings import Finding
from residency._guardrails import emit_guardrails, stream_guardrails

_spec = importlib.util.spec_from_file_location("_azure_support", pathlib.Path(__file__).with_name("_azure_support.py"))
assert _spec is not None
assert _spec.loader is not None
support = sys.modules.get("_azure_support") or importlib.util.module_from_spec(_spec)
if "_azure_support" not in sys.modules:
    sys.modules["_azure_support"] = support
    _spec.loader.exec_module(support)
no_azure_env = support.no_azure_env
fake_arm = support.fake_arm

SUB = "00000000-0000-0000-0000-0000000000a1"
OTHER = "00000000-0000-0000-0000-0000000000a2"
EU = ["westeurope", "northeurope", "germanywestcentral", "swedencentral", "francecentral"]
MG_ROOT = "/providers/Microsoft.Management/managementGroups/tenant-root"
MG_EU = "/providers/Microsoft.Management/managementGroups/mg-eu"


def _estate(arm: FakeArm) -> None:
    arm.add_management_group("tenant-root")
    arm.add_management_group("mg-eu", "tenant-root")
    for sub in (SUB, OTHER):
        arm.add_subscription(sub)
        arm.place_subscription(sub, "mg-eu")
        arm.add_resource_group(sub, "rg-app", "westeurope")


def _both(arm: FakeArm, scope: str, name: str, locations: list[str], **kw: Any) -> list[str]:
    return [
        arm.assign(scope, name, ALLOWED_LOCATIONS, {"listOfAllowedLocations": locations}, **kw),
        arm.assign(scope, f"{name}-rg", ALLOWED_RG_LOCATIONS, {"listOfAllowedLocations": locations}, **kw),
    ]


def _run(arm: FakeArm, policy: str = "eu", accounts: list[str] | None = None) -> dict[str, Finding]:
    ctx = arm.scan_context(policy, accounts=accounts or [SUB], concurrency=2)
    found = {f.account: f for f in stream_guardrails(ctx)}
    assert all(f.kind == "guardrail" for f in found.values())
    return found


def test_mg_assignment_confines_every_subscription_below(fake_arm: FakeArm) -> None:
    _estate(fake_arm)
    _both(fake_arm, MG_ROOT, "eu-only", EU)
    found = _run(fake_arm, accounts=[SUB, OTHER])
    for f in found.values():
        assert f.status == "compliant", f.reason
        assert f.details["allowed_locations"]["resources"] == EU
        assert "management group tenant-root" in f.reason
        assert "global" in f.details["not_covered"]
        assert f.name == f"subscription {f.account[:8]}"  # the display name, from the hierarchy
    assert fake_arm.writes() == []


def test_no_assignment_at_all_is_anywhere(fake_arm: FakeArm) -> None:
    _estate(fake_arm)
    f = _run(fake_arm)[SUB]
    assert f.status == "violation"
    assert f.details["writable"] is None
    assert "eastus" in {loc.code for loc in f.locations}


def test_uksouth_in_the_allowed_list_under_eu(fake_arm: FakeArm) -> None:
    _estate(fake_arm)
    _both(fake_arm, f"/subscriptions/{SUB}", "eu-plus-uk", [*EU, "uksouth"])
    f = _run(fake_arm)[SUB]
    assert f.status == "violation"
    assert [loc.code for loc in f.locations] == ["uksouth"]
    assert _run(fake_arm, "eea-ch")[SUB].status == "violation"  # the UK is outside the EEA and Switzerland too


def test_do_not_enforce_is_not_a_guardrail(fake_arm: FakeArm) -> None:
    _estate(fake_arm)
    _both(fake_arm, MG_EU, "eu-audit", EU, enforcement_mode="DoNotEnforce")
    f = _run(fake_arm)[SUB]
    assert f.status == "violation"
    assert f.details["writable"] is None
    assert "DoNotEnforce" in f.reason
    assert all(not a["enforced"] for a in f.details["assignments"])


def test_not_scopes_listing_the_subscription(fake_arm: FakeArm) -> None:
    _estate(fake_arm)
    _both(fake_arm, MG_EU, "eu-only", EU, not_scopes=[f"/subscriptions/{SUB}"])
    found = _run(fake_arm, accounts=[SUB, OTHER])
    assert found[SUB].status == "violation"
    assert "notScopes lists the subscription" in found[SUB].reason
    assert found[OTHER].status == "compliant"


def test_not_scopes_listing_an_ancestor_management_group(fake_arm: FakeArm) -> None:
    _estate(fake_arm)
    _both(fake_arm, MG_ROOT, "eu-only", EU, not_scopes=[MG_EU])
    assert _run(fake_arm)[SUB].status == "violation"


def test_not_scopes_listing_a_resource_group_leaves_it_free(fake_arm: FakeArm) -> None:
    _estate(fake_arm)
    rg = f"/subscriptions/{SUB}/resourceGroups/rg-app"
    _both(fake_arm, MG_EU, "eu-only", EU, not_scopes=[rg])
    f = _run(fake_arm)[SUB]
    assert f.status == "violation"
    assert any("resource group rg-app can create resources anywhere" in e for e in f.details["exempt"])


def test_exemption_at_the_subscription(fake_arm: FakeArm) -> None:
    _estate(fake_arm)
    ids = _both(fake_arm, MG_EU, "eu-only", EU)
    fake_arm.exempt(f"/subscriptions/{SUB}", "legacy-waiver", ids[0])
    found = _run(fake_arm, accounts=[SUB, OTHER])
    f = found[SUB]
    assert f.status == "violation"
    assert "exempt (Waiver, exemption legacy-waiver)" in f.reason
    assert f.details["allowed_locations"]["resources"] is None  # resources free, resource groups still bound
    assert f.details["allowed_locations"]["resource_groups"] == EU
    assert found[OTHER].status == "compliant"


def test_expired_exemption_is_ignored(fake_arm: FakeArm) -> None:
    _estate(fake_arm)
    ids = _both(fake_arm, MG_EU, "eu-only", EU)
    fake_arm.exempt(f"/subscriptions/{SUB}", "old", ids[0], expires_on="2020-01-01T00:00:00Z")
    f = _run(fake_arm)[SUB]
    assert f.status == "compliant"
    assert any("expired" in n for n in f.details["notes"])


def test_initiative_with_parameters_passed_through(fake_arm: FakeArm) -> None:
    _estate(fake_arm)
    initiative = fake_arm.add_definition(
        MG_ROOT,
        "residency-initiative",
        {
            "displayName": "Residency",
            "policyType": "Custom",
            "parameters": {"regions": {"type": "Array"}, "rgRegions": {"type": "Array", "defaultValue": EU}},
            "policyDefinitions": [
                {
                    "policyDefinitionReferenceId": "allowedLocations",
                    "policyDefinitionId": ALLOWED_LOCATIONS,
                    "parameters": {"listOfAllowedLocations": {"value": "[parameters('regions')]"}},
                },
                {
                    "policyDefinitionReferenceId": "allowedRgLocations",
                    "policyDefinitionId": ALLOWED_RG_LOCATIONS,
                    "parameters": {"listOfAllowedLocations": {"value": "[parameters('rgRegions')]"}},
                },
            ],
        },
        initiative=True,
    )
    aid = fake_arm.assign(MG_EU, "residency", initiative, {"regions": [*EU, "eastus"]})
    f = _run(fake_arm)[SUB]
    assert f.status == "violation"
    assert [loc.code for loc in f.locations] == ["eastus"]
    assert f.details["allowed_locations"]["resource_groups"] == EU  # the initiative's default

    fake_arm.assign(MG_EU, "residency", initiative, {"regions": EU})
    assert _run(fake_arm)[SUB].status == "compliant"
    # an exemption of one member only lifts that member
    fake_arm.exempt(MG_EU, "rg-waiver", aid, reference_ids=["allowedRgLocations"])
    f = _run(fake_arm)[SUB]
    assert f.status == "violation"
    assert f.details["allowed_locations"] == {"resources": EU, "resource_groups": None}


def test_resource_group_scope_assignment_does_not_cover_the_subscription(fake_arm: FakeArm) -> None:
    _estate(fake_arm)
    _both(fake_arm, f"/subscriptions/{SUB}/resourceGroups/rg-app", "rg-only", EU)
    f = _run(fake_arm)[SUB]
    assert f.status == "violation"
    assert f.details["writable"] is None
    assert {r["scope"] for r in f.details["resource_group_assignments"]} == {"resource group rg-app"}


def test_custom_definition_of_the_same_shape_is_recognised_and_audit_is_not(fake_arm: FakeArm) -> None:
    _estate(fake_arm)
    rule = {
        "if": {"allOf": [{"field": "location", "notIn": "[parameters('allowed')]"}]},
        "then": {"effect": "[parameters('effect')]"},
    }
    params = {"allowed": {"type": "Array"}, "effect": {"type": "String", "defaultValue": "Deny"}}
    custom = fake_arm.add_definition(
        MG_ROOT, "custom-locations", {"mode": "All", "parameters": params, "policyRule": rule}
    )
    fake_arm.assign(MG_EU, "custom", custom, {"allowed": EU})
    assert _run(fake_arm)[SUB].status == "compliant"  # mode All covers resources and resource groups
    fake_arm.assign(MG_EU, "custom", custom, {"allowed": EU, "effect": "Audit"})
    f = _run(fake_arm)[SUB]
    assert f.status == "violation"
    assert "effect Audit: not enforced" in f.reason


def test_403_on_policy_assignments_is_unknown(fake_arm: FakeArm) -> None:
    _estate(fake_arm)
    _both(fake_arm, MG_EU, "eu-only", EU)
    fake_arm.fail["policyassignments"] = (403, "AuthorizationFailed")
    f = _run(fake_arm)[SUB]
    assert f.status == "unknown"
    assert "403" in (f.error or "")


def test_unreadable_exemptions_are_unknown_not_compliant(fake_arm: FakeArm) -> None:
    _estate(fake_arm)
    _both(fake_arm, MG_EU, "eu-only", EU)
    fake_arm.fail["policyexemptions"] = (403, "AuthorizationFailed")
    assert _run(fake_arm)[SUB].status == "unknown"


def test_paging_of_assignments(fake_arm: FakeArm) -> None:
    _estate(fake_arm)
    for i in range(120):  # page size 50: three pages
        fake_arm.assign(f"/subscriptions/{SUB}", f"tag-{i}", "/providers/Microsoft.Authorization/policyDefinitions/x")
    fake_arm.add_definition(
        "", "x", {"policyRule": {"if": {"field": "tags", "exists": "false"}, "then": {"effect": "deny"}}}
    )
    _both(fake_arm, MG_EU, "eu-only", EU)
    assert _run(fake_arm)[SUB].status == "compliant"
    gets = [r for r in fake_arm.requests if r.path.lower().endswith("/policydefinitions/x")]
    assert len(gets) == 1  # each definition fetched once


@pytest.mark.parametrize("policy", ["eu", "eea", "eea-ch"])
def test_emit_round_trip(fake_arm: FakeArm, policy: str) -> None:
    _estate(fake_arm)
    doc = emit_guardrails("azure", load_policy(policy))
    import json

    from azure.core.rest import HttpRequest
    from azure.mgmt.resource.subscriptions import SubscriptionClient

    json.dumps(doc)
    kwargs = fake_arm.client_kwargs()
    client = SubscriptionClient(fake_arm.credential, **kwargs)
    for a in doc["assignments"]:
        assert a["properties"]["enforcementMode"] == "Default"
        url = f"{MG_ROOT}/providers/Microsoft.Authorization/policyAssignments/{a['name']}"
        got = client.send_request(
            HttpRequest("PUT", url, params={"api-version": doc["apiVersion"]}, json={"properties": a["properties"]})
        )
        assert got.status_code == 201
    f = _run(fake_arm, policy)[SUB]
    assert f.status == "compliant", f.reason
    allowed = doc["assignments"][0]["properties"]["parameters"]["listOfAllowedLocations"]["value"]
    assert ("norwayeast" in allowed) == (policy != "eu")
    assert ("switzerlandnorth" in allowed) == (policy == "eea-ch")
    # one region outside added to the first assignment: a violation naming it
    a = doc["assignments"][0]
    a["properties"]["parameters"]["listOfAllowedLocations"]["value"].append("eastus")
    url = f"{MG_ROOT}/providers/Microsoft.Authorization/policyAssignments/{a['name']}"
    client.send_request(
        HttpRequest("PUT", url, params={"api-version": doc["apiVersion"]}, json={"properties": a["properties"]})
    )
    f = _run(fake_arm, policy)[SUB]
    assert f.status == "violation"
    assert [loc.code for loc in f.locations] == ["eastus"]


def test_every_visible_subscription_by_default_and_global_is_judged_by_the_policy(fake_arm: FakeArm) -> None:
    _estate(fake_arm)
    _both(fake_arm, MG_ROOT, "eu-only", EU)
    _both(fake_arm, f"/subscriptions/{OTHER}", "eu-global", [*EU, "global"])
    ctx = fake_arm.scan_context("eu")
    found = {f.account: f for f in stream_guardrails(ctx)}
    assert sorted(ctx.accounts_scanned) == sorted([SUB, OTHER])
    assert found[SUB].status == "compliant"
    # the intersection of both assignments drops 'global' again: still compliant
    assert found[OTHER].status == "compliant"
    assert found[OTHER].details["allowed_locations"]["resources"] == EU


def test_global_in_the_only_allowed_list_is_a_violation_under_eu(fake_arm: FakeArm) -> None:
    _estate(fake_arm)
    _both(fake_arm, f"/subscriptions/{SUB}", "eu-global", [*EU, "global"])
    f = _run(fake_arm)[SUB]
    assert f.status == "violation"
    assert [loc.code for loc in f.locations] == ["global"]


def test_unreadable_hierarchy_with_a_management_group_in_not_scopes_is_unknown(fake_arm: FakeArm) -> None:
    _estate(fake_arm)
    _both(fake_arm, MG_ROOT, "eu-only", EU, not_scopes=["/providers/Microsoft.Management/managementGroups/mg-other"])
    fake_arm.fail["getentities"] = (403, "AuthorizationFailed")
    f = _run(fake_arm)[SUB]
    assert f.status == "unknown"
    assert "hierarchy" in (f.error or "")


def test_guardrail_findings_in_every_report_format(fake_arm: FakeArm) -> None:
    import datetime as dt
    import io
    import json

    import jsonschema

    from residency._report import Report, write_report
    from residency._scan import ScanResult, scope_of

    _estate(fake_arm)
    ids = _both(fake_arm, MG_EU, "eu-only", [*EU, "uksouth"])
    fake_arm.exempt(f"/subscriptions/{SUB}/resourceGroups/rg-app", "rg-waiver", ids[0])
    ctx = fake_arm.scan_context("eu", accounts=[SUB, OTHER])
    findings = list(stream_guardrails(ctx))
    now = dt.datetime.now(dt.timezone.utc)
    result = ScanResult(scope_of(ctx), findings, [], list(ctx.notes), now, now)
    report = Report.from_result(result, ctx.policy)
    for fmt in ("table", "json", "sarif", "junit", "html"):
        out = io.StringIO()
        write_report(report, fmt, out)
        assert "uksouth" in out.getvalue()
    out = io.StringIO()
    write_report(report, "json", out)
    doc = json.loads(out.getvalue())
    schema = json.loads((pathlib.Path(__file__).parent / "data" / "report-json.schema.json").read_text("utf-8"))
    jsonschema.Draft202012Validator(schema).validate(doc)
    assert result.exit_code() == 1


def test_a_resource_group_hole_closed_by_another_enforced_assignment(fake_arm: FakeArm) -> None:
    _estate(fake_arm)
    ids = _both(fake_arm, MG_EU, "eu-only", EU)
    fake_arm.exempt(f"/subscriptions/{SUB}/resourceGroups/rg-app", "rg-waiver", ids[0])
    assert _run(fake_arm)[SUB].status == "violation"
    _both(fake_arm, f"/subscriptions/{SUB}", "sub-eu", EU[:2])  # still binds rg-app, to a subset of EU
    f = _run(fake_arm)[SUB]
    assert f.status == "compliant", f.reason
    assert f.details["exempt"] == []
    assert f.details["allowed_locations"]["resources"] == EU[:2]
    assert f.details["writable"] == EU[:2]  # rg-app is still bound by the subscription's list


def test_literal_list_in_a_not_in_rule_like_the_deprecated_european_built_in(fake_arm: FakeArm) -> None:
    _estate(fake_arm)
    rule = {"if": {"not": {"field": "location", "in": ["northeurope", "westeurope"]}}, "then": {"effect": "Deny"}}
    custom = fake_arm.add_definition(MG_ROOT, "europe-only", {"mode": "All", "parameters": {}, "policyRule": rule})
    fake_arm.assign(MG_EU, "europe-only", custom)
    f = _run(fake_arm)[SUB]
    assert f.status == "compliant", f.reason
    assert f.details["writable"] == ["northeurope", "westeurope"]
