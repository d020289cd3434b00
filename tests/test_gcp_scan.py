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
    assert [loc.code for loc in found["gs://us-default"].locations] == ["US"]
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
    assert (loc.code, loc.countries) == ("US", ("US",))
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


# --------------------------------------------------------------------------- auditing the scan's coverage


def test_concurrency_is_bounded_and_used(fake_gcs: FakeGcsServer) -> None:
    for i in range(12):
        fake_gcs.add_bucket(f"b{i}", "EU", project=f"p{i}")
    fake_gcs.latency = 0.05
    findings, _ = run(fake_gcs, services=["storage"], concurrency=3)
    assert len(findings) == 12
    assert 2 <= fake_gcs.max_in_flight <= 3


def test_every_listable_project_across_pages(fake_gcs: FakeGcsServer) -> None:
    for i in range(5):
        fake_gcs.add_bucket(f"b{i}", "US", project=f"p{i}")
    fake_gcs.projects_page_size = 2
    fake_gcs.project_states["p4"] = "DELETE_REQUESTED"
    findings, ctx = run(fake_gcs, services=["storage"])
    assert sorted(ctx.accounts_scanned) == ["p0", "p1", "p2", "p3"]
    assert len([r for r in fake_gcs.requests if r[1].startswith("/v3/projects:search")]) == 3
    assert any("p4 (DELETE_REQUESTED)" in n for n in ctx.notes)
    assert {f.account for f in findings} == {"p0", "p1", "p2", "p3"}


def test_a_listing_that_breaks_off_keeps_what_was_read(fake_gcs: FakeGcsServer) -> None:
    for i in range(1005):
        fake_gcs.add_bucket(f"bkt-{i:04d}", "EU", project="big")
    fake_gcs.page_errors["1000"] = 503
    findings, _ = run(fake_gcs, services=["storage"])
    assert len([f for f in findings if f.status == "compliant"]) == 1000
    (gap,) = [f for f in findings if f.status == "unknown"]
    assert gap.error is not None
    assert "after 1000 buckets" in gap.error
    assert "503" in gap.error


def test_bigquery_denied_is_unknown_and_nonsense_is_unknown(fake_gcs: FakeGcsServer) -> None:
    import requests

    fake_gcs.add_dataset("alpha", "ds", "EU")
    fake_gcs.add_dataset("beta", "ds", "EU")
    fake_gcs.denied_projects.add("alpha")

    class Garbled(requests.Session):
        def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
            response = super().request(method, url, *args, **kwargs)
            if "/projects/beta/datasets" in url:
                response._content = b"<html>a captive portal</html>"
            return response

    findings, _ = run(fake_gcs, services=["bigquery"], session=Garbled())
    unknown = {f.account: f.error for f in findings if f.status == "unknown"}
    assert set(unknown) == {"alpha", "beta"}
    assert "403" in str(unknown["alpha"])
    assert "unreadable answer" in str(unknown["beta"])


def test_asset_inventory_repeated_asset_types_and_regex(fake_gcs: FakeGcsServer) -> None:
    fake_gcs.assets.extend(
        [
            {"name": "//compute.googleapis.com/d1", "assetType": "compute.googleapis.com/Disk", "location": "us-east1"},
            {"name": "//sql/i1", "assetType": "sqladmin.googleapis.com/Instance", "location": "europe-west2"},
            {"name": "//run/s1", "assetType": "run.googleapis.com/Service", "location": "europe-west3"},
        ]
    )
    services = ["compute.googleapis.com/Disk", "sqladmin.googleapis.com/Instance"]
    findings, _ = run(fake_gcs, source="asset-inventory", scope="folders/7", services=services)
    assert sorted(f.resource_id for f in findings) == ["//compute.googleapis.com/d1", "//sql/i1"]
    (search,) = [r for r in fake_gcs.requests if ":searchAllResources" in r[1]]
    assert search[1].count("assetTypes=") == 2  # a repeated parameter, not one comma-joined type
    findings, _ = run(fake_gcs, source="asset-inventory", scope="folders/7", services=[".*Service"])
    assert [f.resource_id for f in findings] == ["//run/s1"]


