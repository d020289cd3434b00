"""``residency demo``: a simulated AWS estate, scanned, then the guard at work.

1. starts a moto server in-process on 127.0.0.1 (no credentials, no network);
2. seeds a realistic mix — EU buckets, a bucket in us-east-1, one in London, an
   EU bucket replicating to the US, a DynamoDB table in Ireland;
3. runs ``residency scan aws`` against it and prints the report;
4. shows the guard (``residency.guard(policy="eu")``) blocking a write to the
   US bucket;
5. builds an organisation in the same server, one OU under the SCP
   ``residency guardrails emit aws --policy eu`` writes and one under a
   hand-written SCP that lets London in, and runs ``residency guardrails aws``;
6. does the same for Azure (a loopback Resource Manager fake and Azurite) and
   Google Cloud (a loopback Cloud Storage fake) when their SDKs are installed;
7. checks a Terraform plan shipped with the package (``residency/data/demo-plan.json``:
   AWS, Azure and Google resources) with ``residency plan`` — no SDK needed.

The core never imports boto3: the estate lives in the AWS adapter package
(``residency.providers.aws._scan_demo``), reached after ``load_provider("aws")``.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Sequence
from importlib import resources
from typing import Any, TextIO

from ._errors import ProviderError, ProviderNotInstalledError, ResidencyViolation
from ._findings import Finding
from ._registry import load_provider
from ._scan import make_context

__all__ = ["DEMO_PLAN", "run_demo"]

#: the packaged plan of the plan step, and what ``residency plan --policy eu`` must find in it
DEMO_PLAN = "data/demo-plan.json"
_PLAN_EXPECTED = {
    "aws_s3_bucket.eu": "compliant",
    "aws_s3_bucket.london": "violation",
    "aws_s3_bucket.replica_us": "violation",
    "aws_s3_bucket_replication_configuration.to_us": "violation",
    "azurerm_storage_account.uk": "violation",
    "google_storage_bucket.archive": "violation",
    "google_storage_bucket.exports": "unknown",
}


def _rule(out: TextIO, title: str) -> None:
    out.write(f"\n== {title} " + "=" * max(0, 70 - len(title)) + "\n")


def _output_for(output: str | None, provider: str, many: bool) -> str | None:
    if not output or output == "-" or not many:
        return output
    stem, dot, ext = output.rpartition(".")
    return f"{stem}-{provider}.{ext}" if dot else f"{output}-{provider}"


def run_demo(
    out: TextIO,
    *,
    fmt: str = "table",
    output: str | None = None,
    history: str | None = None,
    providers: Sequence[str] | None = None,
) -> int:
    """Run the demo for each simulated cloud; 0 when every step behaved as shown, else 1.

    ``providers`` defaults to every cloud whose SDK is installed; a cloud named
    explicitly whose SDK is missing is an error naming the extra.
    """
    names = [p.lower() for p in providers] if providers else ["aws", "azure", "gcp"]
    explicit = providers is not None
    ok = True
    ran = 0
    for name in names:
        step = {"aws": _demo_aws, "azure": _demo_azure, "gcp": _demo_gcp}.get(name)
        if step is None:
            raise ProviderError(f"unknown demo provider {name!r}; use aws, azure or gcp")
        try:
            load_provider(name)
        except ProviderNotInstalledError as exc:
            if explicit:
                raise
            _rule(out, f"{name}: skipped")
            out.write(f"{exc}\n")
            continue
        ran += 1
        ok = step(out, fmt, _output_for(output, name, len(names) > 1), history) and ok
    if not ran:
        raise ProviderError("no cloud SDK is installed: pip install 'eu-residency[demo]'")
    ok = _demo_plan(out) and ok
    _rule(out, "next")
    out.write("residency scan aws --format html -o report.html    # your own account, read-only\n")
    out.write("residency scan azure --subscriptions SUB           # DefaultAzureCredential\n")
    out.write("residency scan gcp --projects PROJECT              # application default credentials\n")
    out.write("terraform show -json tfplan > plan.json && residency plan plan.json   # before apply\n")
    out.write("residency guardrails aws                           # from the management account\n")
    return 0 if ok else 1


def _demo_aws(out: TextIO, fmt: str, output: str | None, history: str | None) -> bool:
    from ._cli_scan import run_cli_scan
    from ._guard import guard

    estate: Any = importlib.import_module("residency.providers.aws._scan_demo")
    with estate.demo_environment() as url:
        _rule(out, "AWS 1. a simulated AWS estate")
        out.write(f"moto server on {url} (in this process; fake credentials, nothing leaves the machine)\n")
        made = estate.seed_estate(url)
        for name, region in made["buckets"].items():
            out.write(f"  s3 bucket  {name:<24} {region}\n")
        out.write(f"  dynamodb   {made['table'][0]:<24} {made['table'][1]}\n")
        out.write("  acme-eu-orders replicates to acme-us-orders-replica (us-east-1)\n")

        _rule(out, "AWS 2. residency scan aws --policy eu")
        ctx = make_context("aws", "eu", regions=list(estate.DEMO_REGIONS), endpoint_url=url)
        scan_code = run_cli_scan(ctx, out, fmt=fmt, output=output, history=history, use_history=history is not None)
        out.write(f"(a real scan would exit {scan_code}: {'violations found' if scan_code else 'clean'})\n")

        _rule(out, 'AWS 3. the guard: residency.guard(policy="eu")')
        out.write('s3.put_object(Bucket=..., Key="customer.json", Body=...) to an EU bucket, then to the US one\n')
        s3 = estate.boto3.Session().client("s3", region_name="us-east-1", endpoint_url=url)
        blocked = False
        try:
            with guard(policy="eu", providers=["aws"]):
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

        _rule(out, "AWS 4. residency guardrails aws --policy eu")
        try:
            confined = _guardrails_aws(out, estate, url)
        except Exception as exc:  # show the demo's real outcome, whatever it is
            out.write(f"the guardrails step failed unexpectedly: {type(exc).__name__}: {exc}\n")
            confined = False
    return blocked and confined


def _guardrails_aws(out: TextIO, estate: Any, url: str) -> bool:
    from ._cli_scan import run_cli_scan
    from ._guardrails import emit_guardrails, stream_guardrails

    org = estate.seed_organisation(url, emit_guardrails("aws", "eu"))
    eu_member, uk_member = org["members"]["eu-workloads"], org["members"]["uk-workloads"]
    out.write(f"  OU eu-workloads  account {eu_member}  SCP from 'residency guardrails emit aws --policy eu'\n")
    out.write(f"  OU uk-workloads  account {uk_member}  hand-written SCP: EU regions and London (eu-west-2)\n")
    out.write(f"  management       account {org['management']}\n")
    seen: dict[str, str] = {}

    def noted(context: Any) -> Iterator[Finding]:
        for finding in stream_guardrails(context):
            seen[finding.account] = finding.status
            yield finding

    # as 'residency guardrails aws' builds it: a history scope of its own, the same report and exit code
    ctx = make_context("aws", "eu", endpoint_url=url, services=["guardrails"])
    code = run_cli_scan(ctx, out, fmt="table", use_history=False, findings=noted)
    out.write(
        f"the management account is a violation by design: SCPs do not govern it (keep data out of it)\n"
        f"(a real run would exit {code}: {'violations found' if code else 'clean'})\n"
    )
    expected = {org["management"]: "violation", eu_member: "compliant", uk_member: "violation"}
    return code == 1 and seen == expected


def _demo_plan(out: TextIO) -> bool:
    """``residency plan`` on the packaged plan, as the CLI runs it; True when it finds what the demo says."""
    from ._plan import check_plan
    from ._policy import load_policy
    from ._report import Report, write_report

    with resources.as_file(resources.files("residency").joinpath(DEMO_PLAN)) as path:
        _rule(out, "plan: residency plan demo-plan.json --policy eu")
        out.write(
            "a Terraform plan (AWS, Azure, Google) that has not been applied: nothing exists yet, no SDK is used\n"
        )
        policy = load_policy("eu")
        result = check_plan([path], policy)
        report = Report.from_result(result, policy)
        write_report(report, "table", out)
    out.write(
        "violations: a bucket behind the London provider alias, an S3 replication (and its replica) in us-east-1,\n"
        "a GRS storage account in uksouth (its pair, ukwest, is in the UK too), an EUR8 bucket (Zurich is not EU);\n"
        "the bucket whose location is known only after apply is unknown, never assumed compliant\n"
        f"(a real run would exit {report.exit_code}: {'violations found' if report.exit_code else 'clean'})\n"
    )
    found = {f.resource_id: f.status for f in result.findings}
    return report.exit_code == 1 and found == _PLAN_EXPECTED


def _demo_azure(out: TextIO, fmt: str, output: str | None, history: str | None) -> bool:
    from ._cli_scan import run_cli_scan

    estate: Any = importlib.import_module("residency.providers.azure._scan_demo")
    with estate.demo_environment() as env:
        _rule(out, "Azure 1. a simulated Azure tenant")
        out.write(
            "Azure Resource Manager fake on 127.0.0.1 (real SDK clients, fake credential)"
            + (", Azurite for blobs\n" if env.azurite is not None else "\n")
        )
        _rule(out, "Azure 2. residency scan azure --policy eu")
        ctx = estate.demo_context(env)
        scan_code = run_cli_scan(ctx, out, fmt=fmt, output=output, history=history, use_history=history is not None)
        out.write(f"(a real scan would exit {scan_code}: {'violations found' if scan_code else 'clean'})\n")
        _rule(out, 'Azure 3. the guard: residency.guard(policy="eu")')
        return bool(estate.guard_demo(env, out))


def _demo_gcp(out: TextIO, fmt: str, output: str | None, history: str | None) -> bool:
    from ._cli_scan import run_cli_scan

    estate: Any = importlib.import_module("residency.providers.gcp._scan_demo")
    with estate.demo_environment() as fake:
        _rule(out, "GCP 1. a simulated Google Cloud organisation")
        out.write(f"Cloud Storage fake (JSON + XML APIs) on {fake.url}\n")
        made = estate.seed_estate(fake)
        for name, (where, note) in made["buckets"].items():
            out.write(f"  bucket  {name:<24} {where:<36} {note}\n")
        _rule(out, "GCP 2. residency scan gcp --policy eu")
        ctx = make_context("gcp", "eu", endpoint_url=fake.url)
        scan_code = run_cli_scan(ctx, out, fmt=fmt, output=output, history=history, use_history=history is not None)
        out.write(f"(a real scan would exit {scan_code}: {'violations found' if scan_code else 'clean'})\n")
        _rule(out, 'GCP 3. the guard: residency.guard(policy="eu")')
        return bool(estate.guard_steps(fake, out))
