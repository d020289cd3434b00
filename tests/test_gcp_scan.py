"""``residency scan gcp`` against the loopback Cloud Storage (which also serves projects, assets, BigQuery)."""

from __future__ import annotations

import importlib.util
import pathlib
import sys
from typing import Any

import pytest
from residency.providers.gcp._fake_gcs import FakeGcsServer
from residency.providers.gcp._scan import bucket_placements, scan

from residency import ProviderError
from residency._findings import Finding
from residency._scan import ScanContext, make_context

_spec = importlib.util.spec_from_file_location("_gcp_support", pathlib.Path(__file__).with_name("_gcp_support.py"))
assert _spec is not None
assert _spec.loader is not None
support = sys.modules.get("_gcp_support") or importlib.util.module_from_spec(_spec)
if "_gcp_support" not in sys.modules:
    sys.modules["_gcp_support"] = support
    _spec.loader.exec_module(support)

gcs_server = support.gcs_server
fake_gcs = support.fake_gcs


def run(fake: FakeGcsServer, policy: str = "eu", **kwargs: Any) -> tuple[list[Finding], ScanContext]:
    ctx = make_context("gcp", policy, endpoint_url=fake.url, **kwargs)
    return list(scan(ctx)), ctx


def by_id(findings: list[Finding]) -> dict[str, Finding]:
    return {f.resource_id: f for f in findings}


def test_every_seeded_violation_and_no_false_positive(fake_gcs: FakeGcsServer) -> None:
    expected = support.seed_buckets(fake_gcs)
    findings, ctx = run(fake_gcs, services=["storage"])
    assert {f.resource_id.removeprefix("gs://"): f.status for f in findings} == expected
    assert sorted(ctx.accounts_scanned) == ["alpha", "beta"]
    assert all(f.provider == "gcp" and f.service == "storage" and f.resource_type == "bucket" for f in findings)


def test_bucket_placements_expand_dual_regions(fake_gcs: FakeGcsServer) -> None:
    support.seed_buckets(fake_gcs)
    found = by_id(run(fake_gcs, services=["storage"])[0])
    eur8 = found["gs://eur8-frankfurt-zurich"]
    assert [loc.code for loc in eur8.locations] == ["europe-west3", "europe-west6"]
    assert set(eur8.countries) == {"DE", "CH"}
    assert "CH" in eur8.reason
    assert "outside EU" in eur8.reason
    london = found["gs://custom-with-london"]
    assert [loc.code for loc in london.locations] == ["europe-west1", "europe-west2"]
    assert london.roles == ("custom dual-region", "custom dual-region")
    assert "GB" in london.reason
    assert [loc.code for loc in found["gs://eur5-london"].locations] == ["europe-west1", "europe-west2"]
    assert [loc.code for loc in found["gs://eur4-pair"].locations] == ["europe-north1", "europe-west4"]
    assert [loc.code for loc in found["gs://us-default"].locations] == ["us"]
    assert found["gs://eu-multi"].locations[0].kind == "multi-region"
    assert found["gs://eur8-frankfurt-zurich"].region == "eur8"
    assert found["gs://frankfurt"].account == "alpha"


def test_policy_decides(fake_gcs: FakeGcsServer) -> None:
    support.seed_buckets(fake_gcs)
    found = by_id(run(fake_gcs, "eea-ch", services=["storage"])[0])
    assert found["gs://eur8-frankfurt-zurich"].status == "compliant"
    assert found["gs://eur5-london"].status == "violation"


def test_no_location_means_us() -> None:
    ((loc, role),) = bucket_placements({"name": "b"})
    assert (loc.code, loc.countries) == ("us", ("US",))
    assert "no location" in role


def test_labels_become_tags(fake_gcs: FakeGcsServer) -> None:
    fake_gcs.add_bucket("tagged", "US", project="alpha", labels={"data-class": "public"})
    (f,) = run(fake_gcs, services=["storage"])[0]
    assert f.tags == {"data-class": "public"}


def test_projects_option_limits_the_scan(fake_gcs: FakeGcsServer) -> None:
    support.seed_buckets(fake_gcs)
    findings, ctx = run(fake_gcs, accounts=["beta"], services=["storage"])
    assert {f.account for f in findings} == {"beta"}
    assert ctx.accounts_scanned == ["beta"]
    assert ("GET", "/v3/projects:search") not in fake_gcs.requests


