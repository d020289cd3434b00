"""The Azure guard against real peers: Azurite (blob data plane) and the loopback ARM fake.

Every blocked call is followed by a check that nothing reached the peer: the
fake's request log, or Azurite's state read back without the guard.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import importlib.util
import logging
import pathlib
import sys
from typing import Any
from urllib.parse import urlsplit

import pytest
from azure.core.pipeline import AsyncPipeline, Pipeline
from azure.core.pipeline.transport import HttpRequest, RequestsTransport
from azure.core.rest import HttpRequest as RestHttpRequest
from azure.mgmt.resource.resources import ResourceManagementClient
from azure.mgmt.storage import StorageManagementClient
from azure.storage.blob import (
    BlobServiceClient,
    ResourceTypes,
    generate_account_sas,
    generate_blob_sas,
    generate_container_sas,
)
from residency.providers.azure import ArmAccountResolver, configure
from residency.providers.azure._azurite import Azurite, account_key
from residency.providers.azure._fake_arm import FakeArm
from residency.providers.azure._guard import check_request

import residency
from residency import ResidencyViolation

_spec = importlib.util.spec_from_file_location("_azure_support", pathlib.Path(__file__).with_name("_azure_support.py"))
assert _spec is not None
assert _spec.loader is not None
support = sys.modules.get("_azure_support") or importlib.util.module_from_spec(_spec)
if "_azure_support" not in sys.modules:
    sys.modules["_azure_support"] = support
    _spec.loader.exec_module(support)
no_azure_env = support.no_azure_env
fake_arm = support.fake_arm
azurite_server = support.azurite_server
public_clouds = support.public_clouds

SUB = "00000000-0000-0000-0000-0000000000a1"
ACCOUNTS = {
    "euacct": "westeurope",
    "usacct": "eastus",
    "eugrsus": ("westeurope", "eastus"),
    "ukacct": "uksouth",
}


@pytest.fixture
def arm(fake_arm: FakeArm) -> FakeArm:
    fake_arm.add_subscription(SUB)
    fake_arm.add_resource_group(SUB, "rg-eu", "westeurope")
    return fake_arm


def _rm(arm: FakeArm) -> ResourceManagementClient:
    return ResourceManagementClient(arm.credential, SUB, **arm.client_kwargs())  # type: ignore[arg-type]


def _puts(arm: FakeArm) -> list[str]:
    return [f"{r.method} {r.path}" for r in arm.writes()]


# --------------------------------------------------------------------------- management plane


def test_resource_group_outside_is_blocked_before_sending(arm: FakeArm) -> None:
    rm = _rm(arm)  # created before the guard: still covered
    with residency.guard("eu"):
        rm.resource_groups.create_or_update("rg-ok", {"location": "westeurope"})
        with pytest.raises(ResidencyViolation) as info:
            rm.resource_groups.create_or_update("rg-us", {"location": "eastus"})
    v = info.value
    assert (v.provider, v.location, v.countries, v.policy) == ("azure", "eastus", ("US",), "eu")
    assert v.operation == "PUT Microsoft.Resources/resourceGroups"
    assert "outside EU" in str(v)
    assert _puts(arm) == [f"PUT /subscriptions/{SUB}/resourcegroups/rg-ok"]


def test_client_created_after_install_is_covered(arm: FakeArm) -> None:
    with residency.guard("eu"):
        rm = _rm(arm)
        with pytest.raises(ResidencyViolation):
            rm.resource_groups.create_or_update("rg-uk", {"location": "UK South"})
    assert _puts(arm) == []


def test_storage_account_geo_secondary_is_checked(arm: FakeArm) -> None:
    sm = StorageManagementClient(arm.credential, SUB, **arm.client_kwargs())  # type: ignore[arg-type]
    body = {"location": "westeurope", "sku": {"name": "Standard_RAGRS"}, "kind": "StorageV2"}
    nl_only = residency.parse_policy({"name": "nl", "allow": ["NL"]})
    with residency.guard("eu"):
        sm.storage_accounts.begin_create("rg-eu", "eugrs", body).result()  # northeurope: IE, inside EU
    with residency.guard(nl_only), pytest.raises(ResidencyViolation) as info:
        sm.storage_accounts.begin_create("rg-eu", "nlgrs", body)
    assert info.value.location == "northeurope"
    assert "pair of westeurope" in str(info.value)
    with residency.guard("eu"), pytest.raises(ResidencyViolation):
        sm.storage_accounts.begin_create("rg-eu", "ukgrs", {**body, "location": "uksouth"})
    assert [p.rsplit("/", 1)[-1] for p in _puts(arm)] == ["eugrs"]


def test_storage_sku_update_checks_the_existing_accounts_pair(arm: FakeArm) -> None:
    configure(account_locations=ACCOUNTS)
    path = f"/subscriptions/{SUB}/resourceGroups/rg-eu/providers/Microsoft.Storage/storageAccounts/euacct"
    url = f"https://management.azure.com{path}?api-version=2023-05-01"
    nl_only = residency.parse_policy({"name": "nl", "allow": ["NL"]})
    with residency.guard(nl_only):
        check_request(None, RestHttpRequest("PATCH", url, json={"sku": {"name": "Standard_LRS"}}))
        with pytest.raises(ResidencyViolation) as info:
            check_request(None, RestHttpRequest("PATCH", url, json={"sku": {"name": "Standard_GZRS"}}))
    assert info.value.location == "northeurope"


def test_default_resolver_never_falls_back_to_a_real_identity_in_tests() -> None:
    configure()
    with residency.guard("eu"), pytest.raises(ResidencyViolation, match="never use a real Azure identity"):
        check_request(None, HttpRequest("PUT", "https://someacct.blob.core.windows.net/c/b"))


def test_cosmos_locations_and_any_resource_type(arm: FakeArm) -> None:
    rm = _rm(arm)
    rid = f"/subscriptions/{SUB}/resourceGroups/rg-eu/providers/Microsoft.DocumentDB/databaseAccounts/cosmos"
    body: dict[str, Any] = {
        "location": "westeurope",
        "properties": {
            "databaseAccountOfferType": "Standard",
            "locations": [
                {"locationName": "West Europe", "failoverPriority": 0},
                {"locationName": "East US", "failoverPriority": 1},
            ],
        },
    }
    with residency.guard("eu"):
        with pytest.raises(ResidencyViolation) as info:
            rm.resources.begin_create_or_update_by_id(rid, api_version="2024-05-15", parameters=body)
        assert info.value.location == "eastus"
        body["properties"]["locations"].pop()
        rm.resources.begin_create_or_update_by_id(rid, api_version="2024-05-15", parameters=body).result()
    assert _puts(arm) == [f"PUT {rid}"]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"location": "global", "properties": {}}, "global"),
        ({"location": "westeurope", "extendedLocation": {"type": "EdgeZone", "name": "losangeles"}}, "losangeles"),
        ({"location": "mars-north", "properties": {}}, "not in the location catalog"),
        ({"location": "westeurope", "properties": {"failoverRegion": "eastus"}}, "eastus"),
    ],
)
def test_global_extended_and_unknown_locations_fail_closed(arm: FakeArm, body: dict[str, Any], reason: str) -> None:
    rid = f"/subscriptions/{SUB}/resourceGroups/rg-eu/providers/Microsoft.Network/frontDoors/fd"
    with residency.guard("eu"), pytest.raises(ResidencyViolation) as info:
        _rm(arm).resources.begin_create_or_update_by_id(rid, api_version="2021-06-01", parameters=body)
    assert reason in str(info.value)
    assert _puts(arm) == []


def test_policy_can_allow_global_by_name(arm: FakeArm) -> None:
    policy = residency.parse_policy({"allow": "EU", "locations": {"allow": ["azure:global"]}})
    rid = f"/subscriptions/{SUB}/resourceGroups/rg-eu/providers/Microsoft.Insights/metricAlerts/a"
    with residency.guard(policy):
        _rm(arm).resources.begin_create_or_update_by_id(
            rid, api_version="2018-03-01", parameters={"location": "global"}
        ).result()
    assert _puts(arm) == [f"PUT {rid}"]


def _deploy(arm: FakeArm, name: str, properties: dict[str, Any], rg: str = "rg-eu") -> None:
    """A deployment through the real SDK (azure-mgmt-resource 26 reaches it as a generic resource)."""
    rid = f"/subscriptions/{SUB}/resourceGroups/{rg}/providers/Microsoft.Resources/deployments/{name}"
    _rm(arm).resources.begin_create_or_update_by_id(
        rid, api_version="2024-03-01", parameters={"properties": properties}
    ).result()


def _template(location: str, **extra: Any) -> dict[str, Any]:
    resource = {
        "type": "Microsoft.Storage/storageAccounts",
        "apiVersion": "2023-05-01",
        "name": "st",
        "location": location,
        "sku": {"name": "Standard_LRS"},
        "kind": "StorageV2",
    }
    return {
        "$schema": "https://schema.management.azure.com/",
        "contentVersion": "1.0.0.0",
        "resources": [resource],
        **extra,
    }


def test_deployment_templates_evaluate_their_location_expressions(arm: FakeArm) -> None:
    arm.add_resource_group(SUB, "rg-us", "eastus")
    param = {"parameters": {"loc": {"type": "string", "defaultValue": "[resourceGroup().location]"}}}
    with residency.guard("eu"):
        _deploy(arm, "ok-rg", {"mode": "Incremental", "template": _template("[resourceGroup().location]")})
        _deploy(arm, "ok-default", {"mode": "Incremental", "template": _template("[parameters('loc')]", **param)})
        # outputs and unused definitions are not where anything is deployed
        outputs = {"outputs": {"location": {"type": "string", "value": "[concat('east', 'us')]"}}}
        _deploy(arm, "ok-outputs", {"mode": "Incremental", "template": _template("westeurope", **outputs)})
        blocked = {
            "rg-us": ({"template": _template("[resourceGroup().location]")}, "rg-us"),
            "param": (
                {"template": _template("[parameters('loc')]", **param), "parameters": {"loc": {"value": "eastus"}}},
                "eastus",
            ),
            "default-in-us-rg": ({"template": _template("[parameters('loc')]", **param)}, "rg-us"),
            "variable": (
                {
                    "template": _template("[variables('v')]", variables={"v": "[parameters('loc')]"}),
                    "parameters": {"loc": {"value": "East US"}},
                },
                "eastus",
            ),
            "literal": ({"template": _template("['eastus']")}, "eastus"),
            "concat": ({"template": _template("[concat('east', 'us')]")}, "cannot be evaluated"),
            "keyvault": (
                {
                    "template": _template("[parameters('loc')]", **param),
                    "parameters": {"loc": {"reference": {"keyVault": {"id": "x"}, "secretName": "s"}}},
                },
                "Key Vault reference",
            ),
            "linked": ({"templateLink": {"uri": "https://example.test/azuredeploy.json"}}, "linked template"),
        }
        for name, (props, why) in blocked.items():
            rg = "rg-us" if why == "rg-us" else "rg-eu"
            with pytest.raises(ResidencyViolation) as info:
                _deploy(arm, name, {"mode": "Incremental", **props}, rg=rg)
            assert why.replace("rg-us", "eastus") in str(info.value), name
    assert sorted(p.rsplit("/", 1)[-1] for p in _puts(arm)) == ["ok-default", "ok-outputs", "ok-rg"]


def test_nested_deployments_are_evaluated_in_their_own_scope(arm: FakeArm) -> None:
    def nested(scope: str, value: str) -> dict[str, Any]:
        inner = _template("[parameters('where')]", parameters={"where": {"type": "string"}})
        return {
            "type": "Microsoft.Resources/deployments",
            "apiVersion": "2022-09-01",
            "name": "module",
            "properties": {
                "mode": "Incremental",
                "expressionEvaluationOptions": {"scope": scope},
                "parameters": {"where": {"value": value}},
                "template": inner,
            },
        }

    outer = {"parameters": {"region": {"type": "string", "defaultValue": "eastus"}}}
    with residency.guard("eu"):
        ok = {**_template("westeurope", **outer), "resources": [nested("inner", "northeurope")]}
        _deploy(arm, "module-ok", {"mode": "Incremental", "template": ok})
        bad = {**_template("westeurope", **outer), "resources": [nested("inner", "[parameters('region')]")]}
        with pytest.raises(ResidencyViolation) as info:
            _deploy(arm, "module-us", {"mode": "Incremental", "template": bad})
        assert info.value.location == "eastus"
        linked = {
            **_template("westeurope"),
            "resources": [
                {
                    "type": "Microsoft.Resources/deployments",
                    "name": "m",
                    "properties": {
                        "templateLink": {
                            "id": "/subscriptions/x/resourceGroups/y/providers/Microsoft.Resources/templateSpecs/t"
                        }
                    },
                }
            ],
        }
        with pytest.raises(ResidencyViolation, match="linked template"):
            _deploy(arm, "module-linked", {"mode": "Incremental", "template": linked})
    assert [p.rsplit("/", 1)[-1] for p in _puts(arm)] == ["module-ok"]


def test_object_replication_to_an_account_elsewhere_is_blocked(arm: FakeArm) -> None:
    configure(account_locations=ACCOUNTS)
    src = f"/subscriptions/{SUB}/resourceGroups/rg-eu/providers/Microsoft.Storage/storageAccounts/euacct"
    dest = f"/subscriptions/{SUB}/resourceGroups/rg-us/providers/Microsoft.Storage/storageAccounts/usacct"
    body = {"properties": {"sourceAccount": src, "destinationAccount": dest, "rules": []}}
    with residency.guard("eu"), pytest.raises(ResidencyViolation) as info:
        _rm(arm).resources.begin_create_or_update_by_id(
            f"{src}/objectReplicationPolicies/default", api_version="2023-05-01", parameters=body
        )
    assert info.value.location == "eastus"
    assert _puts(arm) == []


def test_reads_and_deletes_of_management_plane_pass(arm: FakeArm) -> None:
    arm.add_resource_group(SUB, "rg-us", "eastus")
    with residency.guard("eu"):
        rm = _rm(arm)
        assert {g.name for g in rm.resource_groups.list()} == {"rg-eu", "rg-us"}
        rm.resource_groups.get("rg-us")


# --------------------------------------------------------------------------- request classification


@pytest.mark.parametrize(
    ("url", "blocked"),
    [
        ("https://usacct.blob.core.windows.net/c/b", True),
        ("https://usacct-secondary.blob.core.windows.net/c/b", True),
        ("https://usacct.dfs.core.windows.net/fs/f?action=append", True),
        ("https://usacct.queue.core.windows.net/q/messages", True),
        ("https://usacct.table.core.windows.net/t", True),
        ("https://usacct.file.core.windows.net/s/f", True),
        ("https://usacct.privatelink.blob.core.windows.net/c/b", True),
        ("https://usacct.z12.blob.storage.azure.net/c/b", True),
        ("https://eugrsus.blob.core.windows.net/c/b", True),
        ("https://euacct.blob.core.windows.net/c/b", False),
        ("https://login.microsoftonline.com/tenant/oauth2/v2.0/token", False),
        ("http://169.254.169.254/metadata/identity/oauth2/token", False),
        ("https://myvault.vault.azure.net/secrets/s", False),
    ],
)
def test_data_plane_hosts(url: str, blocked: bool) -> None:
    configure(account_locations=ACCOUNTS)
    with residency.guard("eu"):
        req = HttpRequest("PUT", url)
        if blocked:
            with pytest.raises(ResidencyViolation) as info:
                check_request(None, req)
            assert "sig=" not in str(info.value)
        else:
            check_request(None, req)
        check_request(None, HttpRequest("GET", url))  # reads always pass


def test_sas_token_never_appears_in_a_violation() -> None:
    configure(account_locations=ACCOUNTS)
    with residency.guard("eu"), pytest.raises(ResidencyViolation) as info:
        check_request(None, HttpRequest("PUT", "https://usacct.blob.core.windows.net/c/b?sv=1&sig=SECRET"))
    assert "SECRET" not in str(info.value)
    assert info.value.target == "https://usacct.blob.core.windows.net/c/b"


def test_unknown_account_fails_closed() -> None:
    configure(account_locations=ACCOUNTS, resolver=residency.providers.azure.StaticAccountResolver({}))
    with residency.guard("eu"), pytest.raises(ResidencyViolation) as info:
        check_request(None, HttpRequest("PUT", "https://nobody.blob.core.windows.net/c/b"))
    assert info.value.location is None
    assert "not found by the account resolver" in str(info.value)


def test_resolver_errors_fail_closed_and_are_not_cached() -> None:
    calls = []

    class Broken:
        def resolve(self, account: str, credential: object | None = None) -> None:
            calls.append(account)
            raise TimeoutError("management API timed out")

    configure(resolver=Broken())
    with residency.guard("eu"):
        for _ in range(2):
            with pytest.raises(ResidencyViolation, match="timed out"):
                check_request(None, HttpRequest("PUT", "https://acct.blob.core.windows.net/c/b"))
    assert calls == ["acct", "acct"]


# --------------------------------------------------------------------------- Azurite


@pytest.fixture
def azurite(azurite_server: Azurite) -> Azurite:
    configure(account_locations=ACCOUNTS)
    return azurite_server


def _blob(azurite: Azurite, account: str) -> BlobServiceClient:
    return BlobServiceClient(azurite.blob_url(account), credential=azurite.credential(account))


def _names(svc: BlobServiceClient, container: str) -> list[str]:
    c = svc.get_container_client(container)
    return [b.name for b in c.list_blobs()] if c.exists() else []


def test_azurite_writes_in_and_out_of_geography(azurite: Azurite) -> None:
    eu, us, grs = _blob(azurite, "euacct"), _blob(azurite, "usacct"), _blob(azurite, "eugrsus")
    us.create_container("seeded")  # before the guard
    us.get_blob_client("seeded", "old.txt").upload_blob(b"old")
    with residency.guard("eu"):
        eu.create_container("data")
        eu.get_blob_client("data", "a.txt").upload_blob(b"hello")
        with pytest.raises(ResidencyViolation) as info:
            us.create_container("data")
        assert info.value.location == "eastus"
        with pytest.raises(ResidencyViolation):
            us.get_blob_client("seeded", "new.txt").upload_blob(b"x" * 10)
        with pytest.raises(ResidencyViolation) as info:
            us.get_blob_client("seeded", "big.bin").upload_blob(b"x" * (5 * 1024 * 1024), max_single_put_size=1024)
        with pytest.raises(ResidencyViolation) as info:
            grs.create_container("data")
        assert info.value.location == "eastus"
        assert "geo-redundant secondary" in str(info.value)
        # reads pass
        assert us.get_blob_client("seeded", "old.txt").download_blob().readall() == b"old"
    assert _names(eu, "data") == ["a.txt"]
    assert _names(us, "data") == []
    assert _names(us, "seeded") == ["old.txt"]
    assert not grs.get_container_client("data").exists()


def test_azurite_audit_mode_lets_writes_through_and_logs(azurite: Azurite, caplog: pytest.LogCaptureFixture) -> None:
    seen: list[ResidencyViolation] = []
    us = _blob(azurite, "usacct")
    with caplog.at_level(logging.WARNING, "residency"), residency.guard("eu", mode="audit", on_violation=seen.append):
        us.get_blob_client("audited", "a.txt").upload_blob(b"x") if us.get_container_client(
            "audited"
        ).exists() else us.create_container("audited")
    assert [v.location for v in seen] == ["eastus"]
    assert "residency audit" in caplog.text
    assert us.get_container_client("audited").exists()


def test_azurite_unmapped_account_fails_closed(azurite: Azurite) -> None:
    configure(account_locations=ACCOUNTS, resolver=residency.providers.azure.StaticAccountResolver({}))
    svc = _blob(azurite, "unmapped")
    with residency.guard("eu"), pytest.raises(ResidencyViolation, match="cannot establish"):
        svc.create_container("closed")
    assert not svc.get_container_client("closed").exists()


def test_azurite_async_clients_are_guarded(azurite: Azurite) -> None:
    from azure.storage.blob.aio import BlobServiceClient as AsyncBlobServiceClient

    async def go() -> None:
        async with AsyncBlobServiceClient(azurite.blob_url("usacct"), credential=azurite.credential("usacct")) as us:
            with residency.guard("eu"), pytest.raises(ResidencyViolation):
                await us.create_container("asyncdata")
            assert not await us.get_container_client("asyncdata").exists()
        async with AsyncBlobServiceClient(azurite.blob_url("euacct"), credential=azurite.credential("euacct")) as eu:
            with residency.guard("eu"):
                await eu.create_container("asyncdata")

    asyncio.run(go())
    assert _blob(azurite, "euacct").get_container_client("asyncdata").exists()


def test_default_resolver_asks_the_management_api_once(azurite: Azurite, fake_arm: FakeArm) -> None:
    fake_arm.add_subscription(SUB)
    fake_arm.add_resource_group(SUB, "rg", "westeurope")
    fake_arm.add_storage_account(SUB, "rg", "usacct", "eastus")
    fake_arm.add_storage_account(SUB, "rg", "euacct", "westeurope", sku="Standard_GRS", secondary="northeurope")
    configure(resolver=ArmAccountResolver(fake_arm.credential, **fake_arm.client_kwargs()))
    us, eu = _blob(azurite, "usacct"), _blob(azurite, "euacct")
    with residency.guard("eu"):
        for name in ("armcheck1", "armcheck2"):
            with pytest.raises(ResidencyViolation):
                us.create_container(name)
            eu.create_container(name)
    storage_lists = [r for r in fake_arm.requests if r.path.endswith("/storageAccounts")]
    assert len(storage_lists) == 1  # one listing answered all four writes (cached)
    assert not us.get_container_client("armcheck1").exists()
    assert fake_arm.writes() == []


# --------------------------------------------------------------------------- SAS


def test_sas_with_write_permissions_is_a_write_capability() -> None:
    configure(account_locations=ACCOUNTS)
    expiry = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)
    key = account_key("usacct")
    with residency.guard("eu"):
        assert generate_blob_sas("usacct", "c", "b", account_key=key, permission="r", expiry=expiry)
        assert generate_blob_sas("euacct", "c", "b", account_key=account_key("euacct"), permission="rw", expiry=expiry)
        with pytest.raises(ResidencyViolation) as info:
            generate_blob_sas("usacct", "c", "b", account_key=key, permission="rw", expiry=expiry)
        assert "usacct/c/b" in info.value.target
        with pytest.raises(ResidencyViolation):
            generate_container_sas("usacct", "c", account_key=key, permission="racwdl", expiry=expiry)
        with pytest.raises(ResidencyViolation):
            generate_container_sas("usacct", "c", account_key=key, policy_id="stored")  # permissions unknown
        with pytest.raises(ResidencyViolation):
            generate_account_sas("usacct", key, ResourceTypes(object=True), "w", expiry)
        generate_account_sas("usacct", key, ResourceTypes(object=True), "rl", expiry)


# --------------------------------------------------------------------------- lifecycle


def test_install_and_uninstall_restore_everything() -> None:
    from azure.storage.blob._shared_access_signature import BlobSharedAccessSignature

    run, arun, gen = Pipeline.run, AsyncPipeline.run, BlobSharedAccessSignature.generate_blob
    g1, g2 = residency.guard("eu", providers=["azure"]), residency.guard("eea", providers=["azure"])
    g1.install()
    g1.install()
    g2.install()
    assert Pipeline.run is not run
    assert AsyncPipeline.run is not arun
    assert BlobSharedAccessSignature.generate_blob is not gen
    g1.uninstall()
    assert Pipeline.run is not run
    g2.uninstall()
    g2.uninstall()
    assert (Pipeline.run, AsyncPipeline.run, BlobSharedAccessSignature.generate_blob) == (run, arun, gen)


def test_guard_reports_azure_among_its_providers() -> None:
    with residency.guard("eu", providers=["azure"]) as g:
        assert g.providers == ("azure",)
    assert residency.load_provider("azure").sdk_locations() == []


# --------------------------------------------------------------------------- recorded transport (no network at all)


class RecordingTransport:
    """An azure-core transport that answers 201 to everything and remembers what it was sent."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def __enter__(self) -> RecordingTransport:
        return self

    def __exit__(self, *args: object) -> None:
        pass

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass

    def send(self, request: Any, **kwargs: Any) -> Any:
        from azure.core.pipeline.transport import HttpResponse

        self.sent.append(f"{request.method} {request.url.split('?')[0]}")

        class _Response(HttpResponse):
            def __init__(self) -> None:
                super().__init__(request, None)
                self.status_code = 201
                self.headers = {"x-ms-request-id": "1", "ETag": '"1"', "Last-Modified": "Sun, 22 Nov 2026 08:00:00 GMT"}
                self.reason = "Created"

            def body(self) -> bytes:
                return b""

        return _Response()


