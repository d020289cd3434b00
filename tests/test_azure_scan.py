"""``residency scan azure`` against the loopback ARM fake, with the real SDK clients."""

from __future__ import annotations

import importlib.util
import pathlib
import sys
from typing import Any

import pytest
from residency.providers.azure import ADAPTER
from residency.providers.azure._fake_arm import EU_SUB, US_SUB, FakeArm, seed_estate

from residency._findings import Finding
from residency._scan import ScanContext

_spec = importlib.util.spec_from_file_location("_azure_support", pathlib.Path(__file__).with_name("_azure_support.py"))
assert _spec is not None
assert _spec.loader is not None
support = sys.modules.get("_azure_support") or importlib.util.module_from_spec(_spec)
if "_azure_support" not in sys.modules:
    sys.modules["_azure_support"] = support
    _spec.loader.exec_module(support)
no_azure_env = support.no_azure_env
fake_arm = support.fake_arm

SOURCES = ["resources", "resource-graph"]


def _context(arm: FakeArm, policy: str | Any = "eu", **options: Any) -> ScanContext:
    return arm.scan_context(policy, **options)


def _scan(arm: FakeArm, policy: str | Any = "eu", **options: Any) -> tuple[dict[str, Finding], ScanContext]:
    ctx = _context(arm, policy, **options)
    found = list(ADAPTER.scan(ctx))
    by_id = {f.resource_id: f for f in found}
    assert len(by_id) == len(found), "a resource was reported twice"
    return by_id, ctx


@pytest.mark.parametrize("source", SOURCES)
def test_every_seeded_violation_and_no_false_positive(fake_arm: FakeArm, source: str) -> None:
    expect = seed_estate(fake_arm)
    found, ctx = _scan(fake_arm, source=source)
    assert {k.lower(): f.status for k, f in found.items()} == {k.lower(): v for k, v in expect.items()}
    assert sorted(ctx.accounts_scanned) == sorted([EU_SUB, US_SUB])
    assert fake_arm.writes() == []  # a scan never changes anything


@pytest.mark.parametrize("source", SOURCES)
def test_where_data_lands_beyond_the_primary(fake_arm: FakeArm, source: str) -> None:
    seed_estate(fake_arm)
    found, _ = _scan(fake_arm, source=source)

    def locs(suffix: str) -> dict[str, str]:
        f = next(f for k, f in found.items() if k.lower().endswith(suffix.lower()))
        return {loc.code: role for loc, role in zip(f.locations, f.roles, strict=True)}

    assert locs("storageAccounts/eugrs") == {
        "westeurope": "primary",
        "northeurope": "geo-redundant secondary (Standard_GRS)",
    }
    assert locs("storageAccounts/eugzrs")["northeurope"].startswith("geo-redundant secondary")  # from the catalog pair
    assert set(locs("storageAccounts/ukgrs")) == {"uksouth", "ukwest"}
    assert locs("storageAccounts/eusource")["eastus"].startswith("object replication destination")
    assert set(locs("databaseAccounts/cosmos-us")) == {"westeurope", "eastus"}
    assert locs("servers/sql-fo")["eastus"] == "failover group fg1 partner sql-us"
    assert locs("databases/orders")["eastus"] == "geo-replica on sql-us"
    assert locs("registries/acrus")["eastus"] == "replication eastus"
    f = next(f for k, f in found.items() if k.endswith("cosmos-us"))
    assert f.countries == ("NL", "US")
    assert "outside EU" in f.reason


def test_geo_secondary_outside_a_narrower_geography(fake_arm: FakeArm) -> None:
    seed_estate(fake_arm)
    nl_only = {"name": "nl", "allow": ["NL"]}
    from residency import parse_policy

    found, _ = _scan(fake_arm, parse_policy(nl_only), accounts=[EU_SUB])
    grs = next(f for k, f in found.items() if k.endswith("/eugrs"))
    assert grs.status == "violation"
    assert grs.reason.startswith("geo-redundant secondary")
    assert next(f for k, f in found.items() if k.endswith("/eulrs")).status == "compliant"


def test_resource_graph_is_one_paged_query(fake_arm: FakeArm) -> None:
    seed_estate(fake_arm)
    fake_arm.page_size = 3
    found_rm, _ = _scan(fake_arm, source="resources")
    fake_arm.requests.clear()
    found_rg, _ = _scan(fake_arm, source="resource-graph")
    assert {k.lower() for k in found_rg} == {k.lower() for k in found_rm}
    graph = [r for r in fake_arm.requests if "resourcegraph" in r.path.lower()]
    assert len(graph) == 1  # < 1000 rows: one page
    assert sorted(graph[0].body["subscriptions"]) == sorted([EU_SUB, US_SUB])
    assert not [r for r in fake_arm.requests if r.path.lower().endswith("/resources") and "graph" not in r.path.lower()]


