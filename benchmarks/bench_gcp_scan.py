"""How many requests, and how long, a Google Cloud scan takes; and what the guard costs per write.

Runs the real code against the loopback Cloud Storage fake
(``residency.providers.gcp._fake_gcs``), with and without a simulated
per-request latency::

    python benchmarks/bench_gcp_scan.py [--projects 50] [--buckets 200] [--latency-ms 0,50] [--concurrency 8]

Nothing leaves the machine. Bucket mix per project: EU, europe-west3, EUR4,
a custom EU dual-region, US, EUR5, EUR8, a custom dual-region with London
(half of them violations under ``eu``); one BigQuery dataset per project.
"""

from __future__ import annotations

import argparse
import collections
import time
from collections.abc import Callable

from google.auth.credentials import AnonymousCredentials
from google.cloud import storage
from residency.providers.gcp import ADAPTER
from residency.providers.gcp import _guard as gcp_guard
from residency.providers.gcp._fake_gcs import FakeGcsServer
from residency.providers.gcp._guard import location_cache

import residency
from residency._scan import make_context

MIX: list[tuple[str, list[str] | None]] = [
    ("EU", None),
    ("EUROPE-WEST3", None),
    ("EUR4", None),
    ("EU", ["EUROPE-WEST1", "EUROPE-WEST4"]),
    ("US", None),
    ("EUR5", None),
    ("EUR8", None),
    ("EU", ["EUROPE-WEST1", "EUROPE-WEST2"]),
]


def _kind(path: str) -> str:
    if path.startswith("/v3/projects"):
        return "projects:search"
    if path.startswith("/storage/v1/b?"):
        return "buckets.list"
    if path.startswith("/bigquery/"):
        return "datasets.list"
    return path.split("?")[0]


def bench_scan(fake: FakeGcsServer, concurrency: int, latency_ms: float) -> None:
    fake.requests.clear()
    fake.latency = latency_ms / 1000
    ctx = make_context("gcp", "eu", endpoint_url=fake.url, concurrency=concurrency)
    start = time.perf_counter()
    findings = list(ADAPTER.scan(ctx))
    took = time.perf_counter() - start
    counts = collections.Counter(f.status for f in findings)
    kinds = collections.Counter(_kind(p) for _, p in fake.requests)
    print(
        f"scan  latency={latency_ms:>4.0f} ms  concurrency={concurrency}: {len(findings)} findings "
        f"({dict(counts)}) in {took:.2f} s = {len(findings) / took:,.0f} resources/s; "
        f"{len(fake.requests)} requests {dict(kinds)}"
    )
    fake.latency = 0.0


def bench_guard(fake: FakeGcsServer, n: int = 300, rounds: int = 7) -> None:
    """Per-write cost of the guard: end to end against the fake, and the hook alone (no network)."""
    client = storage.Client(
        project="bench", credentials=AnonymousCredentials(), client_options={"api_endpoint": fake.url}
    )
    fake.add_bucket("bench-eu", "EU", project="bench")
    fake._store("bench-eu", "r", b"x")
    blob = client.bucket("bench-eu").blob("k")
    reader = client.bucket("bench-eu").blob("r")

    def per_call(call: Callable[[], object]) -> float:
        start = time.perf_counter()
        for _ in range(n):
            call()
        return (time.perf_counter() - start) / n * 1e3

    def write() -> None:
        blob.upload_from_string(b"x")

    def read() -> None:
        reader.download_as_bytes()

    g = residency.guard("eu", providers=["gcp"])
    times: dict[str, list[float]] = collections.defaultdict(list)
    for _ in range(rounds):  # interleaved, best of: the loopback round trip is noisy
        times["write"].append(per_call(write))
        times["read"].append(per_call(read))
        with g:
            location_cache.clear()
            times["write guarded"].append(per_call(write))
            lookups = location_cache.lookups
            times["read guarded"].append(per_call(read))
    best = {k: min(v) for k, v in times.items()}
    for kind in ("write", "read"):
        bare, guarded = best[kind], best[f"{kind} guarded"]
        print(
            f"guard: {kind:<5} {bare:.3f} ms unguarded, {guarded:.3f} ms guarded "
            f"({(guarded - bare) * 1e3:+.0f} µs, {(guarded / bare - 1) * 100:+.1f} %)"
        )
    print(f"guard: {lookups} location lookup for {n} writes to one bucket (cache_ttl {g.cache_ttl:.0f} s)")

    # The hook alone: classify one multipart upload and decide it with a warm cache.
    url = f"{fake.url}/upload/storage/v1/b/bench-eu/o?uploadType=multipart"
    body = b'--b\r\ncontent-type: application/json\r\n\r\n{"name": "k"}\r\n--b\r\n\r\nx\r\n--b--'
    headers = {"Content-Type": 'multipart/related; boundary="b"'}
    session = client._http
    with g:
        gcp_guard.bucket_location(session, fake.url, "bench-eu")
        m = 20_000
        start = time.perf_counter()
        for _ in range(m):
            gcp_guard._check(gcp_guard.classify("POST", url, body, headers) or [], session, fake.url)
        hook = (time.perf_counter() - start) / m * 1e6
    print(f"guard: the hook alone (classify + decide, warm cache): {hook:.1f} µs per write request")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--projects", type=int, default=50)
    ap.add_argument("--buckets", type=int, default=200, help="buckets per project")
    ap.add_argument("--latency-ms", default="0,50")
    ap.add_argument("--concurrency", type=int, default=8)
    args = ap.parse_args()
    with FakeGcsServer() as fake:
        for p in range(args.projects):
            project = f"proj-{p:03d}"
            for b in range(args.buckets):
                location, members = MIX[b % len(MIX)]
                fake.add_bucket(f"{project}-b{b:04d}", location, project=project, data_locations=members)
            fake.add_dataset(project, "ds", "EU" if p % 2 else "US")
        print(f"{args.projects} projects x {args.buckets} buckets + {args.projects} datasets")
        list(ADAPTER.scan(make_context("gcp", "eu", endpoint_url=fake.url, accounts=["proj-000"])))  # warm-up
        for latency in (float(x) for x in args.latency_ms.split(",")):
            bench_scan(fake, 1, latency)
            bench_scan(fake, args.concurrency, latency)
        bench_guard(fake)


if __name__ == "__main__":
    main()
