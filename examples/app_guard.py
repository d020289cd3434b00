"""An application that keeps its data in the EU with ``residency.guard``.

Run it (no AWS account needed: it uses moto's in-process AWS)::

    pip install 'eu-residency[aws]' moto
    python examples/app_guard.py

Against real AWS, drop the ``mock_aws()`` block and install the guard once at
start-up, before the first request is served: every boto3/botocore client,
created before or after, is then checked.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import boto3
from moto import mock_aws

import residency


def save_report(s3: Any, bucket: str, body: bytes) -> None:
    """The application code: nothing residency-specific in here."""
    s3.put_object(Bucket=bucket, Key="reports/2026-q4.csv", Body=body)


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "demo")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "demo")
    with mock_aws():
        boto3.client("s3", region_name="eu-central-1").create_bucket(
            Bucket="reports-frankfurt", CreateBucketConfiguration={"LocationConstraint": "eu-central-1"}
        )
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="reports-virginia")

        # A client configured for us-east-1, the default of many tools.
        s3 = boto3.client("s3", region_name="us-east-1")

        # Enforce: out-of-geography writes raise before any byte leaves.
        guard = residency.guard(policy="eu")
        guard.install()
        try:
            save_report(s3, "reports-frankfurt", b"revenue,42\n")  # routed to eu-central-1
            print("stored in reports-frankfurt (eu-central-1)")
            try:
                save_report(s3, "reports-virginia", b"revenue,42\n")
            except residency.ResidencyViolation as exc:
                print(f"blocked: {exc}")
                print(f"  target={exc.target} location={exc.location} countries={exc.countries}")
        finally:
            guard.uninstall()

        # Audit: let writes through, log a WARNING and call a hook (e.g. to alert).
        alerts: list[residency.ResidencyViolation] = []
        with residency.guard(policy="eea-ch", mode="audit", on_violation=alerts.append):
            save_report(s3, "reports-virginia", b"revenue,42\n")
        print(f"audit mode recorded {len(alerts)} violation(s); the write went through")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
