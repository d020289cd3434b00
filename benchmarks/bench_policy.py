"""Micro-benchmark of the core: catalog lookups and policy decisions per second.

Run: ``.venv/bin/python benchmarks/bench_policy.py``
"""

from __future__ import annotations

import time

import residency


def bench(label: str, fn: object, n: int = 100_000) -> float:
    call = fn  # type: ignore[assignment]
    start = time.perf_counter()
    for _ in range(n):
        call()  # type: ignore[operator]
    per = (time.perf_counter() - start) / n * 1e6
    print(f"{label:<48} {per:8.2f} µs/op")
    return per


def main() -> None:
    eu = residency.load_policy("eu")
    cat = residency.catalog()
    start = time.perf_counter()
    residency.catalog.cache_clear()
    residency.catalog()
    print(f"{'catalog load (cold)':<48} {(time.perf_counter() - start) * 1e3:8.2f} ms ({len(cat)} locations)")
    bench("lookup_location('aws', 'eu-west-2')", lambda: residency.lookup_location("aws", "eu-west-2"))
    bench("lookup_location('gcp', 'EUROPE-WEST1+EUROPE-WEST2')", lambda: cat.get("gcp", "EUROPE-WEST1+EUROPE-WEST2"))
    bench("Policy.check('aws', 'eu-central-1') allowed", lambda: eu.check("aws", "eu-central-1"))
    bench("Policy.check('aws', 'eu-west-2') denied", lambda: eu.check("aws", "eu-west-2"))
    bench("Policy.check with tags and resource", lambda: eu.check("aws", "us-east-1", tags={"a": "b"}, resource="x"))


if __name__ == "__main__":
    main()
