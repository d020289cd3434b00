"""Shared helpers for the Google Cloud tests: a loopback Cloud Storage and clients pointed at it.

Loaded by file path from the ``test_gcp*`` modules (``--import-mode=importlib``
puts no test folder on ``sys.path``). Never reaches a real cloud: clients use
anonymous credentials and the fake's loopback URL, or real-looking
service-account credentials whose token endpoint is the fake and whose
session's transport sends every ``*.googleapis.com`` request to the fake; and
while the fake fixture is active, any connection to a non-loopback address
is refused.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests
import urllib3.util.connection
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth.credentials import AnonymousCredentials
from google.auth.transport.requests import AuthorizedSession
from google.cloud import storage
from google.oauth2 import service_account
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


def _loopback_only(original: Any) -> Any:
    def create_connection(address: tuple[str, int], *args: Any, **kwargs: Any) -> Any:
        host = address[0]
        try:
            loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise ConnectionRefusedError(f"the Google Cloud tests never leave 127.0.0.1 (tried {host})")
        return original(address, *args, **kwargs)

    return create_connection


@pytest.fixture(scope="module")
def gcs_server() -> Iterator[FakeGcsServer]:
    """One fake Cloud Storage per test module (started on a free loopback port)."""
    with FakeGcsServer() as fake:
        yield fake


@pytest.fixture
def fake_gcs(gcs_server: FakeGcsServer, monkeypatch: pytest.MonkeyPatch) -> FakeGcsServer:
    """The module's fake, emptied, with no Google client able to reach anything but loopback."""
    gcs_server.reset()
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    monkeypatch.delenv("API_ENDPOINT_OVERRIDE", raising=False)
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", PROJECT)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/no-credentials.json")
    monkeypatch.setattr(
        urllib3.util.connection, "create_connection", _loopback_only(urllib3.util.connection.create_connection)
    )
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


class GoogleToFake(requests.adapters.HTTPAdapter):
    """A transport that delivers every ``*.googleapis.com`` (and S3NS ``*.s3nsapis.fr``) request to the fake.

    The ``Host`` header is kept.

    So a client on the real default endpoint (``https://storage.googleapis.com``,
    virtual-hosted ``BUCKET.storage.googleapis.com`` …) is exercised end to end
    while nothing leaves the machine; any other host is refused.
    """

    def __init__(self, fake: FakeGcsServer) -> None:
        super().__init__()
        self.fake = fake
        self.seen: list[str] = []

    def send(self, request: Any, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        parts = urlsplit(request.url)
        host = parts.hostname or ""
        target = urlsplit(self.fake.url)
        if host.endswith((".googleapis.com", ".s3nsapis.fr")):
            self.seen.append(request.url)
            request.headers["Host"] = parts.netloc
            request.url = urlunsplit((target.scheme, target.netloc, parts.path, parts.query, ""))
        elif (host, parts.port) != (target.hostname, target.port):
            raise requests.ConnectionError(f"test transport: refusing {request.url}")
        return super().send(request, *args, **kwargs)


@pytest.fixture(scope="module")
def signer_key() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return pem.decode()


def service_account_credentials(fake: FakeGcsServer, key: str) -> service_account.Credentials:
    """Real service-account credentials (a real RSA key, real JWT signing) whose token endpoint is the fake."""
    info = {
        "type": "service_account",
        "client_email": "writer@eu-residency-test.iam.gserviceaccount.com",
        "private_key": key,
        "private_key_id": "1",
        # "localhost", not the fake's 127.0.0.1: a token endpoint is not a storage host (the fake serves both)
        "token_uri": fake.url.replace("127.0.0.1", "localhost") + "/token",
        "project_id": PROJECT,
    }
    return service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call,no-any-return]
        info, scopes=["https://www.googleapis.com/auth/devstorage.read_write"]
    )


def google_endpoint_client(fake: FakeGcsServer, key: str) -> tuple[storage.Client, AuthorizedSession, GoogleToFake]:
    """A ``storage.Client`` on the default Google endpoint over an ``AuthorizedSession`` whose transport is the fake."""
    credentials = service_account_credentials(fake, key)
    session = AuthorizedSession(credentials)  # type: ignore[no-untyped-call]
    transport = GoogleToFake(fake)
    session.mount("https://", transport)
    session.mount("http://", transport)
    client = storage.Client(project=PROJECT, credentials=credentials, _http=session)
    return client, session, transport
