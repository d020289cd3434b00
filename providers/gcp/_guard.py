"""The Google Cloud Storage guard: one hook on the requests transport, and the local signers.

Design
======

**One hook sees every write.** google-cloud-storage sends every JSON and XML
API call — simple, multipart and resumable uploads, each chunk of an open
resumable session, transfer manager's XML multipart uploads, bucket
creation and relocation, ``copy_blob``, ``rewrite``, ``compose``,
``move_blob`` and batches — through its ``_http`` session, a google-auth
``AuthorizedSession``, which is a ``requests.Session``. While at least one
guard is installed ``requests.Session.send`` is replaced *on the class*, so
every session is covered: ones created before :func:`install`, an
``AuthorizedSession`` with real credentials, a plain ``requests.Session``
writing to a resumable-session URL, ``session.send(prepared)``, retries and
every hop of a redirect. The hook classifies the prepared request
(:func:`classify`) and, for a write, asks every installed guard before a
byte is sent. Reads (``GET``, ``HEAD``, ``OPTIONS``) pass untouched; a
``X-HTTP-Method-Override`` naming a write makes a read a write.

**Which requests are Cloud Storage.** JSON API paths (``/storage/v1/…``,
``/upload/storage/v1/…``, ``/batch/storage/v1``) on any host. XML API paths
on storage hosts only: ``storage.googleapis.com`` and its variants
(``BUCKET.storage.googleapis.com``, ``commondatastorage``, ``mtls``,
``storage.REGION.rep.googleapis.com``, Private Service Connect
``storage-NAME.p.googleapis.com``), the host in ``STORAGE_EMULATOR_HOST``, and
the ``api_endpoint`` of every ``storage.Client`` (recorded when a client is
created, and found among existing objects at install). The ``Host`` header
counts as much as the URL's host. A path with ``.``/``..`` segments (which a
server may resolve to another bucket) fails closed.

**What decides.** The *destination* bucket's location. Bucket creation: the
body's ``location`` / ``customPlacementConfig.dataLocations`` (no location
means ``US``, as Cloud Storage does; the XML API's ``LocationConstraint``
likewise). Relocation (``buckets.relocate``, the only way to *move* a bucket;
there is no rename): the ``destinationLocation`` /
``destinationCustomPlacementConfig``; the later ``advanceRelocateBucket``
step is checked against the destination its ``relocate`` named. Anywhere
Cache creation: the bucket and the cache's zone. Everything else — uploads,
``copyTo``/``rewriteTo`` (copying *from* a US bucket *into* an EU one is
fine), ``compose``, ``moveTo``, deletes, ACL/IAM/label changes and object
metadata patches (custom metadata is user data stored with the object, so a
metadata patch is a write) — the bucket's metadata, looked up once per
bucket with ``GET /storage/v1/b/{bucket}`` through the caller's own session
(same credentials, ``userProject`` and endpoint) and cached for the guard's
``cache_ttl``. A bucket named in a request body (an upload's metadata, a
compose destination) that differs from the path's is checked too. Failures
are never cached; concurrent lookups of one bucket wait for a single request.

**Open sessions.** A resumable session (JSON ``uploadType=resumable``, XML
``x-goog-resumable: start``) answers with an ``upload_id``; the hook records
which bucket opened it. Chunks sent to it later — through any session, from
any thread — are checked against that bucket. An ``upload_id`` the hook did
not see opened fails closed: the id, not the URL, decides where the data goes,
so the bucket a URL names cannot be trusted (open sessions while the guard is
installed). XML multipart uploads (``uploadId``) are bound to the bucket and
object of their URL, which is checked, together with the bucket recorded at
initiation. One upload is one write: a guard that decided the request opening
it is not asked again at every chunk (so audit mode logs, and ``on_violation``
hears, one event per upload); a guard installed later, or a part sent to
another bucket's URL, still checks the chunk.

**Signed URLs and POST policies** are made locally, with no request to
intercept: ``Blob.generate_signed_url`` / ``Bucket.generate_signed_url`` for
any method but ``GET``/``HEAD``/``OPTIONS`` (``PUT``, ``POST``,
``RESUMABLE``, ``DELETE``), ``Client.generate_signed_post_policy_v4``,
``Bucket.generate_upload_policy`` and the ``_signing.generate_signed_url_v2/v4``
helpers are wrapped and check the bucket first (a lookup through the
client's session).

**Processes.** A ``fork``-ed child inherits the hook and the known sessions.
A ``spawn``-ed or ``forkserver`` child (the default on macOS and Windows, and
from Python 3.14 on Linux) starts a fresh interpreter with no guard.
``transfer_manager``'s process pools (``worker_type=PROCESS``, its default)
are handled: while a guard is installed they start each worker with the same
policies, modes and TTLs installed, and the upload sessions already open
(``on_violation`` callbacks stay in the parent). Your own pools need
:func:`install_in_worker` as their ``initializer``::

    from concurrent.futures import ProcessPoolExecutor
    import multiprocessing as mp
    from residency.providers.gcp import install_in_worker

    ProcessPoolExecutor(mp_context=mp.get_context("spawn"),
                        initializer=install_in_worker, initargs=("eu", "enforce"))

(or call ``install_in_worker("eu")`` first thing in a ``multiprocessing.Process``
target).

**Not covered.** An ``_http`` object that is not a ``requests.Session``, a
``requests.Session`` subclass that overrides ``send`` without calling it,
the gRPC clients (``storage.Client`` with the gRPC transport,
``google.cloud.storage.asyncio``; they need ``grpcio``), boto3 pointed at the
XML API with HMAC keys (that is botocore, guarded by the AWS adapter only as
an unknown endpoint), a URL signed by hand with ``credentials.sign_bytes``,
and writes through a custom domain CNAME-d to ``c.storage.googleapis.com``.
"""

from __future__ import annotations

import concurrent.futures
import email.message
import email.parser
import email.policy
import functools
import gc
import gzip
import inspect
import os
import re
import threading
import time
import weakref
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, quote, unquote, urlsplit
from xml.etree import ElementTree

import attrs
import google.cloud.storage._signing as gcs_signing
import google.cloud.storage.blob as gcs_blob
import google.cloud.storage.bucket as gcs_bucket
import google.cloud.storage.client as gcs_client
import google.cloud.storage.transfer_manager as gcs_transfer
import requests

