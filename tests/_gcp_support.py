"""Shared helpers for the Google Cloud tests: a loopback Cloud Storage and clients pointed at it.

Loaded by file path from the ``test_gcp*`` modules (``--import-mode=importlib``
puts no test folder on ``sys.path``). Never reaches a real cloud: clients use
anonymous credentials and the fake's loopback URL.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage
from residency.providers.gcp._fake_gcs import FakeGcsServer

PROJECT = "eu-residency-test"

#: the buckets the scan must judge: (project, name, location, custom data locations, expected status under 'eu')
SEEDED: list[tuple[str, str, str, list[str] | None, str]] = [
    ("alpha", "eu-multi", "EU", None, "compliant"),
    ("alpha", "frankfurt", "EUROPE-WEST3", None, "compliant"),
    ("alpha", "eur4-pair", "EUR4", None, "compliant"),
    ("alpha", "custom-be-nl", "EU", ["EUROPE-WEST1", "EUROPE-WEST4"], "compliant"),
    ("alpha", "us-default", "US", None, "violation"),
    ("alpha", "iowa", "US-CENTRAL1", None, "violation"),
    ("beta", "eur5-london", "EUR5", None, "violation"),
    ("beta", "custom-with-london", "EU", ["EUROPE-WEST1", "EUROPE-WEST2"], "violation"),
    ("beta", "eur8-frankfurt-zurich", "EUR8", None, "violation"),
    ("beta", "asia-multi", "ASIA", None, "violation"),
]


def seed_buckets(fake: FakeGcsServer) -> dict[str, str]:
    """Create :data:`SEEDED` in ``fake``; returns bucket name -> expected status."""
    for project, name, location, members, _ in SEEDED:
        fake.add_bucket(name, location, project=project, data_locations=members)
    return {name: status for _, name, _, _, status in SEEDED}


@pytest.fixture(scope="module")
def gcs_server() -> Iterator[FakeGcsServer]:
    """One fake Cloud Storage per test module (started on a free loopback port)."""
    with FakeGcsServer() as fake:
        yield fake


@pytest.fixture
def fake_gcs(gcs_server: FakeGcsServer, monkeypatch: pytest.MonkeyPatch) -> FakeGcsServer:
    """The module's fake, emptied, with the environment pointing no Google client at a real cloud."""
    gcs_server.reset()
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    monkeypatch.delenv("API_ENDPOINT_OVERRIDE", raising=False)
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", PROJECT)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/no-credentials.json")
    return gcs_server


def make_client(fake: FakeGcsServer, **kwargs: Any) -> storage.Client:
    """A real ``storage.Client`` talking to ``fake`` with anonymous credentials."""
    return storage.Client(
        project=PROJECT,
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
        client_options={"api_endpoint": fake.url},
        **kwargs,
    )


@pytest.fixture
def gcs(fake_gcs: FakeGcsServer) -> storage.Client:
    """A client on the fake, created *before* any guard is installed."""
    return make_client(fake_gcs)