def _us_and_eu_accounts_without_a_resolver_credential(fake_arm: FakeArm) -> None:
    """usacct (East US) and euacct (West Europe); the resolver has no credential, so only the caller's can work."""
    fake_arm.add_subscription(SUB)
    fake_arm.add_resource_group(SUB, "rg", "westeurope")
    fake_arm.add_storage_account(SUB, "rg", "usacct", "eastus")
    fake_arm.add_storage_account(SUB, "rg", "euacct", "westeurope")
    configure(resolver=ArmAccountResolver(**fake_arm.client_kwargs()))


def test_callers_own_token_credential_is_used_for_the_lookup(fake_arm: FakeArm) -> None:
    from residency.providers.azure._fake_arm import FakeCredential

    _us_and_eu_accounts_without_a_resolver_credential(fake_arm)
    caller = FakeCredential("caller-token")
    transport = RecordingTransport()
    with residency.guard("eu"):
        us = BlobServiceClient("https://usacct.blob.core.windows.net", credential=caller, transport=transport)
        with pytest.raises(ResidencyViolation):
            us.get_blob_client("c", "b.txt").upload_blob(b"x")
        eu = BlobServiceClient("https://euacct.blob.core.windows.net", credential=caller, transport=transport)
        eu.get_blob_client("c", "b.txt").upload_blob(b"x")
    assert transport.sent == ["PUT https://euacct.blob.core.windows.net/c/b.txt"]
    assert caller.calls > 0
    assert fake_arm.credential.calls == 0