from residency._catalog import Location, catalog, lookup_location
from residency._guard import strict_json

__all__ = [
    "LOOKUP_TIMEOUT",
    "LocationCache",
    "Write",
    "bucket_location",
    "classify",
    "install",
    "install_in_worker",
    "installed_guards",
    "location_cache",
    "location_from_metadata",
    "region_of",
    "uninstall",
]

_PROVIDER = "gcp"
_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_DEFAULT_BASE = "https://storage.googleapis.com"
_GOOGLE_STORAGE_HOST = re.compile(
    r"^(?:(?P<bucket>.+)\.)?"
    r"(?P<service>(?:storage(?:-[a-z0-9-]+)?(?:\.p)?|commondatastorage)(?:\.mtls|\.[a-z0-9-]+\.rep)?\.googleapis\.com)$"
)
_S3_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
_ZONE = re.compile(r"^(?P<region>[a-z]+-[a-z]+\d+)-[a-z]$")
#: seconds a bucket-location lookup may take before the write is blocked (fail closed)
LOOKUP_TIMEOUT = 10.0

# --------------------------------------------------------------------------- classification


class Write(NamedTuple):
    """One write a request makes: what, to which bucket, and where it lands if the request says so.

    ``location`` is set when the request itself decides it (bucket creation,
    relocation); otherwise the bucket's metadata decides. ``unknown`` says why
    the destination cannot be trusted (fail closed, no lookup); a ``bucket``
    of ``None`` means the request names none. ``opens`` marks a request that
    opens something later requests refer to (``"session"``, ``"relocation"``);
    ``session`` is the upload id a request continues, when the write is the
    one that opened it (the guards that decided the opening write skip it).
    """

    operation: str
    bucket: str | None
    object: str | None = None
    location: Location | None = None
    hint: str | None = None
    global_service: str | None = None
    unknown: str | None = None
    opens: str | None = None
    session: str | None = None

    @property
    def target(self) -> str:
        if self.bucket is None:
            return "gs://(unknown bucket)"
        return f"gs://{self.bucket}/{self.object}" if self.object else f"gs://{self.bucket}"


class _Unreadable(ValueError):
    """A request body the guard cannot read with certainty (so the write fails closed)."""


def _raw(body: Any) -> bytes | None:
    """The body's bytes, or ``None`` for a stream the guard cannot read without consuming it."""
    if body is None:
        return b""
    if isinstance(body, (bytes, bytearray, memoryview)):
        return bytes(body)
    if isinstance(body, str):
        return body.encode("utf-8")
    return None


def _json_body(body: Any, *, strict: bool = False) -> dict[str, Any]:
    """The body as a JSON object; with ``strict``, anything unreadable or ambiguous raises :class:`_Unreadable`."""
    if isinstance(body, dict):
        return body
    raw = _raw(body)
    if raw is None:
        if strict:
            raise _Unreadable("the request body is a stream the guard cannot read")
        return {}
    if not raw.strip():
        return {}
    try:
        parsed = strict_json(raw, _Unreadable)
    except _Unreadable:
        if strict:
            raise
        return {}
    except ValueError as exc:
        if strict:
            raise _Unreadable(f"the request body is not JSON ({exc})") from exc
        return {}
    if not isinstance(parsed, dict):
        if strict:
            raise _Unreadable("the request body is not a JSON object")
        return {}
    return parsed


def _field(spec: Mapping[str, Any], *names: str) -> Any:
    """A field under any of its spellings (lowerCamel and the proto's snake_case); differing values raise."""
    found = [spec[n] for n in names if n in spec]
    if len(found) > 1 and any(f != found[0] for f in found):
        raise _Unreadable(f"the body gives {' and '.join(names)} with different values")
    return found[0] if found else None


def _spec_location(
    spec: Mapping[str, Any], location_keys: tuple[str, ...], placement_keys: tuple[str, ...], api: str
) -> tuple[Location, str | None]:
    """Where a bucket-creation (or relocation) body puts the data, and a hint when it says nothing."""
    placement = _field(spec, *placement_keys)
    code = _field(spec, *location_keys)
    if code is not None and not isinstance(code, str):
        raise _Unreadable(f"{location_keys[0]} is not a string")
    if placement is not None:
        if not isinstance(placement, dict):
            raise _Unreadable(f"{placement_keys[0]} is not an object")
        members = _field(placement, "dataLocations", "data_locations")
        if members is not None:
            if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
                raise _Unreadable("dataLocations is not a list of strings")
            if members:
                custom = catalog().dual_region(_PROVIDER, [m.lower() for m in members])
                if custom is not None:
                    return custom, None
    if not code:
        return lookup_location(_PROVIDER, "US"), (
            f"no location given, so Cloud Storage creates the bucket in US; pass location= "
            f"(e.g. 'EU' or 'europe-west3') to {api}"
        )
    return lookup_location(_PROVIDER, code), None


def region_of(code: str) -> Location:
    """A catalog location for ``code``; a zone (``europe-west3-a``) is placed in its region.

    >>> region_of("europe-west3-a").countries
    ('DE',)
    """
    hit = catalog().get(_PROVIDER, code)
    if hit is not None:
        return hit
    m = _ZONE.match(code.strip().lower())
    if m:
        region = catalog().get(_PROVIDER, m.group("region"))
        if region is not None:
            return attrs.evolve(region, code=code.lower(), name=f"{region.name} zone {code.lower()}", kind="region")
    return lookup_location(_PROVIDER, code)


def _hostname(netloc: str) -> str:
    host = netloc.rsplit("@", 1)[-1]
    if host.startswith("["):
        host = host[: host.find("]") + 1]
    elif ":" in host:
        host = host.split(":", 1)[0]
    return host.strip().rstrip(".").lower()


def _host_key(scheme: str, netloc: str) -> str:
    """``host:port`` with the scheme's default port filled in, for comparing endpoints."""
    parts = urlsplit(f"{scheme or 'http'}://{netloc}")
    try:
        port = parts.port
    except ValueError:
        port = None
    default = 443 if (scheme or "http").lower() == "https" else 80
    return f"{_hostname(netloc)}:{port or default}"


def _query(query: str) -> list[tuple[str, str]]:
    return parse_qsl(query, keep_blank_values=True)


