"""``residency scan aws`` against Cloud Custodian on one moto server full of buckets.

Run (numbers, not a timed test)::

    python benchmarks/bench_scan.py                       # 5,000 buckets, ~30 % outside the EU
    python benchmarks/bench_scan.py --buckets 1000 2000 5000 --skip-custodian   # memory vs size
    bash benchmarks/custodian/make_venv.sh                # Custodian in its own virtualenv first

What it does:

1. starts a moto server **in its own process**, wrapped in a WSGI middleware that
   counts every request by AWS service and S3 operation (``/__bench/counts``);
2. seeds N buckets: ~70 % in EU regions, the rest in us-east-1, us-west-2,
   ap-southeast-2 and London (eu-west-2, outside the EU);
3. runs each tool as a child process against that server (``AWS_ENDPOINT_URL``):
   ``residency scan aws --services s3`` (bucket locations + replication), the same
   with ``--s3-replication off`` (the question Custodian's policy answers) and ``all``, and
   ``custodian run`` with ``benchmarks/custodian/s3-outside-eu.yml``;
4. reports requests sent to the server, wall time, peak RSS (``wait4``) and
   precision/recall of the flagged buckets against the seeded truth.

Last run (2026-12-02, moto 5.2.5, c7n 0.9.53 from PyPI in /tmp/c7n-venv, one machine, 5,000 buckets,
1,500 outside the EU)::

    | tool                                         | requests | wall (s) | peak RSS (MiB) | precision | recall |
    |----------------------------------------------|---------:|---------:|---------------:|----------:|-------:|
    | residency scan aws --s3-replication off      |       22 |     3.69 |             80 |     1.000 |  1.000 |
    | residency scan aws (default: needed)         |     3522 |    10.50 |             83 |     1.000 |  1.000 |
    | residency scan aws --s3-replication all      |     5022 |    13.95 |             87 |     1.000 |  1.000 |
    | custodian run (c7n)                          |    50002 |   119.06 |             98 |     1.000 |  1.000 |

This c7n release sends ten requests per bucket (location, tagging, ACL, policy,
versioning, website, logging, notification, lifecycle, replication). With
``off`` the requests are: STS 1, DescribeRegions 1, ListBuckets 1,
ListBuckets(BucketRegion) 9 (one per scanned region), tagging API 9, and — since
S3 Control is now reached on a loopback endpoint — ListMultiRegionAccessPoints 1:
22, whatever the number of buckets. Peak RSS at 1,000 / 20,000 buckets:
81 / 102 MiB (off), 81 / 120 MiB (needed); findings are spooled to disk, what
grows is the bucket name -> region map and botocore's parse of the one
unfiltered ListBuckets page (moto answers it in one page; AWS pages at 10,000).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import pathlib
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from typing import Any

HERE = pathlib.Path(__file__).resolve().parent
CUSTODIAN_VENV = pathlib.Path(os.environ.get("C7N_VENV", "/tmp/c7n-venv"))
EU_REGIONS = ["eu-central-1", "eu-west-1", "eu-west-3", "eu-north-1", "eu-south-1"]
NON_EU = ["us-east-1", "us-west-2", "ap-southeast-2", "eu-west-2"]  # London is outside the EU

_CRED = re.compile(r"Credential=[^/]+/\d+/([^/]+)/([^/]+)/")


# ---------------------------------------------------------------------- the counting server


def serve(port_file: str) -> None:
    """Child process: moto's WSGI app behind a request counter, on 127.0.0.1."""
    import logging

    from moto.server import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    app = DomainDispatcherApplication(create_backend_app)
    counts: Counter[str] = Counter()
    lock = threading.Lock()

    def classify(environ: dict[str, Any]) -> str:
        m = _CRED.search(environ.get("HTTP_AUTHORIZATION", ""))
        service = m.group(2) if m else "unsigned"
        if service != "s3":
            return service
        path = environ.get("PATH_INFO", "/")
        query = environ.get("QUERY_STRING", "")
        method = environ["REQUEST_METHOD"]
        if path in ("", "/"):
            return "s3:ListBuckets(BucketRegion)" if "bucket-region" in query else "s3:ListBuckets"
        if path.startswith("/v20180820/"):  # S3 Control (multi-region access points), signed as s3
            return f"s3control:{method} {path.split('/')[2]}"
        sub = query.split("&")[0].split("=")[0] if query else ""
        return f"s3:{method} ?{sub}" if sub else f"s3:{method}"

    def counted(environ: dict[str, Any], start_response: Any) -> Any:
        path = environ.get("PATH_INFO", "")
        if path == "/__bench/counts":
            with lock:
                body = json.dumps(dict(counts)).encode()
            start_response("200 OK", [("Content-Type", "application/json")])
            return [body]
        if path == "/__bench/reset-counts":
            with lock:
                counts.clear()
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"ok"]
        with lock:
            counts[classify(environ)] += 1
        return app(environ, start_response)

    server = make_server("127.0.0.1", 0, counted, threaded=True)
    pathlib.Path(port_file).write_text(str(server.server_port))
    server.serve_forever()