def test_storage_client_on_an_unrecognised_host_fails_closed() -> None:
    configure(account_locations=ACCOUNTS)
    transport = RecordingTransport()
    svc = BlobServiceClient(
        "https://files.example.test",
        credential={"account_name": "euacct", "account_key": account_key("euacct")},
        transport=transport,
    )
    with residency.guard("eu"), pytest.raises(ResidencyViolation, match=r"files\.example\.test"):
        svc.get_blob_client("c", "b.txt").upload_blob(b"x")
    assert transport.sent == []


def test_emulator_accounts_never_go_to_the_management_api(azurite: Azurite, monkeypatch: pytest.MonkeyPatch) -> None:
    configure()  # default resolver: the management API, which cannot know emulator accounts
    svc = _blob(azurite, "ukacct")
    with residency.guard("eu"), pytest.raises(ResidencyViolation, match="RESIDENCY_AZURE_ACCOUNT_LOCATIONS"):
        svc.create_container("fromenv")
    monkeypatch.setenv("RESIDENCY_AZURE_ACCOUNT_LOCATIONS", "ukacct=uksouth/ukwest, euacct=westeurope")
    with residency.guard("eu"), pytest.raises(ResidencyViolation) as info:
        svc.create_container("fromenv")
    assert info.value.location == "uksouth"
    with residency.guard("eu"):
        _blob(azurite, "euacct").create_container("fromenv")
    assert not svc.get_container_client("fromenv").exists()


def test_account_locations_from_the_environment_are_validated() -> None:
    from residency.providers.azure._guard import parse_account_locations

    assert parse_account_locations("a=westeurope,b=eastus/westus,") == {"a": "westeurope", "b": ("eastus", "westus")}
    with pytest.raises(ValueError, match="account=location"):
        parse_account_locations("a")


