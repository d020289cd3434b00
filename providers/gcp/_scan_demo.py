"""The Google Cloud part of ``residency demo``: a simulated estate on the loopback Cloud Storage fake.

Reached after ``load_provider("gcp")``, so the core never imports the SDK::

    estate = importlib.import_module("residency.providers.gcp._scan_demo")
    with estate.demo_environment() as fake:
        made = estate.seed_estate(fake)                        # buckets + datasets, by project
        ctx = make_context("gcp", "eu", endpoint_url=fake.url)  # then scan as usual
        blocked = estate.guard_steps(fake, out)                 # True when every write path was stopped

Nothing leaves the machine: the fake listens on 127.0.0.1 and clients use
anonymous credentials.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import tempfile
from collections.abc import Callable, Iterator
from typing import Any, TextIO

from google.auth.credentials import AnonymousCredentials
from google.cloud import storage
from google.cloud.storage import transfer_manager

from residency._errors import ResidencyViolation

from ._fake_gcs import FakeGcsServer

__all__ = ["DEMO_PROJECTS", "ESTATE", "demo_environment", "guard_steps", "seed_estate"]

#: (project, bucket, location, custom data locations, what it shows)
ESTATE: list[tuple[str, str, str, list[str] | None, str]] = [
    ("acme-shop", "acme-eu-orders", "EU", None, "EU multi-region"),
    ("acme-shop", "acme-fra-invoices", "EUROPE-WEST3", None, "Frankfurt"),
    ("acme-shop", "acme-eur4-backups", "EUR4", None, "Finland + Netherlands"),
    ("acme-shop", "acme-us-analytics", "US", None, "US multi-region (the default)"),
    ("acme-data", "acme-eur5-reports", "EUR5", None, "Belgium + London"),
    ("acme-data", "acme-dual-london", "EU", ["EUROPE-WEST1", "EUROPE-WEST2"], "custom: Belgium + London"),
    ("acme-data", "acme-eur8-archive", "EUR8", None, "Frankfurt + Zurich"),
]
DEMO_PROJECTS = ("acme-shop", "acme-data")


@contextlib.contextmanager
def demo_environment() -> Iterator[FakeGcsServer]:
    """A running loopback Cloud Storage (JSON + XML APIs, projects, BigQuery), stopped on exit."""
    with FakeGcsServer() as fake:
        yield fake


def seed_estate(fake: FakeGcsServer) -> dict[str, Any]:
    """Create the demo buckets and datasets; returns ``{"buckets": {name: (location, note)}, "datasets": …}``."""
    buckets: dict[str, tuple[str, str]] = {}
    for project, name, location, members, note in ESTATE:
        fake.add_bucket(name, location, project=project, data_locations=members)
        where = f"{location} [{'+'.join(members)}]" if members else location
        buckets[name] = (where, note)
    fake.add_dataset("acme-data", "eu_events", "EU")
    fake.add_dataset("acme-data", "us_marketing", "US")
    return {"buckets": buckets, "datasets": {"acme-data:eu_events": "EU", "acme-data:us_marketing": "US"}}


def _client(fake: FakeGcsServer) -> storage.Client:
    return storage.Client(
        project="acme-shop",
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
        client_options={"api_endpoint": fake.url},
    )


def guard_steps(fake: FakeGcsServer, out: TextIO, policy: str = "eu") -> bool:
    """Run every write path under ``residency.guard(policy)``, printing each outcome.

    True when the EU write passed and every other one was blocked with nothing stored.
    """
    from residency._guard import guard

    client = _client(fake)
    fake._store("acme-eu-orders", "order.json", b'{"id": 1}')
    us, eu = client.bucket("acme-us-analytics"), client.bucket("acme-eu-orders")
    big = tempfile.NamedTemporaryFile()  # noqa: SIM115 - closed below
    big.write(b"x" * (2 * 1024 * 1024))
    big.flush()
    steps: list[tuple[str, bool, Callable[[], object]]] = [
        ("upload_from_string to acme-eu-orders (EU)", False, lambda: eu.blob("a.json").upload_from_string(b"{}")),
        ("upload_from_string to acme-us-analytics", True, lambda: us.blob("a.json").upload_from_string(b"{}")),
        (
            "resumable upload to acme-eur5-reports",
            True,
            lambda: (
                client.bucket("acme-eur5-reports")
                .blob("r", chunk_size=256 * 1024)
                .upload_from_file(io.BytesIO(b"r" * 300_000))
            ),
        ),
        (
            "transfer manager (XML multipart) to acme-eur8-archive",
            True,
            lambda: transfer_manager.upload_chunks_concurrently(
                big.name, client.bucket("acme-eur8-archive").blob("dump"), chunk_size=1024 * 1024, worker_type="thread"
            ),
        ),
        ("create_bucket('acme-new') with no location", True, lambda: client.create_bucket("acme-new")),
        (
            "copy_blob acme-eu-orders -> acme-dual-london",
            True,
            lambda: eu.copy_blob(eu.blob("order.json"), client.bucket("acme-dual-london")),
        ),
        (
            "signed PUT URL for acme-us-analytics",
            True,
            lambda: us.blob("upload").generate_signed_url(expiration=dt.timedelta(minutes=5), method="PUT"),
        ),
    ]
    fake.stored.clear()
    ok = True
    try:
        with guard(policy, providers=["gcp"]):
            for label, should_block, call in steps:
                before = len(fake.stored)
                try:
                    call()
                except ResidencyViolation as exc:
                    out.write(f"  BLOCKED  {label}: {exc.reason}\n")
                    ok &= should_block and len(fake.stored) == before
                else:
                    out.write(f"  allowed  {label}\n")
                    ok &= not should_block
    finally:
        big.close()
    out.write(f"objects stored: {[f'gs://{b}/{n}' for b, n, _ in fake.stored]}\n")
    return ok