class Server:
    def __init__(self) -> None:
        fd, self.port_file = tempfile.mkstemp(prefix="bench-port-")
        os.close(fd)
        os.unlink(self.port_file)
        self.proc = subprocess.Popen([sys.executable, __file__, "--serve", self.port_file])
        for _ in range(200):
            if os.path.exists(self.port_file) and pathlib.Path(self.port_file).read_text():
                break
            time.sleep(0.05)
        self.url = f"http://127.0.0.1:{pathlib.Path(self.port_file).read_text()}"

    def counts(self) -> Counter[str]:
        with urllib.request.urlopen(f"{self.url}/__bench/counts") as r:
            return Counter(json.loads(r.read()))

    def reset_counts(self) -> None:
        urllib.request.urlopen(urllib.request.Request(f"{self.url}/__bench/reset-counts", method="POST")).close()

    def reset_state(self) -> None:
        urllib.request.urlopen(urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")).close()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait()
        os.unlink(self.port_file)


# ---------------------------------------------------------------------- seeding and running


def seed(url: str, n: int) -> dict[str, str]:
    """N buckets, ~30 % outside the EU; returns name -> region."""
    import boto3

    layout: dict[str, str] = {}
    for i in range(n):
        region = NON_EU[i % len(NON_EU)] if i % 10 < 3 else EU_REGIONS[i % len(EU_REGIONS)]
        layout[f"bench-{i:05d}-{region}"] = region
    session = boto3.Session(aws_access_key_id="bench", aws_secret_access_key="bench", region_name="us-east-1")
    clients = {r: session.client("s3", region_name=r, endpoint_url=url) for r in {*EU_REGIONS, *NON_EU}}

    def make(item: tuple[str, str]) -> None:
        name, region = item
        kw: dict[str, Any] = {}
        if region != "us-east-1":
            kw["CreateBucketConfiguration"] = {"LocationConstraint": region}
        clients[region].create_bucket(Bucket=name, **kw)

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        list(pool.map(make, layout.items()))
    return layout


def _env(url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ENDPOINT_URL=url,
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_EC2_METADATA_DISABLED="true",
    )
    return env


def run_child(cmd: list[str], env: dict[str, str], cwd: str | None = None) -> tuple[float, float, int, str]:
    """Run ``cmd``; wall seconds, peak RSS in MiB (wait4), exit code, stdout."""
    with tempfile.TemporaryFile() as out:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.DEVNULL, cwd=cwd)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        return wall, usage.ru_maxrss / 1024, proc.returncode, out.read().decode("utf-8", "replace")


