"""An AWS organisation scan: one AWS Config aggregator (``--source config``) vs role assumption per account.

Run (numbers, not a timed test)::

    python benchmarks/bench_aws_config.py                      # 100 accounts x 1,000 resources via Config,
                                                               # the per-account path on scaled moto estates
    python benchmarks/bench_aws_config.py --accounts 10 --resources 100 --api-points "1,14 1,28 2,14"

What it does:

1. **Config source, full size**: seeds the loopback fake of the Config query API
   (``residency.providers.aws._fake_config``, in this process) with an organisation of
   ``--accounts`` x ``--resources`` data stores (``org_layout``: buckets, tables, volumes,
   keys, secrets, repositories, DB instances; 1 in 20 in us-east-1, London or Sydney;
   some buckets replicating) behind one all-regions organisation aggregator, then runs
   ``residency scan aws --source config --aggregator org --org`` as a child process
   (``AWS_ENDPOINT_URL`` = the fake) and reports requests (counted by the fake), wall
   time, peak RSS (``wait4``) and precision/recall against the seeded truth.
2. **Per-account path, scaled**: a moto server in its own process (request counter of
   ``bench_scan.py``); an organisation with ``m`` member accounts, each seeded through an
   assumed ``OrganizationAccountAccessRole`` with ``r`` resources of the same layout
   (no bucket replication), then ``residency scan aws --org`` (``AssumeRole`` per account,
   every enabled region). 100 accounts x 1,000 resources in moto is out of reach on this
   machine (seeding alone is 100,000 create calls), so it is measured at the
   ``--api-points`` sizes and **extrapolated** with the fit
   ``requests = c + a·accounts + b·resources`` (accounts counting the management account
   it also scans; likewise for wall time), printed next to the measured points.

Last run (2026-12-04, moto 5.2.5, a shared 2-core machine under load; figures and the fit in README
"Numbers"): ``--source config`` at 100 x 1,000: 1,008 requests, 75.7 s, 131 MiB, precision and recall 1.000;
``--source api`` fit: requests = -17 + 358/account + 0.64/resource, so ~100,400 at 100 x 1,000.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import pathlib
import sys
import tempfile
import time
from typing import Any

import boto3

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from bench_scan import Server, _env, run_child, score
from residency.providers.aws._fake_config import FakeConfig, org_layout, seed_org


def _scan(env: dict[str, str], extra: list[str]) -> tuple[float, float, int, dict[str, str]]:
    with tempfile.TemporaryDirectory() as tmp:
        report = os.path.join(tmp, "report.json")
        cmd = [sys.executable, "-m", "residency", "scan", "aws", "--org", "--no-history", "--format", "json"]
        wall, rss, code, _ = run_child([*cmd, "--output", report, *extra], env)
        doc = json.loads(pathlib.Path(report).read_text())
    return wall, rss, code, {f["resource_id"]: f["status"] for f in doc["findings"]}


def bench_config(accounts: int, resources: int) -> dict[str, Any]:
    with FakeConfig() as fake:
        t = time.perf_counter()
        truth = seed_org(fake, accounts=accounts, resources=resources)
        print(f"config fake: seeded {len(truth)} resources in {time.perf_counter() - t:.1f}s", file=sys.stderr)
        env = _env(fake.url)
        wall, rss, code, found = _scan(env, ["--source", "config", "--aggregator", "org"])
        requests = dict(fake.requests)
    flagged = {k for k, v in found.items() if v == "violation"}
    p, r = score(flagged, {k for k, v in truth.items() if v == "violation"})
    return {
        "path": f"--source config, {accounts} x {resources}",
        "accounts": accounts,
        "resources": accounts * resources,
        "requests": sum(requests.values()),
        "wall": wall,
        "rss": rss,
        "precision": p,
        "recall": r,
        "findings": len(found),
        "by_op": requests,
        "exit": code,
    }


def _seed_moto(url: str, members: int, resources: int) -> set[str]:
    """An organisation in moto with ``members`` accounts of ``resources`` each; ARNs of the violations."""
    base = boto3.Session(aws_access_key_id="bench", aws_secret_access_key="bench", region_name="us-east-1")
    org = base.client("organizations", endpoint_url=url)
    org.create_organization(FeatureSet="ALL")
    ids = []
    for i in range(members):
        req = org.create_account(Email=f"m{i}@example.com", AccountName=f"member-{i}")["CreateAccountStatus"]["Id"]
        ids.append(org.describe_create_account_status(CreateAccountRequestId=req)["CreateAccountStatus"]["AccountId"])
    sts = base.client("sts", endpoint_url=url)
    outside: set[str] = set()
    for acct in ids:
        c = sts.assume_role(
            RoleArn=f"arn:aws:iam::{acct}:role/OrganizationAccountAccessRole", RoleSessionName="bench-seed"
        )
        cred = c["Credentials"]
        session = boto3.Session(
            aws_access_key_id=cred["AccessKeyId"],
            aws_secret_access_key=cred["SecretAccessKey"],
            aws_session_token=cred["SessionToken"],
        )
        clients: dict[tuple[str, str], Any] = {}

        def client(service: str, region: str, _s: Any = session, _c: dict[tuple[str, str], Any] = clients) -> Any:
            if (service, region) not in _c:
                _c[(service, region)] = _s.client(service, region_name=region, endpoint_url=url)
            return _c[(service, region)]

        def make(item: tuple[int, str, str, bool], a: str = acct) -> str | None:
            n, kind, region, out = item
            rid = f"{kind}-{a}-{n:05d}"
            arn = ""
            if kind == "bucket":
                kw = {"CreateBucketConfiguration": {"LocationConstraint": region}} if region != "us-east-1" else {}
                client("s3", region).create_bucket(Bucket=rid, **kw)
                arn = f"arn:aws:s3:::{rid}"
            elif kind == "table":
                arn = client("dynamodb", region).create_table(
                    TableName=rid,
                    KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
                    AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
                    BillingMode="PAY_PER_REQUEST",
                )["TableDescription"]["TableArn"]
            elif kind == "volume":
                vol = client("ec2", region).create_volume(AvailabilityZone=f"{region}a", Size=1)["VolumeId"]
                arn = f"arn:aws:ec2:{region}:{a}:volume/{vol}"
            elif kind == "key":
                arn = client("kms", region).create_key()["KeyMetadata"]["Arn"]
            elif kind == "secret":
                arn = client("secretsmanager", region).create_secret(Name=rid, SecretString="x")["ARN"]
            elif kind == "repository":
                arn = client("ecr", region).create_repository(repositoryName=rid)["repository"]["repositoryArn"]
            else:
                arn = client("rds", region).create_db_instance(
                    DBInstanceIdentifier=rid,
                    Engine="postgres",
                    DBInstanceClass="db.t3.micro",
                    AllocatedStorage=20,
                    MasterUsername="admin1",
                    MasterUserPassword="password-123",
                )["DBInstance"]["DBInstanceArn"]
            return arn if out else None

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            outside |= {a for a in pool.map(make, org_layout(resources)) if a}
    return outside


def bench_api(server: Server, members: int, resources: int) -> dict[str, Any]:
    server.reset_state()
    t = time.perf_counter()
    truth = _seed_moto(server.url, members, resources)
    print(f"moto: seeded {members} x {resources} in {time.perf_counter() - t:.1f}s", file=sys.stderr)
    server.reset_counts()
    wall, rss, code, found = _scan(_env(server.url), [])
    counts = server.counts()
    flagged = {k for k, v in found.items() if v == "violation"}
    p, r = score(flagged, truth)
    return {
        "path": f"--source api (AssumeRole), {members} x {resources}",
        "accounts": members + 1,  # the management account is scanned too
        "resources": members * resources,
        "requests": sum(counts.values()),
        "wall": wall,
        "rss": rss,
        "precision": p,
        "recall": r,
        "findings": len(found),
        "by_op": counts,
        "exit": code,
    }


def _fit(rows: list[dict[str, Any]], key: str) -> tuple[float, float, float]:
    """Least squares ``key = c + a·accounts + b·resources`` over the measured rows."""
    xs = [(1.0, float(r["accounts"]), float(r["resources"])) for r in rows]
    ys = [float(r[key]) for r in rows]
    # the normal equations (X'X) beta = X'y, solved by Gaussian elimination (3 unknowns)
    m = [
        [sum(x[i] * x[j] for x in xs) for j in range(3)] + [sum(x[i] * y for x, y in zip(xs, ys, strict=True))]
        for i in range(3)
    ]
    for col in range(3):
        pivot = max(range(col, 3), key=lambda row: abs(m[row][col]))
        m[col], m[pivot] = m[pivot], m[col]
        for row in range(3):
            if row != col:
                f = m[row][col] / m[col][col]
                m[row] = [v - f * w for v, w in zip(m[row], m[col], strict=True)]
    c, a, b = (m[i][3] / m[i][i] for i in range(3))
    return c, a, b


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--accounts", type=int, default=100)
    ap.add_argument("--resources", type=int, default=1000, help="per account")
    ap.add_argument(
        "--api-points", default="1,14 1,70 2,14 3,14", help="member accounts,resources per account (space-separated)"
    )
    ap.add_argument("--skip-api", action="store_true")
    ap.add_argument("--verbose", action="store_true", help="print requests per operation")
    args = ap.parse_args()
    rows = [bench_config(args.accounts, args.resources)]
    if not args.skip_api:
        server = Server()
        try:
            points = [tuple(int(v) for v in p.split(",")) for p in args.api_points.split()]
            api = [bench_api(server, m, r) for m, r in points]
        finally:
            server.stop()
        rows += api
        if len(api) >= 3:
            accounts, total = args.accounts + 1, args.accounts * args.resources
            est: dict[str, Any] = {"path": f"--source api, {args.accounts} x {args.resources} (extrapolated)"}
            for key in ("requests", "wall", "rss"):
                c, a, b = _fit(api, key)
                est[key] = c + a * accounts + b * total
                print(f"fit {key}: {c:.1f} + {a:.2f}/account + {b:.4f}/resource", file=sys.stderr)
            rows.append({**est, "precision": float("nan"), "recall": float("nan"), "findings": 0})
    print("| path | requests | wall (s) | peak RSS (MiB) | findings | precision | recall |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['path']} | {r['requests']:,.0f} | {r['wall']:.1f} | {r['rss']:.0f} | {r['findings']:,} "
            f"| {r['precision']:.3f} | {r['recall']:.3f} |"
        )
    if args.verbose:
        for r in rows:
            if "by_op" in r:
                print(f"\n{r['path']}: " + ", ".join(f"{k}={v}" for k, v in sorted(r["by_op"].items())))


if __name__ == "__main__":
    main()