def test_sql_failover_group_partner_is_looked_up_and_checked(arm: FakeArm) -> None:
    rm = _rm(arm)
    eu_server = arm.add_resource(SUB, "rg-eu", "Microsoft.Sql/servers", "sql-eu", "westeurope")
    ie_server = arm.add_resource(SUB, "rg-eu", "Microsoft.Sql/servers", "sql-ie", "northeurope")
    us_server = arm.add_resource(SUB, "rg-eu", "Microsoft.Sql/servers", "sql-us", "eastus")

    def fg(partner: str) -> dict[str, Any]:
        return {"properties": {"partnerServers": [{"id": partner}], "readWriteEndpoint": {"failoverPolicy": "Manual"}}}

    with residency.guard("eu"):
        rm.resources.begin_create_or_update_by_id(
            f"{eu_server}/failoverGroups/fg-ie", api_version="2021-11-01", parameters=fg(ie_server)
        ).result()
        with pytest.raises(ResidencyViolation) as info:
            rm.resources.begin_create_or_update_by_id(
                f"{eu_server}/failoverGroups/fg-us", api_version="2021-11-01", parameters=fg(us_server)
            )
        assert info.value.location == "eastus"
        with pytest.raises(ResidencyViolation, match="could not be read"):
            rm.resources.begin_create_or_update_by_id(
                f"{eu_server}/failoverGroups/fg-gone", api_version="2021-11-01", parameters=fg(us_server + "-gone")
            )
    assert [p.rsplit("/", 1)[-1] for p in _puts(arm)] == ["fg-ie"]


def test_azurite_is_always_started_without_telemetry(azurite_server: Azurite) -> None:
    cmd = Azurite(["x"], executable="azurite-blob").command
    assert "--disableTelemetry" in cmd
    assert cmd[cmd.index("--blobHost") + 1] == "127.0.0.1"
    assert "--disableTelemetry" in azurite_server.command


# --------------------------------------------------------------------------- management plane: bypass attempts

NL_ONLY = {"name": "nl", "allow": ["NL"]}  # westeurope only: its pair, northeurope (IE), is outside


def _rid(rtype: str, name: str, rg: str = "rg-eu") -> str:
    ns, _, t = rtype.partition("/")
    return f"/subscriptions/{SUB}/resourceGroups/{rg}/providers/{ns}/{t}/{name}"


def test_generic_create_with_an_empty_parent_path_still_checks_the_geo_pair(arm: FakeArm) -> None:
    # resources.begin_create_or_update(parent_resource_path="") sends .../Microsoft.Storage//storageAccounts/x
    body = {"location": "westeurope", "sku": {"name": "Standard_GRS"}, "kind": "StorageV2"}
    with residency.guard(residency.parse_policy(NL_ONLY)):
        with pytest.raises(ResidencyViolation) as info:
            _rm(arm).resources.begin_create_or_update(
                "rg-eu", "Microsoft.Storage", "", "storageAccounts", "nlgrs", body, api_version="2023-05-01"
            )
        assert info.value.location == "northeurope"
        _rm(arm).resources.begin_create_or_update(
            "rg-eu",
            "Microsoft.Storage",
            "",
            "storageAccounts",
            "nllrs",
            {**body, "sku": {"name": "Standard_LRS"}},
            api_version="2023-05-01",
        ).result()
    assert [p.rsplit("/", 1)[-1] for p in _puts(arm)] == ["nllrs"]


@pytest.mark.parametrize(
    "body",
    [
        {"Location": "westeurope", "Sku": {"Name": "Standard_GRS"}, "kind": "StorageV2"},  # ARM reads keys in any case
        {"location": "westeurope", "sku": {"name": "StandardV2_GZRS"}, "kind": "StorageV2"},  # SKUs newer than a list
        {"location": "West Europe", "sku": {"name": "Standard_RAGZRS"}, "kind": "StorageV2"},
    ],
)
def test_geo_redundant_sku_spellings(arm: FakeArm, body: dict[str, Any]) -> None:
    with residency.guard(residency.parse_policy(NL_ONLY)), pytest.raises(ResidencyViolation) as info:
        _rm(arm).resources.begin_create_or_update_by_id(
            _rid("Microsoft.Storage/storageAccounts", "spelled"), api_version="2023-05-01", parameters=body
        )
    assert info.value.location == "northeurope"
    assert _puts(arm) == []


def test_storage_sku_update_through_the_sdk_looks_the_account_up_with_the_callers_credential(arm: FakeArm) -> None:
    from azure.mgmt.storage.models import Sku, StorageAccountUpdateParameters

    arm.add_storage_account(SUB, "rg-eu", "nlacct", "westeurope")
    arm.add_storage_account(SUB, "rg-eu", "placct", "polandcentral")  # no region pair
    configure(resolver=ArmAccountResolver(**arm.client_kwargs()))  # no credential of its own: the caller's
    sm = StorageManagementClient(arm.credential, SUB, **arm.client_kwargs())  # type: ignore[arg-type]
    with residency.guard(residency.parse_policy(NL_ONLY)):
        sm.storage_accounts.update("rg-eu", "nlacct", StorageAccountUpdateParameters(sku=Sku(name="Standard_ZRS")))
        with pytest.raises(ResidencyViolation) as info:
            sm.storage_accounts.update("rg-eu", "nlacct", StorageAccountUpdateParameters(sku=Sku(name="Standard_GRS")))
        assert info.value.location == "northeurope"
    with residency.guard("eu"), pytest.raises(ResidencyViolation, match="pair of polandcentral, which is not known"):
        sm.storage_accounts.update("rg-eu", "placct", StorageAccountUpdateParameters(sku=Sku(name="Standard_RAGRS")))
    assert [f"{r.method} {r.path.rsplit('/', 1)[-1]}" for r in arm.writes()] == ["PATCH nlacct"]
    assert arm.resources[_rid("Microsoft.Storage/storageAccounts", "nlacct").lower()]["sku"]["name"] == "Standard_ZRS"


def test_stream_and_iterable_bodies_are_read_checked_and_still_sent(arm: FakeArm) -> None:
    import io

    rm = _rm(arm)
    with residency.guard("eu"):
        with pytest.raises(ResidencyViolation):
            rm.resource_groups.create_or_update("rg-stream-us", io.BytesIO(b'{"location": "eastus"}'))
        rm.resource_groups.create_or_update("rg-stream-eu", io.BytesIO(b'{"location": "westeurope"}'))
        url = f"{arm.url}/subscriptions/{SUB}/resourcegroups/rg-iter?api-version=2021-04-01"
        gen = (c for c in (b'{"locat', b'ion": "eastus"}'))
        with pytest.raises(ResidencyViolation):
            rm.send_request(RestHttpRequest("PUT", url, content=gen, headers={"Content-Type": "application/json"}))
    assert _puts(arm) == [f"PUT /subscriptions/{SUB}/resourcegroups/rg-stream-eu"]
    assert arm.resource_groups[f"/subscriptions/{SUB}/resourcegroups/rg-stream-eu"]["location"] == "westeurope"


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b'{"location": "westeurope", "location": "eastus"}', "repeats the key 'location'"),
        (b'\xef\xbb\xbf{"location": "eastus"}', "eastus"),
        (b"location=eastus", "not JSON"),
    ],
)
def test_bodies_that_cannot_be_read_unambiguously_fail_closed(arm: FakeArm, content: bytes, why: str) -> None:
    url = f"{arm.url}/subscriptions/{SUB}/resourcegroups/rg-odd?api-version=2021-04-01"
    with residency.guard("eu"), pytest.raises(ResidencyViolation, match=why):
        _rm(arm).send_request(
            RestHttpRequest("PUT", url, content=content, headers={"Content-Type": "application/json"})
        )
    assert _puts(arm) == []


@pytest.mark.parametrize(
    "host",
    ["management.azure.com.", "MANAGEMENT.AZURE.COM", "westeurope.management.azure.com", "management.core.windows.net"],
)
def test_every_spelling_of_the_management_host(host: str) -> None:
    url = f"https://{host}/subscriptions/{SUB}/resourcegroups/x/?api-version=2021-04-01"
    with residency.guard("eu"), pytest.raises(ResidencyViolation):
        check_request(None, RestHttpRequest("PUT", url, json={"location": "eastus"}))


def test_a_management_client_on_any_host_is_management(monkeypatch: pytest.MonkeyPatch) -> None:
    from residency.providers.azure._fake_arm import FakeCredential

    transport = RecordingTransport()
    rm = ResourceManagementClient(
        FakeCredential(),
        SUB,
        base_url="https://arm.example.test",
        transport=transport,  # type: ignore[arg-type]
    )
    with residency.guard("eu"), pytest.raises(ResidencyViolation):
        rm.resource_groups.create_or_update("rg-us", {"location": "eastus"})
    assert transport.sent == []


def test_arm_batch_requests_are_checked_one_by_one(arm: FakeArm) -> None:
    configure(account_locations=ACCOUNTS)
    rm = _rm(arm)

    def batch(*requests: dict[str, Any]) -> Any:
        body = {"requests": [{"name": str(i), **r} for i, r in enumerate(requests)]}
        return rm.send_request(RestHttpRequest("POST", f"{arm.url}/batch?api-version=2020-06-01", json=body)).json()

    rg = f"/subscriptions/{SUB}/resourcegroups"
    with residency.guard("eu"):
        got = batch(
            {
                "httpMethod": "PUT",
                "url": f"{rg}/rg-batch-eu?api-version=2021-04-01",
                "content": {"location": "westeurope"},
            }
        )
        assert got["responses"][0]["httpStatusCode"] == 201
        with pytest.raises(ResidencyViolation) as info:
            batch(
                {"httpMethod": "GET", "url": f"{rg}/rg-eu?api-version=2021-04-01"},
                {
                    "httpMethod": "PUT",
                    "url": f"{rg}/rg-batch-us?api-version=2021-04-01",
                    "content": {"location": "eastus"},
                },
            )
        assert info.value.operation == "batch: PUT Microsoft.Resources/resourceGroups"
        container = f"{rg}/rg-eu/providers/Microsoft.Storage/storageAccounts/usacct/blobServices/default/containers/c"
        with pytest.raises(ResidencyViolation, match="usacct"):  # a child of an account elsewhere, inside a batch
            batch(
                {
                    "httpMethod": "PUT",
                    "url": f"https://management.azure.com{container}?api-version=2023-05-01",
                    "content": {},
                }
            )
    assert [r.path.rsplit("/", 1)[-1] for r in arm.writes()] == ["batch", "rg-batch-eu"]