def score(flagged: set[str], truth: set[str]) -> tuple[float, float]:
    tp = len(flagged & truth)
    precision = tp / len(flagged) if flagged else 1.0
    recall = tp / len(truth) if truth else 1.0
    return precision, recall


def bench_residency(server: Server, truth: set[str], *, replication: str) -> dict[str, Any]:
    server.reset_counts()
    cmd = [sys.executable, "-m", "residency", "scan", "aws", "--services", "s3", "--format", "json", "--no-history"]
    cmd += ["--regions", ",".join([*EU_REGIONS, *NON_EU])]
    cmd += ["--s3-replication", replication]
    wall, rss, code, out = run_child(cmd, _env(server.url))
    doc = json.loads(out)
    flagged = {f["name"] for f in doc["findings"] if f["status"] == "violation"}
    counts = server.counts()
    p, r = score(flagged, truth)
    label = f"residency scan aws --s3-replication {replication}" + (" (default)" if replication == "needed" else "")
    return {
        "tool": label,
        "requests": sum(counts.values()),
        "wall": wall,
        "rss": rss,
        "precision": p,
        "recall": r,
        "exit": code,
        "by_op": counts,
    }


def bench_custodian(server: Server, truth: set[str]) -> dict[str, Any] | None:
    custodian = CUSTODIAN_VENV / "bin" / "custodian"
    if not custodian.exists():
        print(f"(Cloud Custodian not found at {custodian}: run bash benchmarks/custodian/make_venv.sh)")
        return None
    server.reset_counts()
    with tempfile.TemporaryDirectory() as outdir:
        cmd = [
            str(custodian),
            "run",
            "-s",
            outdir,
            "--region",
            "us-east-1",
            "--cache-period",
            "0",
            str(HERE / "custodian" / "s3-outside-eu.yml"),
        ]
        wall, rss, code, _ = run_child(cmd, _env(server.url))
        resources = pathlib.Path(outdir) / "s3-outside-eu" / "resources.json"
        flagged = {b["Name"] for b in json.loads(resources.read_text())} if resources.exists() else set()
    counts = server.counts()
    p, r = score(flagged, truth)
    return {
        "tool": "custodian run (c7n)",
        "requests": sum(counts.values()),
        "wall": wall,
        "rss": rss,
        "precision": p,
        "recall": r,
        "exit": code,
        "by_op": counts,
    }


def table(rows: list[dict[str, Any]], n: int) -> str:
    lines = [
        f"### {n} buckets ({sum(1 for _ in range(n) if _ % 10 < 3)} outside the EU)",
        "",
        "| tool | requests | wall (s) | peak RSS (MiB) | precision | recall |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['tool']} | {r['requests']} | {r['wall']:.2f} | {r['rss']:.0f} "
            f"| {r['precision']:.3f} | {r['recall']:.3f} |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--buckets", type=int, nargs="+", default=[5000])
    ap.add_argument("--skip-custodian", action="store_true")
    ap.add_argument("--serve", help=argparse.SUPPRESS)
    ap.add_argument("--verbose", action="store_true", help="print requests per operation")
    args = ap.parse_args()
    if args.serve:
        serve(args.serve)
        return
    server = Server()
    try:
        for n in args.buckets:
            server.reset_state()
            t = time.perf_counter()
            layout = seed(server.url, n)
            print(f"seeded {n} buckets in {time.perf_counter() - t:.1f}s", file=sys.stderr)
            truth = {name for name, region in layout.items() if region not in EU_REGIONS}
            rows = [bench_residency(server, truth, replication=mode) for mode in ("off", "needed", "all")]
            if not args.skip_custodian:
                c = bench_custodian(server, truth)
                if c:
                    rows.append(c)
            print(table(rows, n))
            if args.verbose:
                for r in rows:
                    print(f"\n{r['tool']}: " + ", ".join(f"{k}={v}" for k, v in sorted(r["by_op"].items())))
            print()
    finally:
        server.stop()


if __name__ == "__main__":
    main()