def test_resource_graph_pages_with_skip_token(fake_arm: FakeArm) -> None:
    from residency.providers.azure._fake_arm import seed_bulk

    seed_bulk(fake_arm, "00000000-0000-0000-0000-0000000b0001", 2500, outside_every=0)
    found, _ = _scan(fake_arm, source="resource-graph", data_boundary=False)
    graph = [r for r in fake_arm.requests if "resourcegraph" in r.path.lower()]
    assert len(graph) == 3
    assert graph[1].body["options"]["$skipToken"] == "1000"
    assert len(found) == 2500 + 25


def test_nextlink_paging_and_bounded_concurrency(fake_arm: FakeArm) -> None:
    expect = seed_estate(fake_arm)
    fake_arm.page_size = 2
    found, _ = _scan(fake_arm, concurrency=1)
    assert len(found) == len(expect)
    pages = [r for r in fake_arm.requests if r.path.lower().endswith("/resources")]
    assert len(pages) > 5
    assert any("$skiptoken" in r.query for r in pages)


def test_data_boundary_is_tenant_evidence(fake_arm: FakeArm) -> None:
    seed_estate(fake_arm)
    _, ctx = _scan(fake_arm)
    assert ctx.evidence == [
        {
            "provider": "azure",
            "scope": "tenant",
            "setting": "Microsoft.Resources/dataBoundaries/default",
            "data_boundary": "EU",
            "provisioning_state": "Succeeded",
            "in_eu_data_boundary": True,
        }
    ]
    assert any("tenant data boundary is 'EU'" in n for n in ctx.notes)
    fake_arm.data_boundary = "Global"
    _, ctx = _scan(fake_arm)
    assert any("NOT in the EU Data Boundary" in n for n in ctx.notes)


def test_unreadable_subscription_and_lookup_are_unknown(fake_arm: FakeArm) -> None:
    seed_estate(fake_arm)
    fake_arm.fail["/registries/acreu/replications"] = (403, "AuthorizationFailed")
    missing = "00000000-0000-0000-0000-00000000dead"
    found, ctx = _scan(fake_arm, accounts=[EU_SUB, missing])
    sub = found[f"/subscriptions/{missing}"]
    assert sub.status == "unknown"
    assert "SubscriptionNotFound" in (sub.error or "") or "could not be found" in (sub.error or "")
    assert missing in ctx.accounts_scanned
    acr = next(f for k, f in found.items() if k.endswith("/acreu"))
    assert acr.status == "unknown"
    assert "AuthorizationFailed" in (acr.error or "")
    assert [loc.code for loc in acr.locations] == ["westeurope"]


def test_failed_lookup_never_hides_a_known_violation(fake_arm: FakeArm) -> None:
    """Known stays known: an account in UK South (GRS secondary UK West) whose object-replication
    look-up is denied is still a violation; one in West Europe becomes unknown, never compliant."""
    seed_estate(fake_arm)
    fake_arm.fail["/storageaccounts/ukgrs/objectreplicationpolicies"] = (403, "AuthorizationFailed")
    fake_arm.fail["/storageaccounts/eulrs/objectreplicationpolicies"] = (403, "AuthorizationFailed")
    found, _ = _scan(fake_arm, accounts=[EU_SUB])
    uk = next(f for k, f in found.items() if k.endswith("/ukgrs"))
    assert uk.status == "violation"
    assert [loc.code for loc in uk.locations] == ["uksouth", "ukwest"]
    assert "AuthorizationFailed" in (uk.error or "")
    eu = next(f for k, f in found.items() if k.endswith("/eulrs"))
    assert eu.status == "unknown"
    assert "AuthorizationFailed" in (eu.error or "")


def test_scan_lists_subscriptions_when_none_given(fake_arm: FakeArm) -> None:
    seed_estate(fake_arm)
    _, ctx = _scan(fake_arm)
    assert any(r.path == "/subscriptions" for r in fake_arm.requests)
    assert set(ctx.accounts_scanned) == {EU_SUB, US_SUB}


