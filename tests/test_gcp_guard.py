"""The Google Cloud Storage guard against a real client and a loopback Cloud Storage.

Every write path of google-cloud-storage is driven through the real client
against :mod:`residency.providers.gcp._fake_gcs` — with anonymous credentials
on the fake's URL, and with real service-account credentials on the default
``https://storage.googleapis.com`` endpoint over an ``AuthorizedSession`` whose
transport delivers to the fake. A blocked call must leave nothing stored and
send no write request (only the bucket-location ``GET``).
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import importlib.util
import io
import logging
import multiprocessing
import pathlib
import re
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from google.cloud.storage import _signing, transfer_manager
from google.cloud.storage._media.requests.upload import XMLMPUContainer, XMLMPUPart
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
signer_key = support.signer_key
make_client = support.make_client

#: outside the EU: the US default, Belgium+London, Frankfurt+Zurich, a custom dual-region with London
BLOCKED = ["us", "eur5", "eur8", "custom-london"]
EXP = dt.timedelta(minutes=5)


@pytest.fixture
def buckets(fake_gcs: FakeGcsServer) -> FakeGcsServer:
    fake_gcs.add_bucket("eu", "EU")
    fake_gcs.add_bucket("frankfurt", "EUROPE-WEST3")
    fake_gcs.add_bucket("belgium", "europe-west1")  # lower case: Cloud Storage answers EUROPE-WEST1
    fake_gcs.add_bucket("us", "US")
    fake_gcs.add_bucket("eur5", "EUR5")
    fake_gcs.add_bucket("eur8", "EUR8")
    fake_gcs.add_bucket("custom-london", "EU", data_locations=["EUROPE-WEST1", "EUROPE-WEST2"])
    fake_gcs.add_bucket("custom-eu", "EU", data_locations=["europe-west1", "europe-west4"])
    fake_gcs._store("eu", "src", b"hello")
    fake_gcs._store("us", "src", b"from the us")
    fake_gcs.requests.clear()
    fake_gcs.log.clear()
    fake_gcs.stored.clear()
    return fake_gcs


@pytest.fixture
def eu_guard() -> Iterator[residency.Guard]:
    with residency.guard("eu", providers=["gcp"]) as g:
        yield g


@pytest.fixture
def google(buckets: FakeGcsServer, signer_key: str) -> Any:
    """A client on the *default Google endpoint* with service-account credentials; the transport is the fake."""
    client, _session, _transport = support.google_endpoint_client(buckets, signer_key)
    return client


@pytest.fixture
def big_file() -> Iterator[str]:
    with tempfile.NamedTemporaryFile() as f:
        f.write(b"p" * (2 * 1024 * 1024 + 10))
        f.flush()
        yield f.name


def assert_nothing_written(fake: FakeGcsServer) -> None:
    assert fake.stored == []
    assert fake.writes() == [], "a write request reached the fake after a blocked call"


def spawn_pools(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every ``ProcessPoolExecutor`` use ``spawn`` (a fresh interpreter, as on macOS and Windows)."""
    import concurrent.futures
    import functools

    spawn = functools.partial(concurrent.futures.ProcessPoolExecutor, mp_context=multiprocessing.get_context("spawn"))
    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", spawn)


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
        ("POST", f"{BASE}/storage/v1/b/src/o/a/copyTo/b/dst/o/b", ("objects.copy", "dst", "b")),
        ("POST", f"{BASE}/storage/v1/b/src/o/a/rewriteTo/b/dst/o/b?rewriteToken=t", ("objects.rewrite", "dst", "b")),
        ("POST", f"{BASE}/storage/v1/b/bkt/o/c/compose", ("objects.compose", "bkt", "c")),
        ("POST", f"{BASE}/storage/v1/b/bkt/o/a/moveTo/o/b", ("objects.move", "bkt", "b")),
        ("POST", f"{BASE}/storage/v1/b/bkt/o/a/restore?generation=1", ("objects.restore", "bkt", "a")),
        ("PATCH", f"{BASE}/storage/v1/b/bkt/o/k", ("objects.patch", "bkt", "k")),
        ("PUT", f"{BASE}/storage/v1/b/bkt/iam", ("iam.update", "bkt", None)),
        ("DELETE", f"{BASE}/storage/v1/b/bkt", ("buckets.delete", "bkt", None)),
        ("PUT", f"{BASE}/bkt/dir/k", ("XML PUT object", "bkt", "dir/k")),
        ("PUT", "https://bkt.storage.googleapis.com/k", ("XML PUT object", "bkt", "k")),
        ("PUT", "https://my.dotted.bkt.storage.googleapis.com/k", ("XML PUT object", "my.dotted.bkt", "k")),
        ("PUT", "https://commondatastorage.googleapis.com/bkt/k", ("XML PUT object", "bkt", "k")),
        ("PUT", "https://storage-psc1.p.googleapis.com/bkt/k", ("XML PUT object", "bkt", "k")),
        ("PUT", "https://storage.europe-west3.rep.googleapis.com/bkt/k", ("XML PUT object", "bkt", "k")),
        ("POST", f"{BASE}/bkt/k?uploads", ("XML multipart upload (initiate)", "bkt", "k")),
        ("PUT", f"{BASE}/bkt/k?partNumber=1&uploadId=x", ("XML multipart upload", "bkt", "k")),
        ("POST", f"{BASE}/bkt/k?uploadId=x", ("XML multipart upload", "bkt", "k")),
        ("POST", f"{BASE}/bkt", ("XML POST (form upload)", "bkt", None)),
        ("PUT", f"{BASE}/bkt?acl", ("XML PUT bucket ?acl", "bkt", None)),  # a sub-resource, not a creation
        ("PUT", f"{BASE}/bkt/k?compose", ("XML PUT object (compose)", "bkt", "k")),
    ],
)
def test_classify_names_the_destination(method: str, url: str, expected: tuple[str, str, str | None]) -> None:
    (write,) = classify(method, url) or []
    assert (write.operation, write.bucket, write.object) == expected
    assert write.unknown is None


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("GET", f"{BASE}/storage/v1/b/bkt/o/k?alt=media"),
        ("HEAD", f"{BASE}/bkt/k"),
        ("OPTIONS", f"{BASE}/bkt/k"),
        ("GET", f"{BASE}/download/storage/v1/b/bkt/o/k"),
        ("POST", "https://bigquery.googleapis.com/bigquery/v2/projects/p/datasets"),
        ("POST", "https://oauth2.googleapis.com/token"),
        ("PUT", "http://127.0.0.1:9/bkt/k"),  # not a storage host unless registered
    ],
)
def test_classify_ignores_reads_and_other_services(method: str, url: str) -> None:
    assert classify(method, url) is None


@pytest.mark.parametrize(
    "url",
    [
        "https://attacker@storage.googleapis.com/us/k",  # user info in the URL
        "https://storage.googleapis.com./us/k",  # a fully qualified name
        "https://STORAGE.GOOGLEAPIS.COM:443/us/k",
        f"{BASE}//storage/v1/b/us/o/k",  # an empty segment before the JSON API prefix
        f"{BASE}/STORAGE/V1/b/us/o/k",
    ],
)
def test_classify_sees_through_spellings_of_the_host_and_path(url: str) -> None:
    writes = classify("PATCH", url) or []
    assert "us" in [w.bucket for w in writes]


