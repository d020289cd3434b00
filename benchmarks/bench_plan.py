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
from collections import defaultdict
from typing import Any

HERE = pathlib.Path(__file__).resolve().parent
CHECKOV_VENV = pathlib.Path(os.environ.get("CHECKOV_VENV", HERE / "checkov" / ".venv"))
POLICIES = HERE / "checkov" / "policies"
FLAGGED = ("violation", "unknown")

# The child measures itself, then reads the truth. Linux keeps ru_maxrss across exec, so this parent
# stays small (plans are generated and reports scored in children) lest its peak show in theirs.
_CHILD = r"""
import json, resource, sys, time
import residency
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t, c = time.perf_counter(), time.process_time()
result = residency.check_plan(sys.argv[1], "eu", all_resources=sys.argv[2] == "all")
wall, cpu = time.perf_counter() - t, time.process_time() - c
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
answers = {f.resource_id: f.status for f in result.findings}
del result
expected = json.load(open(sys.argv[3]))["all" if sys.argv[2] == "all" else "default"]
wrong = sum(answers.get(a) != s for a, s in expected.items()) + len(answers.keys() - expected.keys())
print(json.dumps({"wall": wall, "cpu": cpu, "rss_kib": peak, "import_rss_kib": base,
                  "findings": len(answers), "wrong": wrong}))
"""


def run_child(plan: pathlib.Path, mode: str) -> dict[str, Any]:
    truth = plan.with_suffix(".truth.json")
    argv = [sys.executable, "-c", _CHILD, str(plan), mode, str(truth)]
    doc: dict[str, Any] = json.loads(subprocess.run(argv, capture_output=True, text=True, check=True).stdout)
    return doc


def timed(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, float, float, int, str]:
    """Run ``argv``: wall seconds, CPU seconds, peak RSS (MiB) of the process, exit code, stdout."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True)
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, proc.returncode, out


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


def bench_residency(plan: pathlib.Path, n: int, repeat: int) -> list[str]:
    rows = []
    for mode in ("changes", "all"):
        runs = [run_child(plan, mode) for _ in range(repeat)]
        best = min(runs, key=lambda r: r["wall"])
        answers = "all right" if not best["wrong"] else f"{best['wrong']} wrong"
        rows.append(
            f"| {n:,} | check_plan{' (--all)' if mode == 'all' else ''} | {best['wall']:.2f} | {best['cpu']:.2f} | "
            f"{best['rss_kib'] / 1024:.0f} (after import {best['import_rss_kib'] / 1024:.0f}) | {best['findings']:,} | "
            f"{answers} |"
        )
    return rows


def bench_cli(plan: pathlib.Path, n: int) -> tuple[str, tuple[float, float, float]]:
    report = plan.with_suffix(".report.json")
    argv = [sys.executable, "-m", "residency", "plan", str(plan), "--all", "--format", "json", "-o", str(report)]
    wall, cpu, rss, code, _ = timed(argv)
    score_argv = [sys.executable, "-c", _SCORE_REPORT, str(report), str(plan.with_suffix(".truth.json"))]
    findings, wrong = json.loads(subprocess.run(score_argv, capture_output=True, text=True, check=True).stdout)
    row = (
        f"| {n:,} | `residency plan --all --format json` (CLI, incl. start-up) | {wall:.2f} | {cpu:.2f} | "
        f"{rss:.0f} | {findings:,} | {'all right' if not wrong else f'{wrong} wrong'}, exit {code} |"
    )
    return row, (wall, cpu, rss)


_SCORE_REPORT = r"""
import json, sys
answers = {f["resource_id"]: f["status"] for f in json.load(open(sys.argv[1]))["findings"]}
expected = json.load(open(sys.argv[2]))["all"]
wrong = sum(answers.get(a) != s for a, s in expected.items()) + len(answers.keys() - expected.keys())
print(json.dumps([len(answers), wrong]))
"""


def flagged_in_report(plan: pathlib.Path) -> set[str]:
    doc = json.loads(plan.with_suffix(".report.json").read_text())
    return {f["resource_id"] for f in doc["findings"] if f["status"] in FLAGGED}


def run_checkov(plan: pathlib.Path, check: str) -> tuple[tuple[float, float], float, set[str], dict[str, str]]:
    """Checkov with one of our checks (plus the provider check): (wall, CPU), RSS, FAILED resources, providers."""
    exe = CHECKOV_VENV / "bin" / "checkov"
    argv = [str(exe), "-f", str(plan), "--framework", "terraform_plan", "--external-checks-dir", str(POLICIES)]
    argv += ["--check", f"{check},CKV_EU_3", "-o", "json", "--skip-download", "--compact"]
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_NO_OUTPUT_GUIDELINES": "1"}
    wall, cpu, rss, _code, out = timed(argv, env)
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
    return (wall, cpu), rss, failed, providers


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
        plans: dict[int, pathlib.Path] = {}
        for n in sorted({*args.sizes, args.checkov_size}):
            path = plans[n] = workdir / f"plan-{n}.json"
            gen = [sys.executable, str(HERE / "gen_plan.py"), str(n), "-o", str(path), "--seed", str(args.seed)]
            said = subprocess.run(gen, capture_output=True, text=True, check=True).stdout.strip()
            print(f"{said} ({path.stat().st_size / 1024 / 1024:.1f} MB)")

        print("\n| resources | what | wall (s) | CPU (s) | peak RSS (MiB) | findings | answers vs truth |")
        print("|---:|---|---:|---:|---:|---:|---|")
        cli: dict[int, tuple[float, float, float]] = {}
        for n in args.sizes:
            for row in bench_residency(plans[n], n, args.repeat):
                print(row)
            row, cli[n] = bench_cli(plans[n], n)
            print(row)

        exe = CHECKOV_VENV / "bin" / "checkov"
        if args.skip_checkov or not exe.exists():
            print(
                f"\nCheckov skipped ({'--skip-checkov' if args.skip_checkov else f'no {exe}'}); "
                "bash benchmarks/checkov/make_venv.sh installs it"
            )
            return 0
        n = args.checkov_size
        path = plans[n]
        if n not in cli:
            _, cli[n] = bench_cli(path, n)
        truth = json.loads(path.with_suffix(".truth.json").read_text())
        version = subprocess.run([str(exe), "--version"], capture_output=True, text=True).stdout.strip()
        rows = [("`residency plan --all` (CLI)", "residency", cli[n][:2], cli[n][2], flagged_in_report(path))]
        providers: dict[str, str] = {}
        for check, label in (("CKV_EU_1", "allow-list of EU regions"), ("CKV_EU_2", "Europe by name")):
            wall, rss, failed, providers = run_checkov(path, check)
            rows.append((f"Checkov {version}, {label} ({check})", f"Checkov {check}", wall, rss, failed))

        all_truth, why = truth["all"], truth["why"]
        positives = sum(1 for s in all_truth.values() if s in FLAGGED)
        print(f"\nSide by side on {n:,} resources ({len(all_truth):,} with a location, {positives:,} not inside):\n")
        print("| tool | wall (s) | CPU (s) | peak RSS (MiB) | precision | recall | false positives | misses |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for label, _, (wall, cpu), rss, flagged in rows:
            precision, recall, fp, fn = score(all_truth, flagged)
            print(
                f"| {label} | {wall:.1f} | {cpu:.1f} | {rss:.0f} | {precision:.3f} | {recall:.3f} | {fp:,} | {fn:,} |"
            )

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
