"""Shared fixtures of the Azure tests (loaded by ``tests/test_azure_*.py``; not a conftest).

* ``azure_catalog`` — the well-known Azure facts the tests rely on, injected
  only while ``residency/data/azure.json`` does not know them yet;
* ``fake_arm`` — a fresh :class:`FakeArm` (HTTPS on 127.0.0.1) per test;
* ``azurite`` — one Azurite per session (skipped when Node.js/Azurite is
  missing), with the accounts below;
* ``no_azure_env`` — removes every ``AZURE_*`` variable so no test can pick
  up a real identity.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from residency.providers.azure import _accounts, configure
from residency.providers.azure._azurite import Azurite, find_azurite
from residency.providers.azure._fake_arm import FakeArm

from residency import _catalog
from residency._catalog import Location

AZURITE_ACCOUNTS = ("euacct", "usacct", "eugrsus", "ukacct", "unmapped")

# Facts any Azure region list states (used only when the packaged catalog lacks them).
_WELL_KNOWN = [
    ("westeurope", "West Europe", "NL", "northeurope"),
    ("northeurope", "North Europe", "IE", "westeurope"),
    ("eastus", "East US", "US", "westus"),
    ("westus", "West US", "US", "eastus"),
    ("uksouth", "UK South", "GB", "ukwest"),
    ("ukwest", "UK West", "GB", "uksouth"),
    ("swedencentral", "Sweden Central", "SE", None),
    ("germanywestcentral", "Germany West Central", "DE", None),
]


@pytest.fixture(autouse=True)
def azure_catalog(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    if _catalog.lookup_location("azure", "westeurope").is_known:
        yield
        return
    real = _catalog._load_provider

    def load(provider: str) -> list[Location]:
        if provider != "azure":
            return real(provider)
        out = [Location("azure", c, n, "region", (cc,), pair=p, source="test") for c, n, cc, p in _WELL_KNOWN]
        out.append(Location("azure", "global", "Global", "global", source="test"))
        return out

    monkeypatch.setattr(_catalog, "_load_provider", load)
    _catalog.catalog.cache_clear()
    yield
    monkeypatch.undo()
    _catalog.catalog.cache_clear()


@pytest.fixture(autouse=True)
def no_azure_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for k in list(os.environ):
        if k.startswith(("AZURE_", "IDENTITY_ENDPOINT", "MSI_", "IMDS_")):
            monkeypatch.delenv(k)

    def no_real_identity() -> object:
        raise RuntimeError("tests never use a real Azure identity: configure an account resolver")

    monkeypatch.setattr(_accounts, "new_default_credential", no_real_identity)
    configure()
    yield
    configure()


@pytest.fixture
def fake_arm() -> Iterator[FakeArm]:
    with FakeArm(page_size=50) as arm:
        yield arm


@pytest.fixture(scope="session")
def azurite_server() -> Iterator[Azurite]:
    if find_azurite() is None:
        pytest.skip("Azurite is not installed (needs Node.js and 'npm ci' in the project folder)")
    with Azurite(AZURITE_ACCOUNTS) as server:
        yield server