@pytest.mark.parametrize(
    "url",
    [
        f"{BASE}/storage/v1/b/eu/o/k/%2e%2e/%2e%2e/%2e%2e/us/o/k",
        f"{BASE}/storage/v1/b/eu/../us/o/k",
        f"{BASE}/eu/%2E%2E/us/k",
    ],
)
def test_dot_segments_fail_closed(url: str) -> None:
    (write,) = classify("PUT", url) or []
    assert write.unknown is not None
    assert "segments" in write.unknown


def test_a_host_header_naming_another_bucket_is_checked_too() -> None:
    writes = classify("PUT", f"{BASE}/eu/k", headers={"Host": "us.storage.googleapis.com"}) or []
    assert {w.bucket for w in writes} == {"eu", "us"}
    # and a Host header makes a loopback URL a Google storage request
    (w,) = classify("PUT", "http://127.0.0.1:9/k", headers={"Host": "us.storage.googleapis.com"}) or []
    assert w.bucket == "us"


def test_method_override_makes_a_read_a_write() -> None:
    (w,) = classify("GET", f"{BASE}/storage/v1/b/us/o/k", headers={"X-HTTP-Method-Override": "PATCH"}) or []
    assert (w.operation, w.bucket) == ("objects.patch", "us")


def test_unknown_path_shapes_check_every_bucket_they_name() -> None:
    url = f"{BASE}/storage/v1/b/eu/o/a/copyTo/b/eu/o/x/copyTo/b/us/o/y"
    assert {w.bucket for w in classify("POST", url) or []} == {"eu", "us"}
    (w,) = classify("POST", f"{BASE}/storage/v1/x") or []
    assert w.unknown is not None


def test_a_body_naming_another_bucket_is_checked_too() -> None:
    url = f"{BASE}/upload/storage/v1/b/eu/o?uploadType=resumable"
    writes = classify("POST", url, b'{"name": "k", "bucket": "us"}') or []
    assert [w.bucket for w in writes] == ["eu", "us"]
    compose = b'{"destination": {"bucket": "us"}, "sourceObjects": [{"name": "a"}]}'
    writes = classify("POST", f"{BASE}/storage/v1/b/eu/o/c/compose", compose) or []
    assert [w.bucket for w in writes] == ["eu", "us"]
    related = (
        b'--b\r\ncontent-type: application/json; charset=UTF-8\r\n\r\n{"name": "k", "bucket": "us"}\r\n'
        b"--b\r\ncontent-type: text/plain\r\n\r\nsecret\r\n--b--"
    )
    headers = {"Content-Type": 'multipart/related; boundary="b"'}
    writes = classify("POST", f"{BASE}/upload/storage/v1/b/eu/o?uploadType=multipart", related, headers) or []
    assert [(w.bucket, w.object) for w in writes] == [("eu", "k"), ("us", "k")]


def test_classify_bucket_creation_reads_the_body() -> None:
    (w,) = classify("POST", f"{BASE}/storage/v1/b?project=p", b'{"name": "n"}') or []
    assert (w.operation, w.bucket, w.location and w.location.code) == ("buckets.insert", "n", "US")
    assert w.hint
    assert "no location given" in w.hint
    (w,) = classify("POST", f"{BASE}/storage/v1/b", '{"name": "n", "location": "EUR8"}') or []
    assert w.location is not None
    assert set(w.location.countries) == {"DE", "CH"}
    for members in ('["EUROPE-WEST1", "EUROPE-WEST2"]', '["europe-west1", "europe-west2"]'):
        body = f'{{"name": "n", "location": "EU", "customPlacementConfig": {{"dataLocations": {members}}}}}'
        (w,) = classify("POST", f"{BASE}/storage/v1/b", body) or []
        assert w.location is not None
        assert set(w.location.countries) == {"BE", "GB"}
    # the proto's snake_case spelling is read as well
    body = '{"name": "n", "location": "EU", "custom_placement_config": {"data_locations": ["EUROPE-WEST2"]}}'
    (w,) = classify("POST", f"{BASE}/storage/v1/b", body) or []
    assert w.location is not None
    assert w.location.countries == ("GB",)


@pytest.mark.parametrize(
    "body",
    [
        b'{"name": "n", "location": "EU", "location": "US"}',  # which one does the server take?
        b'{"name": "n", "location": "EU", "customPlacementConfig": {"dataLocations": "EUROPE-WEST2"}}',
        b'{"name": "n", "customPlacementConfig": {"dataLocations": ["A"]}, "custom_placement_config": {}}',
        b'{"name": "n", "location": ["EU"]}',
        b"name=n&location=EU",
        io.BytesIO(b'{"name": "n", "location": "EU"}'),  # a stream cannot be read without consuming it
    ],
)
def test_ambiguous_bucket_creation_fails_closed(body: Any) -> None:
    (w,) = classify("POST", f"{BASE}/storage/v1/b?project=p", body) or []
    assert w.location is None
    assert w.unknown


def test_classify_xml_bucket_creation() -> None:
    xml = b"<CreateBucketConfiguration><LocationConstraint>EU</LocationConstraint></CreateBucketConfiguration>"
    (w,) = classify("PUT", f"{BASE}/newbkt", xml) or []
    assert (w.operation, w.location and w.location.code) == ("XML PUT bucket", "EU")
    (w,) = classify("PUT", f"{BASE}/newbkt", b"") or []
    assert w.location is not None
    assert w.location.code == "US"
    assert w.hint
    custom = (
        b"<CreateBucketConfiguration><LocationConstraint>EU</LocationConstraint><CustomPlacementConfig>"
        b"<DataLocations><DataLocation>EUROPE-WEST1</DataLocation><DataLocation>EUROPE-WEST2</DataLocation>"
        b"</DataLocations></CustomPlacementConfig></CreateBucketConfiguration>"
    )
    (w,) = classify("PUT", "https://newbkt.storage.googleapis.com/", custom) or []
    assert (w.bucket, w.location and set(w.location.countries)) == ("newbkt", {"BE", "GB"})
    two = b"<C><LocationConstraint>EU</LocationConstraint><LocationConstraint>US</LocationConstraint></C>"
    for body in (two, b"<not xml"):
        (w,) = classify("PUT", f"{BASE}/newbkt", body) or []
        assert w.unknown


def test_classify_relocation_and_caches() -> None:
    body = b'{"destinationLocation": "EU", "destinationCustomPlacementConfig": {"dataLocations": ["EUROPE-WEST2"]}}'
    (w,) = classify("POST", f"{BASE}/storage/v1/b/bkt/relocate", body) or []
    assert (w.operation, w.bucket, w.opens, w.location and w.location.countries) == (
        "buckets.relocate",
        "bkt",
        "relocation",
        ("GB",),
    )
    (w,) = classify("POST", f"{BASE}/storage/v1/b/bkt/relocate", b"{}") or []
    assert w.unknown
    advance = f"{BASE}/storage/v1/b/bkt/operations/op1/advanceRelocateBucket"
    (w,) = classify("POST", advance) or []
    assert w.unknown
    eu = residency.lookup_location("gcp", "EU")
    (w,) = classify("POST", advance, relocations={"op1": eu}) or []
    assert w.location == eu
    writes = classify("POST", f"{BASE}/storage/v1/b/bkt/anywhereCaches", b'{"zone": "europe-west2-a"}') or []
    assert [(w.bucket, w.location and w.location.countries) for w in writes] == [("bkt", None), ("bkt", ("GB",))]


