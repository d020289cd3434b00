"""Scan an AWS account from Python and act on the findings.

    python examples/scan_report.py                      # your credentials, every enabled region
    AWS_ENDPOINT_URL=http://127.0.0.1:5000 python examples/scan_report.py   # a local moto_server

Needs ``pip install 'eu-residency[aws]'``. Read-only: it lists and describes, never writes.
"""

from __future__ import annotations

import sys

from residency._scan import run_scan


def main() -> int:
    result = run_scan("aws", "eu", regions=sys.argv[1:] or None)
    counts = result.counts
    print(", ".join(f"{n} {status}" for status, n in counts.items()))
    for f in result.violations:
        where = ", ".join(f"{loc.code} ({'/'.join(loc.countries) or '?'})" for loc in f.locations)
        print(f"{f.service:<15} {f.resource_id}\n    {where}\n    {f.reason}")
    for gap in result.gaps:
        print(f"could not read: {gap}")
    return result.exit_code(fail_on_unknown=True)


if __name__ == "__main__":
    raise SystemExit(main())