def test_asset_inventory_buckets_are_placed_like_the_storage_source(fake_gcs: FakeGcsServer) -> None:
    fake_gcs.add_bucket("hidden-custom", "EU", project="alpha", data_locations=["EUROPE-WEST1", "EUROPE-WEST2"])
    fake_gcs.add_bucket("hidden-us", "US", project="alpha")
    fake_gcs.bucket_errors.update({"hidden-custom": 403, "hidden-us": 403})
    bucket = "storage.googleapis.com/Bucket"
    fake_gcs.assets.extend(
        [
            {
                "name": "//storage.googleapis.com/eur4-b",
                "assetType": bucket,
                "project": "projects/1",
                "location": "eur4",
            },
            {"name": "//storage.googleapis.com/hidden-custom", "assetType": bucket, "location": "eu"},
            {"name": "//storage.googleapis.com/hidden-us", "assetType": bucket, "location": "us"},
        ]
    )
    found = by_id(run(fake_gcs, source="asset-inventory", scope="organizations/42")[0])
    eur4 = found["//storage.googleapis.com/eur4-b"]
    assert ([loc.code for loc in eur4.locations], eur4.status) == (["europe-north1", "europe-west4"], "compliant")
    # EU as reported, but its custom placement cannot be read: not declared compliant
    custom = found["//storage.googleapis.com/hidden-custom"]
    assert custom.status == "unknown"
    assert custom.error is not None
    assert "custom dual-region placement not readable" in custom.error
    hidden_us = found["//storage.googleapis.com/hidden-us"]
    assert hidden_us.status == "violation"  # US is outside either way: known stays known
    assert "custom dual-region placement not readable" in (hidden_us.error or "")  # and the unread part is stated


def test_unknown_bucket_location_is_not_compliant(fake_gcs: FakeGcsServer) -> None:
    fake_gcs.add_bucket("moon", "MARE-TRANQUILLITATIS1", project="alpha")
    (f,) = run(fake_gcs, services=["storage"])[0]
    assert f.status != "compliant"  # a location the catalog does not know is denied (fail closed)
    assert f.locations[0].kind == "unknown"


# --------------------------------------------------------------------------- the fake follows the API


def test_fake_bucket_resources_read_by_the_real_client(fake_gcs: FakeGcsServer) -> None:
    client = support.make_client(fake_gcs)
    fake_gcs.add_bucket("dual", "EU", project="alpha", data_locations=["europe-west1", "europe-west4"])
    fake_gcs.add_bucket("eur8", "EUR8", project="alpha")
    fake_gcs.add_bucket("fra", "europe-west3", project="alpha")
    dual, eur8, fra = (client.get_bucket(n) for n in ("dual", "eur8", "fra"))
    assert (dual.location, dual.location_type, dual.data_locations) == (
        "EU",
        "dual-region",
        ["EUROPE-WEST1", "EUROPE-WEST4"],
    )
    assert (eur8.location, eur8.location_type) == ("EUR8", "dual-region")
    assert (fra.location, fra.location_type) == ("EUROPE-WEST3", "region")
    resource = fake_gcs.buckets["fra"]
    assert resource["kind"] == "storage#bucket"
    assert {"id", "selfLink", "projectNumber", "metageneration", "storageClass", "etag", "timeCreated"} <= set(resource)
    created = client.create_bucket("made", location="ASIA")
    assert (created.location, created.location_type) == ("ASIA", "multi-region")
    from google.api_core import exceptions

    with pytest.raises(exceptions.Conflict):
        client.create_bucket("made", location="EU")
    with pytest.raises(exceptions.BadRequest, match="Invalid location"):
        client.create_bucket("nowhere", location="mars-north1")
    blob = client.bucket("made").blob("k")
    blob.upload_from_string(b"data", content_type="text/plain")
    blob.reload()
    assert (blob.size, blob.content_type, blob.crc32c is not None, blob.md5_hash is not None) == (
        4,
        "text/plain",
        True,
        True,
    )
    assert fake_gcs.stored == [("made", "k", 4)]
    assert [r.method for r in fake_gcs.log if r.path.startswith("/upload/")] == ["POST"]