def _upload_ids(query: list[tuple[str, str]]) -> tuple[list[str], list[str]]:
    """Resumable ``upload_id`` values and XML multipart ``uploadId`` values (any case, every repeat)."""
    resumable = [v for k, v in query if k.lower() == "upload_id"]
    multipart = [v for k, v in query if k.lower() == "uploadid"]
    return resumable, multipart


def _effective_method(method: str | None, headers: Mapping[str, str]) -> str:
    verb = str(method or "GET").strip().upper()
    override = str(headers.get("x-http-method-override") or "").strip().upper()
    return override if override and override not in _READ_METHODS else verb


def classify(
    method: str,
    url: str,
    body: Any = None,
    headers: Mapping[str, str] | None = None,
    *,
    storage_host: Callable[[str], bool | str] | None = None,
    sessions: Mapping[str, str] | None = None,
    relocations: Mapping[str, Location] | None = None,
) -> list[Write] | None:
    """The writes an HTTP request makes to Cloud Storage; ``None`` if it is not a Cloud Storage write.

    >>> classify("POST", "https://storage.googleapis.com/storage/v1/b/src/o/a/copyTo/b/dst/o/b")[0].target
    'gs://dst/b'
    >>> classify("GET", "https://storage.googleapis.com/storage/v1/b/src/o/a") is None
    True

    ``storage_host("host:port")`` says whether an XML API host is Cloud
    Storage — ``True``, or the bucket for a virtual-hosted name under one
    (default: Google's storage hosts only); ``sessions`` maps known
    ``upload_id`` values to their bucket, ``relocations`` known relocation
    operation ids to their destination.
    """
    hdrs = {str(k).lower(): str(v) for k, v in (headers or {}).items()}
    method = _effective_method(method, hdrs)
    if method in _READ_METHODS:
        return None
    parts = urlsplit(url)
    query = _query(parts.query)
    raw_segments = parts.path.split("/")[1:]
    segments = [unquote(s) for s in raw_segments]
    ctx = _Request(method, query, body, hdrs, sessions or {}, relocations or {})
    json_api = _json_prefix(segments)
    dotted = any(s in (".", "..") for s in segments + raw_segments)
    if json_api is not None:
        kind, rest = json_api
        if dotted:
            return [Write(f"JSON API {method}", None, unknown="the path has '.' or '..' segments")]
        if kind == "batch":
            return _classify_batch(ctx, f"{parts.scheme}://{parts.netloc}", storage_host)
        return _classify_json(ctx, kind, rest)
    hosts = [(parts.scheme, parts.netloc)]
    if "host" in hdrs and _host_key(parts.scheme, hdrs["host"]) != _host_key(parts.scheme, parts.netloc):
        hosts.append((parts.scheme, hdrs["host"]))
    writes: list[Write] = []
    for scheme, netloc in hosts:
        google = _GOOGLE_STORAGE_HOST.match(_hostname(netloc))
        registered = storage_host(_host_key(scheme, netloc)) if storage_host is not None and google is None else False
        if google is None and not registered:
            continue
        if dotted:
            writes.append(Write(f"XML {method}", None, unknown="the path has '.' or '..' segments"))
            continue
        host_bucket = google.group("bucket") if google else (registered if isinstance(registered, str) else None)
        writes.extend(_classify_xml(ctx, parts.path, host_bucket))
    return list(dict.fromkeys(writes)) or None


class _Request(NamedTuple):
    method: str
    query: list[tuple[str, str]]
    body: Any
    headers: dict[str, str]
    sessions: Mapping[str, str]
    relocations: Mapping[str, Location]

    def param(self, name: str) -> str | None:
        values = [v for k, v in self.query if k == name]
        return values[-1] if values else None


_JSON_PREFIXES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("storage", "v1"), "storage"),
    (("upload", "storage", "v1"), "upload"),
    (("resumable", "upload", "storage", "v1"), "upload"),
    (("download", "storage", "v1"), "download"),
    (("batch", "storage", "v1"), "batch"),
)


def _json_prefix(segments: list[str]) -> tuple[str, list[str]] | None:
    """``(kind, segments after the prefix)`` for a JSON API path (empty segments before it are ignored)."""
    seen: list[int] = [i for i, s in enumerate(segments) if s]
    lowered = [segments[i].lower() for i in seen]
    for prefix, kind in _JSON_PREFIXES:
        if tuple(lowered[: len(prefix)]) == prefix:
            return kind, segments[seen[len(prefix) - 1] + 1 :]
    return None


def _named_buckets(segments: list[str]) -> list[str]:
    """Every ``b/{bucket}`` a path names (for shapes the guard does not know: all of them are checked)."""
    return list(dict.fromkeys(segments[i + 1] for i, s in enumerate(segments[:-1]) if s == "b" and segments[i + 1]))


def _session_writes(
    ctx: _Request, operation: str, ids: list[str], obj: str | None, url_bucket: str | None
) -> list[Write]:
    out = []
    for upload_id in ids:
        bucket = ctx.sessions.get(upload_id)
        if bucket is None:
            named = f"the URL names gs://{url_bucket}, but " if url_bucket else ""
            why = (
                f"an upload session not opened while the guard was installed: {named}its upload_id, not the URL, "
                "decides the bucket; open the session under the guard"
            )
            out.append(Write(operation, None, obj, unknown=why))
        else:
            out.append(Write(operation, bucket, obj, session=upload_id))
    return out