def test_unreadable_project_is_unknown_not_skipped(fake_gcs: FakeGcsServer) -> None:
    support.seed_buckets(fake_gcs)
    fake_gcs.denied_projects.add("beta")
    findings, _ = run(fake_gcs, services=["storage"])
    unknown = [f for f in findings if f.status == "unknown"]
    assert [(f.account, f.resource_id) for f in unknown] == [("beta", "projects/beta")]
    assert unknown[0].error is not None
    assert "403" in unknown[0].error
    assert {f.resource_id for f in findings if f.account == "alpha"} >= {"gs://eu-multi", "gs://us-default"}


def test_bigquery_datasets(fake_gcs: FakeGcsServer) -> None:
    fake_gcs.add_dataset("alpha", "eu_ds", "EU")
    fake_gcs.add_dataset("alpha", "fra_ds", "europe-west3")
    fake_gcs.add_dataset("alpha", "us_ds", "US")
    fake_gcs.add_dataset("alpha", "ldn_ds", "europe-west2")
    fake_gcs.add_bucket("b", "EU", project="beta")
    fake_gcs.bigquery_disabled.add("beta")
    findings, ctx = run(fake_gcs)
    datasets = {f.resource_id: f.status for f in findings if f.service == "bigquery"}
    assert datasets == {
        "alpha:eu_ds": "compliant",
        "alpha:fra_ds": "compliant",
        "alpha:us_ds": "violation",
        "alpha:ldn_ds": "violation",
    }
    assert any("BigQuery API not enabled" in n for n in ctx.notes)
    assert not [f for f in findings if f.status == "unknown"]


def test_progress_and_bounded_concurrency(fake_gcs: FakeGcsServer) -> None:
    for i in range(12):
        fake_gcs.add_bucket(f"b{i}", "EU", project=f"p{i}")
    seen: list[tuple[int, int, str]] = []
    findings, _ = run(
        fake_gcs, services=["storage"], concurrency=3, progress=lambda d, t, label: seen.append((d, t, label))
    )
    assert len(findings) == 12
    assert [d for d, _, _ in seen] == list(range(1, 13))
    assert {t for _, t, _ in seen} == {12}


def test_bucket_listing_pages(fake_gcs: FakeGcsServer) -> None:
    for i in range(1005):
        fake_gcs.add_bucket(f"bkt-{i:04d}", "EU" if i % 2 else "US", project="big")
    findings, _ = run(fake_gcs, services=["storage"])
    assert len(findings) == 1005
    assert sum(f.status == "violation" for f in findings) == 503
    lists = [r for r in fake_gcs.requests if r[1].startswith("/storage/v1/b?")]
    assert len(lists) == 2


def test_asset_inventory_covers_every_located_type(fake_gcs: FakeGcsServer) -> None:
    fake_gcs.add_bucket("custom-london", "EU", project="alpha", data_locations=["EUROPE-WEST1", "EUROPE-WEST2"])
    fake_gcs.assets.extend(
        [
            {
                "name": "//storage.googleapis.com/custom-london",
                "assetType": "storage.googleapis.com/Bucket",
                "project": "projects/111",
                "location": "eu",
            },
            {
                "name": "//storage.googleapis.com/eur8-bucket",
                "assetType": "storage.googleapis.com/Bucket",
                "project": "projects/111",
                "location": "eur8",
            },
            {
                "name": "//bigquery.googleapis.com/projects/alpha/datasets/ds",
                "assetType": "bigquery.googleapis.com/Dataset",
                "project": "projects/111",
                "location": "US",
                "labels": {"team": "x"},
            },
            {
                "name": "//compute.googleapis.com/projects/alpha/zones/europe-west3-a/disks/d1",
                "assetType": "compute.googleapis.com/Disk",
                "project": "projects/111",
                "location": "europe-west3-a",
            },
            {
                "name": "//sqladmin.googleapis.com/projects/alpha/instances/db",
                "assetType": "sqladmin.googleapis.com/Instance",
                "project": "projects/222",
                "location": "us-central1",
            },
            {
                "name": "//iam.googleapis.com/projects/alpha/serviceAccounts/sa",
                "assetType": "iam.googleapis.com/ServiceAccount",
                "project": "projects/111",
                "location": "global",
            },
        ]
    )
    findings, ctx = run(fake_gcs, source="asset-inventory", scope="organizations/42")
    found = {f.resource_id: f for f in findings}
    assert {k: f.status for k, f in found.items()} == {
        "//storage.googleapis.com/custom-london": "violation",
        "//storage.googleapis.com/eur8-bucket": "violation",
        "//bigquery.googleapis.com/projects/alpha/datasets/ds": "violation",
        "//compute.googleapis.com/projects/alpha/zones/europe-west3-a/disks/d1": "compliant",
        "//sqladmin.googleapis.com/projects/alpha/instances/db": "violation",
    }
    assert [loc.code for loc in found["//storage.googleapis.com/custom-london"].locations] == [
        "europe-west1",
        "europe-west2",
    ]
    disk = found["//compute.googleapis.com/projects/alpha/zones/europe-west3-a/disks/d1"]
    assert (disk.service, disk.resource_type, disk.countries) == ("compute", "disk", ("DE",))
    assert found["//bigquery.googleapis.com/projects/alpha/datasets/ds"].tags == {"team": "x"}
    assert ctx.accounts_scanned == ["organizations/42"]
    assert any("1 resource(s) with no location" in n for n in ctx.notes)