def test_classify_open_sessions_trust_the_recorded_bucket_only() -> None:
    url = f"{BASE}/upload/storage/v1/b/looks-eu/o?uploadType=resumable&upload_id=abc"
    (w,) = classify("PUT", url, sessions={"abc": "really-us"}) or []
    assert w.bucket == "really-us"
    # a session the hook did not see opened: the URL's bucket is not evidence
    (w,) = classify("PUT", f"{BASE}/upload/storage/v1/b/eu/o?uploadType=resumable&upload_id=u1") or []
    assert (w.bucket, w.target) == (None, "gs://(unknown bucket)")
    assert w.unknown
    assert "gs://eu" in w.unknown
    # every repeat of the parameter, in any case, is checked
    url = f"{BASE}/upload/storage/v1/b/eu/o?upload_id=abc&Upload_Id=zzz"
    assert [w.bucket for w in classify("PUT", url, sessions={"abc": "eu"}) or []] == ["eu", None]
    (w,) = classify("PUT", f"{BASE}/eu/k?upload_id=zzz") or []
    assert w.unknown
    # an XML multipart upload is bound to its URL's bucket, and the one it was initiated for is checked too
    writes = classify("PUT", f"{BASE}/eu/k?partNumber=1&uploadId=m1", sessions={"m1": "us"}) or []
    assert [w.bucket for w in writes] == ["eu", "us"]


def _batch_body(*requests_: str, encode: bool = False) -> tuple[bytes, dict[str, str]]:
    parts = []
    for r in requests_:
        payload = r.encode()
        if encode:
            payload = base64.b64encode(payload)
        cte = "base64" if encode else "binary"
        parts.append(
            b"--b\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: "
            + cte.encode()
            + b"\r\n\r\n"
            + payload
        )
    return b"\r\n".join(parts) + b"\r\n--b--", {"Content-Type": 'multipart/mixed; boundary="b"'}


def test_classify_batch_lists_every_inner_write() -> None:
    body, headers = _batch_body(
        "PATCH /storage/v1/b/one/o/k HTTP/1.1\r\nContent-Type: application/json\r\n\r\n{}",
        "GET /storage/v1/b/two/o/k HTTP/1.1\r\n\r\n",
        f"delete {BASE}/storage/v1/b/three/o/k HTTP/1.0\r\n\r\n",
    )
    writes = classify("POST", f"{BASE}/batch/storage/v1", body, headers) or []
    assert [(w.operation, w.bucket) for w in writes] == [("objects.patch", "one"), ("objects.delete", "three")]
    # base64-encoded parts are decoded, a gzip-compressed body is decompressed
    body, headers = _batch_body("PATCH /storage/v1/b/four/o/k HTTP/1.1\r\n\r\n{}", encode=True)
    assert [w.bucket for w in classify("POST", f"{BASE}/batch/storage/v1", body, headers) or []] == ["four"]
    zipped = {**headers, "Content-Encoding": "gzip"}
    assert [w.bucket for w in classify("POST", f"{BASE}/batch/storage/v1", gzip.compress(body), zipped) or []] == [
        "four"
    ]


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        (b"PATCH /storage/v1/b/us/o/k HTTP/1.1\r\n\r\n{}", {}),  # no multipart Content-Type
        (_batch_body("not a request line at all")[0], _batch_body()[1]),
        (b"x", {"Content-Type": 'multipart/mixed; boundary="b"', "Content-Encoding": "br"}),
    ],
)
def test_unreadable_batch_fails_closed(body: bytes, headers: dict[str, str]) -> None:
    (w,) = classify("POST", f"{BASE}/batch/storage/v1", body, headers) or []
    assert (w.operation, w.bucket) == ("batch", None)
    assert w.unknown


def test_project_level_writes_are_global_services() -> None:
    (w,) = classify("POST", f"{BASE}/storage/v1/projects/p/hmacKeys?serviceAccountEmail=x") or []
    assert w.global_service is not None


def test_write_target() -> None:
    assert Write("x", "b", "o").target == "gs://b/o"
    assert Write("x", "b").target == "gs://b"


# --------------------------------------------------------------------------- the real client: uploads


def test_allowed_writes_go_through(gcs: Any, buckets: FakeGcsServer, eu_guard: residency.Guard) -> None:
    gcs.bucket("eu").blob("a").upload_from_string(b"x")
    gcs.bucket("frankfurt").blob("big", chunk_size=256 * 1024).upload_from_file(io.BytesIO(b"y" * 300_000))
    gcs.bucket("custom-eu").blob("c").upload_from_string(b"z")
    gcs.bucket("belgium").blob("d").upload_from_string(b"z")
    src = gcs.bucket("us").blob("src")
    gcs.bucket("us").copy_blob(src, gcs.bucket("eu"), "copied-from-us")  # the destination decides
    gcs.bucket("frankfurt").blob("rw").rewrite(src)
    eu = gcs.bucket("eu")
    eu.blob("composed").compose([eu.blob("src"), eu.blob("a")])
    eu.move_blob(eu.blob("composed"), "moved")
    with eu.blob("w").open("wb", chunk_size=256 * 1024) as f:
        f.write(b"w" * 300_000)
    assert [s[:2] for s in buckets.stored] == [
        ("eu", "a"),
        ("frankfurt", "big"),
        ("custom-eu", "c"),
        ("belgium", "d"),
        ("eu", "copied-from-us"),
        ("frankfurt", "rw"),
        ("eu", "composed"),
        ("eu", "moved"),
        ("eu", "w"),
    ]


def test_reads_pass(gcs: Any, buckets: FakeGcsServer, eu_guard: residency.Guard) -> None:
    assert gcs.bucket("us").blob("src").download_as_bytes() == b"from the us"
    assert [b.name for b in gcs.list_blobs("us")] == ["src"]
    assert gcs.get_bucket("us").location == "US"
    assert gcs.bucket("us").blob("src").exists()
    assert location_cache.lookups == 0


UPLOADS = {
    "upload_from_string": lambda blob, tmp: blob.upload_from_string(b"secret"),
    "upload_from_filename": lambda blob, tmp: blob.upload_from_filename(tmp),
    "upload_from_file": lambda blob, tmp: blob.upload_from_file(io.BytesIO(b"secret")),
    "upload_from_file (no size: resumable)": lambda blob, tmp: blob.upload_from_file(
        io.BytesIO(b"y" * 300_000), size=None
    ),
    "resumable (chunk_size)": lambda blob, tmp: blob._bucket.blob(blob.name, chunk_size=256 * 1024).upload_from_file(
        io.BytesIO(b"y" * 300_000)
    ),
    "open('wb') writer": lambda blob, tmp: _write_with_open(blob),
    "create_resumable_upload_session": lambda blob, tmp: blob.create_resumable_upload_session(size=5),
}


def _write_with_open(blob: Any) -> None:
    with blob.open("wb", chunk_size=256 * 1024) as f:
        f.write(b"z" * 300_000)


