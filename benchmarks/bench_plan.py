"""``residency plan`` on generated plans of 1k-50k resources, and Checkov 3.3.30 side by side.

Run (numbers, not a timed test)::

    python benchmarks/bench_plan.py                          # 1,000 / 10,000 / 50,000 resources; Checkov on 10,000
    python benchmarks/bench_plan.py --sizes 10000 --checkov-size 1000
    bash benchmarks/checkov/make_venv.sh                     # Checkov 3.3.30 in its own virtualenv first

What it does:

1. writes plans with ``benchmarks/gen_plan.py`` (seeded; the truth beside each) into a
   temporary folder;
2. for each size, in a fresh child process each time (best of ``--repeat``): reads and checks the
   plan with ``residency.check_plan`` (without and with ``--all``) and reports the wall time and the
   child's peak RSS (``resource.getrusage``), and the RSS right after ``import residency`` for scale;
3. runs the CLI as a user would (``python -m residency plan PLAN --all --format json -o …``):
   wall time including interpreter start, peak RSS (``os.wait4``), exit code, and the answers of
   the JSON report against the truth;
4. with Checkov's virtualenv present (``benchmarks/checkov/.venv``, or ``CHECKOV_VENV``), runs
   ``checkov -f PLAN --framework terraform_plan --external-checks-dir benchmarks/checkov/policies``
   with the allow-list check (``CKV_EU_1``) and, separately, the Europe-by-name check
   (``CKV_EU_2``), and compares all answers against the same truth, overall and by what decides
   each answer (provider region, replicas, pairs, dual-regions, London/Zurich …).

Precision and recall are those of "not shown to be inside the EU": the truth's ``violation`` and
``unknown`` (a location known only after apply) are the positives; residency flags
``violation``/``unknown`` findings, Checkov its FAILED resources. Checkov judges every resource of
the plan, unchanged ones too, so the side by side uses ``residency plan --all`` and the truth's
``all`` answers.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from typing import Any

HERE = pathlib.Path(__file__).resolve().parent
CHECKOV_VENV = pathlib.Path(os.environ.get("CHECKOV_VENV", HERE / "checkov" / ".venv"))
POLICIES = HERE / "checkov" / "policies"
FLAGGED = ("violation", "unknown")

sys.path.insert(0, str(HERE))
import gen_plan  # noqa: E402  (the generator beside this file)

_CHILD = r"""
import json, resource, sys, time
import residency
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.perf_counter()
result = residency.check_plan(sys.argv[1], "eu", all_resources=sys.argv[2] == "all")
wall = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"wall": wall, "rss_kib": peak, "import_rss_kib": base,
                  "answers": {f.resource_id: f.status for f in result.findings}}))
"""


def run_child(plan: pathlib.Path, mode: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-c", _CHILD, str(plan), mode], capture_output=True, text=True, check=True)
    doc: dict[str, Any] = json.loads(out.stdout)
    return doc


def timed(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, float, int, str]:
    """Run ``argv``: wall seconds, peak RSS (MiB) of the process, exit code, stdout."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True)
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_maxrss / 1024, proc.returncode, out


def score(truth: dict[str, str], flagged: set[str]) -> tuple[float, float, int, int]:
    """Precision and recall of ``flagged`` against the truth's positives; false positives, misses."""
    positives = {a for a, s in truth.items() if s in FLAGGED}
    tp = len(positives & flagged)
    fp = len(flagged - positives)
    fn = len(positives - flagged)
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    return precision, recall, fp, fn


def by_category(truth: dict[str, str], why: dict[str, list[str]], flagged: set[str]) -> dict[str, tuple[int, int]]:
    """Per category: (found, resources not inside) — a resource counts in every category that decides it."""
    out: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for address, status in truth.items():
        if status not in FLAGGED:
            continue
        for cat in why.get(address, []):
            out[cat][0] += address in flagged
            out[cat][1] += 1
    return {k: (v[0], v[1]) for k, v in sorted(out.items())}


def bench_residency(plan: pathlib.Path, truth: dict[str, Any], repeat: int) -> list[str]:
    rows = []
    for mode in ("changes", "all"):
        runs = [run_child(plan, mode) for _ in range(repeat)]
        best = min(runs, key=lambda r: r["wall"])
        expected = truth["all" if mode == "all" else "default"]
        exact = best["answers"] == expected
        wrong = sum(1 for a, s in expected.items() if best["answers"].get(a) != s) + len(
            set(best["answers"]) - set(expected)
        )
        rows.append(
            f"| {truth['resources']:,} | check_plan{' (--all)' if mode == 'all' else ''} | {best['wall']:.2f} | "
            f"{best['rss_kib'] / 1024:.0f} (import {best['import_rss_kib'] / 1024:.0f}) | {len(best['answers']):,} | "
            f"{'all right' if exact else f'{wrong} wrong'} |"
        )
    return rows


def bench_cli(plan: pathlib.Path, truth: dict[str, Any], workdir: pathlib.Path) -> tuple[str, set[str], float]:
    report = workdir / f"{plan.stem}.report.json"
    argv = [sys.executable, "-m", "residency", "plan", str(plan), "--all", "--format", "json", "-o", str(report)]
    wall, rss, code, _ = timed(argv)
    doc = json.loads(report.read_text())
    answers = {f["resource_id"]: f["status"] for f in doc["findings"]}
    exact = answers == truth["all"]
    row = (
        f"| {truth['resources']:,} | `residency plan --all --format json` (CLI, incl. start-up) | {wall:.2f} | "
        f"{rss:.0f} | {len(answers):,} | {'all right' if exact else 'differs'}, exit {code} |"
    )
    return row, {a for a, s in answers.items() if s in FLAGGED}, wall