def test_asset_inventory_pages_and_types(fake_gcs: FakeGcsServer) -> None:
    fake_gcs.assets.extend(
        {"name": f"//compute.googleapis.com/d{i}", "assetType": "compute.googleapis.com/Disk", "location": "us-east1"}
        for i in range(1200)
    )
    fake_gcs.assets.append({"name": "//x/y", "assetType": "sqladmin.googleapis.com/Instance", "location": "us-east1"})
    findings, _ = run(fake_gcs, source="asset-inventory", accounts=["alpha"], services=["compute.googleapis.com/Disk"])
    assert len(findings) == 1200
    assert len([r for r in fake_gcs.requests if ":searchAllResources" in r[1]]) == 3
    assert all(r[1].startswith("/v1/projects/alpha:searchAllResources") for r in fake_gcs.requests)


def test_asset_inventory_needs_a_scope(fake_gcs: FakeGcsServer) -> None:
    with pytest.raises(ProviderError, match="needs a scope"):
        run(fake_gcs, source="asset-inventory")


def test_configuration_errors(fake_gcs: FakeGcsServer) -> None:
    with pytest.raises(ProviderError, match="unknown gcp source"):
        run(fake_gcs, source="nope")
    with pytest.raises(ProviderError, match="unknown gcp service"):
        run(fake_gcs, services=["s3"])
    with pytest.raises(ProviderError, match="no Google Cloud project"):
        run(fake_gcs)


def test_missing_credentials_is_a_provider_error(fake_gcs: FakeGcsServer) -> None:
    ctx = make_context("gcp", "eu", accounts=["p"])  # real endpoints: needs credentials, none configured
    with pytest.raises(ProviderError, match="no Google Cloud credentials"):
        list(scan(ctx))


def test_adapter_scan_entry_point(fake_gcs: FakeGcsServer) -> None:
    import residency

    support.seed_buckets(fake_gcs)
    ctx = make_context("gcp", "eu", endpoint_url=fake_gcs.url, services=["storage"])
    findings = list(residency.load_provider("gcp").scan(ctx))
    assert sum(f.status == "violation" for f in findings) == 6


def test_scan_is_not_blocked_by_a_guard(fake_gcs: FakeGcsServer) -> None:
    import residency

    support.seed_buckets(fake_gcs)
    with residency.guard("eu", providers=["gcp"]):
        findings, _ = run(fake_gcs)
    assert len([f for f in findings if f.service == "storage"]) == len(support.SEEDED)


def test_demo_estate_and_guard_steps() -> None:
    import io

    from residency.providers.gcp import _scan_demo as estate

    with estate.demo_environment() as fake:
        made = estate.seed_estate(fake)
        assert len(made["buckets"]) == len(estate.ESTATE)
        ctx = make_context("gcp", "eu", endpoint_url=fake.url)
        findings = list(scan(ctx))
        assert sorted(f.resource_id for f in findings if f.status == "violation") == [
            "acme-data:us_marketing",
            "gs://acme-dual-london",
            "gs://acme-eur5-reports",
            "gs://acme-eur8-archive",
            "gs://acme-us-analytics",
        ]
        out = io.StringIO()
        assert estate.guard_steps(fake, out), out.getvalue()
        assert out.getvalue().count("BLOCKED") == 6
        assert fake.stored == [("acme-eu-orders", "a.json", 2)]


def test_engine_and_assert_resident(fake_gcs: FakeGcsServer) -> None:
    """The scan engine (``residency scan gcp``) and ``assert_resident(provider="gcp")`` reach the adapter."""
    import residency._scan as engine
    from residency.testing import NotResidentError, assert_resident

    support.seed_buckets(fake_gcs)
    result = engine.run_scan("gcp", "eu", endpoint_url=fake_gcs.url, services=["storage"])
    assert result.counts["violation"] == 6
    assert result.scope.accounts == ("alpha", "beta")
    with pytest.raises(NotResidentError) as err:
        assert_resident("eu", "gcp", endpoint_url=fake_gcs.url)
    assert "gs://eur8-frankfurt-zurich" in str(err.value)