@pytest.mark.parametrize("bucket", BLOCKED)
@pytest.mark.parametrize("path", list(UPLOADS))
def test_every_upload_path_blocked(
    gcs: Any, buckets: FakeGcsServer, eu_guard: residency.Guard, bucket: str, path: str, tmp_path: pathlib.Path
) -> None:
    tmp = tmp_path / "f"
    tmp.write_bytes(b"secret")
    with pytest.raises(ResidencyViolation) as err:
        UPLOADS[path](gcs.bucket(bucket).blob("k"), str(tmp))
    assert err.value.provider == "gcp"
    assert err.value.target == f"gs://{bucket}/k"
    assert "outside EU" in err.value.reason
    assert_nothing_written(buckets)


def test_violation_names_location_and_countries(gcs: Any, buckets: FakeGcsServer, eu_guard: residency.Guard) -> None:
    with pytest.raises(ResidencyViolation) as err:
        gcs.bucket("eur8").blob("k").upload_from_string(b"secret")
    v = err.value
    assert (v.location, set(v.countries), v.policy, v.operation) == ("EUR8", {"DE", "CH"}, "eu", err.value.operation)
    assert "CH is outside EU" in v.reason
    assert "gs://eur8/k" in str(v)
    with pytest.raises(ResidencyViolation) as err:
        gcs.bucket("custom-london").blob("k").upload_from_string(b"secret")
    assert set(err.value.countries) == {"BE", "GB"}
    assert "GB is outside EU" in err.value.reason


def test_media_upload_blocked(gcs: Any, buckets: FakeGcsServer, eu_guard: residency.Guard) -> None:
    url = f"{buckets.url}/upload/storage/v1/b/us/o?uploadType=media&name=k"
    with pytest.raises(ResidencyViolation, match="media upload"):
        gcs._http.request("POST", url, data=b"secret")
    with pytest.raises(ResidencyViolation, match="media upload"):  # a plain requests session is covered too
        requests.post(url, data=b"secret", timeout=5)
    assert_nothing_written(buckets)


# --------------------------------------------------------------------------- open sessions


@pytest.mark.parametrize("sender", ["client _http", "plain requests session", "prepared request"])
def test_session_opened_under_the_guard_is_checked_on_every_chunk(
    gcs: Any, buckets: FakeGcsServer, sender: str
) -> None:
    def put(url: str, data: bytes, headers: dict[str, str]) -> Any:
        if sender == "client _http":
            return gcs._http.request("PUT", url, data=data, headers=headers)
        if sender == "plain requests session":
            return requests.Session().put(url, data=data, headers=headers, timeout=5)
        session = requests.Session()
        return session.send(session.prepare_request(requests.Request("PUT", url, data=data, headers=headers)))

    with capture_violations("eu", providers=["gcp"]) as seen:
        us_url = gcs.bucket("us").blob("later").create_resumable_upload_session(size=5)
        eu_url = gcs.bucket("eu").blob("ok").create_resumable_upload_session(size=5)
    assert seen.targets == ["gs://us/later"]
    buckets.requests.clear()
    with residency.guard("eu", providers=["gcp"]):
        with pytest.raises(ResidencyViolation, match=r"resumable session\) to gs://us"):
            put(us_url, b"12345", {"Content-Range": "bytes 0-4/5"})
        assert buckets.writes() == []
        assert put(eu_url, b"12345", {"Content-Range": "bytes 0-4/5"}).status_code == 200
    assert buckets.stored == [("eu", "ok", 5)]


def test_session_opened_before_install_fails_closed(gcs: Any, buckets: FakeGcsServer) -> None:
    us_url = gcs.bucket("us").blob("later").create_resumable_upload_session(size=5)
    eu_url = gcs.bucket("eu").blob("early").create_resumable_upload_session(size=5)
    buckets.requests.clear()
    with residency.guard("eu", providers=["gcp"]):
        for url in (us_url, eu_url):
            with pytest.raises(ResidencyViolation, match="not opened while the guard was installed"):
                requests.put(url, data=b"12345", headers={"Content-Range": "bytes 0-4/5"}, timeout=5)
    assert_nothing_written(buckets)


def test_forged_session_url_is_checked_against_the_bucket_that_opened_it(gcs: Any, buckets: FakeGcsServer) -> None:
    with capture_violations("eu", providers=["gcp"]) as found:
        url = gcs.bucket("us").blob("k").create_resumable_upload_session(size=5)
    upload_id = url.split("upload_id=")[1]
    forged = f"{buckets.url}/upload/storage/v1/b/eu/o?uploadType=resumable&upload_id={upload_id}"
    with residency.guard("eu", providers=["gcp"]), pytest.raises(ResidencyViolation, match="session\\) to gs://us:"):
        gcs._http.request("PUT", forged, data=b"12345", headers={"Content-Range": "bytes 0-4/5"})
    assert found.targets == ["gs://us/k"]
    assert buckets.stored == []


def test_xml_resumable_session(gcs: Any, buckets: FakeGcsServer, eu_guard: residency.Guard) -> None:
    with pytest.raises(ResidencyViolation, match="XML resumable upload"):
        gcs._http.request("POST", f"{buckets.url}/us/x", headers={"x-goog-resumable": "start"})
    start = gcs._http.request("POST", f"{buckets.url}/eu/x", headers={"x-goog-resumable": "start"})
    assert start.status_code == 201
    done = requests.put(start.headers["Location"], data=b"abc", headers={"Content-Range": "bytes 0-2/3"}, timeout=5)
    assert done.status_code == 200
    assert buckets.stored == [("eu", "x", 3)]


# --------------------------------------------------------------------------- XML multipart (transfer manager)


