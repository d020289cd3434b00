"""Scan a simulated Azure estate and watch the guard block writes — nothing leaves the machine.

    python examples/azure_demo.py [--source resources|resource-graph] [--policy eu]

Azure Resource Manager is a loopback fake (HTTPS on 127.0.0.1, the real SDK
clients, a fake credential); the blob data plane is Azurite when installed
(``npm ci``), always started with ``--disableTelemetry``.
"""

from __future__ import annotations

import argparse
import sys

from residency.providers.azure import ADAPTER
from residency.providers.azure._scan_demo import demo_context, demo_environment, guard_demo


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--source", choices=("resources", "resource-graph"), default="resources")
    ap.add_argument("--policy", default="eu")
    args = ap.parse_args()
    with demo_environment() as env:
        print(f"== residency scan azure --policy {args.policy} --source {args.source}")
        ctx = demo_context(env, args.policy, source=args.source)
        for f in sorted(ADAPTER.scan(ctx), key=lambda f: (f.status != "violation", f.resource_id)):
            where = ", ".join(f"{loc.code} ({role})" for loc, role in zip(f.locations, f.roles, strict=True))
            print(f"{f.status:<9} {f.resource_type:<42} {f.name:<16} {where}")
        for note in ctx.notes:
            print(f"note: {note}")
        print("\n== the guard: residency.guard(policy='eu')")
        ok = guard_demo(env, sys.stdout)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