def test_demo_scans_and_guards_with_nothing_stored() -> None:
    import io

    from residency.providers.azure._scan_demo import demo_context, demo_environment, guard_demo

    out = io.StringIO()
    with demo_environment() as env:
        found = {f.resource_id: f.status for f in ADAPTER.scan(demo_context(env))}
        assert {k: v for k, v in found.items() if k in env.expected} == env.expected
        assert guard_demo(env, out), out.getvalue()
    assert "blocked: PUT Microsoft.Resources/resourceGroups" in out.getvalue()


@pytest.mark.parametrize("source", SOURCES)
def test_concurrency_is_bounded(fake_arm: FakeArm, source: str) -> None:
    from residency.providers.azure._fake_arm import seed_bulk

    seed_bulk(fake_arm, "00000000-0000-0000-0000-0000000b0002", 300, outside_every=0)
    fake_arm.latency = 0.01
    found, _ = _scan(fake_arm, source=source, concurrency=2, data_boundary=False)
    assert len(found) == 303
    # the bound is the property; whether two requests overlap at all depends on the machine's load
    assert 1 <= fake_arm.max_in_flight <= 2


def test_disabled_subscriptions_are_scanned_and_deleted_ones_noted(fake_arm: FakeArm) -> None:
    seed_estate(fake_arm)
    fake_arm.subscriptions[US_SUB.lower()]["state"] = "Disabled"  # still holds data: scanned
    gone = fake_arm.add_subscription("00000000-0000-0000-0000-00000000dea1")
    fake_arm.subscriptions[gone]["state"] = "Deleted"
    found, ctx = _scan(fake_arm)
    assert sorted(ctx.accounts_scanned) == sorted([EU_SUB, US_SUB])
    assert any(f"{US_SUB} is Disabled" in n for n in ctx.notes)
    assert any(f"{gone} is Deleted: not scanned" in n for n in ctx.notes)
    assert any(k.lower().startswith(f"/subscriptions/{US_SUB}/") for k in found)


@pytest.mark.parametrize("source", SOURCES)
def test_access_denied_subscription_is_unknown_never_skipped(fake_arm: FakeArm, source: str) -> None:
    seed_estate(fake_arm)
    # ARM answers 403 for the subscription; Resource Graph silently leaves such subscriptions out
    fake_arm.fail[f"/subscriptions/{US_SUB}"] = (403, "AuthorizationFailed")
    fake_arm.hidden_from_graph.add(US_SUB.lower())
    found, ctx = _scan(fake_arm, source=source, accounts=[EU_SUB, US_SUB])
    sub = found[f"/subscriptions/{US_SUB}"]
    assert sub.status == "unknown"
    assert "AuthorizationFailed" in (sub.error or "")
    assert US_SUB in ctx.accounts_scanned
    assert not [k for k in found if k.lower().startswith(f"/subscriptions/{US_SUB}/")]


def test_resource_graph_failures_make_every_subscription_unknown(fake_arm: FakeArm) -> None:
    seed_estate(fake_arm)
    fake_arm.fail["microsoft.resourcegraph"] = (403, "AuthorizationFailed")
    found, _ = _scan(fake_arm, source="resource-graph")
    assert {k: f.status for k, f in found.items()} == {
        f"/subscriptions/{EU_SUB}": "unknown",
        f"/subscriptions/{US_SUB}": "unknown",
    }


