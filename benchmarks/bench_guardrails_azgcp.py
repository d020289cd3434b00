"""Azure and Google Cloud guardrails at scale: 1,000 subscriptions/projects under 100 management groups/folders.

Both run against the loopback fakes (the ARM fake over HTTPS for Azure, the
Resource Manager + Org Policy fake over HTTP for Google Cloud) and print the
requests by kind, the time, and that each policy object was fetched once::

    python benchmarks/bench_guardrails_azgcp.py [--accounts 1000] [--groups 100] [--concurrency 8] [--latency-ms 0]

Azure: a tenant root with 10 management groups of 10 each below it; the
built-in Allowed locations assignments at the root and an initiative at every
second group; every tenth subscription has an exemption from the root's
resource assignment and sits under a group without the initiative (a
violation under ``eu``). Google Cloud: an
organisation, 10 folders of 10 sub-folders; ``in:eu-locations`` at the
organisation, a merging folder policy on every second sub-folder, and every
tenth project adds ``in:us-east1-locations``.
"""

from __future__ import annotations

import argparse
import collections
import time

from google.auth.credentials import AnonymousCredentials
from google.auth.transport.requests import AuthorizedSession
from residency.providers.azure._fake_arm import FakeArm
from residency.providers.azure._guardrails import ALLOWED_LOCATIONS, ALLOWED_RG_LOCATIONS
from residency.providers.gcp._fake_orgpolicy import FakeOrgPolicy

from residency._guardrails import stream_guardrails
from residency._scan import make_context

EU = ["westeurope", "northeurope", "germanywestcentral", "francecentral", "swedencentral"]


def _azure_kind(path: str) -> str:
    low = path.lower()
    for fragment, label in (
        ("getentities", "management-group entities page"),
        ("/policyassignments", "policy assignments page"),
        ("/policyexemptions", "policy exemptions page"),
        ("/policysetdefinitions/", "initiative"),
        ("/policydefinitions/", "policy definition"),
        ("/subscriptions", "subscriptions page"),
    ):
        if fragment in low:
            return label
    return low


def bench_azure(accounts: int, groups: int, concurrency: int, latency_ms: float) -> None:
    with FakeArm(page_size=100) as arm:
        arm.add_management_group("root")
        top = max(1, groups // 10)
        mgs = []
        for t in range(top):
            arm.add_management_group(f"mg-{t}", "root")
            for c in range(max(1, groups // top) - 1):
                arm.add_management_group(f"mg-{t}-{c}", f"mg-{t}")
                mgs.append(f"mg-{t}-{c}")
        mgs = mgs or ["root"]
        root = "/providers/Microsoft.Management/managementGroups/root"
        arm.assign(root, "eu", ALLOWED_LOCATIONS, {"listOfAllowedLocations": EU})
        arm.assign(root, "eu-rg", ALLOWED_RG_LOCATIONS, {"listOfAllowedLocations": EU})
        initiative = arm.add_definition(
            root,
            "residency",
            {
                "parameters": {"regions": {"type": "Array"}},
                "policyDefinitions": [
                    {
                        "policyDefinitionReferenceId": "loc",
                        "policyDefinitionId": ALLOWED_LOCATIONS,
                        "parameters": {"listOfAllowedLocations": {"value": "[parameters('regions')]"}},
                    }
                ],
            },
            initiative=True,
        )
        for i, mg in enumerate(mgs):
            if i % 2 == 0:
                arm.assign(
                    f"/providers/Microsoft.Management/managementGroups/{mg}", "init", initiative, {"regions": EU}
                )
        subs = []
        for i in range(accounts):
            sub = f"00000000-0000-0000-0000-{i:012d}"
            arm.add_subscription(sub)
            arm.place_subscription(sub, mgs[i % len(mgs)])
            if i % 10 == 9:
                arm.exempt(
                    f"/subscriptions/{sub}", "waiver", f"{root}/providers/Microsoft.Authorization/policyAssignments/eu"
                )
            subs.append(sub)
        arm.latency = latency_ms / 1000
        ctx = arm.scan_context("eu", concurrency=concurrency)
        arm.requests.clear()
        start = time.perf_counter()
        found = list(stream_guardrails(ctx))
        took = time.perf_counter() - start
        kinds = collections.Counter(_azure_kind(r.path) for r in arm.requests)
        per_object = collections.Counter(r.path.lower() for r in arm.requests if "definitions/" in r.path.lower())
        statuses = collections.Counter(f.status for f in found)
        print(
            f"azure: {accounts} subscriptions under {len(mgs) + top + 1} management groups, latency {latency_ms} ms, "
            f"concurrency {concurrency}"
        )
        print(f"  {len(arm.requests)} requests in {took:.2f} s; findings {dict(statuses)}")
        for k, n in kinds.most_common():
            print(f"    {n:6d}  {k}")
        print(f"  each definition fetched once: {max(per_object.values()) == 1} ({len(per_object)} definitions)")


def bench_gcp(accounts: int, groups: int, concurrency: int, latency_ms: float) -> None:
    with FakeOrgPolicy(page_size=500) as fake:
        fake.add_organization("1")
        fake.set_policy("organizations/1", {"rules": [{"values": {"allowedValues": ["in:eu-locations"]}}]})
        top = max(1, groups // 10)
        leaves = []
        for t in range(top):
            fake.add_folder(f"{t}", "organizations/1")
            for c in range(max(1, groups // top) - 1):
                leaf = fake.add_folder(f"{t}{c:03d}", f"folders/{t}")
                leaves.append(leaf)
                if c % 2 == 0:
                    fake.set_policy(
                        leaf,
                        {
                            "inheritFromParent": True,
                            "rules": [{"values": {"allowedValues": ["in:europe-west3-locations"]}}],
                        },
                    )
        for i in range(accounts):
            name = fake.add_project(f"p-{i:05d}", leaves[i % len(leaves)])
            if i % 10 == 9:
                fake.set_policy(
                    name,
                    {"inheritFromParent": True, "rules": [{"values": {"allowedValues": ["in:us-east1-locations"]}}]},
                )
        fake.latency = latency_ms / 1000
        ctx = make_context(
            "gcp",
            "eu",
            session=AuthorizedSession(AnonymousCredentials()),  # type: ignore[no-untyped-call]
            endpoint_url=fake.url,
            concurrency=concurrency,
        )
        start = time.perf_counter()
        found = list(stream_guardrails(ctx))
        took = time.perf_counter() - start
        kinds = collections.Counter(
            "org policy get"
            if "/v2/" in p
            else ("projects:search page" if "search" in p else f"CRM {p.split('/')[2]} get")
            for _, p in fake.requests
        )
        per_policy = collections.Counter(p for _, p in fake.requests if "/v2/" in p)
        statuses = collections.Counter(f.status for f in found)
        print(
            f"gcp: {accounts} projects under {len(leaves) + top} folders, latency {latency_ms} ms, "
            f"concurrency {concurrency}"
        )
        print(f"  {len(fake.requests)} requests in {took:.2f} s; findings {dict(statuses)}")
        for k, n in kinds.most_common():
            print(f"    {n:6d}  {k}")
        print(f"  each node's policy fetched once: {max(per_policy.values()) == 1}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--groups", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    args = parser.parse_args()
    bench_azure(args.accounts, args.groups, args.concurrency, args.latency_ms)
    bench_gcp(args.accounts, args.groups, args.concurrency, args.latency_ms)


if __name__ == "__main__":
    main()
