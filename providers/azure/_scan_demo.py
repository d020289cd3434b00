"""The Azure part of ``residency demo``: a simulated estate, scanned, then the guard at work.

Nothing leaves the machine: Azure Resource Manager is the loopback fake
(:class:`~._fake_arm.FakeArm`, HTTPS on 127.0.0.1), the blob data plane is
Azurite when it is installed (``npm ci``; started with ``--disableTelemetry``)::

    with demo_environment() as env:
        ctx = demo_context(env)                 # residency scan azure --policy eu
        findings = list(ADAPTER.scan(ctx))
        ok = guard_demo(env, sys.stdout)        # the guard blocks the writes, nothing stored
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from typing import Any, TextIO

import attrs

from residency._errors import ResidencyViolation
from residency._guard import guard
from residency._scan import ScanContext

from ._azurite import Azurite, find_azurite
from ._fake_arm import EU_SUB, FakeArm, seed_estate
from ._guard import configure

__all__ = ["DemoEnvironment", "demo_context", "demo_environment", "guard_demo"]

DEMO_ACCOUNTS = {"acmeeu": "westeurope", "acmeus": "eastus"}


@attrs.define
class DemoEnvironment:
    arm: FakeArm
    expected: dict[str, str]
    azurite: Azurite | None


@contextlib.contextmanager
def demo_environment() -> Iterator[DemoEnvironment]:
    """The fake ARM with the seeded estate, and Azurite when installed; all stopped on exit."""
    with contextlib.ExitStack() as stack:
        arm = stack.enter_context(FakeArm(page_size=100))
        expected = seed_estate(arm)
        for name, loc in DEMO_ACCOUNTS.items():
            arm.add_storage_account(EU_SUB, "rg-eu", name, loc)
        azurite = stack.enter_context(Azurite(DEMO_ACCOUNTS)) if find_azurite() else None
        configure(account_locations=dict(DEMO_ACCOUNTS))
        stack.callback(configure)
        yield DemoEnvironment(arm, expected, azurite)


def demo_context(env: DemoEnvironment, policy: str = "eu", **options: Any) -> ScanContext:
    """A scan context for the demo estate (``residency scan azure`` against the fake)."""
    return env.arm.scan_context(policy, **options)


def guard_demo(env: DemoEnvironment, out: TextIO) -> bool:
    """Show the guard blocking a management and a data-plane write; True if both were blocked."""
    from azure.mgmt.resource.resources import ResourceManagementClient

    ok = True
    rm = ResourceManagementClient(env.arm.credential, EU_SUB, **env.arm.client_kwargs())
    before = len(env.arm.writes())
    with guard(policy="eu", providers=["azure"]):
        rm.resource_groups.create_or_update("rg-new-eu", {"location": "westeurope"})
        out.write("resource_groups.create_or_update('rg-new-eu', location=westeurope): allowed, created\n")
        try:
            rm.resource_groups.create_or_update("rg-new-us", {"location": "eastus"})
            ok = False
            out.write("resource_groups.create_or_update('rg-new-us', location=eastus): NOT blocked\n")
        except ResidencyViolation as exc:
            out.write(f"blocked: {exc}\n")
        cosmos = f"/subscriptions/{EU_SUB}/resourceGroups/rg-eu/providers/Microsoft.DocumentDB/databaseAccounts/new"
        body = {
            "location": "westeurope",
            "properties": {
                "databaseAccountOfferType": "Standard",
                "locations": [{"locationName": "West Europe"}, {"locationName": "East US", "failoverPriority": 1}],
            },
        }
        try:
            rm.resources.begin_create_or_update_by_id(cosmos, api_version="2024-05-15", parameters=body)
            ok = False
            out.write("Cosmos DB account with a region in East US: NOT blocked\n")
        except ResidencyViolation as exc:
            out.write(f"blocked: {exc}\n")
    sent = [r.path for r in env.arm.writes()[before:]]
    out.write(f"requests that reached the management API: {sent}\n")
    ok = ok and not any("rg-new-us" in p or p.endswith("/new") for p in sent)
    if env.azurite is None:
        out.write("(Azurite is not installed: the blob data-plane part is skipped; run 'npm ci')\n")
        return ok
    from azure.storage.blob import BlobServiceClient, generate_blob_sas

    az = env.azurite
    eu = BlobServiceClient(az.blob_url("acmeeu"), credential=az.credential("acmeeu"))
    us = BlobServiceClient(az.blob_url("acmeus"), credential=az.credential("acmeus"))
    with guard(policy="eu", providers=["azure"]):
        eu.create_container("customers")
        eu.get_blob_client("customers", "ada.json").upload_blob(b'{"name": "Ada"}')
        out.write("upload to acmeeu (westeurope, Azurite): allowed, written\n")
        try:
            us.create_container("customers")
            ok = False
            out.write("create_container on acmeus (eastus): NOT blocked\n")
        except ResidencyViolation as exc:
            out.write(f"blocked: {exc}\n")
        expiry = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)
        key = az.credential("acmeus")["account_key"]
        generate_blob_sas("acmeus", "customers", "a.json", account_key=key, permission="r", expiry=expiry)
        out.write("generate_blob_sas(acmeus, permission='r'): allowed (a read capability)\n")
        try:
            generate_blob_sas("acmeus", "customers", "a.json", account_key=key, permission="cw", expiry=expiry)
            ok = False
            out.write("generate_blob_sas(acmeus, permission='cw'): NOT blocked\n")
        except ResidencyViolation as exc:
            out.write(f"blocked: {exc}\n")
    stored = us.get_container_client("customers").exists()
    out.write(f"container 'customers' exists in acmeus afterwards: {stored}\n")
    return ok and not stored