def test_a_truncated_resource_graph_answer_is_not_taken_as_complete(
    fake_arm: FakeArm, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_estate(fake_arm)
    graph = fake_arm._graph

    def truncated(body: Any) -> dict[str, Any]:
        out = graph(body)
        out.pop("$skipToken", None)
        out["resultTruncated"] = "true"
        return out

    monkeypatch.setattr(fake_arm, "_graph", truncated)
    found, _ = _scan(fake_arm, source="resource-graph", accounts=[EU_SUB])
    assert found[f"/subscriptions/{EU_SUB}"].status == "unknown"
    assert "truncated" in (found[f"/subscriptions/{EU_SUB}"].error or "")


def test_storage_listing_denied_falls_back_to_the_catalog_pair(fake_arm: FakeArm) -> None:
    expect = seed_estate(fake_arm)
    fake_arm.fail[f"/subscriptions/{EU_SUB}/providers/microsoft.storage/storageaccounts"] = (403, "AuthorizationFailed")
    found, ctx = _scan(fake_arm, accounts=[EU_SUB])
    eu_expect = {k.lower(): v for k, v in expect.items() if EU_SUB in k}
    assert {k.lower(): f.status for k, f in found.items()} == eu_expect
    ukgrs = next(f for k, f in found.items() if k.endswith("/ukgrs"))
    assert {loc.code for loc in ukgrs.locations} == {"uksouth", "ukwest"}
    assert any("storage accounts could not be listed" in n for n in ctx.notes)


@pytest.mark.parametrize("source", SOURCES)
def test_newer_geo_skus_destination_secondaries_and_partners_without_location(fake_arm: FakeArm, source: str) -> None:
    sub = fake_arm.add_subscription(EU_SUB)
    fake_arm.add_resource_group(sub, "rg", "westeurope")
    v2 = fake_arm.add_storage_account(sub, "rg", "v2grs", "swedencentral", sku="StandardV2_GRS")
    # an EU destination whose geo-redundant secondary is outside a Sweden-only policy
    dest = fake_arm.add_storage_account(
        sub, "rg", "dest", "swedencentral", sku="Standard_RAGRS", secondary="swedensouth"
    )
    src = fake_arm.add_storage_account(sub, "rg", "src", "swedencentral")
    fake_arm.add_child(
        src, "objectReplicationPolicies", "p", properties={"sourceAccount": "src", "destinationAccount": dest}
    )
    server = fake_arm.add_resource(sub, "rg", "Microsoft.Sql/servers", "sql", "swedencentral")
    partner = fake_arm.add_resource(sub, "rg", "Microsoft.Sql/servers", "sql-partner", "eastus", listed=False)
    fake_arm.add_child(server, "failoverGroups", "fg", properties={"partnerServers": [{"id": partner}]})
    from residency import parse_policy

    found, _ = _scan(fake_arm, parse_policy({"name": "se", "allow": ["SE"]}), source=source)
    assert [loc.code for loc in found[v2].locations] == ["swedencentral", "swedensouth"]
    assert found[v2].status == "compliant"
    roles = dict(zip((loc.code for loc in found[src].locations), found[src].roles, strict=True))
    assert roles["swedensouth"].endswith("(its geo-redundant secondary)")
    assert found[server].status == "violation"
    assert "eastus" in [loc.code for loc in found[server].locations]


def test_the_fake_answers_in_the_sdks_own_shapes(fake_arm: FakeArm) -> None:
    """The real SDK clients parse every kind of answer the scan and the guard rely on."""
    from azure.mgmt.resource.databoundaries import DataBoundaryMgmtClient
    from azure.mgmt.resource.resources import ResourceManagementClient
    from azure.mgmt.resource.subscriptions import SubscriptionClient
    from azure.mgmt.resourcegraph import ResourceGraphClient
    from azure.mgmt.resourcegraph.models import QueryRequest
    from azure.mgmt.storage import StorageManagementClient

    seed_estate(fake_arm)
    kw = fake_arm.client_kwargs()
    cred = fake_arm.credential
    subs = SubscriptionClient(cred, **kw)
    assert subs.subscriptions.get(EU_SUB).display_name == "eu-prod"
    assert {s.subscription_id for s in subs.subscriptions.list()} == {EU_SUB, US_SUB}
    rm = ResourceManagementClient(cred, EU_SUB, **kw)  # type: ignore[arg-type]
    assert rm.resource_groups.get("rg-eu").location == "westeurope"
    listed = list(rm.resources.list())
    storage = next(r for r in listed if r.name == "ukgrs")
    assert (storage.sku.name, storage.kind, storage.location) == ("Standard_GRS", "StorageV2", "uksouth")
    cosmos = rm.resources.get_by_id(next(r.id for r in listed if r.name == "cosmos-us"), api_version="2024-05-15")
    assert [loc["locationName"] for loc in cosmos.properties["locations"]] == ["West Europe", "East US"]
    sm = StorageManagementClient(cred, EU_SUB, **kw)  # type: ignore[arg-type]
    acct = sm.storage_accounts.get_properties("rg-us", "ukgrs")
    assert (acct.primary_location, acct.secondary_location, acct.status_of_secondary) == (
        "uksouth",
        "ukwest",
        "available",
    )
    page = ResourceGraphClient(cred, **kw).resources(QueryRequest(subscriptions=[EU_SUB], query="resources"))
    assert page.total_records == page.count == len(page.data)
    assert page.result_truncated == "false"
    boundary = DataBoundaryMgmtClient(cred, **kw).data_boundaries.get_tenant("default")
    assert boundary.properties.data_boundary == "EU"
    assert {r.query.get("api-version") is not None for r in fake_arm.requests} == {True}