def test_region_lists_and_target_regions(arm: FakeArm) -> None:
    gallery = arm.add_resource(SUB, "rg-eu", "Microsoft.Compute/galleries", "g", "westeurope")
    version = f"{gallery}/images/img/versions/1.0.0"
    body: dict[str, Any] = {
        "location": "westeurope",
        "properties": {"publishingProfile": {"targetRegions": [{"name": "West Europe"}, {"name": "East US"}]}},
    }
    hsm = {"location": "westeurope", "properties": {"regions": [{"name": "northeurope"}, {"name": "westus3"}]}}
    strings = {"location": "westeurope", "properties": {"locations": ["francecentral", "centralus"]}}
    rm = _rm(arm)
    with residency.guard("eu"):
        for rid, parameters, where in (
            (version, body, "eastus"),
            (_rid("Microsoft.KeyVault/managedHSMs", "hsm"), hsm, "westus3"),
            (_rid("Microsoft.Insights/components", "c"), strings, "centralus"),
        ):
            with pytest.raises(ResidencyViolation) as info:
                rm.resources.begin_create_or_update_by_id(rid, api_version="2023-07-03", parameters=parameters)
            assert info.value.location == where
        body["properties"]["publishingProfile"]["targetRegions"].pop()
        rm.resources.begin_create_or_update_by_id(version, api_version="2023-07-03", parameters=body).result()
    assert _puts(arm) == [f"PUT {version}"]


def test_child_resources_land_where_their_parent_lives(arm: FakeArm) -> None:
    configure(account_locations=ACCOUNTS)
    kv_us = arm.add_resource(SUB, "rg-eu", "Microsoft.KeyVault/vaults", "kv-us", "eastus")
    kv_eu = arm.add_resource(SUB, "rg-eu", "Microsoft.KeyVault/vaults", "kv-eu", "westeurope")
    rm = _rm(arm)
    sm = StorageManagementClient(arm.credential, SUB, **arm.client_kwargs())  # type: ignore[arg-type]
    secret = {"properties": {"value": "customer data"}}
    with residency.guard("eu"):
        with pytest.raises(ResidencyViolation) as info:
            rm.resources.begin_create_or_update_by_id(f"{kv_us}/secrets/s", api_version="2023-07-01", parameters=secret)
        assert info.value.location == "eastus"
        assert "parent resource" in str(info.value)
        rm.resources.begin_create_or_update_by_id(f"{kv_eu}/secrets/s", api_version="2023-07-01", parameters=secret)
        with pytest.raises(ResidencyViolation):  # a location in the body does not move the parent
            rm.resources.begin_create_or_update_by_id(
                f"{kv_us}/secrets/s2", api_version="2023-07-01", parameters={**secret, "location": "westeurope"}
            )
        with pytest.raises(ResidencyViolation) as info:
            sm.blob_containers.create("rg-eu", "usacct", "mgmtcontainer", {})
        assert info.value.location == "eastus"
        with pytest.raises(ResidencyViolation, match="geo-redundant secondary"):
            sm.blob_containers.create("rg-eu", "eugrsus", "mgmtcontainer", {})
        sm.blob_containers.create("rg-eu", "euacct", "mgmtcontainer", {})
        with pytest.raises(ResidencyViolation, match="could not be read"):  # a parent that cannot be read
            rm.resources.begin_create_or_update_by_id(
                _rid("Microsoft.KeyVault/vaults", "kv-gone") + "/secrets/s", api_version="2023-07-01", parameters=secret
            )
    assert [p.split("/")[8] for p in _puts(arm)] == ["kv-eu", "euacct"]


def test_destinations_named_in_a_body_are_checked(arm: FakeArm) -> None:
    configure(account_locations=ACCOUNTS)
    kv = arm.add_resource(SUB, "rg-eu", "Microsoft.KeyVault/vaults", "kv", "westeurope")
    ws_us = arm.add_resource(SUB, "rg-eu", "Microsoft.OperationalInsights/workspaces", "logs-us", "eastus")
    ws_eu = arm.add_resource(SUB, "rg-eu", "Microsoft.OperationalInsights/workspaces", "logs-eu", "westeurope")
    hub = arm.add_resource(SUB, "rg-eu", "Microsoft.EventHub/namespaces", "hub-us", "eastus")
    us_acct = _rid("Microsoft.Storage/storageAccounts", "usacct")
    rm = _rm(arm)

    def diag(name: str, **props: Any) -> None:
        rm.resources.begin_create_or_update_by_id(
            f"{kv}/providers/Microsoft.Insights/diagnosticSettings/{name}",
            api_version="2021-05-01-preview",
            parameters={"properties": {"logs": [{"categoryGroup": "allLogs", "enabled": True}], **props}},
        ).result()

    with residency.guard("eu"):
        diag("to-eu", workspaceId=ws_eu, storageAccountId=_rid("Microsoft.Storage/storageAccounts", "euacct"))
        for name, props, where in (
            ("to-us-storage", {"storageAccountId": us_acct}, "eastus"),
            ("to-us-workspace", {"workspaceId": ws_us}, "eastus"),
            (
                "to-us-hub",
                {"eventHubAuthorizationRuleId": f"{hub}/authorizationRules/RootManageSharedAccessKey"},
                "eastus",
            ),
            ("to-us-url", {"storageUri": "https://usacct.blob.core.windows.net/"}, "eastus"),
            ("to-custom-url", {"storageUri": "https://logs.example.test/"}, "not a storage endpoint"),
        ):
            with pytest.raises(ResidencyViolation) as info:
                diag(name, **props)
            assert where in str(info.value), name
        # a source is not a destination: importing a disk from a US blob into the EU is fine
        rm.resources.begin_create_or_update_by_id(
            _rid("Microsoft.Compute/disks", "imported"),
            api_version="2024-03-02",
            parameters={
                "location": "westeurope",
                "properties": {
                    "creationData": {
                        "createOption": "Import",
                        "storageAccountId": us_acct,
                        "sourceUri": "https://usacct.blob.core.windows.net/vhds/d.vhd",
                    }
                },
            },
        ).result()
    assert [p.rsplit("/", 1)[-1] for p in _puts(arm)] == ["to-eu", "imported"]


def test_geo_redundant_backups_keep_a_copy_in_the_pair(arm: FakeArm) -> None:
    server = arm.add_resource(SUB, "rg-eu", "Microsoft.Sql/servers", "sql-nl", "westeurope")
    rm = _rm(arm)
    with residency.guard(residency.parse_policy(NL_ONLY)):
        for redundancy, blocked in (("Local", False), ("Geo", True), ("GeoZone", True)):
            body = {"location": "westeurope", "properties": {"requestedBackupStorageRedundancy": redundancy}}
            call = lambda: rm.resources.begin_create_or_update_by_id(  # noqa: E731
                f"{server}/databases/db-{redundancy.lower()}", api_version="2021-11-01", parameters=body
            ).result()
            if blocked:
                with pytest.raises(ResidencyViolation, match="pair of westeurope"):
                    call()
            else:
                call()
        with pytest.raises(ResidencyViolation) as info:  # a PATCH without location: the server is read
            rm.resources.begin_update_by_id(
                f"{server}/databases/db-local",
                api_version="2021-11-01",
                parameters={"properties": {"requestedBackupStorageRedundancy": "Geo"}},
            )
        assert info.value.location == "northeurope"
        with pytest.raises(ResidencyViolation, match="northeurope"):
            rm.resources.begin_create_or_update_by_id(
                _rid("Microsoft.DBforPostgreSQL/flexibleServers", "pg"),
                api_version="2022-12-01",
                parameters={"location": "westeurope", "properties": {"backup": {"geoRedundantBackup": "Enabled"}}},
            )
    assert [p.rsplit("/", 1)[-1] for p in _puts(arm)] == ["db-local"]


def test_account_sas_through_the_management_api(arm: FakeArm) -> None:
    from azure.mgmt.storage.models import AccountSasParameters

    configure(account_locations=ACCOUNTS)
    arm.add_storage_account(SUB, "rg-eu", "usacct", "eastus")
    sm = StorageManagementClient(arm.credential, SUB, **arm.client_kwargs())  # type: ignore[arg-type]
    expiry = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)

    def sas(permission: str) -> Any:
        params = AccountSasParameters(
            services="b", resource_types="sco", permissions=permission, shared_access_expiry_time=expiry
        )
        return sm.storage_accounts.list_account_sas("rg-eu", "usacct", params)

    with residency.guard("eu"):
        assert sas("rl").account_sas_token
        with pytest.raises(ResidencyViolation, match="listaccountsas"):
            sas("rwdl")
    assert [r.body["signedPermission"] for r in arm.requests if r.path.lower().endswith("listaccountsas")] == ["rl"]


def test_audit_mode_on_the_management_plane(arm: FakeArm, caplog: pytest.LogCaptureFixture) -> None:
    seen: list[ResidencyViolation] = []
    with caplog.at_level(logging.WARNING, "residency"), residency.guard("eu", mode="audit", on_violation=seen.append):
        _rm(arm).resource_groups.create_or_update("rg-audited", {"location": "eastus"})
    assert [v.location for v in seen] == ["eastus"]
    assert "residency audit: PUT Microsoft.Resources/resourceGroups" in caplog.text
    assert _puts(arm) == [f"PUT /subscriptions/{SUB}/resourcegroups/rg-audited"]
    seen.clear()
    with residency.guard("eu", on_violation=seen.append), pytest.raises(ResidencyViolation):
        _rm(arm).resource_groups.create_or_update("rg-enforced", {"location": "eastus"})
    assert [v.location for v in seen] == ["eastus"]  # called in enforce mode too


