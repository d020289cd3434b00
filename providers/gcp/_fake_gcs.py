"""A loopback fake of Google Cloud Storage (JSON and XML APIs) that keeps bucket locations.

The PyPI ``gcp-storage-emulator`` answers ``US`` for every bucket and has no
XML multipart uploads, so it cannot test location logic. This fake keeps
``location``, ``locationType`` and ``customPlacementConfig`` exactly as
created, serves every upload type the real client uses, and records every
request and every stored object, so a test can prove that nothing arrived
after a blocked call.

Point the real client at it::

    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage
    from residency.providers.gcp._fake_gcs import FakeGcsServer

    with FakeGcsServer() as fake:          # 127.0.0.1, a free port
        fake.add_bucket("uk-data", location="EUROPE-WEST2", project="demo")
        client = storage.Client(project="demo", credentials=AnonymousCredentials(),
                                client_options={"api_endpoint": fake.url})
        client.bucket("uk-data").blob("k").upload_from_string(b"x")
        assert fake.stored == [("uk-data", "k", 1)]

(or set ``STORAGE_EMULATOR_HOST=fake.url``.) Served:

* JSON API: buckets insert (409 on an existing name, 400 on a location the
  catalog does not know)/get/list/patch/delete, ``relocate`` (a long-running
  operation; ``operations/{id}`` and ``advanceRelocateBucket``),
  ``anywhereCaches``; objects get/list/patch/delete, media download
  (``/download/storage/v1`` and ``alt=media``); uploads ``uploadType=media``,
  ``multipart`` and ``resumable`` (chunked, with status queries); ``copyTo``,
  ``rewriteTo``, ``compose``, ``moveTo``; ``/batch/storage/v1``
  (``multipart/mixed`` of JSON API requests).
* XML API (path-style, and virtual-hosted through a ``BUCKET.storage.googleapis.com``
  ``Host`` header): ``PUT /bucket`` (``LocationConstraint``, default ``US``;
  409 if it exists; ``?acl`` and other sub-resources are accepted and
  ignored), ``PUT /bucket/object`` (and ``x-goog-copy-source``), ``GET``,
  ``DELETE``, ``POST /bucket`` HTML-form uploads, multipart uploads
  (``?uploads``, ``?partNumber=&uploadId=``, complete, abort), resumable
  sessions started with ``x-goog-resumable: start``.
* ``POST /token``: an OAuth token for service-account credentials whose
  ``token_uri`` points here (any assertion is accepted).
* For the scan: Cloud Resource Manager ``GET /v3/projects:search`` (paged),
  Cloud Asset ``GET /v1/{scope}:searchAllResources`` (the results you give it;
  ``assetTypes`` repeated, as regular expressions; paged) and BigQuery
  ``GET /bigquery/v2/projects/{p}/datasets``.

Shapes follow the Cloud Storage JSON API's resources (``storage#bucket``,
``storage#object``, ``storage#rewriteResponse``, error bodies
``{"error": {"code", "message", "errors": [...]}}``); a resumable session
answers with a ``Location`` holding ``upload_id`` and an
``X-GUploader-UploadID`` header, and ``308`` with ``Range`` while incomplete.
Locations are upper-cased as Cloud Storage does; ``locationType`` is
``multi-region`` for US/EU/ASIA, ``dual-region`` for the predefined pairs
and custom placements, else ``region``. It is a test double, not a storage
server: everything lives in memory and there is no authentication.
"""

from __future__ import annotations

import base64
import email.message
import email.parser
import email.policy
import hashlib
import itertools
import json
import re
import threading
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, NamedTuple
from urllib.parse import parse_qs, quote, unquote, urlsplit
from xml.etree import ElementTree

import google_crc32c

from residency._catalog import catalog

__all__ = ["FakeGcsServer", "RecordedRequest", "probe_upload"]

_MULTI_REGIONS = frozenset({"US", "EU", "ASIA"})
_DUAL_REGIONS = frozenset({"ASIA1", "EUR4", "EUR5", "EUR7", "EUR8", "NAM4"})
_S3_NS = "http://s3.amazonaws.com/doc/2006-03-01/"
_NOW = "2026-01-01T00:00:00.000Z"


def _location_type(location: str, custom: bool) -> str:
    if custom or location in _DUAL_REGIONS:
        return "dual-region"
    if location in _MULTI_REGIONS:
        return "multi-region"
    return "region"


class RecordedRequest(NamedTuple):
    """One request the fake received: method, path with query, headers (lower-cased names), body size."""

    method: str
    path: str
    headers: dict[str, str]
    size: int