def _classify_json(ctx: _Request, kind: str, seg: list[str]) -> list[Write]:
    method = ctx.method
    verb = {"POST": "insert", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}.get(method, method.lower())
    resumable_ids, multipart_ids = _upload_ids(ctx.query)
    if resumable_ids or multipart_ids:
        url_bucket = seg[1] if len(seg) > 1 and seg[0] == "b" and seg[1] else None
        ids = resumable_ids + multipart_ids
        return _session_writes(ctx, "objects.insert (resumable session)", ids, ctx.param("name"), url_bucket)
    if seg and seg[0] == "projects":
        return [
            Write(f"projects.{'.'.join(seg[2:3]) or 'write'}", None, global_service="Cloud Storage project settings")
        ]
    if seg and seg[0] == "channels":
        return [Write("channels.stop", None, global_service="Cloud Storage notification channels")]
    if method == "POST" and seg in (["b"], ["b", ""]):
        return [_bucket_insert(ctx)]
    if len(seg) < 2 or seg[0] != "b" or not seg[1]:
        named = _named_buckets(seg)
        return [Write(f"JSON API {method}", b) for b in named] or [
            Write(f"JSON API {method}", None, unknown="the request names no bucket")
        ]
    bucket, rest = seg[1], seg[2:]
    if not rest:
        return [Write(f"buckets.{verb}", bucket)]
    if rest == ["relocate"] and method == "POST":
        return [_relocate(ctx, bucket)]
    if len(rest) == 3 and rest[0] == "operations" and rest[2] == "advanceRelocateBucket":
        loc = ctx.relocations.get(rest[1])
        if loc is None:
            return [
                Write(
                    "buckets.advanceRelocateBucket",
                    bucket,
                    unknown="a relocation not seen started under the guard (its destination is unknown)",
                )
            ]
        return [Write("buckets.advanceRelocateBucket", bucket, location=loc)]
    if rest == ["anywhereCaches"] and method == "POST":
        zone = _json_body(ctx.body).get("zone")
        writes = [Write("anywhereCaches.insert", bucket)]
        if isinstance(zone, str) and zone:
            writes.append(Write("anywhereCaches.insert (cache zone)", bucket, location=region_of(zone)))
        return writes
    if rest[0] != "o":
        return [Write(f"{rest[0]}.{verb}", bucket)]
    if kind == "upload":
        if len(rest) != 1:
            return [Write(f"objects.insert ({method} upload)", b) for b in _named_buckets(seg)]
        return _upload(ctx, bucket)
    if len(rest) == 1:
        return [Write(f"objects.{verb}", bucket), *_body_bucket(ctx, bucket, f"objects.{verb}")]
    obj, tail = rest[1], rest[2:]
    if not tail:
        return [Write(f"objects.{verb}", bucket, obj), *_body_bucket(ctx, bucket, f"objects.{verb}", obj)]
    if len(tail) == 5 and tail[0] in ("copyTo", "rewriteTo") and tail[1] == "b" and tail[3] == "o" and tail[2]:
        op = "objects.copy" if tail[0] == "copyTo" else "objects.rewrite"
        return [Write(op, tail[2], tail[4]), *_body_bucket(ctx, tail[2], op, tail[4])]
    if tail == ["compose"]:
        dest = _json_body(ctx.body).get("destination")
        extra = _body_bucket(ctx, bucket, "objects.compose", obj, dest if isinstance(dest, dict) else {})
        return [Write("objects.compose", bucket, obj), *extra]
    if len(tail) == 3 and tail[0] == "moveTo" and tail[1] == "o":
        return [Write("objects.move", bucket, tail[2])]
    if tail == ["restore"]:
        return [Write("objects.restore", bucket, obj)]
    if tail[0] in ("acl",):
        return [Write(f"objects.acl.{verb}", bucket, obj)]
    return [Write(f"JSON API {method}", b) for b in _named_buckets(seg)]


def _body_bucket(
    ctx: _Request, path_bucket: str, operation: str, obj: str | None = None, spec: Mapping[str, Any] | None = None
) -> list[Write]:
    """A second check when a body names another bucket than the path (Cloud Storage should ignore it; be sure)."""
    spec = _json_body(ctx.body) if spec is None else spec
    named = spec.get("bucket")
    if isinstance(named, str) and named and named != path_bucket:
        return [Write(f"{operation} (body bucket)", named, obj)]
    return []


def _bucket_insert(ctx: _Request) -> Write:
    try:
        spec = _json_body(ctx.body, strict=True)
        loc, hint = _spec_location(
            spec, ("location",), ("customPlacementConfig", "custom_placement_config"), "create_bucket"
        )
    except _Unreadable as exc:
        return Write("buckets.insert", None, unknown=str(exc))
    name = spec.get("name")
    return Write("buckets.insert", name if isinstance(name, str) and name else None, location=loc, hint=hint)


def _relocate(ctx: _Request, bucket: str) -> Write:
    try:
        spec = _json_body(ctx.body, strict=True)
        if not _field(spec, "destinationLocation", "destination_location"):
            raise _Unreadable("a relocation without destinationLocation")
        loc, _ = _spec_location(
            spec,
            ("destinationLocation", "destination_location"),
            ("destinationCustomPlacementConfig", "destination_custom_placement_config"),
            "relocate",
        )
    except _Unreadable as exc:
        return Write("buckets.relocate", bucket, unknown=str(exc))
    return Write("buckets.relocate", bucket, location=loc, opens="relocation")


def _upload(ctx: _Request, bucket: str) -> list[Write]:
    upload_type = ctx.param("uploadType") or "media"
    meta: dict[str, Any] = {}
    if upload_type == "resumable":
        meta = _json_body(ctx.body)
    elif upload_type == "multipart":
        meta = _related_metadata(ctx.body, ctx.headers.get("content-type", ""))
    name = ctx.param("name") or meta.get("name")
    obj = str(name) if isinstance(name, str) and name else None
    op = f"objects.insert ({upload_type} upload)"
    first = Write(op, bucket, obj, opens="session" if upload_type == "resumable" else None)
    return [first, *_body_bucket(ctx, bucket, op, obj, meta)]


def _related_metadata(body: Any, content_type: str) -> dict[str, Any]:
    """The JSON part of a ``multipart/related`` upload (empty if it cannot be read)."""
    raw = _raw(body)
    m = re.search(r'boundary="?([^";]+)"?', content_type)
    if raw is None or m is None:
        return {}
    for part in raw[:65536].split(b"--" + m.group(1).encode())[1:2]:  # the metadata part comes first
        _, _, payload = part.partition(b"\r\n\r\n")
        return _json_body(payload.strip())
    return {}


