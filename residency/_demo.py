"""``residency demo``: a simulated AWS estate, scanned, then the guard at work.

1. starts a moto server in-process on 127.0.0.1 (no credentials, no network);
2. seeds a realistic mix — EU buckets, a bucket in us-east-1, one in London, an
   EU bucket replicating to the US, a DynamoDB table in Ireland;
3. runs ``residency scan aws`` against it and prints the report;
4. shows the guard (``residency.guard(policy="eu")``) blocking a write to the
   US bucket.

The core never imports boto3: the estate lives in the AWS adapter package
(``residency.providers.aws._scan_demo``), reached after ``load_provider("aws")``.
Later releases add Azure and GCP to the same demo.
"""

from __future__ import annotations

import importlib
from typing import Any, TextIO

from ._errors import ResidencyViolation
from ._registry import load_provider
from ._scan import make_context

__all__ = ["run_demo"]


def _rule(out: TextIO, title: str) -> None:
    out.write(f"\n== {title} " + "=" * max(0, 70 - len(title)) + "\n")


def run_demo(out: TextIO, *, fmt: str = "table", output: str | None = None, history: str | None = None) -> int:
    """Run the demo; 0 when every step behaved as shown (the guard blocked the write), else 1."""
    from ._cli_scan import run_cli_scan
    from ._guard import guard

    load_provider("aws")  # ProviderNotInstalledError naming the extra when boto3 is missing
    estate: Any = importlib.import_module("residency.providers.aws._scan_demo")
    with estate.demo_environment() as url:
        _rule(out, "1. a simulated AWS estate")
        out.write(f"moto server on {url} (in this process; fake credentials, nothing leaves the machine)\n")
        made = estate.seed_estate(url)
        for name, region in made["buckets"].items():
            out.write(f"  s3 bucket  {name:<24} {region}\n")
        out.write(f"  dynamodb   {made['table'][0]:<24} {made['table'][1]}\n")
        out.write("  acme-eu-orders replicates to acme-us-orders-replica (us-east-1)\n")

        _rule(out, "2. residency scan aws --policy eu")
        ctx = make_context("aws", "eu", regions=list(estate.DEMO_REGIONS), endpoint_url=url)
        scan_code = run_cli_scan(ctx, out, fmt=fmt, output=output, history=history, use_history=history is not None)
        out.write(f"(a real scan would exit {scan_code}: {'violations found' if scan_code else 'clean'})\n")

        _rule(out, '3. the guard: residency.guard(policy="eu")')
        out.write('s3.put_object(Bucket=..., Key="customer.json", Body=...) to an EU bucket, then to the US one\n')
        s3 = estate.boto3.Session().client("s3", region_name="us-east-1", endpoint_url=url)
        blocked = False
        try:
            with guard(policy="eu"):
                s3.put_object(Bucket="acme-eu-customers", Key="customer.json", Body=b'{"name": "Ada"}')
                out.write("acme-eu-customers (eu-central-1): allowed, written\n")
                s3.put_object(Bucket="acme-us-analytics", Key="customer.json", Body=b'{"name": "Ada"}')
        except ResidencyViolation as exc:
            blocked = True
            out.write(f"acme-us-analytics: BLOCKED before any byte was sent: {exc}\n")
        except Exception as exc:  # show the demo's real outcome, whatever it is
            out.write(f"the guard step failed unexpectedly: {type(exc).__name__}: {exc}\n")
        else:
            out.write("NOT blocked: the write reached the US bucket (the AWS guard did not stop it)\n")
    _rule(out, "next")
    out.write("residency scan aws --format html -o report.html    # your own account, read-only\n")
    return 0 if blocked else 1
