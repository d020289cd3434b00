"""A scan whose endpoint dies part-way: what the circuit breaker saves (issue 10, point 2).

Run (numbers, not a timed test)::

    python benchmarks/bench_dead_endpoint.py                 # 2,000 buckets, dies after 200 replication look-ups
    python benchmarks/bench_dead_endpoint.py --buckets 500 --die-after 50 --max-attempts 2

What it does: serves the in-process moto backends on a loopback port (every
response says ``Connection: close``, so no kept-alive connection outlives the
server), seeds N buckets (90 % in eu-central-1, 10 % in us-east-1), and scans
them with ``run_scan("aws", services=["s3"], s3_replication="all")`` — one
``GetBucketReplication`` per bucket — and stops the server once it has answered
``--die-after`` of those look-ups: connections are refused from then on, or,
with ``--hang``, accepted and never answered (a black hole: every call waits
out botocore's read timeout, set to ``--timeout`` seconds).
The same scan runs twice: with the breaker (default: 5 consecutive failed
calls) and with it effectively off (``breaker_threshold`` 10**9). Printed per
run: wall time, exit code, findings by status, finding rows, gap lines, and
whether every bucket name is still in the report (its own row, or a scope
finding's ``covers``).

Last run (2026-12-04, moto 5, one shared 2-core machine busy with a test run)::

    2000 buckets, dies after 200 look-ups, then refuses connections, 2 attempts per call
    | breaker              | wall (s) | exit | violation | unknown | rows | gap lines | names kept |
    | on (5 failures)      |    15.91 |    1 |       200 |       6 |  387 |         3 |    yes     |
    | off (10**9)          |    12.32 |    1 |       200 |    1619 | 2000 |         1 |    yes     |

    500 buckets, dies after 50 look-ups, then a black hole (2 s timeouts), 2 attempts per call
    | on (5 failures)      |    27.01 |    1 |        50 |       8 |  104 |         3 |    yes     |
    | off (10**9)          |   142.67 |    1 |        50 |     406 |  501 |         2 |    yes     |
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from typing import Any

os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
os.environ.setdefault("AWS_DEFAULT_REGION", "eu-central-1")
os.environ["AWS_CONFIG_FILE"] = os.devnull
os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull


class _Server:
    def __init__(self) -> None:
        from moto.server import DomainDispatcherApplication, create_backend_app
        from werkzeug.serving import make_server

        app = DomainDispatcherApplication(create_backend_app)
        self.die_after: int | None = None
        self.hang = False
        self.hole: Any = None
        self.lookups = 0
        self._lock = threading.Lock()

        def wsgi(environ: dict[str, Any], start_response: Any) -> Any:
            def close(status: str, headers: list[tuple[str, str]], *a: Any) -> Any:
                return start_response(status, [*headers, ("Connection", "close")], *a)

            if "replication" in environ.get("QUERY_STRING", ""):
                with self._lock:
                    self.lookups += 1
                    if self.die_after is not None and self.lookups == self.die_after:
                        threading.Thread(target=self.kill, daemon=True).start()
            return app(environ, close)

        self.server = make_server("127.0.0.1", 0, wsgi, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def kill(self) -> None:
        port = self.server.server_port
        self.server.shutdown()
        self.server.server_close()
        if self.hang:
            import socket

            self.hole = socket.socket()
            self.hole.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.hole.bind(("127.0.0.1", port))
            self.hole.listen(4096)  # the kernel completes connections; nobody ever reads them


def _run(n: int, die_after: int, threshold: int, max_attempts: int, hang: bool, timeout: int) -> dict[str, Any]:
    import logging

    import boto3

    from residency._scan import run_scan

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    boto3.client("s3", region_name="us-east-1")  # warm the loader before timing
    srv = _Server()
    import urllib.request

    urllib.request.urlopen(urllib.request.Request(f"{srv.url}/moto-api/reset", method="POST")).close()
    names = []
    eu = boto3.client("s3", region_name="eu-central-1", endpoint_url=srv.url)
    us = boto3.client("s3", region_name="us-east-1", endpoint_url=srv.url)
    for i in range(n):
        name = f"b-{i:05d}"
        if i % 10 == 9:
            us.create_bucket(Bucket=name)
        else:
            eu.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-central-1"})
        names.append(name)
    srv.die_after = die_after
    srv.hang = hang
    started = time.perf_counter()
    result = run_scan(
        "aws",
        "eu",
        endpoint_url=srv.url,
        regions=["eu-central-1", "us-east-1"],
        services=["s3"],
        s3_replication="all",
        breaker_threshold=threshold,
        max_attempts=max_attempts,
        read_timeout=timeout,
        connect_timeout=timeout,
    )
    if srv.hole is not None:
        srv.hole.close()
    wall = time.perf_counter() - started
    seen = {f.name for f in result.findings if f.resource_type == "bucket"}
    seen |= {c.rsplit(":", 1)[-1] for f in result.findings for c in f.covers}
    return {
        "wall": wall,
        "exit": result.exit_code(),
        "counts": result.counts,
        "rows": len(result.findings),
        "gap_lines": len(result.gaps),
        "names_kept": set(names) <= seen,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--buckets", type=int, default=2000)
    ap.add_argument("--die-after", type=int, default=200, help="replication look-ups answered before it dies")
    ap.add_argument("--max-attempts", type=int, default=5, help="attempts per call, retries included")
    ap.add_argument("--hang", action="store_true", help="after death, accept connections and never answer")
    ap.add_argument("--timeout", type=int, default=60, help="botocore connect and read timeout (s)")
    args = ap.parse_args()
    print(
        f"{args.buckets} buckets, endpoint stops after {args.die_after} replication look-ups, "
        f"{args.max_attempts} attempts per call"
        + (f", then a black hole ({args.timeout} s timeouts)\n" if args.hang else "\n")
    )
    print("| breaker              | wall (s) | exit | violation | unknown | rows | gap lines | names kept |")
    print("|----------------------|---------:|-----:|----------:|--------:|-----:|----------:|:----------:|")
    for label, threshold in (("on (5 failures)", 5), ("off (10**9)", 10**9)):
        r = _run(args.buckets, args.die_after, threshold, args.max_attempts, args.hang, args.timeout)
        c = r["counts"]
        print(
            f"| {label:<20} | {r['wall']:8.2f} | {r['exit']:4d} | {c['violation']:9d} | {c['unknown']:7d} "
            f"| {r['rows']:4d} | {r['gap_lines']:9d} | {'yes' if r['names_kept'] else 'NO':^10} |"
        )


if __name__ == "__main__":
    main()
