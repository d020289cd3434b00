"""Micro-benchmark of the core: catalog lookups, policy decisions, and ``policy validate`` on large files.

Run: ``.venv/bin/python benchmarks/bench_policy.py``

The validate figures time ``residency policy validate FILE`` (in-process) on
generated policies of 1,000, 5,000 and 20,000 custom geographies, each naming
the next one (written last first, so every reference is a forward one), and
on a 5 MB file, which is refused at the 1 MiB limit without being read, and on a
253 kB file whose one 1,000-country list is aliased by 20,000 geographies (20
million values once expanded), refused at the one-million-value limit.
"""

from __future__ import annotations

import contextlib
import io
import pathlib
import tempfile
import time

import residency
from residency._cli import main as cli


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
    with tempfile.TemporaryDirectory() as tmp:
        for n in (1_000, 5_000, 20_000):
            path = pathlib.Path(tmp, f"chain-{n}.yaml")
            path.write_text(_chain(n))
            validate(f"policy validate: {n:,} geographies ({path.stat().st_size / 1e3:.0f} kB)", path)
        path = pathlib.Path(tmp, "huge.yaml")
        path.write_text("allow: EU\ndescription: " + "x" * 5_000_000 + "\n")
        validate("policy validate: 5 MB file (refused at 1 MiB)", path, expect=2)
        path = pathlib.Path(tmp, "aliases.yaml")
        countries = ", ".join(["DE", "FR", "AT", "IT"] * 250)
        path.write_text(
            f"allow: EU\ngeographies:\n  G0: &x [{countries}]\n" + "".join(f"  G{i}: *x\n" for i in range(1, 20_000))
        )
        validate(f"policy validate: 20,000 aliases ({path.stat().st_size / 1e3:.0f} kB, refused)", path, expect=2)


def _chain(n: int) -> str:
    countries = ("DE", "AT", "FR", "IT", "ES", "NL", "BE")
    lines = [f"  G{i}: [{countries[i % 7]}, G{i + 1}]" for i in range(n - 1)] + [f"  G{n - 1}: [PL]"]
    return "version: 1\nallow: G0\ngeographies:\n" + "\n".join(lines) + "\n"


def validate(label: str, path: pathlib.Path, expect: int = 0, runs: int = 3) -> float:
    """Best of ``runs`` wall-clock times of ``residency policy validate``."""
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        with contextlib.redirect_stderr(io.StringIO()):
            code = cli(["policy", "validate", str(path)], stdout=io.StringIO())
        best = min(best, time.perf_counter() - start)
        assert code == expect, (label, code)
    print(f"{label:<48} {best * 1e3:8.1f} ms")
    return best


if __name__ == "__main__":
    main()
