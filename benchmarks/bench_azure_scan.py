"""How many requests, and how long, a 5,000-resource Azure subscription scan takes.

Runs the real SDK clients against the loopback ARM fake (HTTPS on 127.0.0.1)
for both sources (``resources`` and ``resource-graph``), without and with a
simulated per-request ARM latency::

    python benchmarks/bench_azure_scan.py [--resources 5000] [--latency-ms 0,50] [--concurrency 8]

Nothing leaves the machine. The resource mix (VMs, disks, NICs, key vaults,
GRS storage accounts, Cosmos DB accounts, registries) is
``residency.providers.azure._fake_arm.seed_bulk``; every 50th resource is in
East US.
"""

from __future__ import annotations

import argparse
import collections
import time

from residency.providers.azure import ADAPTER
from residency.providers.azure._fake_arm import FakeArm, seed_bulk

SUB = "00000000-0000-0000-0000-0000000b0001"


def _kind(path: str) -> str:
    low = path.lower()
    if "resourcegraph" in low:
        return "resource graph query"
    if "databoundaries" in low:
        return "data boundary"
    for suffix, label in (
        ("/resources", "resources.list page"),
        ("/resourcegroups", "resource_groups.list page"),
        ("/storageaccounts", "storage_accounts.list page"),
        ("/objectreplicationpolicies", "storage object-replication look-up"),
        ("/replications", "registry replications look-up"),
        ("/failovergroups", "SQL failover groups look-up"),
        ("/replicationlinks", "SQL replication links look-up"),
    ):
        if low.endswith(suffix):
            return label
    if "/microsoft.documentdb/" in low:
        return "Cosmos DB account look-up"
    return low


def run(resources: int, latency_ms: float, concurrency: int, source: str, object_replication: bool = True) -> None:
    with FakeArm(page_size=1000) as arm:
        outside = seed_bulk(arm, SUB, resources)
        arm.latency = latency_ms / 1000
        ctx = arm.scan_context(
            "eu", accounts=[SUB], concurrency=concurrency, source=source, object_replication=object_replication
        )
        t0 = time.perf_counter()
        findings = list(ADAPTER.scan(ctx))
        wall = time.perf_counter() - t0
        statuses = collections.Counter(f.status for f in findings)
        kinds = collections.Counter(_kind(r.path) for r in arm.requests)
        print(
            f"source={source:<14} latency={latency_ms:>4.0f} ms concurrency={concurrency}"
            f"{'' if object_replication else ' object_replication=False'}: "
            f"{len(findings)} findings ({dict(statuses)}; {outside} seeded outside), "
            f"{len(arm.requests)} requests, {wall:.2f} s"
        )
        for k, n in kinds.most_common():
            print(f"    {n:>5}  {k}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--resources", type=int, default=5000)
    ap.add_argument("--latency-ms", default="0,50")
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--no-object-replication", action="store_true", help="skip the per-account look-up")
    args = ap.parse_args()
    for latency in (float(x) for x in args.latency_ms.split(",")):
        for source in ("resources", "resource-graph"):
            run(args.resources, latency, args.concurrency, source, not args.no_object_replication)


if __name__ == "__main__":
    main()
