"""Shared fixtures of the Azure tests (loaded by ``tests/test_azure_*.py``; not a conftest).

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

AZURITE_ACCOUNTS = ("euacct", "usacct", "eugrsus", "ukacct", "unmapped")


@pytest.fixture(autouse=True)
def no_azure_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for k in list(os.environ):
        if k.startswith(("AZURE_", "IDENTITY_ENDPOINT", "MSI_", "IMDS_", "RESIDENCY_AZURE_")):
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