def _classify_xml(ctx: _Request, path: str, host_bucket: str | None) -> list[Write]:
    method = ctx.method
    if host_bucket:
        bucket, name = host_bucket, unquote(path.lstrip("/"))
    else:
        first, _, rest = path.lstrip("/").partition("/")
        bucket, name = unquote(first), unquote(rest)
    obj = name or None
    resumable_ids, multipart_ids = _upload_ids(ctx.query)
    if resumable_ids or multipart_ids:
        writes = _session_writes(ctx, "XML resumable upload (session)", resumable_ids, obj, bucket or None)
        for upload_id in multipart_ids:
            # An XML multipart upload is bound to the bucket and object of its URL (as in S3): check that
            # bucket, and the one the upload was initiated for if the hook saw it.
            known = ctx.sessions.get(upload_id)
            writes.append(
                Write("XML multipart upload", bucket or None, obj, session=upload_id if known == bucket else None)
            )
            if known and known != bucket:
                writes.append(Write("XML multipart upload", known, obj, session=upload_id))
        return writes
    if not bucket:
        return [Write(f"XML {method}", None, unknown="the request names no bucket")]
    if not name:
        signature = ("googleaccessid", "expires", "signature", "userproject")
        subresources = [k for k, _ in ctx.query if not k.lower().startswith("x-goog-") and k.lower() not in signature]
        if method == "PUT" and not subresources:
            try:
                loc, hint = _xml_bucket_location(ctx.body)
            except _Unreadable as exc:
                return [Write("XML PUT bucket", bucket, unknown=str(exc))]
            return [Write("XML PUT bucket", bucket, location=loc, hint=hint)]
        if method == "POST":
            return [Write("XML POST (form upload)", bucket)]
        what = f" ?{subresources[0]}" if subresources else ""
        return [Write(f"XML {method} bucket{what}", bucket)]
    keys = {k.lower() for k, _ in ctx.query}
    if method == "POST" and "uploads" in keys:
        return [Write("XML multipart upload (initiate)", bucket, name, opens="session")]
    if method == "POST" and ctx.headers.get("x-goog-resumable", "").strip().lower() == "start":
        return [Write("XML resumable upload (start)", bucket, name, opens="session")]
    if method == "PUT" and (ctx.headers.get("x-goog-copy-source") or ctx.headers.get("x-amz-copy-source")):
        return [Write("XML PUT object (copy)", bucket, name)]
    if method == "PUT" and "compose" in keys:
        return [Write("XML PUT object (compose)", bucket, name)]
    return [Write(f"XML {method} object", bucket, name)]


def _xml_bucket_location(body: Any) -> tuple[Location, str | None]:
    raw = _raw(body)
    if raw is None:
        raise _Unreadable("the request body is a stream the guard cannot read")
    api = "the XML API's PUT bucket (<LocationConstraint>)"
    if not raw.strip():
        return _spec_location({}, ("location",), ("customPlacementConfig",), api)
    try:
        root = ElementTree.fromstring(raw)
    except ElementTree.ParseError as exc:
        raise _Unreadable(f"the bucket configuration is not XML ({exc})") from exc
    constraints, members = [], []
    for node in root.iter():
        tag = str(node.tag).rsplit("}", 1)[-1].lower()
        if tag == "locationconstraint":
            constraints.append((node.text or "").strip())
        elif tag == "datalocation":
            members.append((node.text or "").strip())
    if len(set(constraints)) > 1:
        raise _Unreadable("the bucket configuration names several LocationConstraints")
    spec: dict[str, Any] = {"location": constraints[0] if constraints else None}
    if members:
        spec["customPlacementConfig"] = {"dataLocations": members}
    return _spec_location(spec, ("location",), ("customPlacementConfig",), api)


_REQUEST_LINE = re.compile(rb"^\s*([A-Za-z]+)\s+(\S+)(?:\s+HTTP/\S+)?\s*$")


def _classify_batch(ctx: _Request, base: str, storage_host: Callable[[str], bool | str] | None) -> list[Write] | None:
    """Every write inside a ``/batch/storage/v1`` request; a batch the guard cannot fully read fails closed."""

    def unreadable(why: str) -> list[Write]:
        return [Write("batch", None, unknown=f"a batch request the guard cannot read: {why}")]

    raw = _raw(ctx.body)
    if raw is None:
        return unreadable("its body is a stream")
    encoding = ctx.headers.get("content-encoding", "").strip().lower()
    if encoding in ("gzip", "x-gzip", "deflate"):
        try:
            raw = gzip.decompress(raw) if "gzip" in encoding else zlib.decompress(raw)
        except (OSError, zlib.error):
            return unreadable("its compressed body does not decompress")
    elif encoding not in ("", "identity"):
        return unreadable(f"Content-Encoding {encoding}")
    content_type = ctx.headers.get("content-type", "")
    message = email.parser.BytesParser(policy=email.policy.compat32).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1", "replace") + b"\r\n\r\n" + raw
    )
    if not message.is_multipart():
        return unreadable("it is not multipart")
    inner_parts = message.get_payload()
    if not isinstance(inner_parts, list) or not inner_parts:
        return unreadable("it has no parts")
    writes: list[Write] = []
    for part in inner_parts:
        payload = part.get_payload(decode=True) if isinstance(part, email.message.Message) else None
        if not isinstance(payload, bytes):
            return unreadable("a part is not an HTTP request")
        lines = payload.replace(b"\r\n", b"\n").split(b"\n")
        while lines and not lines[0].strip():
            lines.pop(0)
        m = _REQUEST_LINE.match(lines[0]) if lines else None
        if m is None:
            return unreadable("a part has no request line")
        head, _, inner_body = b"\n".join(lines[1:]).partition(b"\n\n")
        inner_headers = {}
        for line in head.split(b"\n"):
            key, sep, value = line.decode("latin-1").partition(":")
            if sep:
                inner_headers[key.strip()] = value.strip()
        url = m.group(2).decode("latin-1")
        found = classify(
            m.group(1).decode("latin-1"),
            url if "://" in url else base + url,
            inner_body,
            inner_headers,
            storage_host=lambda _host: True,  # inside a Cloud Storage batch every path is Cloud Storage's
            sessions=ctx.sessions,
            relocations=ctx.relocations,
        )
        writes.extend(found or [])
    return writes or None


# --------------------------------------------------------------------------- bucket locations


def location_from_metadata(meta: Mapping[str, Any]) -> Location:
    """Where a bucket's data lands, from its JSON resource (``location``, ``customPlacementConfig``).

    A custom dual-region's countries are those of its ``dataLocations``; a
    predefined dual-region (``EUR4``) or multi-region (``EU``) comes from the
    catalog; a missing location is ``US`` (Cloud Storage's default).
    """
    placement = meta.get("customPlacementConfig") or {}
    members = [str(m).lower() for m in placement.get("dataLocations") or ()] if isinstance(placement, dict) else []
    if members:
        custom = catalog().dual_region(_PROVIDER, members)
        if custom is not None:
            return custom
    return lookup_location(_PROVIDER, str(meta.get("location") or "US"))