def _hashes(data: bytes) -> tuple[str, str]:
    crc = base64.b64encode(google_crc32c.Checksum(data).digest()).decode()  # type: ignore[no-untyped-call]
    md5 = base64.b64encode(hashlib.md5(data).digest()).decode()
    return crc, md5


class FakeGcsServer:
    """An in-memory Cloud Storage on 127.0.0.1; use as a context manager or ``start()``/``stop()``.

    ``stored`` lists ``(bucket, object, size)`` for every object write that
    reached it, in order; ``requests`` lists ``(method, path_and_query)`` of
    every request and ``log`` the same with headers (:class:`RecordedRequest`).
    ``assets`` are what ``searchAllResources`` returns; ``projects`` the
    project ids ``projects:search`` returns (every project that owns a bucket
    is added; ``project_states`` overrides ``ACTIVE``); ``denied_projects``
    answer 403 to bucket and dataset listings, ``bigquery_disabled`` answer
    BigQuery's "API not enabled" 403; ``bucket_errors`` (bucket name → HTTP
    status) and ``bucket_delays`` (bucket name → seconds) affect ``GET`` of
    that bucket's metadata, to test the guard's lookups; ``page_errors``
    (``pageToken`` → HTTP status) break a listing off at that page. ``latency`` (seconds)
    delays every answer; ``max_in_flight`` is the most requests handled at
    once, to measure concurrency.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._lock = threading.RLock()
        self.buckets: dict[str, dict[str, Any]] = {}
        self.objects: dict[tuple[str, str], tuple[bytes, dict[str, Any]]] = {}
        self.stored: list[tuple[str, str, int]] = []
        self.requests: list[tuple[str, str]] = []
        self.assets: list[dict[str, Any]] = []
        self.datasets: dict[str, list[dict[str, Any]]] = {}
        self.projects: list[str] = []
        self.project_states: dict[str, str] = {}
        self.denied_projects: set[str] = set()
        self.bigquery_disabled: set[str] = set()
        self.bucket_errors: dict[str, int] = {}
        self.bucket_delays: dict[str, float] = {}
        self.page_errors: dict[str, int] = {}
        self.log: list[RecordedRequest] = []
        self.operations: dict[str, dict[str, Any]] = {}
        self.latency = 0.0
        self.projects_page_size = 500
        self.in_flight = 0
        self.max_in_flight = 0
        self._uploads: dict[str, dict[str, Any]] = {}
        self._generation = itertools.count(1)
        handler = type("_Handler", (_Handler,), {"fake": self})
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` — the client's ``api_endpoint`` / ``STORAGE_EMULATOR_HOST``."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FakeGcsServer:
        if self._thread is None:
            self._thread = threading.Thread(target=self._server.serve_forever, name="fake-gcs", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> FakeGcsServer:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def reset(self) -> None:
        """Forget every bucket, object, upload, asset and recorded request."""
        with self._lock:
            self.buckets.clear()
            self.objects.clear()
            self.stored.clear()
            self.requests.clear()
            self.log.clear()
            self.assets.clear()
            self.datasets.clear()
            self.projects.clear()
            self.project_states.clear()
            self.denied_projects.clear()
            self.bigquery_disabled.clear()
            self.bucket_errors.clear()
            self.bucket_delays.clear()
            self.page_errors.clear()
            self.operations.clear()
            self._uploads.clear()
            self.latency = 0.0
            self.max_in_flight = 0

    # ------------------------------------------------------------------ seeding

    def add_bucket(
        self,
        name: str,
        location: str = "US",
        *,
        project: str = "test-project",
        data_locations: Sequence[str] | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """Create a bucket directly (no request recorded); returns its resource."""
        body: dict[str, Any] = {"name": name, "location": location}
        if data_locations:
            body["customPlacementConfig"] = {"dataLocations": list(data_locations)}
        if labels:
            body["labels"] = dict(labels)
        return self._create_bucket(body, project, validate=False)

    def add_dataset(self, project: str, dataset: str, location: str) -> None:
        """A BigQuery dataset for the scan's BigQuery listing."""
        with self._lock:
            self._add_project(project)
            self.datasets.setdefault(project, []).append(
                {
                    "kind": "bigquery#dataset",
                    "id": f"{project}:{dataset}",
                    "datasetReference": {"projectId": project, "datasetId": dataset},
                    "location": location,
                }
            )

    def writes(self) -> list[tuple[str, str]]:
        """The recorded requests that were not reads (``GET``/``HEAD``), token requests excepted."""
        with self._lock:
            return [r for r in self.requests if r[0] not in ("GET", "HEAD") and r[1] != "/token"]

    def object_data(self, bucket: str, name: str) -> bytes:
        return self.objects[(bucket, name)][0]

    # ------------------------------------------------------------------ state changes

    def _add_project(self, project: str) -> None:
        if project not in self.projects:
            self.projects.append(project)

    def _create_bucket(self, body: Mapping[str, Any], project: str, *, validate: bool = True) -> dict[str, Any]:
        name = str(body["name"])
        location = str(body.get("location") or "US").upper()
        placement = body.get("customPlacementConfig") or {}
        data_locations = [str(x).upper() for x in placement.get("dataLocations") or ()]
        for code in [location, *data_locations] if validate else ():
            if catalog().get("gcp", code) is None:
                raise _error(400, f"Invalid location: {code}")
        if validate and name in self.buckets:
            raise _error(409, "Your previous request to create the named bucket succeeded and you already own it.")
        resource: dict[str, Any] = {
            "kind": "storage#bucket",
            "id": name,
            "selfLink": f"{self.url}/storage/v1/b/{name}",
            "name": name,
            "projectNumber": str(abs(hash(project)) % 10**12),
            "metageneration": "1",
            "location": location,
            "locationType": _location_type(location, bool(data_locations)),
            "storageClass": str(body.get("storageClass") or "STANDARD"),
            "etag": "CAE=",
            "timeCreated": _NOW,
            "updated": _NOW,
        }
        if data_locations:
            resource["customPlacementConfig"] = {"dataLocations": data_locations}
        if body.get("labels"):
            resource["labels"] = dict(body["labels"])
        with self._lock:
            self._add_project(project)
            resource["_project"] = project
            self.buckets[name] = resource
        return resource

    def _store(self, bucket: str, name: str, data: bytes, meta: Mapping[str, Any] | None = None) -> dict[str, Any]:
        crc, md5 = _hashes(data)
        gen = str(next(self._generation))
        resource: dict[str, Any] = {
            "kind": "storage#object",
            "id": f"{bucket}/{name}/{gen}",
            "selfLink": f"{self.url}/storage/v1/b/{bucket}/o/{quote(name, safe='')}",
            "name": name,
            "bucket": bucket,
            "generation": gen,
            "metageneration": "1",
            "contentType": str((meta or {}).get("contentType") or "application/octet-stream"),
            "size": str(len(data)),
            "md5Hash": md5,
            "crc32c": crc,
            "etag": f"CI{gen}=",
            "storageClass": "STANDARD",
            "timeCreated": _NOW,
            "updated": _NOW,
        }
        if meta and meta.get("metadata"):
            resource["metadata"] = dict(meta["metadata"])
        with self._lock:
            self.objects[(bucket, name)] = (data, resource)
            self.stored.append((bucket, name, len(data)))
        return resource

    def _new_upload(self, **info: Any) -> str:
        upload_id = uuid.uuid4().hex
        with self._lock:
            self._uploads[upload_id] = {"data": b"", "parts": {}, **info}
        return upload_id