@pytest.mark.parametrize("worker_type", [transfer_manager.THREAD, transfer_manager.PROCESS])
def test_transfer_manager_upload_chunks_concurrently(
    gcs: Any, buckets: FakeGcsServer, big_file: str, worker_type: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    spawn_pools(monkeypatch)
    with residency.guard("eu", providers=["gcp"]):
        with pytest.raises(ResidencyViolation, match="XML multipart upload"):
            transfer_manager.upload_chunks_concurrently(
                big_file, gcs.bucket("eur5").blob("mpu"), chunk_size=1024 * 1024, worker_type=worker_type
            )
        assert buckets.writes() == []
        transfer_manager.upload_chunks_concurrently(
            big_file, gcs.bucket("eu").blob("mpu"), chunk_size=1024 * 1024, worker_type=worker_type, max_workers=2
        )
    assert buckets.stored == [("eu", "mpu", 2 * 1024 * 1024 + 10)]


@pytest.mark.parametrize("worker_type", [transfer_manager.THREAD, transfer_manager.PROCESS])
def test_transfer_manager_upload_many(
    gcs: Any, buckets: FakeGcsServer, tmp_path: pathlib.Path, worker_type: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    spawn_pools(monkeypatch)
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_bytes(b"a")
    b.write_bytes(b"b")
    with residency.guard("eu", providers=["gcp"]):
        results = transfer_manager.upload_many(
            [(str(a), gcs.bucket("us").blob("w1")), (str(b), gcs.bucket("eu").blob("w2"))],
            worker_type=worker_type,
            max_workers=1,
        )
    assert isinstance(results[0], ResidencyViolation)
    assert results[0].target == "gs://us/w1"
    assert results[1] is None
    assert buckets.stored == [("eu", "w2", 1)]


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
    # copying out of the US into the EU is fine: the destination decides
    gcs._http.request("PUT", f"{buckets.url}/eu/from-us", headers={"x-goog-copy-source": "/us/src"})
    assert buckets.stored == [("eu", "from-us", 11)]


# --------------------------------------------------------------------------- buckets


@pytest.mark.parametrize(
    ("kwargs", "countries"),
    [
        ({}, {"US"}),
        ({"location": None}, {"US"}),
        ({"location": "EUR5"}, {"BE", "GB"}),
        ({"location": "EUR8"}, {"DE", "CH"}),
        ({"location": "EU", "data_locations": ["EUROPE-WEST3", "EUROPE-WEST2"]}, {"DE", "GB"}),
        ({"location": "EU", "data_locations": ["europe-west1", "europe-west2"]}, {"BE", "GB"}),
        ({"location": "europe-west2"}, {"GB"}),
        ({"location": "us-central1"}, {"US"}),
        ({"location": "ASIA"}, None),
    ],
)
@pytest.mark.parametrize("how", ["client.create_bucket", "bucket.create"])
def test_create_bucket_blocked(
    gcs: Any,
    buckets: FakeGcsServer,
    eu_guard: residency.Guard,
    kwargs: dict[str, Any],
    countries: set[str] | None,
    how: str,
) -> None:
    def create() -> None:
        if how == "bucket.create":
            bucket = gcs.bucket("nope")
            if "data_locations" in kwargs:
                bucket._patch_property("customPlacementConfig", {"dataLocations": kwargs.pop("data_locations")})
            bucket.create(**kwargs)
        else:
            gcs.create_bucket("nope", **kwargs)

    with pytest.raises(ResidencyViolation) as err:
        create()
    if countries is not None:
        assert set(err.value.countries) == countries
    if not kwargs.get("location"):
        assert "no location given" in err.value.reason
    assert "nope" not in buckets.buckets
    assert_nothing_written(buckets)


@pytest.mark.parametrize(
    ("location", "data_locations"),
    [
        ("EU", None),
        ("eu", None),
        ("EUR4", None),
        ("EUROPE-WEST1", None),
        ("europe-west1", None),
        ("EU", ["EUROPE-WEST1", "EUROPE-WEST4"]),
    ],
)
def test_create_bucket_in_the_eu(
    gcs: Any, buckets: FakeGcsServer, eu_guard: residency.Guard, location: str, data_locations: list[str] | None
) -> None:
    created = gcs.create_bucket("new-eu", location=location, data_locations=data_locations)
    assert created.location == location.upper()
    stored = buckets.buckets["new-eu"]
    assert stored["location"] == location.upper()
    if data_locations:
        assert (stored["locationType"], stored["customPlacementConfig"]["dataLocations"]) == (
            "dual-region",
            data_locations,
        )


def test_create_bucket_with_a_json_keyword(gcs: Any, buckets: FakeGcsServer, eu_guard: residency.Guard) -> None:
    with pytest.raises(ResidencyViolation, match=re.escape("buckets.insert to gs://kw")):
        gcs._http.request("POST", f"{buckets.url}/storage/v1/b?project=p", json={"name": "kw", "location": "EUR5"})
    with pytest.raises(ResidencyViolation, match="repeats the key"):
        gcs._http.request(
            "POST", f"{buckets.url}/storage/v1/b?project=p", data=b'{"name":"kw","location":"EU","location":"US"}'
        )
    assert_nothing_written(buckets)


def test_xml_create_bucket(gcs: Any, buckets: FakeGcsServer, eu_guard: residency.Guard) -> None:
    with pytest.raises(ResidencyViolation, match="creates the bucket in US"):
        gcs._http.request("PUT", f"{buckets.url}/xml-bucket", data=b"")
    london = (
        b"<CreateBucketConfiguration><LocationConstraint>EUROPE-WEST2</LocationConstraint></CreateBucketConfiguration>"
    )
    with pytest.raises(ResidencyViolation, match="in GB, outside EU"):
        gcs._http.request("PUT", f"{buckets.url}/xml-bucket", data=london)
    assert_nothing_written(buckets)
    eu = b"<CreateBucketConfiguration><LocationConstraint>EU</LocationConstraint></CreateBucketConfiguration>"
    assert gcs._http.request("PUT", f"{buckets.url}/xml-bucket", data=eu).status_code == 200
    assert buckets.buckets["xml-bucket"]["location"] == "EU"
    # a sub-resource of an existing EU bucket is a configuration change, not a creation in US
    assert gcs._http.request("PUT", f"{buckets.url}/eu?acl", data=b"<AccessControlList/>").status_code == 200
    with pytest.raises(ResidencyViolation, match=r"XML PUT bucket \?acl to gs://us"):
        gcs._http.request("PUT", f"{buckets.url}/us?acl", data=b"<AccessControlList/>")


def test_copy_rewrite_compose_move_blocked_by_destination(
    gcs: Any, buckets: FakeGcsServer, eu_guard: residency.Guard
) -> None:
    eu, us = gcs.bucket("eu"), gcs.bucket("us")
    with pytest.raises(ResidencyViolation, match=re.escape("objects.copy to gs://us/copy")):
        eu.copy_blob(eu.blob("src"), us, "copy")
    with pytest.raises(ResidencyViolation, match=re.escape("objects.rewrite to gs://eur8/rw")):
        gcs.bucket("eur8").blob("rw").rewrite(eu.blob("src"))
    with pytest.raises(ResidencyViolation, match=re.escape("objects.compose to gs://us/c")):
        us.blob("c").compose([us.blob("src"), us.blob("src")])
    with pytest.raises(ResidencyViolation, match=re.escape("objects.move to gs://us/moved")):
        us.move_blob(us.blob("src"), "moved")
    assert_nothing_written(buckets)


def test_metadata_writes_are_writes(gcs: Any, buckets: FakeGcsServer, eu_guard: residency.Guard) -> None:
    """Custom metadata is user data stored with the object: patching it in a US bucket is blocked."""
    us_blob = gcs.bucket("us").blob("src")
    us_blob.metadata = {"customer": "jane@example.eu"}
    with pytest.raises(ResidencyViolation, match=re.escape("objects.patch to gs://us/src")):
        us_blob.patch()
    with pytest.raises(ResidencyViolation, match=re.escape("objects.update to gs://us/src")):
        us_blob.update()
    us_bucket = gcs.bucket("us")
    us_bucket.labels = {"team": "x"}
    with pytest.raises(ResidencyViolation, match=re.escape("buckets.patch to gs://us")):
        us_bucket.patch()
    assert_nothing_written(buckets)
    eu_blob = gcs.bucket("eu").blob("src")
    eu_blob.metadata = {"customer": "jane@example.eu"}
    eu_blob.patch()
    assert buckets.objects[("eu", "src")][1]["metadata"] == {"customer": "jane@example.eu"}


def test_relocation_the_destination_decides(gcs: Any, buckets: FakeGcsServer, eu_guard: residency.Guard) -> None:
    http = gcs._http
    with pytest.raises(ResidencyViolation, match=re.escape("buckets.relocate to gs://eu")):
        http.request("POST", f"{buckets.url}/storage/v1/b/eu/relocate", json={"destinationLocation": "US"})
    london = {"destinationLocation": "EU", "destinationCustomPlacementConfig": {"dataLocations": ["EUROPE-WEST2"]}}
    with pytest.raises(ResidencyViolation, match="in GB, outside EU"):
        http.request("POST", f"{buckets.url}/storage/v1/b/eu/relocate", json=london)
    assert buckets.writes() == []
    assert buckets.buckets["eu"]["location"] == "EU"
    # moving a US bucket *into* the EU is what a remediation does: allowed, and its final step too
    op = http.request("POST", f"{buckets.url}/storage/v1/b/us/relocate", json={"destinationLocation": "EUROPE-WEST3"})
    assert op.status_code == 200
    op_id = op.json()["name"].rsplit("/", 1)[-1]
    advance = f"{buckets.url}/storage/v1/b/us/operations/{op_id}/advanceRelocateBucket"
    assert http.request("POST", advance, json={}).status_code == 200
    assert buckets.buckets["us"]["location"] == "EUROPE-WEST3"
    with pytest.raises(ResidencyViolation, match="relocation not seen started"):
        http.request("POST", f"{buckets.url}/storage/v1/b/eu/operations/other/advanceRelocateBucket", json={})


def test_anywhere_cache_zone_is_checked(gcs: Any, buckets: FakeGcsServer, eu_guard: residency.Guard) -> None:
    url = f"{buckets.url}/storage/v1/b/eu/anywhereCaches"
    with pytest.raises(ResidencyViolation, match="cache zone"):
        gcs._http.request("POST", url, json={"zone": "europe-west2-a"})
    assert gcs._http.request("POST", url, json={"zone": "europe-west3-a"}).status_code == 200


def test_batch(gcs: Any, buckets: FakeGcsServer, eu_guard: residency.Guard) -> None:
    us_blob, eu_blob = gcs.bucket("us").blob("src"), gcs.bucket("eu").blob("src")
    us_blob.metadata = eu_blob.metadata = {"k": "v"}

    def mixed_batch() -> None:
        with gcs.batch():
            eu_blob.patch()
            us_blob.patch()  # one outside write stops the whole batch

    with pytest.raises(ResidencyViolation, match=re.escape("objects.patch to gs://us/src")):
        mixed_batch()
    assert_nothing_written(buckets)
    eu_blob = gcs.bucket("eu").blob("src")  # the failed batch left futures in the old objects
    eu_blob.metadata = {"k": "v"}
    with gcs.batch():
        eu_blob.patch()
    assert buckets.objects[("eu", "src")][1]["metadata"] == {"k": "v"}


def test_emulator_host_is_a_storage_host(buckets: FakeGcsServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", buckets.url)
    from google.cloud import storage

    client = storage.Client(project="p")
    with residency.guard("eu", providers=["gcp"]):
        with pytest.raises(ResidencyViolation, match="XML PUT object"):
            requests.put(f"{buckets.url}/us/k", data=b"x", timeout=5)
        client.bucket("eu").blob("ok").upload_from_string(b"x")
    assert buckets.stored == [("eu", "ok", 1)]


# --------------------------------------------------------------------------- real-looking credentials, Google endpoint


def test_google_endpoint_with_service_account_credentials(
    google: Any, buckets: FakeGcsServer, eu_guard: residency.Guard, big_file: str
) -> None:
    google.bucket("eu").blob("a").upload_from_string(b"x")
    google.bucket("frankfurt").blob("big", chunk_size=256 * 1024).upload_from_file(io.BytesIO(b"y" * 300_000))
    transfer_manager.upload_chunks_concurrently(
        big_file, google.bucket("eu").blob("mpu"), chunk_size=1024 * 1024, worker_type="thread"
    )
    stored = list(buckets.stored)
    for call in (
        lambda: google.bucket("us").blob("a").upload_from_string(b"x"),
        lambda: google.bucket("eur8").blob("big", chunk_size=256 * 1024).upload_from_file(io.BytesIO(b"y" * 300_000)),
        lambda: transfer_manager.upload_chunks_concurrently(
            big_file, google.bucket("eur5").blob("mpu"), chunk_size=1024 * 1024, worker_type="thread"
        ),
        lambda: google.create_bucket("new-in-us"),
        lambda: google._http.request("PUT", "https://us.storage.googleapis.com/virtual-hosted", data=b"x"),
        lambda: google._http.request("PUT", "https://storage.googleapis.com/eur5/path-style", data=b"x"),
        lambda: google._http.request(
            "PUT", "https://storage.googleapis.com/eu/k", data=b"x", headers={"Host": "us.storage.googleapis.com"}
        ),
    ):
        with pytest.raises(ResidencyViolation):
            call()
    assert buckets.stored == stored
    assert [s[:2] for s in stored] == [("eu", "a"), ("frankfurt", "big"), ("eu", "mpu")]
    # every request carried the service account's token, the guard's lookups included
    lookups = [r for r in buckets.log if "fields=location" in r.path]
    assert lookups
    assert all(r.headers.get("authorization", "").startswith("Bearer fake-token-") for r in lookups)
    assert all(r.headers.get("host", "").endswith("googleapis.com") for r in lookups)


def test_a_universe_domain_endpoint_and_its_virtual_hosted_names(
    buckets: FakeGcsServer, signer_key: str, eu_guard: residency.Guard
) -> None:
    """A client on another universe (S3NS's ``storage.s3nsapis.fr``) registers its host, virtual-hosted names too."""
    credentials = support.service_account_credentials(buckets, signer_key)
    session = requests.Session()
    session.mount("https://", support.GoogleToFake(buckets))
    from google.cloud import storage

    client = storage.Client(
        project=support.PROJECT,
        credentials=credentials,
        _http=session,
        client_options={"api_endpoint": "https://storage.s3nsapis.fr"},
    )
    with pytest.raises(ResidencyViolation, match="XML PUT object to gs://us/k"):
        session.put("https://us.storage.s3nsapis.fr/k", data=b"x", timeout=5)
    with pytest.raises(ResidencyViolation, match="XML PUT object to gs://eur8/k"):
        session.put("https://storage.s3nsapis.fr/eur8/k", data=b"x", timeout=5)
    with pytest.raises(ResidencyViolation, match="gs://us/k"):
        _signing.generate_signed_url_v4(
            credentials, "/k", expiration=EXP, api_access_endpoint="https://us.storage.s3nsapis.fr", method="PUT"
        )
    assert_nothing_written(buckets)
    assert session.put("https://storage.s3nsapis.fr/eu/k", data=b"x", timeout=5).status_code == 200
    assert buckets.stored == [("eu", "k", 1)]
    assert client is not None


def test_lookup_uses_the_callers_plain_session_token_and_user_project(
    buckets: FakeGcsServer, eu_guard: residency.Guard
) -> None:
    client = make_client(buckets)  # registers the fake as a storage host
    headers = {"Authorization": "Bearer callers-own-token", "Content-Range": "bytes */5"}
    with pytest.raises(ResidencyViolation):
        requests.put(f"{buckets.url}/us/k?userProject=billing-eu", data=b"x", headers=headers, timeout=5)
    (lookup,) = [r for r in buckets.log if "fields=location" in r.path]
    assert lookup.headers["authorization"] == "Bearer callers-own-token"
    assert "userProject=billing-eu" in lookup.path
    assert client is not None


# --------------------------------------------------------------------------- signing


@pytest.fixture
def sa(buckets: FakeGcsServer, signer_key: str) -> Any:
    return support.service_account_credentials(buckets, signer_key)


@pytest.mark.parametrize("version", ["v2", "v4"])
def test_signed_urls_for_writes_blocked(
    gcs: Any, buckets: FakeGcsServer, eu_guard: residency.Guard, sa: Any, version: str
) -> None:
    for bucket in BLOCKED:
        blob = gcs.bucket(bucket).blob("k")
        for method in ("PUT", "POST", "RESUMABLE", "DELETE", "put"):
            with pytest.raises(ResidencyViolation, match=f"generate_signed_url {method.upper()} to gs://{bucket}/k"):
                blob.generate_signed_url(expiration=EXP, method=method, credentials=sa, version=version)
        with pytest.raises(ResidencyViolation, match=f"generate_signed_url PUT to gs://{bucket}"):
            gcs.bucket(bucket).generate_signed_url(expiration=EXP, method="PUT", credentials=sa, version=version)
        # reads are signed as usual
        assert blob.generate_signed_url(expiration=EXP, method="GET", credentials=sa, version=version)
        assert blob.generate_signed_url(expiration=EXP, credentials=sa, version=version)
    assert gcs.bucket("eu").blob("k").generate_signed_url(expiration=EXP, method="PUT", credentials=sa, version=version)
    assert_nothing_written(buckets)


def test_signed_post_policies_blocked(gcs: Any, buckets: FakeGcsServer, eu_guard: residency.Guard, sa: Any) -> None:
    for bucket in BLOCKED:
        with pytest.raises(ResidencyViolation, match=f"generate_signed_post_policy_v4 to gs://{bucket}/k"):
            gcs.generate_signed_post_policy_v4(bucket, "k", expiration=EXP, credentials=sa)
    with pytest.raises(ResidencyViolation, match="to gs://us"):  # a condition naming another bucket
        gcs.generate_signed_post_policy_v4(
            "eu", "k", expiration=EXP, credentials=sa, conditions=[["eq", "$bucket", "us"]]
        )
    with pytest.raises(ResidencyViolation, match="generate_upload_policy to gs://eur8"):
        gcs.bucket("eur8").generate_upload_policy(
            [["starts-with", "$key", ""]], expiration=dt.datetime.now(dt.timezone.utc) + EXP, client=gcs
        )
    assert_nothing_written(buckets)


def test_direct_signing_helpers_blocked(gcs: Any, buckets: FakeGcsServer, eu_guard: residency.Guard, sa: Any) -> None:
    with pytest.raises(ResidencyViolation, match="generate_signed_url PUT to gs://us/k"):
        _signing.generate_signed_url_v4(sa, "/us/k", expiration=EXP, api_access_endpoint=buckets.url, method="PUT")
    with pytest.raises(ResidencyViolation, match="generate_signed_url PUT to gs://eur5/k"):
        _signing.generate_signed_url_v2(sa, "/eur5/k", expiration=EXP, api_access_endpoint=buckets.url, method="PUT")
    with pytest.raises(ResidencyViolation, match="gs://us/k"):  # virtual-hosted endpoint: the bucket is in the host
        _signing.generate_signed_url_v4(
            sa, "/k", expiration=EXP, api_access_endpoint="https://us.storage.googleapis.com", method="PUT"
        )
    assert _signing.generate_signed_url_v4(sa, "/eu/k", expiration=EXP, api_access_endpoint=buckets.url, method="PUT")
    assert _signing.generate_signed_url_v4(sa, "/us/k", expiration=EXP, api_access_endpoint=buckets.url)


def test_signed_writes_into_the_eu_work_end_to_end(
    gcs: Any, buckets: FakeGcsServer, eu_guard: residency.Guard, sa: Any
) -> None:
    url = (
        gcs.bucket("eu")
        .blob("signed")
        .generate_signed_url(
            expiration=EXP, method="PUT", credentials=sa, version="v4", api_access_endpoint=buckets.url
        )
    )
    assert requests.put(url, data=b"via url", timeout=5).status_code == 200
    policy = gcs.generate_signed_post_policy_v4("eu", "posted", expiration=EXP, credentials=sa)
    form = requests.post(f"{buckets.url}/eu", data=policy["fields"], files={"file": ("f", b"via form")}, timeout=5)
    assert form.status_code == 204
    assert buckets.stored == [("eu", "signed", 7), ("eu", "posted", 8)]
    # the same URL pointed at a US bucket by hand is stopped at send time
    with pytest.raises(ResidencyViolation, match="form upload"):
        requests.post(f"{buckets.url}/us", data=policy["fields"], files={"file": ("f", b"x")}, timeout=5)


# --------------------------------------------------------------------------- lookups, caching, fail closed


def test_bucket_location_cached_per_bucket_with_ttl(gcs: Any, buckets: FakeGcsServer) -> None:
    with residency.guard("eu", providers=["gcp"]):
        for i in range(5):
            gcs.bucket("eu").blob(f"k{i}").upload_from_string(b"x")
        gcs.bucket("frankfurt").blob("k").upload_from_string(b"x")
        assert location_cache.lookups == 2
    with residency.guard("eu", providers=["gcp"], cache_ttl=0.3):
        gcs.bucket("eu").blob("a").upload_from_string(b"x")
        gcs.bucket("eu").blob("b").upload_from_string(b"x")
        assert location_cache.lookups == 1
        time.sleep(0.4)
        gcs.bucket("eu").blob("c").upload_from_string(b"x")
        assert location_cache.lookups == 2
    with residency.guard("eu", providers=["gcp"], cache_ttl=0):
        for i in range(2):
            gcs.bucket("eu").blob(f"k{i}").upload_from_string(b"x")
        assert location_cache.lookups == 2
    lookups = [r for r in buckets.requests if r[1].startswith("/storage/v1/b/eu?fields=location")]
    assert len(lookups) == 5


def test_concurrent_writes_share_one_lookup(gcs: Any, buckets: FakeGcsServer, eu_guard: residency.Guard) -> None:
    import concurrent.futures

    buckets.bucket_delays["eu"] = 0.2
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: gcs.bucket("eu").blob(f"t{i}").upload_from_string(b"x"), range(8)))
    assert location_cache.lookups == 1
    assert len(buckets.stored) == 8


@pytest.mark.parametrize(("status", "why"), [(403, "storage.buckets.get"), (404, "HTTP 404"), (500, "HTTP 500")])
def test_failed_lookup_fails_closed(
    gcs: Any, buckets: FakeGcsServer, eu_guard: residency.Guard, status: int, why: str
) -> None:
    buckets.bucket_errors["eu"] = status
    for _ in range(2):  # failures are not cached: each attempt asks again
        with pytest.raises(ResidencyViolation, match=why) as err:
            gcs.bucket("eu").blob("k").upload_from_string(b"x")
        assert err.value.location is None
        assert "cannot establish" in err.value.reason
    assert location_cache.lookups == 2
    assert location_cache.get((buckets.url, "eu")) is None
    assert_nothing_written(buckets)


def test_lookup_timeout_fails_closed(
    gcs: Any, buckets: FakeGcsServer, eu_guard: residency.Guard, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gcp_guard, "LOOKUP_TIMEOUT", 0.2)
    buckets.bucket_delays["eu"] = 1.0
    with pytest.raises(ResidencyViolation, match="Timeout"):
        gcs.bucket("eu").blob("k").upload_from_string(b"x")
    assert_nothing_written(buckets)


def test_audit_mode_logs_and_lets_writes_through(
    gcs: Any, buckets: FakeGcsServer, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[ResidencyViolation] = []
    with caplog.at_level(logging.WARNING, logger="residency"):
        with residency.guard("eu", mode="audit", on_violation=seen.append, providers=["gcp"]):
            gcs.bucket("us").blob("k").upload_from_string(b"x")
            gcs.bucket("eu").blob("k").upload_from_string(b"x")
            gcs.create_bucket("audited")
    assert [v.target for v in seen] == ["gs://us/k", "gs://audited"]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and r.name == "residency"]
    assert len(warnings) == 2
    assert "gs://us/k" in warnings[0].getMessage()
    assert [s[:2] for s in buckets.stored] == [("us", "k"), ("eu", "k")]
    assert "audited" in buckets.buckets


def test_on_violation_is_called_in_enforce_mode(gcs: Any, buckets: FakeGcsServer) -> None:
    seen: list[ResidencyViolation] = []
    with residency.guard("eu", on_violation=seen.append, providers=["gcp"]):
        with pytest.raises(ResidencyViolation):
            gcs.bucket("us").blob("k").upload_from_string(b"x")
    assert [v.target for v in seen] == ["gs://us/k"]


def test_a_waiver_for_the_bucket_lets_its_objects_through(
    gcs: Any, buckets: FakeGcsServer, tmp_path: pathlib.Path
) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text(
        "name: eu-with-legacy\nallow: [EU]\nwaivers:\n"
        "  - id: legacy-us\n    resource: gs://us\n    justification: migration\n    expires: 2999-01-01\n"
    )
    with residency.guard(str(policy), providers=["gcp"]):
        gcs.bucket("us").blob("k").upload_from_string(b"x")
        with pytest.raises(ResidencyViolation):
            gcs.bucket("eur8").blob("k").upload_from_string(b"x")
    assert buckets.stored == [("us", "k", 1)]


# --------------------------------------------------------------------------- lifecycle


def _patched_attributes() -> dict[str, Any]:
    import google.cloud.storage.blob as blob_mod
    import google.cloud.storage.bucket as bucket_mod
    import google.cloud.storage.client as client_mod

    return {
        "Session.send": vars(requests.Session)["send"],
        "Client.__init__": vars(client_mod.Client)["__init__"],
        "Blob.generate_signed_url": vars(blob_mod.Blob)["generate_signed_url"],
        "Bucket.generate_signed_url": vars(bucket_mod.Bucket)["generate_signed_url"],
        "Bucket.generate_upload_policy": vars(bucket_mod.Bucket)["generate_upload_policy"],
        "Client.generate_signed_post_policy_v4": vars(client_mod.Client)["generate_signed_post_policy_v4"],
        "_signing.v2": vars(_signing)["generate_signed_url_v2"],
        "_signing.v4": vars(_signing)["generate_signed_url_v4"],
        "transfer_manager": vars(transfer_manager)["_get_pool_class_and_requirements"],
    }


def test_install_twice_is_harmless_and_uninstall_restores_everything(gcs: Any, buckets: FakeGcsServer) -> None:
    before = _patched_attributes()
    g = residency.guard("eu", providers=["gcp"])
    g.install()
    g.install()
    during = _patched_attributes()
    assert all(during[k] is not before[k] for k in before)
    assert gcp_guard.installed_guards() == (g,)
    residency.guard("eea", providers=["gcp"]).install().uninstall()  # a second guard leaves the hooks on
    assert _patched_attributes() == during
    with pytest.raises(ResidencyViolation):
        gcs.bucket("us").blob("k").upload_from_string(b"x")
    g.uninstall()
    g.uninstall()
    assert _patched_attributes() == before
    assert gcp_guard.installed_guards() == ()
    gcs.bucket("us").blob("k").upload_from_string(b"x")
    assert buckets.stored == [("us", "k", 1)]


def test_clients_created_before_and_after_install_are_covered(gcs: Any, buckets: FakeGcsServer) -> None:
    session = requests.Session()  # a session object from before install, too
    with residency.guard("eu", providers=["gcp"]):
        after = make_client(buckets)
        for client in (gcs, after):
            with pytest.raises(ResidencyViolation):
                client.bucket("us").blob("m").upload_from_string(b"x")
        with pytest.raises(ResidencyViolation):
            session.put(f"{buckets.url}/us/k", data=b"x", timeout=5)
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


def test_adapter_is_registered() -> None:
    adapter = residency.load_provider("gcp")
    assert adapter.name == "gcp"
    assert list(adapter.sdk_locations()) == []
    assert isinstance(adapter, residency.ProviderAdapter)


# --------------------------------------------------------------------------- audit: one event per write


def test_audit_mode_reports_a_resumable_upload_once(
    gcs: Any, buckets: FakeGcsServer, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[ResidencyViolation] = []
    data = b"r" * (3 * 256 * 1024 + 5)  # four chunks after the session is opened
    with caplog.at_level(logging.WARNING, logger="residency"):
        with residency.guard("eu", mode="audit", on_violation=seen.append, providers=["gcp"]):
            gcs.bucket("us").blob("big", chunk_size=256 * 1024).upload_from_file(io.BytesIO(data))
    chunks = [r for r in buckets.requests if r[0] == "PUT" and "upload_id=" in r[1]]
    assert len(chunks) == 4
    assert [v.target for v in seen] == ["gs://us/big"]
    assert len([r for r in caplog.records if r.name == "residency" and r.levelno == logging.WARNING]) == 1
    assert buckets.stored == [("us", "big", len(data))]


def test_audit_mode_reports_an_xml_multipart_upload_once(gcs: Any, buckets: FakeGcsServer, big_file: str) -> None:
    seen: list[ResidencyViolation] = []
    with residency.guard("eu", mode="audit", on_violation=seen.append, providers=["gcp"]):
        transfer_manager.upload_chunks_concurrently(
            big_file, gcs.bucket("eur5").blob("mpu"), chunk_size=1024 * 1024, worker_type=transfer_manager.THREAD
        )
    assert [v.target for v in seen] == ["gs://eur5/mpu"]
    assert buckets.stored == [("eur5", "mpu", 2 * 1024 * 1024 + 10)]


def test_a_session_is_still_checked_by_a_guard_that_did_not_see_it_opened(gcs: Any, buckets: FakeGcsServer) -> None:
    with capture_violations("eu", providers=["gcp"]) as audited:
        url = gcs.bucket("us").blob("k").create_resumable_upload_session(size=5)
        with residency.guard("eu", providers=["gcp"]), pytest.raises(ResidencyViolation, match="gs://us/k"):
            requests.put(url, data=b"12345", headers={"Content-Range": "bytes 0-4/5"}, timeout=5)
    assert audited.targets == ["gs://us/k"]
    assert buckets.stored == []