class LocationCache:
    """Bucket locations by (API base URL, bucket), each trusted for the guard's ``cache_ttl``.

    ``lookups`` counts requests actually sent (tests use it to prove caching).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, str], tuple[Location, float]] = {}
        self._inflight: dict[tuple[str, str], threading.Lock] = {}
        self.lookups = 0

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.lookups = 0

    def get(self, key: tuple[str, str]) -> Location | None:
        with self._lock:
            hit = self._entries.get(key)
            if hit is None:
                return None
            if hit[1] < time.monotonic():
                del self._entries[key]
                return None
            return hit[0]

    def lookup(
        self, key: tuple[str, str], ttl: float, fetch: Callable[[], tuple[Location | None, str | None]]
    ) -> tuple[Location | None, str | None]:
        hit = self.get(key)
        if hit is not None:
            return hit, None
        with self._lock:
            gate = self._inflight.setdefault(key, threading.Lock())
        with gate:
            hit = self.get(key)
            if hit is not None:
                return hit, None
            with self._lock:
                self.lookups += 1
            loc, why = fetch()
            if loc is not None and ttl > 0:
                with self._lock:
                    self._entries[key] = (loc, time.monotonic() + ttl)
            return loc, why


location_cache = LocationCache()


def _fetch_metadata(
    session: Any, base: str, bucket: str, headers: Mapping[str, str], user_project: str | None
) -> tuple[Location | None, str | None]:
    url = f"{base.rstrip('/')}/storage/v1/b/{quote(bucket, safe='')}?fields=location,locationType,customPlacementConfig"
    if user_project:
        url += f"&userProject={quote(user_project, safe='')}"
    try:
        response = session.request("GET", url, headers=dict(headers), timeout=LOOKUP_TIMEOUT)
    except Exception as exc:
        return None, f"looking up bucket {bucket} failed: {type(exc).__name__}: {exc}"
    if response.status_code in (401, 403):
        return None, (
            f"looking up bucket {bucket} answered HTTP {response.status_code}; the caller needs "
            "storage.buckets.get on the bucket for the guard to learn its location"
        )
    if response.status_code != 200:
        return None, f"looking up bucket {bucket} answered HTTP {response.status_code}"
    try:
        meta = response.json()
    except ValueError:
        return None, f"looking up bucket {bucket} gave an unreadable answer"
    if not isinstance(meta, dict) or not isinstance(meta.get("location"), str) or not meta["location"]:
        return None, f"looking up bucket {bucket} gave no location"
    return location_from_metadata(meta), None


def bucket_location(
    session: Any,
    base: str,
    bucket: str,
    headers: Mapping[str, str] | None = None,
    user_project: str | None = None,
) -> tuple[Location | None, str | None]:
    """The bucket's location (cached) through ``session`` at API base ``base``, or ``(None, why)``."""
    return location_cache.lookup(
        (base.rstrip("/"), bucket), _ttl(), lambda: _fetch_metadata(session, base, bucket, headers or {}, user_project)
    )


# --------------------------------------------------------------------------- install / uninstall

_lock = threading.RLock()
_guards: list[Any] = []
_hosts: set[str] = set()
_clients: weakref.WeakValueDictionary[int, Any] = weakref.WeakValueDictionary()
_sessions: OrderedDict[str, str] = OrderedDict()
# upload_id -> the guards that decided the request opening it: one upload is one write, decided (and in
# audit mode reported) once per guard, not again at every chunk. Weak, so a new guard never inherits it.
_session_deciders: OrderedDict[str, weakref.WeakSet[Any]] = OrderedDict()
_relocations: OrderedDict[str, Location] = OrderedDict()
_MAX_REMEMBERED = 10_000
_patched: dict[tuple[Any, str], Any] = {}


def installed_guards() -> tuple[Any, ...]:
    """The guards whose Google Cloud hooks are installed, oldest first."""
    with _lock:
        return tuple(_guards)


def _ttl() -> float:
    return min((float(g.cache_ttl) for g in installed_guards()), default=0.0)


def install(guard: Any) -> None:
    """Start checking Cloud Storage writes against ``guard`` (idempotent)."""
    with _lock:
        if any(g is guard for g in _guards):
            return
        _guards.append(guard)
        location_cache.clear()
        if len(_guards) == 1:
            _start()


def uninstall(guard: Any) -> None:
    """Stop checking against ``guard``; the last one out restores every patched method."""
    with _lock:
        _guards[:] = [g for g in _guards if g is not guard]
        if not _guards:
            _stop()
            location_cache.clear()


def install_in_worker(policy: Any = "eu", mode: str = "enforce", cache_ttl: float = 300.0) -> None:
    """Install a guard for the rest of this process: a pool ``initializer`` for ``spawn``-ed workers.

    Does nothing in a ``fork``-ed worker, which already inherited its parent's guards.
    """
    from residency._guard import guard

    if installed_guards():
        return
    guard(policy, mode=mode, cache_ttl=cache_ttl, providers=["gcp"]).install()  # type: ignore[arg-type]


def _install_specs(
    specs: tuple[tuple[Any, str, float], ...],
    sessions: Mapping[str, str] | None = None,
    deciders: Mapping[str, tuple[int, ...]] | None = None,
) -> None:
    from residency._guard import guard

    if installed_guards():  # fork-ed: the parent's guards and sessions came along
        return
    made = [
        guard(policy, mode=mode, cache_ttl=ttl, providers=["gcp"]).install()  # type: ignore[arg-type]
        for policy, mode, ttl in specs
    ]
    for upload_id, bucket in (sessions or {}).items():
        _remember(_sessions, upload_id, bucket)
    for upload_id, indexes in (deciders or {}).items():
        _remember(_session_deciders, upload_id, weakref.WeakSet(made[i] for i in indexes if i < len(made)))


def _guarded_pool_class(worker_type: Any) -> Any:
    """transfer_manager's process pools start with this process's guards (policy, mode, TTL) and sessions."""
    original = _patched[(gcs_transfer, "_get_pool_class_and_requirements")]
    pool_class, needs_pickling = original(worker_type)
    if pool_class is concurrent.futures.ProcessPoolExecutor:
        guards = installed_guards()
        specs = tuple((g.policy, g.mode, float(g.cache_ttl)) for g in guards)
        with _lock:
            sessions = dict(_sessions)
            deciders = {
                upload_id: tuple(i for i, g in enumerate(guards) if g in decided)
                for upload_id, decided in _session_deciders.items()
            }
        pool_class = functools.partial(pool_class, initializer=_install_specs, initargs=(specs, sessions, deciders))
    return pool_class, needs_pickling


