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

import pytest
from azure.core.pipeline import AsyncPipeline, Pipeline
from azure.core.pipeline.transport import HttpRequest
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


def test_deployment_templates_check_literals_not_expressions(arm: FakeArm) -> None:
    path = f"/subscriptions/{SUB}/resourcegroups/rg-eu/providers/Microsoft.Resources/deployments/d"
    template = {"resources": [{"type": "Microsoft.Storage/storageAccounts", "location": "[resourceGroup().location]"}]}
    ok = {"properties": {"mode": "Incremental", "template": template, "parameters": {}}}
    bad = {"properties": {"mode": "Incremental", "template": template, "parameters": {"location": {"value": "eastus"}}}}
    with residency.guard("eu"):
        check_request(None, RestHttpRequest("PUT", f"https://management.azure.com{path}?api-version=1", json=ok))
        with pytest.raises(ResidencyViolation):
            check_request(None, RestHttpRequest("PUT", f"https://management.azure.com{path}?api-version=1", json=bad))


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


def test_callers_own_token_credential_is_used_for_the_lookup(fake_arm: FakeArm) -> None:
    from residency.providers.azure._fake_arm import FakeCredential

    fake_arm.add_subscription(SUB)
    fake_arm.add_resource_group(SUB, "rg", "westeurope")
    fake_arm.add_storage_account(SUB, "rg", "usacct", "eastus")
    fake_arm.add_storage_account(SUB, "rg", "euacct", "westeurope")
    configure(resolver=ArmAccountResolver(**fake_arm.client_kwargs()))  # no credential of its own
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
