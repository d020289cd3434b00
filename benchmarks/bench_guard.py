"""Guard overhead per write, and lookups per bucket (not a timed test).

Run::

    python benchmarks/bench_guard.py [--calls 3000] [--repeat 7]

Every request is answered in-process by a ``before-send`` handler (no
network, no moto), so the figures are botocore's own cost per call with and
without the guard's handlers, cache warm. Prints, for S3 PutObject and
DynamoDB PutItem, the best-of-N time per call unguarded and guarded, the
overhead ratio, and how many HeadBucket lookups the guard made for W writes
spread over B buckets.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from typing import Any

import botocore.session
from botocore.awsrequest import AWSResponse
from residency.providers.aws import _guard as aws_guard

import residency


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **kw: Any) -> Any:
        yield self._body


def _answer(request: Any, **kw: Any) -> AWSResponse:
    """A canned 200 for every request; HeadBucket says eu-west-1."""
    _answer.count[request.method] = _answer.count.get(request.method, 0) + 1  # type: ignore[attr-defined]
    headers = {"x-amz-bucket-region": "eu-west-1", "content-type": "application/x-amz-json-1.0"}
    body = b"{}" if "dynamodb" in request.url else b""
    return AWSResponse(request.url, 200, headers, _Raw(body))


_answer.count = {}  # type: ignore[attr-defined]


def _client(service: str) -> Any:
    session = botocore.session.get_session()
    client = session.create_client(
        service,
        region_name="eu-west-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
    )
    client.meta.events.register_first("before-send", _answer)
    return client


def _time(fn: Any, calls: int, repeat: int) -> float:
    best = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        best.append((time.perf_counter() - start) / calls)
    return min(best)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    os.environ.setdefault("AWS_CONFIG_FILE", os.devnull)
    os.environ.setdefault("AWS_SHARED_CREDENTIALS_FILE", os.devnull)

    s3 = _client("s3")
    ddb = _client("dynamodb")
    cases = {
        "s3 PutObject": lambda: s3.put_object(Bucket="eu-bkt", Key="k", Body=b"x" * 1024),
        "dynamodb PutItem": lambda: ddb.put_item(TableName="t", Item={"pk": {"S": "a"}}),
    }
    print(f"{'call':<18} {'unguarded µs':>13} {'guarded µs':>11} {'overhead':>9}")
    for name, fn in cases.items():
        for _ in range(200):  # warm botocore's caches
            fn()
        # Interleave unguarded and guarded rounds so drift hits both alike.
        plain, guarded = [], []
        for _ in range(args.repeat):
            plain.append(_time(fn, args.calls, 1))
            with residency.guard(policy="eu", providers=["aws"]):
                fn()  # warm the region cache
                guarded.append(_time(fn, args.calls, 1))
        p, g = min(plain), min(guarded)
        spread = statistics.pstdev(plain) / p * 100
        print(f"{name:<18} {p * 1e6:13.1f} {g * 1e6:11.1f} {(g / p - 1) * 100:8.2f}%  (noise ±{spread:.1f}%)")

    buckets, writes = 20, 1000
    _answer.count.clear()  # type: ignore[attr-defined]
    with residency.guard(policy="eu", cache_ttl=300, providers=["aws"]):
        for i in range(writes):
            s3.put_object(Bucket=f"bkt-{i % buckets}", Key="k", Body=b"x")
        lookups = aws_guard.region_cache.lookups
    heads = _answer.count.get("HEAD", 0)  # type: ignore[attr-defined]
    print(
        f"lookups: {writes} writes over {buckets} buckets -> {lookups} HeadBucket lookups ({heads} HEAD requests sent)"
    )


if __name__ == "__main__":
    main()