def test_async_management_clients_and_their_lookups(arm: FakeArm) -> None:
    from azure.mgmt.resource.resources.aio import ResourceManagementClient as AsyncRM
    from residency.providers.azure._fake_arm import AsyncFakeCredential

    eu_server = arm.add_resource(SUB, "rg-eu", "Microsoft.Sql/servers", "sql-eu", "westeurope")
    ie = arm.add_resource(SUB, "rg-eu", "Microsoft.Sql/servers", "sql-ie", "northeurope")
    us = arm.add_resource(SUB, "rg-eu", "Microsoft.Sql/servers", "sql-us", "eastus")
    cred = AsyncFakeCredential()

    def fg(partner: str) -> dict[str, Any]:
        return {"properties": {"partnerServers": [{"id": partner}], "readWriteEndpoint": {"failoverPolicy": "Manual"}}}

    async def go() -> None:
        async with AsyncRM(cred, SUB, **arm.client_kwargs()) as rm:  # type: ignore[arg-type]
            with residency.guard("eu"):
                await rm.resource_groups.create_or_update("rg-async-eu", {"location": "westeurope"})
                with pytest.raises(ResidencyViolation):
                    await rm.resource_groups.create_or_update("rg-async-us", {"location": "eastus"})
                # the partner is read through the caller's own async pipeline, on its event loop
                poller = await rm.resources.begin_create_or_update_by_id(
                    f"{eu_server}/failoverGroups/fg-ie", api_version="2021-11-01", parameters=fg(ie)
                )
                await poller.result()
                with pytest.raises(ResidencyViolation) as info:
                    await rm.resources.begin_create_or_update_by_id(
                        f"{eu_server}/failoverGroups/fg-us", api_version="2021-11-01", parameters=fg(us)
                    )
                assert info.value.location == "eastus"

    asyncio.run(go())
    assert [p.rsplit("/", 1)[-1] for p in _puts(arm)] == ["rg-async-eu", "fg-ie"]
    assert cred.calls > 0


def test_identity_endpoints_on_loopback_are_not_storage() -> None:
    configure(account_locations=ACCOUNTS)
    with residency.guard("eu"):
        for url in (
            "http://127.0.0.1:50342/oauth2/token",  # Cloud Shell's managed identity
            "http://localhost:40342/metadata/identity/oauth2/token?api-version=2020-06-01",  # Azure Arc
            "https://127.0.0.1:8443/tenant-id/oauth2/v2.0/token",  # a loopback authority
        ):
            check_request(None, HttpRequest("POST", url))
        with pytest.raises(ResidencyViolation):  # a raw write to Azurite's usacct is still a write
            check_request(None, HttpRequest("PUT", "http://127.0.0.1:10000/usacct/c/b"))


@pytest.mark.parametrize(
    ("url", "location"),
    [
        ("https://usacct.blob.core.windows.net./c/b", "eastus"),  # the trailing-dot FQDN is the same host
        ("http://usacct.blob.localhost:10000/c/b", "eastus"),  # Azurite's production-style URLs
        ("http://[::1]:10000/usacct/c/b", "eastus"),
        ("http://127.1:10000/usacct/c/b", "eastus"),  # spellings the resolver accepts for 127.0.0.1
        ("http://2130706433:10000/usacct/c/b", "eastus"),
        ("http://0.0.0.0:10000/usacct/c/b", "eastus"),
        ("https://usacct.dfs.core.windows.net/fs/dir/f?action=flush&position=3", "eastus"),
        ("https://usacct.file.core.windows.net/share/dir/f?comp=range", "eastus"),
        ("https://usacct.z6.web.core.windows.net/index.html", "eastus"),
        ("https://ukacct.blob.core.windows.net/c/b", "uksouth"),
    ],
)
def test_more_data_plane_spellings(url: str, location: str) -> None:
    configure(account_locations=ACCOUNTS)
    with residency.guard("eu"), pytest.raises(ResidencyViolation) as info:
        check_request(None, HttpRequest("PUT", url))
    assert info.value.location == location


# --------------------------------------------------------------------------- data plane: every write path


def test_azurite_every_blob_write_path_is_blocked_with_nothing_stored(azurite: Azurite) -> None:
    from azure.storage.blob import BlobClient, ContainerClient

    eu, us = _blob(azurite, "euacct"), _blob(azurite, "usacct")
    us.create_container("paths")  # seeded before the guard, with one blob of each type
    us.get_blob_client("paths", "append.log").create_append_blob()
    us.get_blob_client("paths", "page.bin").create_page_blob(1024)
    eu.create_container("paths")
    conn = azurite.connection_string("usacct")
    before_container = ContainerClient.from_connection_string(conn, "paths")  # created before install
    before_blob = BlobClient.from_connection_string(conn, "paths", "from-conn.txt")
    with residency.guard("eu"):
        after_blob = BlobClient.from_connection_string(conn, "paths", "after.txt")
        blob = us.get_blob_client("paths", "staged.bin")
        attempts = {
            "stage_block": lambda: blob.stage_block("YmxvY2sx", b"abc"),
            "commit_block_list": lambda: blob.commit_block_list(["YmxvY2sx"]),
            "chunked": lambda: us.get_blob_client("paths", "chunks.bin").upload_blob(
                b"x" * (3 * 1024 * 1024), max_block_size=1024 * 1024, max_single_put_size=1024, max_concurrency=4
            ),
            "append_block": lambda: us.get_blob_client("paths", "append.log").append_block(b"line"),
            "create_append_blob": lambda: us.get_blob_client("paths", "new.log").create_append_blob(),
            "upload_page": lambda: us.get_blob_client("paths", "page.bin").upload_page(
                b"\0" * 512, offset=0, length=512
            ),
            "create_page_blob": lambda: us.get_blob_client("paths", "new.bin").create_page_blob(512),
            "container client upload": lambda: before_container.upload_blob("c.txt", b"x"),
            "blob client (before install)": lambda: before_blob.upload_blob(b"x"),
            "blob client (after install)": lambda: after_blob.upload_blob(b"x"),
            "set_blob_metadata": lambda: us.get_blob_client("paths", "append.log").set_blob_metadata({"k": "v"}),
            "start_copy_from_url (EU source, US destination)": lambda: us.get_blob_client(
                "paths", "copy"
            ).start_copy_from_url(eu.get_blob_client("paths", "src").url),
            "upload_blob_from_url": lambda: us.get_blob_client("paths", "fromurl").upload_blob_from_url(
                eu.get_blob_client("paths", "src").url
            ),
            "delete_container": lambda: us.delete_container("paths"),
        }
        for name, attempt in attempts.items():
            with pytest.raises(ResidencyViolation):
                attempt()
            assert name
    listing = us.get_container_client("paths").list_blobs(include=["uncommittedblobs", "metadata"])
    blobs = {b.name: b for b in listing}
    assert sorted(blobs) == ["append.log", "page.bin"]  # not even an uncommitted block arrived
    assert blobs["append.log"].size == 0
    assert not blobs["append.log"].metadata
    assert us.get_blob_client("paths", "page.bin").download_blob().readall() == b"\0" * 1024


def test_azurite_copy_from_a_us_account_into_the_eu_is_fine(azurite: Azurite) -> None:
    eu, us = _blob(azurite, "euacct"), _blob(azurite, "usacct")
    us.create_container("copysrc")
    us.get_blob_client("copysrc", "a.txt").upload_blob(b"from the US")
    expiry = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)
    sas = generate_blob_sas(
        "usacct", "copysrc", "a.txt", account_key=account_key("usacct"), permission="r", expiry=expiry
    )
    eu.create_container("copydst")
    with residency.guard("eu"):
        dest = eu.get_blob_client("copydst", "a.txt")
        dest.start_copy_from_url(f"{us.get_blob_client('copysrc', 'a.txt').url}?{sas}")  # a read SAS: allowed
    assert dest.download_blob().readall() == b"from the US"


def test_azurite_async_chunked_uploads_are_blocked(azurite: Azurite) -> None:
    from azure.storage.blob.aio import BlobServiceClient as AsyncBlobServiceClient

    async def go() -> None:
        cred = azurite.credential("usacct")
        async with AsyncBlobServiceClient(azurite.blob_url("usacct"), credential=cred) as us:
            await us.create_container("asyncchunks")
            with residency.guard("eu"):
                blob = us.get_blob_client("asyncchunks", "big.bin")
                with pytest.raises(ResidencyViolation):
                    await blob.upload_blob(
                        b"y" * (2 * 1024 * 1024), max_single_put_size=1024, max_block_size=512 * 1024, max_concurrency=3
                    )
                with pytest.raises(ResidencyViolation):
                    await blob.stage_block("YmxvY2sx", b"abc")
                with pytest.raises(ResidencyViolation):
                    await us.get_blob_client("asyncchunks", "a.log").create_append_blob()
            names = [
                b.name async for b in us.get_container_client("asyncchunks").list_blobs(include=["uncommittedblobs"])
            ]
            assert names == []

    asyncio.run(go())


def test_a_storage_request_with_an_api_version_query_is_still_data_plane(azurite: Azurite) -> None:
    from azure.storage.blob import ContainerClient

    url = f"{azurite.blob_url('usacct')}/apiversion?api-version=2021-04-01"
    client = ContainerClient.from_container_url(url, credential=azurite.credential("usacct"))
    with residency.guard("eu"), pytest.raises(ResidencyViolation):
        client.create_container()
    assert not _blob(azurite, "usacct").get_container_client("apiversion").exists()