def _patch(owner: Any, name: str, replacement: Any) -> None:
    _patched[(owner, name)] = vars(owner)[name]
    setattr(owner, name, replacement)


def _start() -> None:
    _patch(requests.Session, "send", _guarded_send)
    if "_get_pool_class_and_requirements" in vars(gcs_transfer):  # private: patched only where it exists
        _patch(gcs_transfer, "_get_pool_class_and_requirements", _guarded_pool_class)
    _patch(gcs_client.Client, "__init__", _guarded_client_init)
    _patch(gcs_blob.Blob, "generate_signed_url", _wrap_signer(gcs_blob.Blob.generate_signed_url, _blob_signing))
    _patch(
        gcs_bucket.Bucket, "generate_signed_url", _wrap_signer(gcs_bucket.Bucket.generate_signed_url, _bucket_signing)
    )
    _patch(
        gcs_bucket.Bucket,
        "generate_upload_policy",
        _wrap_signer(gcs_bucket.Bucket.generate_upload_policy, _upload_policy),
    )
    _patch(
        gcs_client.Client,
        "generate_signed_post_policy_v4",
        _wrap_signer(gcs_client.Client.generate_signed_post_policy_v4, _post_policy),
    )
    # Direct callers of the signing helpers (Blob/Bucket use their own imported names, wrapped above).
    for name in ("generate_signed_url_v2", "generate_signed_url_v4"):
        if name in vars(gcs_signing):
            _patch(gcs_signing, name, _wrap_signer(vars(gcs_signing)[name], _helper_signing))
    for obj in gc.get_objects():
        if isinstance(obj, gcs_client.Client):
            _remember_client(obj)


def _stop() -> None:
    for (owner, name), original in _patched.items():
        setattr(owner, name, original)
    _patched.clear()
    _hosts.clear()
    _clients.clear()
    # _sessions and _relocations are kept: they record facts (which bucket opened which upload), not decisions,
    # so a session opened under one guard is still known to the next.


def _original_send(session: Any, request: Any, **kwargs: Any) -> Any:
    original = _patched.get((requests.Session, "send"), requests.Session.send)
    return original(session, request, **kwargs)


def _remember_client(client: Any) -> None:
    base = getattr(getattr(client, "_connection", None), "API_BASE_URL", None)
    if isinstance(base, str) and base:
        parts = urlsplit(base)
        _hosts.add(_host_key(parts.scheme, parts.netloc))
        _clients[id(client)] = client


_ORIGINAL_CLIENT_INIT = gcs_client.Client.__init__


def _guarded_client_init(self: Any, *args: Any, **kwargs: Any) -> None:
    _ORIGINAL_CLIENT_INIT(self, *args, **kwargs)
    with _lock:
        _remember_client(self)


def _emulator_key() -> str | None:
    emulator = os.environ.get("STORAGE_EMULATOR_HOST") or os.environ.get("API_ENDPOINT_OVERRIDE")
    if not emulator:
        return None
    parts = urlsplit(emulator if "://" in emulator else "http://" + emulator)
    return _host_key(parts.scheme, parts.netloc)


def _storage_keys() -> list[str]:
    emulator = _emulator_key()
    return [*_hosts, emulator] if emulator else list(_hosts)


def _is_storage_host(key: str) -> bool | str:
    """``True`` for a registered storage endpoint, the bucket for ``BUCKET.`` + one (a universe domain's
    virtual-hosted style, e.g. ``bkt.storage.s3nsapis.fr``), else ``False``."""
    keys = _storage_keys()
    if key in keys:
        return True
    host, _, port = key.rpartition(":")
    for known in keys:
        known_host, _, known_port = known.rpartition(":")
        if port == known_port and host.endswith("." + known_host):
            return host[: -len(known_host) - 1]
    return False


def _base_for(url: str) -> str:
    """The JSON API base URL for a request's host (a virtual-hosted XML host loses its bucket)."""
    parts = urlsplit(url)
    hostname = _hostname(parts.netloc)
    google = _GOOGLE_STORAGE_HOST.match(hostname)
    if google is not None and google.group("bucket"):
        return f"https://{google.group('service')}"
    if google is None:
        bucket = _is_storage_host(_host_key(parts.scheme, parts.netloc))
        if isinstance(bucket, str):
            return f"{parts.scheme}://{_host_key(parts.scheme, parts.netloc)[len(bucket) + 1 :]}"
    return f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}"


# --------------------------------------------------------------------------- checking


