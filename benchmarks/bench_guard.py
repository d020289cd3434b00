"""Guard overhead per write, and lookups per bucket (not a timed test).

Run::

    python benchmarks/bench_guard.py [--calls 3000] [--repeat 7]

Every request is answered in-process by a ``before-send`` handler (no
network, no moto), so the figures are botocore's own cost per call with and
without the guard's handlers, cache warm. Prints, for S3 PutObject and
DynamoDB PutItem, the best-of-N time per call unguarded, with three *empty*
handlers on the guard's three events (the floor: what botocore charges for
calling any three handlers per request, whatever they do) and guarded, the
overheads, and how many HeadBucket lookups the guard made for W writes
spread over B buckets.

Why three: ``provide-client-params`` (the caller's parameters, before the
serialiser and before a ``Stubber`` checks its queue, so a bucket lookup goes
first), ``before-endpoint-resolution.s3`` (the only place to route a write to
the bucket's own region before the body is sent, and to see botocore's S3
redirector re-resolving) and ``before-sign`` (every attempt, retries and
redirects included, with the host it really goes to). None of them can take
another's job without guessing host names or missing a path, so the floor
column is what no design of this guard can go below.

On a busy machine wall time is noise; ``--instructions`` counts instead
(needs ``valgrind``): each of the three set-ups runs ``--calls`` writes under
cachegrind (collector paused), once more with none, and the difference per write is reported —
the same figure on a loaded machine as on a quiet one::

    python benchmarks/bench_guard.py --instructions [--calls 1000]
"""

from __future__ import annotations

import argparse
import gc
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
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


def _empty(**kw: Any) -> None:
    pass


#: the guard's events, registered at the same positions (first, last, middle)
_FLOOR_EVENTS = (
    ("provide-client-params", "register_first"),
    ("before-endpoint-resolution.s3", "register_last"),
    ("before-sign", "register"),
)


def _floor(client: Any, on: bool) -> None:
    events = client.meta.events
    for i, (event, how) in enumerate(_FLOOR_EVENTS):
        if on:
            getattr(events, how)(event, _empty, unique_id=f"bench-floor-{i}")
        else:
            events.unregister(event, unique_id=f"bench-floor-{i}")


def _time(fn: Any, calls: int, repeat: int) -> float:
    best = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        best.append((time.perf_counter() - start) / calls)
    return min(best)


def _cases() -> dict[str, tuple[Any, Any]]:
    s3 = _client("s3")
    ddb = _client("dynamodb")
    return {
        "s3 PutObject": (s3, lambda: s3.put_object(Bucket="eu-bkt", Key="k", Body=b"x" * 1024)),
        "dynamodb PutItem": (ddb, lambda: ddb.put_item(TableName="t", Item={"pk": {"S": "a"}})),
    }


def _child(setup: str, case: str, calls: int) -> None:
    """Under cachegrind: warm up, then ``calls`` writes in one set-up (``plain``, ``floor`` or ``guard``)."""
    client, fn = _cases()[case]
    if setup == "floor":
        _floor(client, True)
    elif setup == "guard":
        residency.guard(policy="eu", providers=["aws"]).install()
    for _ in range(200):
        fn()
    # The collector runs every few hundred allocations: when it falls inside the window is not the guard's cost.
    gc.collect()
    gc.disable()
    for _ in range(calls):
        fn()


_VALGRIND = ("valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null")


def _instructions(setup: str, case: str, calls: int) -> int:
    out = subprocess.run(
        [*_VALGRIND, sys.executable, __file__, "--child", setup, case, str(calls)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONHASHSEED": "0"},
    )
    m = re.search(r"I\s+refs:\s+([\d,]+)", out.stderr)
    if m is None:
        raise SystemExit(f"no instruction count from valgrind:\n{out.stderr[-2000:]}")
    return int(m.group(1).replace(",", ""))


def _count(calls: int) -> None:
    if shutil.which("valgrind") is None:
        raise SystemExit("--instructions needs valgrind")
    runs = [(setup, case, n) for case in _cases() for setup in ("plain", "floor", "guard") for n in (0, calls)]
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        counts = dict(zip(runs, pool.map(lambda r: _instructions(*r), runs), strict=True))
    print(f"instructions per write ({calls} writes, valgrind cachegrind, PYTHONHASHSEED=0)")
    print(f"{'call':<18} {'unguarded':>10} {'3 empty':>10} {'guarded':>10} {'floor':>7} {'overhead':>9}")
    for case in _cases():
        per = {s: (counts[(s, case, calls)] - counts[(s, case, 0)]) / calls for s in ("plain", "floor", "guard")}
        p, f, g = per["plain"], per["floor"], per["guard"]
        print(f"{case:<18} {p:10.0f} {f - p:+10.0f} {g - p:+10.0f} {(f / p - 1) * 100:6.2f}% {(g / p - 1) * 100:8.2f}%")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--instructions", action="store_true", help="count instructions under valgrind instead")
    parser.add_argument("--child", nargs=3, metavar=("SETUP", "CASE", "CALLS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("AWS_CONFIG_FILE", os.devnull)
    os.environ.setdefault("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    if args.child:
        _child(args.child[0], args.child[1], int(args.child[2]))
        return
    if args.instructions:
        _count(args.calls if args.calls != parser.get_default("calls") else 1000)
        return

    cases = _cases()
    s3 = cases["s3 PutObject"][0]
    print(f"{'call':<18} {'unguarded µs':>13} {'3 empty µs':>11} {'guarded µs':>11} {'floor':>7} {'overhead':>9}")
    for name, (client, fn) in cases.items():
        for _ in range(200):  # warm botocore's caches
            fn()
        # Interleave the three kinds of round so drift hits them alike.
        plain, floor, guarded = [], [], []
        for _ in range(args.repeat):
            plain.append(_time(fn, args.calls, 1))
            _floor(client, True)
            floor.append(_time(fn, args.calls, 1))
            _floor(client, False)
            with residency.guard(policy="eu", providers=["aws"]):
                fn()  # warm the region cache
                guarded.append(_time(fn, args.calls, 1))
        p, f, g = min(plain), min(floor), min(guarded)
        spread = statistics.pstdev(plain) / p * 100
        print(
            f"{name:<18} {p * 1e6:13.1f} {f * 1e6:11.1f} {g * 1e6:11.1f} {(f / p - 1) * 100:6.2f}% "
            f"{(g / p - 1) * 100:8.2f}%  (noise ±{spread:.1f}%)"
        )

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
