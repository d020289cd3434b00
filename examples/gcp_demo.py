"""Google Cloud, end to end on this machine: a simulated estate, a scan, then the guard.

Run: ``python examples/gcp_demo.py`` (needs ``pip install 'eu-residency[gcp]'``).

A loopback Cloud Storage fake (``residency.providers.gcp._fake_gcs``) keeps each
bucket's location, so the scan and the guard see what Google Cloud would
answer. Nothing leaves the machine.
"""

from __future__ import annotations

import sys

from residency.providers.gcp import _scan_demo as estate

import residency
from residency._scan import make_context


def main() -> int:
    with estate.demo_environment() as fake:
        print(f"== a simulated Google Cloud estate on {fake.url}")
        made = estate.seed_estate(fake)
        for name, (where, note) in made["buckets"].items():
            print(f"  bucket   {name:<22} {where:<32} {note}")
        for name, where in made["datasets"].items():
            print(f"  dataset  {name:<22} {where}")

        print("\n== residency scan gcp --policy eu")
        ctx = make_context("gcp", "eu", endpoint_url=fake.url)
        findings = list(residency.load_provider("gcp").scan(ctx))
        for f in sorted(findings, key=lambda f: (f.status != "violation", f.resource_id)):
            where = "+".join(loc.code for loc in f.locations)
            print(f"  {f.status:<10} {f.account:<10} {f.resource_id:<28} {where:<28} {f.reason}")
        violations = sum(f.status == "violation" for f in findings)
        print(f"{len(findings)} resources, {violations} violations")

        print('\n== the guard: residency.guard(policy="eu")')
        blocked = estate.guard_steps(fake, sys.stdout)
    return 0 if blocked and violations == 5 else 1


if __name__ == "__main__":
    sys.exit(main())
