"""The Google Cloud Storage guard against a real client and a loopback Cloud Storage.

Every write path of google-cloud-storage is driven through the real client
against :mod:`residency.providers.gcp._fake_gcs`; a blocked call must leave
nothing stored and send no write request (only the bucket-location ``GET``).
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import io
import multiprocessing
import pathlib
import re
import sys
import tempfile
from collections.abc import Iterator
from typing import Any

import google.auth.transport.requests as auth_requests
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.cloud.storage import transfer_manager
from google.cloud.storage._media.requests.upload import XMLMPUContainer, XMLMPUPart
from google.oauth2 import service_account
from residency.providers.gcp import _guard as gcp_guard
from residency.providers.gcp._fake_gcs import FakeGcsServer
from residency.providers.gcp._guard import Write, classify, location_cache

import residency
from residency import ResidencyViolation
from residency.testing import capture_violations

_spec = importlib.util.spec_from_file_location("_gcp_support", pathlib.Path(__file__).with_name("_gcp_support.py"))
assert _spec is not None
assert _spec.loader is not None
support = sys.modules.get("_gcp_support") or importlib.util.module_from_spec(_spec)
if "_gcp_support" not in sys.modules:
    sys.modules["_gcp_support"] = support
    _spec.loader.exec_module(support)

gcs_server = support.gcs_server
fake_gcs = support.fake_gcs
gcs = support.gcs
make_client = support.make_client

BLOCKED = ["us", "eur5", "eur8", "custom-london"]


@pytest.fixture
def buckets(fake_gcs: FakeGcsServer) -> FakeGcsServer:
    fake_gcs.add_bucket("eu", "EU")
    fake_gcs.add_bucket("frankfurt", "EUROPE-WEST3")
    fake_gcs.add_bucket("us", "US")
    fake_gcs.add_bucket("eur5", "EUR5")
    fake_gcs.add_bucket("eur8", "EUR8")
    fake_gcs.add_bucket("custom-london", "EU", data_locations=["EUROPE-WEST1", "EUROPE-WEST2"])
    fake_gcs.add_bucket("custom-eu", "EU", data_locations=["EUROPE-WEST1", "EUROPE-WEST4"])
    fake_gcs._store("eu", "src", b"hello")
    fake_gcs._store("us", "src", b"from the us")
    fake_gcs.requests.clear()
    fake_gcs.stored.clear()
    return fake_gcs


@pytest.fixture
def eu_guard() -> Iterator[residency.Guard]:
    with residency.guard("eu", providers=["gcp"]) as g:
        yield g


def assert_nothing_written(fake: FakeGcsServer) -> None:
    assert fake.stored == []
    assert fake.writes() == [], "a write request reached the fake after a blocked call"


# --------------------------------------------------------------------------- classify (no network)

BASE = "https://storage.googleapis.com"


@pytest.mark.parametrize(
    ("method", "url", "expected"),
    [
        (
            "POST",
            f"{BASE}/upload/storage/v1/b/bkt/o?uploadType=media&name=a%2Fb",
            ("objects.insert (media upload)", "bkt", "a/b"),
        ),
        (
            "POST",
            f"{BASE}/upload/storage/v1/b/bkt/o?uploadType=resumable",
            ("objects.insert (resumable upload)", "bkt", None),
        ),
        (
            "PUT",
            f"{BASE}/upload/storage/v1/b/bkt/o?uploadType=resumable&upload_id=u1",
            ("objects.insert (resumable session)", "bkt", None),
        ),
        ("POST", f"{BASE}/storage/v1/b/src/o/a/copyTo/b/dst/o/b", ("objects.copy", "dst", "b")),
        ("POST", f"{BASE}/storage/v1/b/src/o/a/rewriteTo/b/dst/o/b?rewriteToken=t", ("objects.rewrite", "dst", "b")),
        ("POST", f"{BASE}/storage/v1/b/bkt/o/c/compose", ("objects.compose", "bkt", "c")),
        ("PATCH", f"{BASE}/storage/v1/b/bkt/o/k", ("objects.patch", "bkt", "k")),
        ("DELETE", f"{BASE}/storage/v1/b/bkt", ("buckets.delete", "bkt", None)),
        ("PUT", f"{BASE}/bkt/dir/k", ("XML PUT object", "bkt", "dir/k")),
        ("PUT", "https://bkt.storage.googleapis.com/k", ("XML PUT object", "bkt", "k")),
        ("POST", f"{BASE}/bkt/k?uploads", ("XML multipart upload (initiate)", "bkt", "k")),
        ("PUT", f"{BASE}/bkt/k?partNumber=1&uploadId=x", ("XML multipart upload", "bkt", "k")),
        ("POST", f"{BASE}/bkt/k?uploadId=x", ("XML multipart upload", "bkt", "k")),
        ("POST", f"{BASE}/bkt", ("XML POST (form upload)", "bkt", None)),
        ("PUT", "https://storage.europe-west3.rep.googleapis.com/bkt/k", ("XML PUT object", "bkt", "k")),
    ],
)
def test_classify_names_the_destination(method: str, url: str, expected: tuple[str, str, str | None]) -> None:
    (write,) = classify(method, url) or []
    assert (write.operation, write.bucket, write.object) == expected


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("GET", f"{BASE}/storage/v1/b/bkt/o/k?alt=media"),
        ("HEAD", f"{BASE}/bkt/k"),
        ("GET", f"{BASE}/download/storage/v1/b/bkt/o/k"),
        ("POST", "https://bigquery.googleapis.com/bigquery/v2/projects/p/datasets"),
        ("PUT", "http://127.0.0.1:9/bkt/k"),  # not a storage host unless registered
    ],
)
def test_classify_ignores_reads_and_other_services(method: str, url: str) -> None:
    assert classify(method, url) is None


def test_classify_bucket_creation_reads_the_body() -> None:
    (w,) = classify("POST", f"{BASE}/storage/v1/b?project=p", b'{"name": "n"}') or []
    assert (w.operation, w.bucket, w.location and w.location.code) == ("buckets.insert", "n", "us")
    assert w.hint
    assert "no location given" in w.hint
    (w,) = classify("POST", f"{BASE}/storage/v1/b", '{"name": "n", "location": "EUR8"}') or []
    assert w.location is not None
    assert set(w.location.countries) == {"DE", "CH"}
    body = (
        '{"name": "n", "location": "EU", "customPlacementConfig": {"dataLocations": ["EUROPE-WEST1", "EUROPE-WEST2"]}}'
    )
    (w,) = classify("POST", f"{BASE}/storage/v1/b", body) or []
    assert w.location is not None
    assert set(w.location.countries) == {"BE", "GB"}
    xml = b"<CreateBucketConfiguration><LocationConstraint>EU</LocationConstraint></CreateBucketConfiguration>"
    (w,) = classify("PUT", f"{BASE}/newbkt", xml) or []
    assert (w.operation, w.location and w.location.code) == ("XML PUT bucket", "eu")
    (w,) = classify("PUT", f"{BASE}/newbkt", b"") or []
    assert w.location is not None
    assert w.location.code == "us"


def test_classify_open_sessions_trust_the_recorded_bucket() -> None:
    url = f"{BASE}/upload/storage/v1/b/looks-eu/o?uploadType=resumable&upload_id=abc"
    (w,) = classify("PUT", url, sessions={"abc": "really-us"}) or []
    assert w.bucket == "really-us"
    (w,) = classify("PUT", f"{BASE}/upload/storage/v1/b//o?upload_id=zzz") or []
    assert w.bucket is None
    assert w.target == "gs://(unknown bucket)"


def test_classify_batch_lists_every_inner_write() -> None:
    body = (
        b"--b\r\nContent-Type: application/http\r\n\r\n"
        b"PATCH /storage/v1/b/one/o/k HTTP/1.1\r\nContent-Type: application/json\r\n\r\n{}\r\n"
        b"--b\r\nContent-Type: application/http\r\n\r\n"
        b"GET /storage/v1/b/two/o/k HTTP/1.1\r\n\r\n\r\n"
        b"--b\r\nContent-Type: application/http\r\n\r\n"
        b"DELETE /storage/v1/b/three/o/k HTTP/1.1\r\n\r\n\r\n--b--"
    )
    writes = classify("POST", f"{BASE}/batch/storage/v1", body) or []
    assert [(w.operation, w.bucket) for w in writes] == [("objects.patch", "one"), ("objects.delete", "three")]


def test_project_level_writes_are_global_services() -> None:
    (w,) = classify("POST", f"{BASE}/storage/v1/projects/p/hmacKeys?serviceAccountEmail=x") or []
    assert w.global_service is not None


# --------------------------------------------------------------------------- the real client


def test_allowed_writes_go_through(gcs: Any, buckets: FakeGcsServer, eu_guard: residency.Guard) -> None:
    gcs.bucket("eu").blob("a").upload_from_string(b"x")
    gcs.bucket("frankfurt").blob("big", chunk_size=256 * 1024).upload_from_file(io.BytesIO(b"y" * 300_000))
    gcs.bucket("custom-eu").blob("c").upload_from_string(b"z")
    gcs.create_bucket("new-eu", location="EU")
    gcs.create_bucket("new-eur4", location="EUR4")
    src = gcs.bucket("us").blob("src")
    gcs.bucket("us").copy_blob(src, gcs.bucket("eu"), "copied-from-us")  # the destination decides
    gcs.bucket("frankfurt").blob("rw").rewrite(src)
    eu = gcs.bucket("eu")
    eu.blob("composed").compose([eu.blob("src"), eu.blob("a")])
    assert [s[:2] for s in buckets.stored] == [
        ("eu", "a"),
        ("frankfurt", "big"),
        ("custom-eu", "c"),
        ("eu", "copied-from-us"),
        ("frankfurt", "rw"),
        ("eu", "composed"),
    ]
    assert set(buckets.buckets) >= {"new-eu", "new-eur4"}


def test_reads_pass(gcs: Any, buckets: FakeGcsServer, eu_guard: residency.Guard) -> None:
    assert gcs.bucket("us").blob("src").download_as_bytes() == b"from the us"
    assert [b.name for b in gcs.list_blobs("us")] == ["src"]
    assert gcs.get_bucket("us").location == "US"
    assert location_cache.lookups == 0


@pytest.mark.parametrize("bucket", BLOCKED)
def test_multipart_upload_blocked(gcs: Any, buckets: FakeGcsServer, eu_guard: residency.Guard, bucket: str) -> None:
    with pytest.raises(ResidencyViolation) as err:
        gcs.bucket(bucket).blob("k").upload_from_string(b"secret")
    assert err.value.provider == "gcp"
    assert err.value.target == f"gs://{bucket}/k"
    assert "outside EU" in err.value.reason
    assert_nothing_written(buckets)


def test_violation_names_location_and_countries(gcs: Any, buckets: FakeGcsServer, eu_guard: residency.Guard) -> None:
    with pytest.raises(ResidencyViolation) as err:
        gcs.bucket("eur8").blob("k").upload_from_string(b"secret")
    v = err.value
    assert (v.location, set(v.countries), v.policy) == ("eur8", {"DE", "CH"}, "eu")
    assert "CH is outside EU" in v.reason
    with pytest.raises(ResidencyViolation) as err:
        gcs.bucket("custom-london").blob("k").upload_from_string(b"secret")
    assert set(err.value.countries) == {"BE", "GB"}
    assert "GB is outside EU" in err.value.reason


def test_media_upload_blocked(gcs: Any, buckets: FakeGcsServer, eu_guard: residency.Guard) -> None:
    url = f"{buckets.url}/upload/storage/v1/b/us/o?uploadType=media&name=k"
    with pytest.raises(ResidencyViolation, match="media upload"):
        gcs._http.request("POST", url, data=b"secret")
    assert_nothing_written(buckets)


def test_resumable_upload_blocked(gcs: Any, buckets: FakeGcsServer, eu_guard: residency.Guard) -> None:
    with pytest.raises(ResidencyViolation, match=r"resumable upload\) to gs://eur5/big"):
        # no size: the client opens a resumable session
        gcs.bucket("eur5").blob("big", chunk_size=256 * 1024).upload_from_file(io.BytesIO(b"y" * 300_000))
    with pytest.raises(ResidencyViolation):
        with gcs.bucket("us").blob("w").open("wb", chunk_size=256 * 1024) as f:
            f.write(b"z" * 300_000)
    assert_nothing_written(buckets)


def test_already_open_resumable_session_blocked(gcs: Any, buckets: FakeGcsServer) -> None:
    session_url = gcs.bucket("us").blob("later").create_resumable_upload_session(size=5)
    buckets.requests.clear()
    with residency.guard("eu", providers=["gcp"]):
        with pytest.raises(ResidencyViolation, match="resumable session"):
            gcs._http.request("PUT", session_url, data=b"12345", headers={"Content-Range": "bytes 0-4/5"})
    assert_nothing_written(buckets)


def test_sessions_opened_under_audit_are_remembered(gcs: Any, buckets: FakeGcsServer) -> None:
    with capture_violations("eu", providers=["gcp"]) as found:
        url = gcs.bucket("us").blob("k").create_resumable_upload_session(size=5)
        assert any(gcp_guard._sessions.values())
        # A session URL that names another bucket is still checked against the one that opened it.
        upload_id = url.split("upload_id=")[1]
        forged = f"{buckets.url}/upload/storage/v1/b/eu/o?uploadType=resumable&upload_id={upload_id}"
        gcs._http.request("PUT", forged, data=b"12345", headers={"Content-Range": "bytes 0-4/5"})
    assert [v.target for v in found] == ["gs://us/k", "gs://us"]
    assert buckets.stored == [("us", "k", 5)]


def test_unknown_session_fails_closed(gcs: Any, buckets: FakeGcsServer, eu_guard: residency.Guard) -> None:
    with pytest.raises(ResidencyViolation, match="names no bucket"):
        gcs._http.request("PUT", f"{buckets.url}/upload/storage/v1/b//o?upload_id=zzz", data=b"x")
    assert_nothing_written(buckets)


@pytest.mark.parametrize(
    ("kwargs", "countries"),
    [
        ({}, {"US"}),
        ({"location": "EUR5"}, {"BE", "GB"}),
        ({"location": "EUR8"}, {"DE", "CH"}),
        ({"location": "EU", "data_locations": ["EUROPE-WEST3", "EUROPE-WEST2"]}, {"DE", "GB"}),
        ({"location": "us-central1"}, {"US"}),
    ],
)
def test_create_bucket_blocked(
    gcs: Any, buckets: FakeGcsServer, eu_guard: residency.Guard, kwargs: dict[str, Any], countries: set[str]
) -> None:
    with pytest.raises(ResidencyViolation) as err:
        gcs.create_bucket("nope", **kwargs)
    assert set(err.value.countries) == countries
    if not kwargs:
        assert "no location given" in err.value.reason
    assert "nope" not in buckets.buckets
    assert_nothing_written(buckets)


def test_create_bucket_with_a_json_keyword(gcs: Any, buckets: FakeGcsServer, eu_guard: residency.Guard) -> None:
    with pytest.raises(ResidencyViolation, match=re.escape("buckets.insert to gs://kw")):
        gcs._http.request("POST", f"{buckets.url}/storage/v1/b?project=p", json={"name": "kw", "location": "EUR5"})
    assert "kw" not in buckets.buckets


def test_xml_create_bucket_defaults_to_us(gcs: Any, buckets: FakeGcsServer, eu_guard: residency.Guard) -> None:
    with pytest.raises(ResidencyViolation, match="creates the bucket in US"):
        gcs._http.request("PUT", f"{buckets.url}/xml-bucket", data=b"")
    assert "xml-bucket" not in buckets.buckets


def test_copy_rewrite_compose_blocked_by_destination(
    gcs: Any, buckets: FakeGcsServer, eu_guard: residency.Guard
) -> None:
    eu, us = gcs.bucket("eu"), gcs.bucket("us")
    with pytest.raises(ResidencyViolation, match=re.escape("objects.copy to gs://us/copy")):
        eu.copy_blob(eu.blob("src"), us, "copy")
    with pytest.raises(ResidencyViolation, match=re.escape("objects.rewrite to gs://eur8/rw")):
        gcs.bucket("eur8").blob("rw").rewrite(eu.blob("src"))
    with pytest.raises(ResidencyViolation, match=re.escape("objects.compose to gs://us/c")):
        us.blob("c").compose([us.blob("src"), us.blob("src")])
    assert_nothing_written(buckets)


def test_transfer_manager_xml_multipart_blocked(gcs: Any, buckets: FakeGcsServer, eu_guard: residency.Guard) -> None:
    with tempfile.NamedTemporaryFile() as f:
        f.write(b"p" * (2 * 1024 * 1024 + 10))
        f.flush()
        with pytest.raises(ResidencyViolation, match="XML multipart upload"):
            transfer_manager.upload_chunks_concurrently(
                f.name, gcs.bucket("eur5").blob("mpu"), chunk_size=1024 * 1024, worker_type="thread"
            )
        transfer_manager.upload_chunks_concurrently(
            f.name, gcs.bucket("eu").blob("mpu"), chunk_size=1024 * 1024, worker_type="thread"
        )
    assert buckets.stored == [("eu", "mpu", 2 * 1024 * 1024 + 10)]


def test_already_open_xml_multipart_upload_blocked(gcs: Any, buckets: FakeGcsServer) -> None:
    with tempfile.NamedTemporaryFile() as f:
        f.write(b"q" * 1000)
        f.flush()
        url = f"{buckets.url}/us/open-mpu"
        container = XMLMPUContainer(url, f.name)
        container.initiate(gcs._http, "application/octet-stream")
        buckets.requests.clear()
        with residency.guard("eu", providers=["gcp"]):
            part = XMLMPUPart(url, container.upload_id, f.name, 0, 1000, 1)
            with pytest.raises(ResidencyViolation, match="XML multipart upload to gs://us/open-mpu"):
                part.upload(gcs._http)
            with pytest.raises(ResidencyViolation):
                container.finalize(gcs._http)
    assert_nothing_written(buckets)


def test_xml_simple_and_copy_put_blocked(gcs: Any, buckets: FakeGcsServer, eu_guard: residency.Guard) -> None:
    with pytest.raises(ResidencyViolation, match="XML PUT object to gs://us/k"):
        gcs._http.request("PUT", f"{buckets.url}/us/k", data=b"secret")
    with pytest.raises(ResidencyViolation, match=r"XML PUT object \(copy\)"):
        gcs._http.request("PUT", f"{buckets.url}/eur8/k", headers={"x-goog-copy-source": "/eu/src"})
    assert_nothing_written(buckets)


def test_emulator_host_is_a_storage_host(buckets: FakeGcsServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", buckets.url)
    from google.cloud import storage

    client = storage.Client(project="p")
    with residency.guard("eu", providers=["gcp"]):
        with pytest.raises(ResidencyViolation, match="XML PUT object"):
            client._http.request("PUT", f"{buckets.url}/us/k", data=b"x")
        client.bucket("eu").blob("ok").upload_from_string(b"x")
    assert buckets.stored == [("eu", "ok", 1)]


def test_batch_blocked(gcs: Any, buckets: FakeGcsServer, eu_guard: residency.Guard) -> None:
    blob = gcs.bucket("us").blob("src")
    blob.metadata = {"k": "v"}

    def patch_in_batch() -> None:
        with gcs.batch():
            blob.patch()

    with pytest.raises(ResidencyViolation, match=re.escape("objects.patch to gs://us/src")):
        patch_in_batch()
    assert_nothing_written(buckets)


# --------------------------------------------------------------------------- signing


@pytest.fixture(scope="module")
def signer() -> service_account.Credentials:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    info = {
        "type": "service_account",
        "client_email": "signer@test.iam.gserviceaccount.com",
        "private_key": pem.decode(),
        "private_key_id": "1",
        "token_uri": "http://127.0.0.1:9/token",
        "project_id": "p",
    }
    return service_account.Credentials.from_service_account_info(info)


def test_signed_urls_for_writes_blocked(
    gcs: Any, buckets: FakeGcsServer, eu_guard: residency.Guard, signer: Any
) -> None:
    exp = dt.timedelta(minutes=5)
    us = gcs.bucket("us")
    for method in ("PUT", "POST", "RESUMABLE", "DELETE"):
        with pytest.raises(ResidencyViolation, match=f"generate_signed_url {method} to gs://us/k"):
            us.blob("k").generate_signed_url(expiration=exp, method=method, credentials=signer, version="v4")
    with pytest.raises(ResidencyViolation, match="generate_signed_url PUT to gs://eur5"):
        gcs.bucket("eur5").generate_signed_url(expiration=exp, method="PUT", credentials=signer, version="v4")
    with pytest.raises(ResidencyViolation, match="generate_signed_post_policy_v4 to gs://us/k"):
        gcs.generate_signed_post_policy_v4("us", "k", expiration=exp, credentials=signer)
    with pytest.raises(ResidencyViolation, match="generate_upload_policy to gs://eur8"):
        gcs.bucket("eur8").generate_upload_policy(
            [["starts-with", "$key", ""]], expiration=dt.datetime.now(dt.timezone.utc) + exp
        )
    # Reads and EU buckets are signed as usual.
    assert us.blob("k").generate_signed_url(expiration=exp, method="GET", credentials=signer, version="v4")
    assert (
        gcs.bucket("eu").blob("k").generate_signed_url(expiration=exp, method="PUT", credentials=signer, version="v4")
    )
    assert gcs.generate_signed_post_policy_v4("eu", "k", expiration=exp, credentials=signer)["fields"]
    assert_nothing_written(buckets)


# --------------------------------------------------------------------------- lifecycle, caching, audit


def test_bucket_location_cached_per_bucket(gcs: Any, buckets: FakeGcsServer) -> None:
    with residency.guard("eu", providers=["gcp"]):
        for i in range(3):
            gcs.bucket("eu").blob(f"k{i}").upload_from_string(b"x")
        assert location_cache.lookups == 1
    with residency.guard("eu", providers=["gcp"], cache_ttl=0):
        for i in range(2):
            gcs.bucket("eu").blob(f"k{i}").upload_from_string(b"x")
        assert location_cache.lookups == 2
    lookups = [r for r in buckets.requests if r[1].startswith("/storage/v1/b/eu?fields=location")]
    assert len(lookups) == 3


def test_unreadable_bucket_fails_closed(gcs: Any, buckets: FakeGcsServer, eu_guard: residency.Guard) -> None:
    with pytest.raises(ResidencyViolation, match="answered HTTP 404"):
        gcs.bucket("missing").blob("k").upload_from_string(b"x")
    assert location_cache.get((buckets.url, "missing")) is None  # failures are not cached


def test_audit_mode_lets_writes_through(gcs: Any, buckets: FakeGcsServer) -> None:
    with capture_violations("eu", providers=["gcp"]) as found:
        gcs.bucket("us").blob("k").upload_from_string(b"x")
        gcs.bucket("eu").blob("k").upload_from_string(b"x")
    assert found.targets == ["gs://us/k"]
    assert [s[:2] for s in buckets.stored] == [("us", "k"), ("eu", "k")]


def test_uninstall_restores_everything(gcs: Any, buckets: FakeGcsServer) -> None:
    original = auth_requests.AuthorizedSession.__dict__["request"]
    with residency.guard("eu", providers=["gcp"]) as g:
        assert auth_requests.AuthorizedSession.__dict__["request"] is not original
        residency.guard("eea", providers=["gcp"]).install().uninstall()  # a second guard leaves the hooks on
        assert gcp_guard.installed_guards() == (g,)
        with pytest.raises(ResidencyViolation):
            gcs.bucket("us").blob("k").upload_from_string(b"x")
    assert auth_requests.AuthorizedSession.__dict__["request"] is original
    assert gcp_guard.installed_guards() == ()
    gcs.bucket("us").blob("k").upload_from_string(b"x")
    assert buckets.stored == [("us", "k", 1)]


def test_clients_created_after_install_are_covered(buckets: FakeGcsServer, eu_guard: residency.Guard) -> None:
    client = make_client(buckets)
    with tempfile.NamedTemporaryFile() as f:
        f.write(b"x" * 10)
        f.flush()
        with pytest.raises(ResidencyViolation):
            transfer_manager.upload_chunks_concurrently(
                f.name, client.bucket("us").blob("m"), chunk_size=5, worker_type="thread"
            )
    assert_nothing_written(buckets)


def test_spawned_workers_need_the_initializer(buckets: FakeGcsServer) -> None:
    from concurrent.futures import ProcessPoolExecutor

    from residency.providers.gcp import install_in_worker
    from residency.providers.gcp._fake_gcs import probe_upload

    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=ctx, initializer=install_in_worker, initargs=("eu", "enforce")) as pool:
        assert (
            pool.submit(probe_upload, buckets.url, "us", "from-worker").result(timeout=60)
            == "blocked: gs://us/from-worker"
        )
        assert pool.submit(probe_upload, buckets.url, "eu", "from-worker").result(timeout=60) == "stored"
    with ProcessPoolExecutor(1, mp_context=ctx) as pool:  # no initializer: a fresh interpreter, no guard
        assert pool.submit(probe_upload, buckets.url, "us", "unguarded").result(timeout=60) == "stored"
    assert buckets.stored == [("eu", "from-worker", 1), ("us", "unguarded", 1)]


def test_transfer_manager_spawned_workers_are_guarded(
    gcs: Any, buckets: FakeGcsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import concurrent.futures
    import functools

    spawn = functools.partial(concurrent.futures.ProcessPoolExecutor, mp_context=multiprocessing.get_context("spawn"))
    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", spawn)
    with tempfile.TemporaryDirectory() as tmp:
        a, b = pathlib.Path(tmp, "a"), pathlib.Path(tmp, "b")
        a.write_bytes(b"a")
        b.write_bytes(b"b")
        with residency.guard("eu", providers=["gcp"]):
            results = transfer_manager.upload_many(
                [(str(a), gcs.bucket("us").blob("w1")), (str(b), gcs.bucket("eu").blob("w2"))],
                worker_type=transfer_manager.PROCESS,
                max_workers=1,
            )
    assert isinstance(results[0], ResidencyViolation)
    assert results[0].target == "gs://us/w1"
    assert results[1] is None
    assert buckets.stored == [("eu", "w2", 1)]


def test_adapter_is_registered() -> None:
    adapter = residency.load_provider("gcp")
    assert adapter.name == "gcp"
    assert list(adapter.sdk_locations()) == []
    assert isinstance(adapter, residency.ProviderAdapter)


def test_write_target() -> None:
    assert Write("x", "b", "o").target == "gs://b/o"
    assert Write("x", "b").target == "gs://b"
