"""``residency scan azure|gcp`` options, and the demo across all three clouds, through the real CLI."""

from __future__ import annotations

import io
import json

import pytest

from residency._cli import main


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    buf = io.StringIO()
    code = main(argv, stdout=buf)
    return code, buf.getvalue(), capsys.readouterr().err


def test_scan_gcp_against_the_loopback_fake(capsys: pytest.CaptureFixture[str]) -> None:
    """The real google-cloud-storage JSON API shapes, served by the loopback fake."""
    from residency.providers.gcp._scan_demo import demo_environment, seed_estate

    with demo_environment() as fake:
        seed_estate(fake)
        code, out, err = run(
            ["scan", "gcp", "--endpoint-url", fake.url, "--projects", "acme-data", "--no-history", "--format", "json"],
            capsys,
        )
    assert code == 1, err
    report = json.loads(out)
    status = {f["name"]: f["status"] for f in report["findings"]}
    assert status["acme-eur8-archive"] == "violation"  # Frankfurt + Zurich under 'eu'
    assert status["acme-eur5-reports"] == "violation"  # Belgium + London
    assert status["acme-dual-london"] == "violation"  # custom dual-region with London
    assert status["eu_events"] == "compliant"  # BigQuery dataset in the EU multi-region
    assert "acme-eur4-backups" not in status  # in project acme-shop, not scanned


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["scan", "aws", "--subscriptions", "s1"], "--subscriptions is for 'residency scan azure'"),
        (["scan", "gcp", "--org"], "--org is for 'residency scan aws'"),
        (["scan", "azure", "--source", "asset-inventory"], "not a source for azure"),
        (["scan", "gcp", "--projects", "a", "--accounts", "b"], "not both"),
    ],
)
def test_provider_options_are_checked(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run([*argv, "--no-history"], capsys)
    assert code == 2
    assert message in err
    assert "Traceback" not in err


def test_demo_covers_every_cloud(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["demo", "--providers", "azure,gcp"], capsys)
    assert code == 0, out
    assert "Azure 2. residency scan azure --policy eu" in out
    assert "VIOLATION  storage            ukgrs" in out  # GRS with a UK secondary
    assert "VIOLATION  cosmosdb           cosmos-us" in out
    assert "GCP 2. residency scan gcp --policy eu" in out
    assert "BLOCKED  transfer manager (XML multipart) to acme-eur8-archive" in out
    assert "objects stored: ['gs://acme-eu-orders/a.json']" in out


@pytest.mark.parametrize("fmt", ["json", "sarif", "html"])
def test_azure_tenant_evidence_reaches_every_report(fmt: str) -> None:
    """The tenant's EU Data Boundary setting, read from the fake ARM by the real SDK, is in the report."""
    from residency.providers.azure._fake_arm import FakeArm, seed_estate

    from residency._cli_scan import run_cli_scan

    with FakeArm(page_size=100) as arm:
        seed_estate(arm)
        arm.data_boundary = "Global"
        ctx = arm.scan_context("eu")
        buf = io.StringIO()
        assert run_cli_scan(ctx, buf, fmt=fmt, use_history=False) == 1
    out = buf.getvalue()
    if fmt == "html":
        assert 'id="evidence"' in out
        assert "data_boundary: Global" in out
        assert "in_eu_data_boundary: False" in out
        return
    doc = json.loads(out)
    evidence = doc["runs"][0]["properties"]["evidence"] if fmt == "sarif" else doc["evidence"]
    assert evidence == [
        {
            "provider": "azure",
            "scope": "tenant",
            "setting": "Microsoft.Resources/dataBoundaries/default",
            "data_boundary": "Global",
            "provisioning_state": "Succeeded",
            "in_eu_data_boundary": False,
        }
    ]