def test_azurite_serves_several_accounts_from_azurite_accounts(azurite_server: Azurite) -> None:
    from azure.core.exceptions import ClientAuthenticationError, HttpResponseError

    for account in ("euacct", "usacct", "ukacct"):
        assert _blob(azurite_server, account).get_service_properties() is not None
    wrong = BlobServiceClient(
        azurite_server.blob_url("euacct"), credential={"account_name": "euacct", "account_key": account_key("other")}
    )
    with pytest.raises((ClientAuthenticationError, HttpResponseError)):
        wrong.get_service_properties()


# --------------------------------------------------------------------------- redirects and host swaps


class RedirectingTransport(RecordingTransport):
    """Answers the first request with a 307 to another account (what a hostile endpoint could do)."""

    def __init__(self, to: str) -> None:
        super().__init__()
        self.to = to

    def send(self, request: Any, **kwargs: Any) -> Any:
        from azure.core.pipeline.transport import HttpResponse
        from azure.core.utils import CaseInsensitiveDict

        if len(self.sent) > 0:
            return super().send(request, **kwargs)
        self.sent.append(f"{request.method} {request.url.split('?')[0]}")
        to = self.to

        class _Redirect(HttpResponse):
            def __init__(self) -> None:
                super().__init__(request, None)
                self.status_code = 307
                self.headers = CaseInsensitiveDict({"Location": to, "x-ms-request-id": "1"})
                self.reason = "Temporary Redirect"

            def body(self) -> bytes:
                return b""

        return _Redirect()


def test_a_redirect_to_an_account_elsewhere_is_stopped_before_the_body_is_repeated() -> None:
    configure(account_locations=ACCOUNTS)
    transport = RedirectingTransport("https://usacct.blob.core.windows.net/c/b.txt")
    svc = BlobServiceClient(
        "https://euacct.blob.core.windows.net",
        credential={"account_name": "euacct", "account_key": account_key("euacct")},
        transport=transport,
    )
    with residency.guard("eu"), pytest.raises(ResidencyViolation) as info:
        svc.get_blob_client("c", "b.txt").upload_blob(b"x")
    assert info.value.location == "eastus"
    assert transport.sent == ["PUT https://euacct.blob.core.windows.net/c/b.txt"]


def test_a_secondary_host_swap_is_checked_again() -> None:
    configure(account_locations=ACCOUNTS)
    transport = RecordingTransport()
    svc = BlobServiceClient(
        "https://euacct.blob.core.windows.net",
        credential={"account_name": "euacct", "account_key": account_key("euacct")},
        secondary_hostname="usacct.blob.core.windows.net",
        transport=transport,
    )
    with residency.guard("eu"):
        svc.get_blob_client("c", "ok.txt").upload_blob(b"x")
        with pytest.raises(ResidencyViolation):
            svc.get_blob_client("c", "b.txt").upload_blob(b"x", use_location="secondary")
    assert transport.sent == ["PUT https://euacct.blob.core.windows.net/c/ok.txt"]


def test_upload_blob_from_url_destination_decides() -> None:
    configure(account_locations=ACCOUNTS)
    transport = RecordingTransport()
    key = {"account_name": "euacct", "account_key": account_key("euacct")}
    eu = BlobServiceClient("https://euacct.blob.core.windows.net", credential=key, transport=transport)
    with residency.guard("eu"):
        eu.get_blob_client("c", "copy.txt").upload_blob_from_url("https://usacct.blob.core.windows.net/c/src.txt")
    assert transport.sent == ["PUT https://euacct.blob.core.windows.net/c/copy.txt"]


# --------------------------------------------------------------------------- async callers' credentials