def run_checkov(plan: pathlib.Path, check: str) -> tuple[float, float, set[str], dict[str, str]]:
    """Checkov with one of our checks (plus the provider check): wall, RSS, FAILED resources, provider results."""
    exe = CHECKOV_VENV / "bin" / "checkov"
    argv = [str(exe), "-f", str(plan), "--framework", "terraform_plan", "--external-checks-dir", str(POLICIES)]
    argv += ["--check", f"{check},CKV_EU_3", "-o", "json", "--skip-download", "--compact"]
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_NO_OUTPUT_GUIDELINES": "1"}
    wall, rss, _code, out = timed(argv, env)
    doc = json.loads(out)
    results = (doc[0] if isinstance(doc, list) else doc).get("results", {})
    failed = {
        r.get("resource_address") or r["resource"] for r in results.get("failed_checks", []) if r["check_id"] == check
    }
    providers = {
        r["resource"]: r["check_result"]["result"]
        for r in results.get("failed_checks", []) + results.get("passed_checks", [])
        if r["check_id"] == "CKV_EU_3"
    }
    return wall, rss, failed, providers


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 50000])
    parser.add_argument("--checkov-size", type=int, default=10000, help="plan size for the Checkov side by side")
    parser.add_argument("--repeat", type=int, default=3, help="child runs per measurement (best is shown)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-checkov", action="store_true")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="bench-plan-") as tmp:
        workdir = pathlib.Path(tmp)
        plans: dict[int, tuple[pathlib.Path, dict[str, Any]]] = {}
        for n in sorted({*args.sizes, args.checkov_size}):
            plan, truth = gen_plan.generate(n, args.seed)
            path = workdir / f"plan-{n}.json"
            path.write_text(json.dumps(plan, separators=(",", ":")))
            plans[n] = (path, truth)
            size = path.stat().st_size / 1024 / 1024
            counts = Counter(truth["default"].values())
            print(f"plan-{n}.json: {size:.1f} MB, {len(truth['default']):,} findings expected {dict(counts)}")

        print("\n| resources | what | wall (s) | peak RSS (MiB) | findings | answers vs truth |")
        print("|---:|---|---:|---:|---:|---|")
        cli: dict[int, tuple[set[str], float]] = {}
        for n in args.sizes:
            path, truth = plans[n]
            for row in bench_residency(path, truth, args.repeat):
                print(row)
            row, flagged, wall = bench_cli(path, truth, workdir)
            cli[n] = (flagged, wall)
            print(row)

        exe = CHECKOV_VENV / "bin" / "checkov"
        if args.skip_checkov or not exe.exists():
            print(
                f"\nCheckov skipped ({'--skip-checkov' if args.skip_checkov else f'no {exe}'}); "
                "bash benchmarks/checkov/make_venv.sh installs it"
            )
            return 0
        n = args.checkov_size
        path, truth = plans[n]
        if n not in cli:
            _, flagged, wall = bench_cli(path, truth, workdir)
            cli[n] = (flagged, wall)
        version = subprocess.run([str(exe), "--version"], capture_output=True, text=True).stdout.strip()
        rows = [("`residency plan --all`", "residency", cli[n][1], None, cli[n][0])]
        providers: dict[str, str] = {}
        for check, label in (("CKV_EU_1", "allow-list of EU regions"), ("CKV_EU_2", "Europe by name")):
            wall, rss, failed, providers = run_checkov(path, check)
            rows.append((f"Checkov {version}, {label} ({check})", f"Checkov {check}", wall, rss, failed))

        all_truth, why = truth["all"], truth["why"]
        positives = sum(1 for s in all_truth.values() if s in FLAGGED)
        print(f"\nSide by side on {n:,} resources ({len(all_truth):,} with a location, {positives:,} not inside):\n")
        print("| tool | wall (s) | peak RSS (MiB) | precision | recall | false positives | misses |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for label, _, wall, rss, flagged in rows:
            precision, recall, fp, fn = score(all_truth, flagged)
            rss_s = f"{rss:.0f}" if rss is not None else "see above"
            print(f"| {label} | {wall:.1f} | {rss_s} | {precision:.3f} | {recall:.3f} | {fp:,} | {fn:,} |")

        print("\nRecall by what decides the answer (resources not inside the EU found; one counts under each):\n")
        cats = [by_category(all_truth, why, flagged) for *_, flagged in rows]
        print("| decided by | not inside | " + " | ".join(short for _, short, *_ in rows) + " |")
        print("|---|---:|" + "---:|" * len(rows))
        for cat in cats[0]:
            total = cats[0][cat][1]
            cells = " | ".join(f"{c[cat][0] / total:.0%}" for c in cats)
            print(f"| {cat} | {total:,} | {cells} |")
        bad = sorted(k for k, v in providers.items() if v == "FAILED")
        print(
            f"\nCheckov's provider check (CKV_EU_3) failed {len(bad)} of {len(providers)} provider blocks: "
            f"{', '.join(bad)} — it names the block, not the resources that use it; regions set from a "
            "variable are invisible to it (the plan parser keeps only constant values)."
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