def _lookup_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The caller's own OAuth token and billing project, for the lookup of a plain session's write."""
    out = {}
    for key, value in headers.items():
        k = key.lower()
        if (k == "authorization" and value.lower().startswith("bearer ")) or k == "x-goog-user-project":
            out[key] = value
    return out


def _check(
    writes: Iterable[Write],
    session: Any,
    base: str | None,
    headers: Mapping[str, str] | None = None,
    user_project: str | None = None,
) -> tuple[Any, ...]:
    """Ask every installed guard about ``writes``; the guards asked."""
    guards = installed_guards()
    if not guards:
        return guards
    for write in writes:
        decided = _session_deciders.get(write.session) if write.session else None
        asked = [g for g in guards if g not in decided] if decided else guards
        if not asked:
            continue  # the upload this request continues was decided when it was opened
        if write.global_service is not None:
            for g in asked:
                g.check_global_service(_PROVIDER, write.operation, write.global_service)
            continue
        location, why = write.location, write.unknown
        if location is None and why is None:
            if write.bucket is None:
                why = "the request names no bucket"
            elif session is None or base is None:
                why = "no client to look the bucket up with"
            else:
                location, why = bucket_location(
                    session, base, write.bucket, _lookup_headers(headers or {}), user_project
                )
        aliases = [f"gs://{write.bucket}"] if write.bucket and write.object else []
        for g in asked:
            g.check_write(
                _PROVIDER,
                write.operation,
                write.target,
                location,
                unknown_reason=why,
                hint=write.hint,
                resources=aliases,
            )
    return guards


def _remember(store: OrderedDict[str, Any], key: str | None, value: Any) -> None:
    if not key or value is None:
        return
    with _lock:
        store[key] = value
        store.move_to_end(key)
        while len(store) > _MAX_REMEMBERED:
            store.popitem(last=False)


def _guarded_send(self: Any, request: Any, **kwargs: Any) -> Any:
    writes = None
    deciders: tuple[Any, ...] = ()
    headers = request.headers or {}
    if str(request.method or "GET").upper() not in _READ_METHODS or "X-HTTP-Method-Override" in headers:
        writes = classify(
            request.method,
            request.url,
            request.body,
            headers,
            storage_host=_is_storage_host,
            sessions=_sessions,
            relocations=_relocations,
        )
        if writes:
            query = dict(_query(urlsplit(request.url).query))
            deciders = _check(writes, self, _base_for(request.url), headers, query.get("userProject"))
    response = _original_send(self, request, **kwargs)
    if writes:
        _learn(writes, response, deciders)
    return response


def _learn(writes: list[Write], response: Any, deciders: Iterable[Any] = ()) -> None:
    """Record the upload session or relocation a successful request opened, and the guards that decided it."""
    opener = next((w for w in writes if w.opens), None)
    if opener is None or response.status_code not in (200, 201):
        return
    if opener.opens == "relocation":
        try:
            name = str(response.json().get("name") or "")
        except (ValueError, AttributeError):
            return
        _remember(_relocations, name.rsplit("/", 1)[-1], opener.location)
        return
    ids: list[str] = []
    for header in ("Location", "X-Goog-Upload-URL"):
        value = response.headers.get(header)
        if value:
            ids += [v for k, v in _query(urlsplit(value).query) if k.lower() in ("upload_id", "uploadid")]
    if response.headers.get("X-GUploader-UploadID") and ids:
        ids.append(response.headers["X-GUploader-UploadID"])
    if opener.operation == "XML multipart upload (initiate)":
        try:
            node = ElementTree.fromstring(response.content).find(f"{_S3_NS}UploadId")
        except ElementTree.ParseError:
            node = None
        if node is not None and node.text:
            ids.append(node.text)
    for upload_id in ids:
        _remember(_sessions, upload_id, opener.bucket)
        _remember(_session_deciders, upload_id, weakref.WeakSet(deciders))


# --------------------------------------------------------------------------- local signers


def _wrap_signer(original: Callable[..., Any], describe: Callable[[inspect.BoundArguments], Iterator[Any]]) -> Any:
    signature = inspect.signature(original)

    @functools.wraps(original)
    def signer(*args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        for operation, bucket_name, obj, client in describe(bound):
            session = getattr(client, "_http", None) if client is not None else None
            base = getattr(getattr(client, "_connection", None), "API_BASE_URL", None) if client is not None else None
            _check([Write(operation, bucket_name or None, obj or None)], session, base)
        return original(*args, **kwargs)

    return signer


def _write_method(method: Any) -> bool:
    return str(method or "GET").strip().upper() not in _READ_METHODS


def _blob_signing(b: inspect.BoundArguments) -> Iterator[Any]:
    blob = b.arguments["self"]
    if _write_method(b.arguments.get("method")):
        client = b.arguments.get("client") or blob.bucket.client
        yield f"generate_signed_url {str(b.arguments['method']).upper()}", blob.bucket.name, blob.name, client


def _bucket_signing(b: inspect.BoundArguments) -> Iterator[Any]:
    bucket = b.arguments["self"]
    if _write_method(b.arguments.get("method")):
        client = b.arguments.get("client") or bucket.client
        yield f"generate_signed_url {str(b.arguments['method']).upper()}", bucket.name, None, client


def _policy_buckets(conditions: Any) -> Iterator[str]:
    """Buckets a POST policy's conditions name (``{"bucket": b}`` or ``["eq", "$bucket", b]``)."""
    for cond in conditions or ():
        if isinstance(cond, dict) and isinstance(cond.get("bucket"), str):
            yield cond["bucket"]
        elif isinstance(cond, (list, tuple)) and len(cond) == 3 and str(cond[1]).lower() == "$bucket":
            yield str(cond[2])


def _upload_policy(b: inspect.BoundArguments) -> Iterator[Any]:
    bucket = b.arguments["self"]
    client = b.arguments.get("client") or bucket.client
    for name in dict.fromkeys([bucket.name, *_policy_buckets(b.arguments.get("conditions"))]):
        yield "generate_upload_policy", name, None, client


def _post_policy(b: inspect.BoundArguments) -> Iterator[Any]:
    client = b.arguments["self"]
    fields = b.arguments.get("fields") or {}
    named = [b.arguments["bucket_name"], *_policy_buckets(b.arguments.get("conditions"))]
    if isinstance(fields, dict) and isinstance(fields.get("bucket"), str):
        named.append(fields["bucket"])
    for name in dict.fromkeys(named):
        yield "generate_signed_post_policy_v4", name, b.arguments["blob_name"], client


def _helper_signing(b: inspect.BoundArguments) -> Iterator[Any]:
    """A direct call of ``_signing.generate_signed_url_v2/v4``: the bucket from the endpoint or the resource."""
    if not _write_method(b.arguments.get("method")):
        return
    endpoint = str(b.arguments.get("api_access_endpoint") or _DEFAULT_BASE)
    resource = unquote(str(b.arguments.get("resource") or "")).lstrip("/")
    parts = urlsplit(endpoint)
    google = _GOOGLE_STORAGE_HOST.match(_hostname(parts.netloc))
    registered = _is_storage_host(_host_key(parts.scheme, parts.netloc)) if google is None else False
    if google is not None and google.group("bucket"):
        bucket, obj = google.group("bucket"), resource
    elif isinstance(registered, str):
        bucket, obj = registered, resource
    elif google is not None or registered:
        bucket, _, obj = resource.partition("/")
    else:  # a bucket-bound hostname (a custom domain): the bucket is unknowable here
        bucket, obj = "", resource
    yield f"generate_signed_url {str(b.arguments.get('method')).upper()}", bucket, obj, _client_for(_base_for(endpoint))


def _client_for(base: str) -> Any:
    """A live ``storage.Client`` on API base ``base`` (for a signer called without one), or ``None``."""
    with _lock:
        clients = list(_clients.values())
    want = urlsplit(base)
    for client in clients:
        have = urlsplit(str(getattr(getattr(client, "_connection", None), "API_BASE_URL", "")))
        if _host_key(have.scheme, have.netloc) == _host_key(want.scheme, want.netloc):
            return client
    return None