class AsyncRecordingTransport:
    """The async twin of :class:`RecordingTransport`."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def __aenter__(self) -> AsyncRecordingTransport:
        return self

    async def __aexit__(self, *args: object) -> None:
        pass

    async def open(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def sleep(self, duration: float) -> None:
        await asyncio.sleep(duration)

    async def send(self, request: Any, **kwargs: Any) -> Any:
        from azure.core.pipeline.transport import AsyncHttpResponse

        self.sent.append(f"{request.method} {request.url.split('?')[0]}")

        class _Response(AsyncHttpResponse):
            def __init__(self) -> None:
                super().__init__(request, None)
                self.status_code = 201
                self.headers = {"x-ms-request-id": "1", "ETag": '"1"', "Last-Modified": "Sun, 22 Nov 2026 08:00:00 GMT"}
                self.reason = "Created"

            def body(self) -> bytes:
                return b""

            async def load_body(self) -> None:
                pass

        return _Response()


def test_async_storage_clients_look_accounts_up_with_their_own_async_credential(fake_arm: FakeArm) -> None:
    from azure.storage.blob.aio import BlobServiceClient as AsyncBlobServiceClient
    from residency.providers.azure._fake_arm import AsyncFakeCredential

    _us_and_eu_accounts_without_a_resolver_credential(fake_arm)
    caller = AsyncFakeCredential("async-caller")
    transport = AsyncRecordingTransport()

    async def go() -> None:
        with residency.guard("eu"):
            us = AsyncBlobServiceClient("https://usacct.blob.core.windows.net", credential=caller, transport=transport)
            with pytest.raises(ResidencyViolation):
                await us.get_blob_client("c", "b.txt").upload_blob(b"x")
            eu = AsyncBlobServiceClient("https://euacct.blob.core.windows.net", credential=caller, transport=transport)
            await eu.get_blob_client("c", "b.txt").upload_blob(b"x")

    asyncio.run(go())
    assert transport.sent == ["PUT https://euacct.blob.core.windows.net/c/b.txt"]
    assert caller.calls > 0  # the ARM look-up used the caller's async credential, on its loop
    assert fake_arm.credential.calls == 0
    assert len([r for r in fake_arm.requests if r.path.endswith("/storageAccounts")]) == 1


def test_lookups_follow_the_guards_ttl_and_failures_fail_closed(azurite: Azurite, fake_arm: FakeArm) -> None:
    fake_arm.add_subscription(SUB)
    fake_arm.add_resource_group(SUB, "rg", "westeurope")
    fake_arm.add_storage_account(SUB, "rg", "euacct", "westeurope")
    arm_resolver = ArmAccountResolver(fake_arm.credential, refresh_after=0, min_refresh=0, **fake_arm.client_kwargs())
    configure(resolver=arm_resolver)
    eu = BlobServiceClient(
        "https://euacct.blob.core.windows.net", credential=fake_arm.credential, transport=RecordingTransport()
    )

    def listings() -> int:
        return len([r for r in fake_arm.requests if r.path.endswith("/storageAccounts")])

    with residency.guard("eu"):  # default TTL: one look-up
        for _ in range(3):
            eu.get_blob_client("c", "b.txt").upload_blob(b"x")
    assert listings() == 1
    configure(resolver=arm_resolver)  # clears the guard's cache
    with residency.guard("eu", cache_ttl=0):
        for _ in range(3):
            eu.get_blob_client("c", "b.txt").upload_blob(b"x")
    assert listings() == 4
    fake_arm.fail["/storageaccounts"] = (403, "AuthorizationFailed")
    with residency.guard("eu", cache_ttl=0), pytest.raises(ResidencyViolation, match="AuthorizationFailed"):
        eu.get_blob_client("c", "b.txt").upload_blob(b"x")


def test_sas_permission_objects_and_user_delegation(azurite: Azurite) -> None:
    from azure.storage.blob import AccountSasPermissions, BlobSasPermissions, UserDelegationKey

    expiry = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)
    key = account_key("usacct")
    udk = UserDelegationKey()
    udk.signed_oid, udk.signed_tid, udk.signed_start, udk.signed_expiry = "o", "t", "2026-01-01", "2027-01-01"
    udk.signed_service, udk.signed_version, udk.value = "b", "2023-11-03", account_key("udk")
    with residency.guard("eu"):
        generate_blob_sas("usacct", "c", "b", account_key=key, permission=BlobSasPermissions(read=True), expiry=expiry)
        with pytest.raises(ResidencyViolation):
            generate_blob_sas(
                "usacct", "c", "b", account_key=key, permission=BlobSasPermissions(read=True, tag=True), expiry=expiry
            )
        with pytest.raises(ResidencyViolation):
            generate_blob_sas("usacct", "c", "b", user_delegation_key=udk, permission="cw", expiry=expiry)
        generate_account_sas(
            "usacct", key, ResourceTypes(object=True), AccountSasPermissions(read=True, list=True), expiry
        )
        with pytest.raises(ResidencyViolation):
            generate_account_sas(
                account_name="usacct",
                account_key=key,
                resource_types=ResourceTypes(container=True),
                permission=AccountSasPermissions(create=True),
                expiry=expiry,
            )
        with pytest.raises(ResidencyViolation, match="cannot establish"):  # an account nobody knows: fail closed
            generate_blob_sas("nobody", "c", "b", account_key=key, permission="w", expiry=expiry)


def test_uninstall_restores_the_transport_runners_too() -> None:
    from azure.core.pipeline._base import _TransportRunner
    from azure.core.pipeline._base_async import _AsyncTransportRunner

    send, asend = _TransportRunner.send, _AsyncTransportRunner.send
    with residency.guard("eu", providers=["azure"]):
        with residency.guard("eea", providers=["azure"]):
            assert _TransportRunner.send is not send
        assert _AsyncTransportRunner.send is not asend
    assert (_TransportRunner.send, _AsyncTransportRunner.send) == (send, asend)


def test_a_management_client_cannot_carry_bytes_to_a_storage_account(azurite: Azurite) -> None:
    from residency.providers.azure._fake_arm import FakeCredential

    transport = RecordingTransport()
    rm = ResourceManagementClient(FakeCredential(), SUB, transport=transport)  # type: ignore[arg-type]
    blob = "https://usacct.blob.core.windows.net/c/data.json"
    with residency.guard("eu"):
        with pytest.raises(ResidencyViolation):  # JSON with no location field, to a storage host
            rm.send_request(
                RestHttpRequest("PUT", blob, json={"customer": "Ada"}, headers={"x-ms-blob-type": "BlockBlob"})
            )
        with pytest.raises(ResidencyViolation):  # an identity-looking path on a storage host is a blob
            rm.send_request(RestHttpRequest("POST", "https://usacct.blob.core.windows.net/oauth2/token"))
        with pytest.raises(ResidencyViolation):  # a management client sent at Azurite
            rm.send_request(RestHttpRequest("PUT", f"{azurite.blob_url('usacct')}/c?restype=container&api-version=1"))
    assert transport.sent == []


def test_an_ambiguous_comp_is_a_write() -> None:
    configure(account_locations=ACCOUNTS)
    with residency.guard("eu"):
        check_request(None, HttpRequest("POST", "https://usacct.blob.core.windows.net/c/b?comp=query"))
        with pytest.raises(ResidencyViolation):
            check_request(None, HttpRequest("POST", "https://usacct.blob.core.windows.net/c?comp=batch&comp=query"))
        with pytest.raises(ResidencyViolation):
            check_request(
                None, HttpRequest("POST", "https://usacct.blob.core.windows.net/c?restype=container&comp=batch")
            )


def test_templates_check_what_their_resources_replicate_and_export(arm: FakeArm) -> None:
    configure(account_locations=ACCOUNTS)
    grs = {
        "type": "Microsoft.Storage/storageAccounts",
        "apiVersion": "2023-05-01",
        "name": "st",
        "location": "[parameters('where')]",
        "sku": {"name": "[parameters('sku')]"},
        "kind": "StorageV2",
    }
    params = {"where": {"type": "string", "defaultValue": "westeurope"}, "sku": {"type": "string"}}
    template = {"contentVersion": "1.0.0.0", "parameters": params, "resources": [grs]}
    nl = residency.parse_policy(NL_ONLY)
    with residency.guard(nl):
        _deploy(
            arm, "lrs", {"mode": "Incremental", "template": template, "parameters": {"sku": {"value": "Standard_LRS"}}}
        )
        with pytest.raises(ResidencyViolation) as info:
            _deploy(
                arm,
                "grs",
                {"mode": "Incremental", "template": template, "parameters": {"sku": {"value": "Standard_GRS"}}},
            )
        assert info.value.location == "northeurope"

    def diag(target: str) -> dict[str, Any]:
        setting = {
            "type": "Microsoft.Insights/diagnosticSettings",
            "apiVersion": "2021-05-01-preview",
            "name": "d",
            "scope": "[resourceId('Microsoft.KeyVault/vaults', 'kv')]",
            "properties": {"storageAccountId": target, "logs": []},
        }
        return {"contentVersion": "1.0.0.0", "resources": [setting]}

    us = _rid("Microsoft.Storage/storageAccounts", "usacct")
    eu = _rid("Microsoft.Storage/storageAccounts", "euacct")
    with residency.guard("eu"):
        _deploy(arm, "diag-eu", {"mode": "Incremental", "template": diag(eu)})
        with pytest.raises(ResidencyViolation) as info:
            _deploy(arm, "diag-us", {"mode": "Incremental", "template": diag(us)})
        assert info.value.location == "eastus"
        with pytest.raises(ResidencyViolation, match="cannot be evaluated"):  # where it sends data is not knowable
            _deploy(
                arm,
                "diag-expr",
                {"mode": "Incremental", "template": diag("[resourceId('Microsoft.Storage/storageAccounts', 'x')]")},
            )
    assert [p.rsplit("/", 1)[-1] for p in _puts(arm)] == ["lrs", "diag-eu"]


# --------------------------------------------------------------------------- where account look-ups go


class ReroutingTransport(RequestsTransport):
    """Delivers requests addressed to ``host`` to the fake ARM, recording the host each one named."""

    def __init__(self, host: str, arm: FakeArm) -> None:
        super().__init__(connection_verify=arm.ca_file)
        self.host, self.arm, self.hosts = host, arm, list[str]()

    def send(self, request: Any, **kwargs: Any) -> Any:
        self.hosts.append(str(urlsplit(request.url).hostname))
        request.url = request.url.replace(f"https://{self.host}", self.arm.url, 1)
        return super().send(request, **kwargs)


def test_a_management_clients_account_lookup_stays_on_its_own_endpoint(arm: FakeArm, public_clouds: Any) -> None:
    from azure.mgmt.storage.models import Sku, StorageAccountUpdateParameters

    arm.add_storage_account(SUB, "rg-eu", "nlacct", "westeurope")
    sm = StorageManagementClient(arm.credential, SUB, **arm.client_kwargs())  # type: ignore[arg-type]
    grs = StorageAccountUpdateParameters(sku=Sku(name="Standard_GRS"))
    # No configure(resolver=...): the default resolver, which must ask the client's own (private) endpoint.
    with residency.guard("eu"):
        sm.storage_accounts.update("rg-eu", "nlacct", grs)  # secondary northeurope: inside the EU
    with residency.guard(residency.parse_policy(NL_ONLY)), pytest.raises(ResidencyViolation) as info:
        sm.storage_accounts.update("rg-eu", "nlacct", grs)
    assert info.value.location == "northeurope"
    assert public_clouds.connects == []
    gets = [r.path for r in arm.requests if r.method == "GET"]
    assert gets == ["/subscriptions", f"/subscriptions/{SUB}/providers/Microsoft.Storage/storageAccounts"]
    assert [f"{r.method} {r.path.rsplit('/', 1)[-1]}" for r in arm.writes()] == ["PATCH nlacct"]


@pytest.mark.parametrize("host", ["management.chinacloudapi.cn", "management.usgovcloudapi.net", "arm.example.test"])
def test_sovereign_and_private_endpoints_are_asked_through_the_callers_pipeline(
    arm: FakeArm, public_clouds: Any, host: str
) -> None:
    arm.add_storage_account(SUB, "rg-eu", "usacct", "eastus")
    arm.add_storage_account(SUB, "rg-eu", "euacct", "westeurope")
    transport = ReroutingTransport(host, arm)
    rm = ResourceManagementClient(
        arm.credential,  # type: ignore[arg-type]
        SUB,
        base_url=f"https://{host}",
        credential_scopes=[f"https://{host}/.default"],
        transport=transport,
    )
    settings = "/providers/Microsoft.Insights/diagnosticSettings/ds"
    vault = _rid("Microsoft.KeyVault/vaults", "kv")
    with residency.guard("eu"):
        for account, blocked in (("usacct", True), ("euacct", False)):
            body = {"properties": {"storageAccountId": _rid("Microsoft.Storage/storageAccounts", account)}}
            call = lambda: rm.resources.begin_create_or_update_by_id(  # noqa: E731
                vault + settings, api_version="2021-05-01-preview", parameters=body
            )
            if blocked:
                with pytest.raises(ResidencyViolation, match="eastus"):
                    call()
            else:
                call().result()
    assert set(transport.hosts) == {host}
    assert public_clouds.connects == []
    assert [r.method for r in arm.writes()] == ["PUT"]


def test_a_data_plane_lookup_goes_to_the_storage_hosts_cloud(public_clouds: Any) -> None:
    from residency.providers.azure._fake_arm import FakeCredential

    configure(resolver=ArmAccountResolver(retry_total=0))  # the default, without retries against the listener
    transport = RecordingTransport()
    url = "https://usacct.blob.core.chinacloudapi.cn"
    svc = BlobServiceClient(url, credential=FakeCredential(), transport=transport)
    with residency.guard("eu"), pytest.raises(ResidencyViolation, match="looking up storage account 'usacct' failed"):
        svc.get_blob_client("c", "b.txt").upload_blob(b"x")
    assert public_clouds.connects == ["management.chinacloudapi.cn:443"]
    assert transport.sent == []


def test_a_configured_base_url_is_where_data_plane_accounts_are_looked_up(
    fake_arm: FakeArm, public_clouds: Any
) -> None:
    from residency.providers.azure._fake_arm import FakeCredential

    _us_and_eu_accounts_without_a_resolver_credential(fake_arm)  # ArmAccountResolver(base_url=<the fake>)
    transport = RecordingTransport()
    with residency.guard("eu"):
        for host, blocked in (("usacct.blob.core.usgovcloudapi.net", True), ("euacct.blob.core.windows.net", False)):
            blob = BlobServiceClient(f"https://{host}", credential=FakeCredential(), transport=transport)
            if blocked:
                with pytest.raises(ResidencyViolation, match="eastus"):
                    blob.get_blob_client("c", "b.txt").upload_blob(b"x")
            else:
                blob.get_blob_client("c", "b.txt").upload_blob(b"x")
    assert transport.sent == ["PUT https://euacct.blob.core.windows.net/c/b.txt"]
    assert public_clouds.connects == []


def test_a_next_link_to_another_host_fails_closed() -> None:
    from residency.providers.azure._accounts import _pages

    pages = {
        "https://arm.example.test/subscriptions?api-version=1": {
            "value": [{"subscriptionId": "a"}],
            "nextLink": "https://management.azure.com/subscriptions?page=2",
        }
    }
    got = _pages(pages.__getitem__, "https://arm.example.test/subscriptions?api-version=1", "https://arm.example.test")
    assert next(got) == {"subscriptionId": "a"}
    with pytest.raises(LookupError, match=r"leaves https://arm\.example\.test for https://management\.azure\.com"):
        next(got)