_JSON_PATH = re.compile(r"^/(?P<prefix>storage|upload/storage|download/storage)/v1/(?P<rest>.*)$")


class _Reply(Exception):
    def __init__(self, status: int, body: bytes | dict[str, Any] | str = b"", headers: Mapping[str, str] = {}) -> None:
        self.status = status
        self.body = body
        self.headers = dict(headers)


def _error(status: int, message: str) -> _Reply:
    return _Reply(status, {"error": {"code": status, "message": message, "errors": [{"message": message}]}})


def _public(resource: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in resource.items() if not k.startswith("_")}


class _Handler(BaseHTTPRequestHandler):
    fake: FakeGcsServer
    multi_query: dict[str, list[str]]
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; without this, Nagle waits for the client's delayed ACK (40 ms).
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    # ------------------------------------------------------------------ plumbing

    def _dispatch(self) -> None:
        fake = self.fake
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        with fake._lock:
            fake.requests.append((self.command, self.path))
            headers = {k.lower(): v for k, v in self.headers.items()}
            fake.log.append(RecordedRequest(self.command, self.path, headers, len(body)))
            fake.in_flight += 1
            fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
        try:
            if fake.latency:
                time.sleep(fake.latency)
            split = urlsplit(self.path)
            self.multi_query = parse_qs(split.query, keep_blank_values=True)
            query = {k: v[-1] for k, v in self.multi_query.items()}
            try:
                if self.command == "GET" and query.get("pageToken") in fake.page_errors:
                    status = fake.page_errors[query["pageToken"]]
                    raise _error(status, f"fake GCS: HTTP {status} at page {query['pageToken']}")
                self._route(split.path, query, body)
            except _Reply as reply:
                self._send(reply)
            except Exception as exc:  # pragma: no cover - a fake bug shows up as a 500 with the reason
                self._send(_error(500, f"fake GCS: {type(exc).__name__}: {exc}"))
        finally:
            with fake._lock:
                fake.in_flight -= 1

    def _base(self) -> str:
        """The URL clients reached this server by: a ``*.googleapis.com`` ``Host`` (a test transport) or the fake's."""
        host = self.headers.get("Host", "")
        if host.split(":")[0].endswith(".googleapis.com"):
            return "https://" + (host if not host.endswith(".storage.googleapis.com") else "storage.googleapis.com")
        return self.fake.url

    def _send(self, reply: _Reply) -> None:
        body = reply.body
        headers = reply.headers
        if isinstance(body, dict):
            data = json.dumps(body).encode()
            headers.setdefault("Content-Type", "application/json; charset=UTF-8")
        elif isinstance(body, str):
            data = body.encode()
            headers.setdefault("Content-Type", "application/xml")
        else:
            data = body
        self.send_response(reply.status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _route(self, path: str, query: dict[str, str], body: bytes) -> None:
        if path == "/token" and self.command == "POST":
            raise _Reply(
                200, {"access_token": f"fake-token-{uuid.uuid4().hex[:8]}", "expires_in": 3600, "token_type": "Bearer"}
            )
        if path.rstrip("/") == "/batch/storage/v1" and self.command == "POST":
            self._batch(body)
        m = _JSON_PATH.match(path)
        if m:
            self._json_api(m.group("prefix"), m.group("rest"), query, body)
        if path == "/v3/projects:search":
            self._projects(query)
        if path.startswith("/v1/") and path.endswith(":searchAllResources"):
            self._assets(path[len("/v1/") : -len(":searchAllResources")], query)
        bq = re.match(r"^/bigquery/v2/projects/([^/]+)/datasets$", path)
        if bq:
            self._datasets(unquote(bq.group(1)), query)
        self._xml_api(path, query, body)

    # ------------------------------------------------------------------ JSON API

    def _json_api(self, prefix: str, rest: str, query: dict[str, str], body: bytes) -> None:
        fake = self.fake
        parts = rest.split("/")
        method = self.command
        if parts == ["b"]:
            if method == "POST":
                project = query.get("project", "test-project")
                if project in fake.denied_projects:
                    raise _error(403, f"permission denied on project {project}")
                raise _Reply(200, _public(fake._create_bucket(json.loads(body or b"{}"), project)))
            project = query.get("project", "")
            if project in fake.denied_projects:
                raise _error(403, f"permission denied on project {project}")
            with fake._lock:
                items = [_public(b) for b in fake.buckets.values() if not project or b["_project"] == project]
            size = int(query.get("maxResults") or 1000)
            start = int(query.get("pageToken") or 0)
            page: dict[str, Any] = {"kind": "storage#buckets", "items": items[start : start + size]}
            if start + size < len(items):
                page["nextPageToken"] = str(start + size)
            raise _Reply(200, page)
        if len(parts) < 2 or parts[0] != "b":
            raise _error(404, f"no such JSON API path {rest}")
        bucket = unquote(parts[1])
        if len(parts) == 2 and method == "GET":
            if bucket in fake.bucket_delays:
                time.sleep(fake.bucket_delays[bucket])
            if bucket in fake.bucket_errors:
                raise _error(fake.bucket_errors[bucket], f"fake GCS: HTTP {fake.bucket_errors[bucket]} for {bucket}")
        res = fake.buckets.get(bucket)
        if res is None:
            raise _error(404, f"The specified bucket does not exist: {bucket}")
        if len(parts) == 2:
            if method == "DELETE":
                with fake._lock:
                    del fake.buckets[bucket]
                raise _Reply(204)
            if method in ("PATCH", "PUT"):
                patch = json.loads(body or b"{}")
                res.update({k: v for k, v in patch.items() if k in ("labels", "storageClass", "versioning")})
            raise _Reply(200, _public(res))
        if parts[2:] == ["relocate"] and method == "POST":
            self._relocate(res, json.loads(body or b"{}"))
        if parts[2] == "operations" and len(parts) >= 4:
            op = fake.operations.get(unquote(parts[3]))
            if op is None:
                raise _error(404, f"no such operation {parts[3]}")
            if parts[4:] == ["advanceRelocateBucket"] and method == "POST":
                op["done"] = True
                raise _Reply(200, b"")
            raise _Reply(200, op)
        if parts[2] == "anywhereCaches" and method == "POST":
            spec = json.loads(body or b"{}")
            cache = {"kind": "storage#anywhereCache", "bucket": bucket, "zone": spec.get("zone"), "state": "RUNNING"}
            res.setdefault("_caches", []).append(cache)
            raise _Reply(200, {"kind": "storage#operation", "name": f"projects/_/buckets/{bucket}/operations/c1"})
        if parts[2] != "o":
            raise _Reply(200, {"kind": "storage#" + parts[2], "items": []})
        if prefix == "upload/storage":
            self._json_upload(bucket, query, body)
        if len(parts) == 3:
            with fake._lock:
                items = [meta for (b, _), (_, meta) in sorted(fake.objects.items()) if b == bucket]
            raise _Reply(200, {"kind": "storage#objects", "items": items})
        name = unquote(parts[3])
        if len(parts) == 5 and parts[4] == "compose":
            req = json.loads(body)
            data = b"".join(self._object(bucket, s["name"])[0] for s in req.get("sourceObjects", []))
            raise _Reply(200, fake._store(bucket, name, data, req.get("destination")))
        if len(parts) == 7 and parts[4] == "moveTo" and parts[5] == "o":
            data, meta = self._object(bucket, name)
            new = fake._store(bucket, unquote(parts[6]), data, meta)
            with fake._lock:
                del fake.objects[(bucket, name)]
            raise _Reply(200, new)
        if len(parts) == 9 and parts[4] in ("copyTo", "rewriteTo"):
            data, meta = self._object(bucket, name)
            dst_bucket, dst_name = unquote(parts[6]), unquote(parts[8])
            if dst_bucket not in fake.buckets:
                raise _error(404, f"The specified bucket does not exist: {dst_bucket}")
            new = fake._store(dst_bucket, dst_name, data, meta)
            if parts[4] == "copyTo":
                raise _Reply(200, new)
            length = str(len(data))
            raise _Reply(
                200,
                {
                    "kind": "storage#rewriteResponse",
                    "totalBytesRewritten": length,
                    "objectSize": length,
                    "done": True,
                    "resource": new,
                },
            )
        data, meta = self._object(bucket, name)
        if method == "DELETE":
            with fake._lock:
                del fake.objects[(bucket, name)]
            raise _Reply(204)
        if method in ("PATCH", "PUT"):
            patch = json.loads(body or b"{}")
            with fake._lock:
                if "metadata" in patch:
                    meta["metadata"] = {**meta.get("metadata", {}), **(patch["metadata"] or {})}
                for key in ("contentType", "cacheControl", "contentDisposition", "contentLanguage"):
                    if key in patch:
                        meta[key] = patch[key]
                meta["metageneration"] = str(int(meta["metageneration"]) + 1)
            raise _Reply(200, meta)
        if prefix == "download/storage" or query.get("alt") == "media":
            self._media(data, meta)
        raise _Reply(200, meta)

    def _relocate(self, res: dict[str, Any], spec: Mapping[str, Any]) -> None:
        """``buckets.relocate``: the bucket takes its new location at once (the real copy takes hours)."""
        fake = self.fake
        location = str(spec.get("destinationLocation") or "").upper()
        members = [
            str(m).upper() for m in (spec.get("destinationCustomPlacementConfig") or {}).get("dataLocations") or ()
        ]
        for code in [location, *members]:
            if catalog().get("gcp", code) is None:
                raise _error(400, f"Invalid location: {code}")
        op_id = uuid.uuid4().hex[:12]
        name = f"projects/_/buckets/{res['name']}/operations/{op_id}"
        operation = {
            "kind": "storage#operation",
            "name": name,
            "selfLink": f"{fake.url}/storage/v1/b/{res['name']}/operations/{op_id}",
            "done": False,
            "metadata": {
                "@type": "type.googleapis.com/google.storage.control.v2.RelocateBucketMetadata",
                "destinationLocation": location,
                "validateOnly": bool(spec.get("validateOnly")),
            },
        }
        with fake._lock:
            fake.operations[op_id] = operation
            if not spec.get("validateOnly"):
                res["location"] = location
                res["locationType"] = _location_type(location, bool(members))
                res.pop("customPlacementConfig", None)
                if members:
                    res["customPlacementConfig"] = {"dataLocations": members}
        raise _Reply(200, operation)

    def _batch(self, body: bytes) -> None:
        """``/batch/storage/v1``: run each ``application/http`` part and answer ``multipart/mixed``."""
        content_type = self.headers.get("Content-Type", "")
        message = email.parser.BytesParser(policy=email.policy.compat32).parsebytes(
            b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
        )
        boundary = f"batch_{uuid.uuid4().hex}"
        out = []
        for n, part in enumerate(message.get_payload() if message.is_multipart() else [], start=1):
            raw = part.get_payload(decode=True).replace(b"\r\n", b"\n")
            head, _, inner_body = raw.partition(b"\n\n")
            request_line = head.decode().split("\n", 1)[0]
            method, target = request_line.split(" ")[:2]
            split = urlsplit(target)
            m = _JSON_PATH.match(split.path)
            query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
            saved = self.command
            self.command = method
            try:
                if m is None:
                    raise _error(404, f"no such JSON API path {split.path}")
                self._json_api(m.group("prefix"), m.group("rest"), query, inner_body.strip())
            except _Reply as reply:
                status, payload = reply.status, reply.body
            finally:
                self.command = saved
            data = (
                json.dumps(payload)
                if isinstance(payload, dict)
                else (payload.decode() if isinstance(payload, bytes) else payload)
            )
            out.append(
                f"--{boundary}\r\nContent-Type: application/http\r\nContent-ID: <response-item{n}>\r\n\r\n"
                f"HTTP/1.1 {status} OK\r\nContent-Type: application/json; charset=UTF-8\r\n"
                f"Content-Length: {len(data)}\r\n\r\n{data}\r\n"
            )
        out.append(f"--{boundary}--\r\n")
        raise _Reply(200, "".join(out).encode(), {"Content-Type": f"multipart/mixed; boundary={boundary}"})

    def _object(self, bucket: str, name: str) -> tuple[bytes, dict[str, Any]]:
        hit = self.fake.objects.get((bucket, name))
        if hit is None:
            raise _error(404, f"No such object: {bucket}/{name}")
        return hit

    def _media(self, data: bytes, meta: Mapping[str, Any]) -> None:
        headers = {
            "x-goog-hash": f"crc32c={meta['crc32c']},md5={meta['md5Hash']}",
            "x-goog-generation": str(meta["generation"]),
            "Content-Type": str(meta.get("contentType", "application/octet-stream")),
        }
        raise _Reply(200, data, headers)

    def _json_upload(self, bucket: str, query: dict[str, str], body: bytes) -> None:
        fake = self.fake
        kind = query.get("uploadType", "media")
        if "upload_id" in query:
            self._resumable_chunk(query["upload_id"], body, json_api=True)
        if kind == "media":
            meta = {"contentType": self.headers.get("Content-Type") or "application/octet-stream"}
            raise _Reply(200, fake._store(bucket, query.get("name", ""), body, meta))
        if kind == "multipart":
            meta, data = _split_related(self.headers.get("Content-Type", ""), body)
            raise _Reply(200, fake._store(bucket, str(meta.get("name") or query.get("name", "")), data, meta))
        if kind == "resumable":
            meta = json.loads(body) if body else {}
            name = str(meta.get("name") or query.get("name", ""))
            upload_id = fake._new_upload(bucket=bucket, name=name, meta=meta)
            location = (
                f"{self._base()}/upload/storage/v1/b/{quote(bucket, safe='')}/o"
                f"?uploadType=resumable&name={quote(name, safe='')}&upload_id={upload_id}"
            )
            raise _Reply(200, b"", {"Location": location, "X-GUploader-UploadID": upload_id})
        raise _error(400, f"unknown uploadType {kind}")

    def _resumable_chunk(self, upload_id: str, body: bytes, *, json_api: bool) -> None:
        fake = self.fake
        upload = fake._uploads.get(upload_id)
        if upload is None:
            raise _error(404, f"no such upload {upload_id}")
        m = re.match(r"bytes (?:(\d+)-(\d+)|\*)/(\d+|\*)", self.headers.get("Content-Range", "bytes */*"))
        if m is None:
            raise _error(400, "bad Content-Range")
        if m.group(1) is not None:
            start = int(m.group(1))
            if start != len(upload["data"]):
                raise _error(400, f"chunk starts at {start}, have {len(upload['data'])} bytes")
            upload["data"] += body
        total = m.group(3)
        if total != "*" and int(total) == len(upload["data"]):
            with fake._lock:
                fake._uploads.pop(upload_id, None)
            resource = fake._store(upload["bucket"], upload["name"], upload["data"], upload.get("meta"))
            if json_api:
                raise _Reply(200, resource)
            raise _Reply(200, b"", {"ETag": f'"{resource["md5Hash"]}"'})
        headers = {"Range": f"bytes=0-{len(upload['data']) - 1}"} if upload["data"] else {}
        raise _Reply(308, b"", headers)

    # ------------------------------------------------------------------ scan APIs

    def _projects(self, query: dict[str, str]) -> None:
        fake = self.fake
        items = [
            {
                "name": f"projects/{1000 + i}",
                "parent": "organizations/42",
                "projectId": p,
                "state": fake.project_states.get(p, "ACTIVE"),
                "displayName": p,
            }
            for i, p in enumerate(fake.projects)
        ]
        size = int(query.get("pageSize") or fake.projects_page_size)
        start = int(query.get("pageToken") or 0)
        page: dict[str, Any] = {"projects": items[start : start + size]}
        if start + size < len(items):
            page["nextPageToken"] = str(start + size)
        raise _Reply(200, page)

    def _assets(self, scope: str, query: dict[str, str]) -> None:
        size = int(query.get("pageSize") or 500)
        start = int(query.get("pageToken") or 0)
        types = [re.compile(t) for t in self.multi_query.get("assetTypes", []) if t]
        hits = [a for a in self.fake.assets if not types or any(t.fullmatch(str(a.get("assetType"))) for t in types)]
        page = hits[start : start + size]
        out: dict[str, Any] = {"results": page}
        if start + size < len(hits):
            out["nextPageToken"] = str(start + size)
        raise _Reply(200, out)

    def _datasets(self, project: str, query: dict[str, str]) -> None:
        if project in self.fake.denied_projects:
            raise _error(403, f"permission denied on project {project}")
        if project in self.fake.bigquery_disabled:
            reply = _error(403, f"BigQuery API has not been used in project {project} or it is disabled")
            assert isinstance(reply.body, dict)
            reply.body["error"]["errors"][0]["reason"] = "accessNotConfigured"
            raise reply
        raise _Reply(200, {"kind": "bigquery#datasetList", "datasets": self.fake.datasets.get(project, [])})

    # ------------------------------------------------------------------ XML API

    def _xml_api(self, path: str, query: dict[str, str], body: bytes) -> None:
        fake = self.fake
        host = self.headers.get("Host", "")
        segments = path.lstrip("/").split("/", 1)
        bucket = unquote(segments[0])
        name = unquote(segments[1]) if len(segments) > 1 else ""
        if host.endswith(".storage.googleapis.com"):
            bucket, name = host[: -len(".storage.googleapis.com")], unquote(path.lstrip("/"))
        method = self.command
        if not name:
            if method == "PUT" and not [k for k in query if not k.lower().startswith("x-goog-")]:
                spec: dict[str, Any] = {"name": bucket, "location": "US"}
                if body.strip():
                    root = ElementTree.fromstring(body)
                    constraint = [n.text for n in root.iter() if str(n.tag).endswith("LocationConstraint") and n.text]
                    members = [n.text for n in root.iter() if str(n.tag).endswith("DataLocation") and n.text]
                    spec["location"] = constraint[0] if constraint else "US"
                    if members:
                        spec["customPlacementConfig"] = {"dataLocations": members}
                try:
                    fake._create_bucket(spec, self.headers.get("x-goog-project-id") or "test-project")
                except _Reply as reply:
                    raise _Reply(reply.status, f"<Error><Code>HTTP{reply.status}</Code></Error>") from None
                raise _Reply(200, "")
            if bucket not in fake.buckets:
                raise _Reply(404, "<Error><Code>NoSuchBucket</Code><Message>no such bucket</Message></Error>")
            if method == "PUT":  # ?acl, ?cors, ?lifecycle …: accepted, not modelled
                raise _Reply(200, "")
            if method == "POST":
                self._form_upload(bucket, body)
            raise _error(404, f"no such path {path}")
        if bucket not in fake.buckets:
            raise _Reply(404, "<Error><Code>NoSuchBucket</Code><Message>no such bucket</Message></Error>")
        if method == "POST" and "uploads" in query:
            upload_id = fake._new_upload(bucket=bucket, name=name)
            raise _Reply(
                200,
                f'<?xml version="1.0" encoding="UTF-8"?><InitiateMultipartUploadResult xmlns="{_S3_NS}">'
                f"<Bucket>{bucket}</Bucket><Key>{name}</Key><UploadId>{upload_id}</UploadId>"
                "</InitiateMultipartUploadResult>",
            )
        if method == "PUT" and "partNumber" in query:
            upload = fake._uploads.get(query.get("uploadId", ""))
            if upload is None:
                raise _Reply(404, "<Error><Code>NoSuchUpload</Code></Error>")
            upload["parts"][int(query["partNumber"])] = body
            crc, md5 = _hashes(body)
            raise _Reply(200, "", {"ETag": f'"{md5}"', "x-goog-hash": f"crc32c={crc},md5={md5}"})
        if method == "POST" and "uploadId" in query:
            upload = fake._uploads.pop(query["uploadId"], None)
            if upload is None:
                raise _Reply(404, "<Error><Code>NoSuchUpload</Code></Error>")
            data = b"".join(upload["parts"][n] for n in sorted(upload["parts"]))
            res = fake._store(bucket, name, data)
            raise _Reply(
                200,
                f'<?xml version="1.0" encoding="UTF-8"?><CompleteMultipartUploadResult xmlns="{_S3_NS}">'
                f'<Bucket>{bucket}</Bucket><Key>{name}</Key><ETag>"{res["md5Hash"]}"</ETag>'
                "</CompleteMultipartUploadResult>",
            )
        if method == "DELETE" and "uploadId" in query:
            fake._uploads.pop(query["uploadId"], None)
            raise _Reply(204)
        if method == "POST" and self.headers.get("x-goog-resumable", "").lower() == "start":
            upload_id = fake._new_upload(bucket=bucket, name=name)
            location = f"{self._base()}/{bucket}/{quote(name)}?upload_id={upload_id}"
            raise _Reply(201, b"", {"Location": location, "X-GUploader-UploadID": upload_id})
        if method == "PUT" and "upload_id" in query:
            self._resumable_chunk(query["upload_id"], body, json_api=False)
        if method == "PUT":
            source = self.headers.get("x-goog-copy-source")
            if source:
                src_bucket, _, src_name = unquote(source.lstrip("/")).partition("/")
                body = self._object(src_bucket, src_name)[0]
            res = fake._store(bucket, name, body)
            raise _Reply(200, "", {"ETag": f'"{res["md5Hash"]}"'})
        if method in ("GET", "HEAD"):
            data, meta = self._object(bucket, name)
            self._media(data, meta)
        if method == "DELETE":
            self._object(bucket, name)
            with fake._lock:
                del fake.objects[(bucket, name)]
            raise _Reply(204)
        raise _error(405, f"{method} {path} is not served by the fake")

    def _form_upload(self, bucket: str, body: bytes) -> None:
        """An HTML-form ``POST`` upload (signed POST policy): the ``key`` field and the ``file`` part."""
        message = email.parser.BytesParser(policy=email.policy.compat32).parsebytes(
            b"Content-Type: " + self.headers.get("Content-Type", "").encode() + b"\r\n\r\n" + body
        )
        fields: dict[str, bytes] = {}
        for part in message.get_payload() if message.is_multipart() else []:
            if isinstance(part, email.message.Message):
                payload = part.get_payload(decode=True)
                name = part.get_param("name", header="content-disposition")
                fields[str(name)] = payload if isinstance(payload, bytes) else b""
        if "key" not in fields or "file" not in fields:
            raise _Reply(400, "<Error><Code>InvalidArgument</Code><Message>key and file are required</Message></Error>")
        self.fake._store(bucket, fields["key"].decode(), fields["file"])
        raise _Reply(204, b"")


def _split_related(content_type: str, body: bytes) -> tuple[dict[str, Any], bytes]:
    """The JSON metadata and the data of a ``multipart/related`` upload body."""
    m = re.search(r'boundary="?([^";]+)"?', content_type)
    if m is None:
        raise _error(400, "multipart upload without a boundary")
    delimiter = b"--" + m.group(1).encode()
    parts = [p for p in body.split(delimiter)[1:] if not p.startswith(b"--")]
    payloads, types = [], []
    for part in parts:
        head, _, payload = part.partition(b"\r\n\r\n")
        payloads.append(payload[:-2] if payload.endswith(b"\r\n") else payload)
        found = re.search(rb"(?im)^content-type:\s*([^\r\n]+)", head)
        types.append(found.group(1).decode().strip() if found else "")
    if len(payloads) != 2:
        raise _error(400, f"expected 2 parts in a multipart upload, got {len(payloads)}")
    meta = json.loads(payloads[0])
    if not meta.get("contentType") and types[1]:
        meta["contentType"] = types[1]
    return meta, payloads[1]


def probe_upload(url: str, bucket: str, name: str = "probe") -> str:
    """Upload one byte through a fresh client on ``url``: ``"stored"`` or ``"blocked: gs://…"``.

    Importable by a ``spawn``-ed process, so tests and the demo can show what a
    worker does with and without the guard's initializer.
    """
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    from residency._errors import ResidencyViolation

    client = storage.Client(
        project="probe",
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
        client_options={"api_endpoint": url},
    )
    try:
        client.bucket(bucket).blob(name).upload_from_string(b"x")
    except ResidencyViolation as exc:
        return f"blocked: {exc.target}"
    return "stored"


def seed(fake: FakeGcsServer, buckets: Iterable[tuple[str, str, str, Sequence[str] | None]]) -> None:
    """Add ``(project, name, location, data_locations)`` buckets to ``fake``."""
    for project, name, location, data_locations in buckets:
        fake.add_bucket(name, location, project=project, data_locations=data_locations)
