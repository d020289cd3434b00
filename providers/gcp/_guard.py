"""The Google Cloud Storage guard: one hook on the transport, and the local signers.

Design
======

**One hook sees every write.** google-cloud-storage sends every JSON and XML
API call — simple, multipart and resumable uploads, each chunk of an open
resumable session, transfer manager's XML multipart uploads, bucket
creation, ``copy_blob``, ``rewrite``, ``compose`` and batches — through
``google.auth.transport.requests.AuthorizedSession.request``. While at least
one guard is installed that method is replaced *on the class*, so sessions
(and clients) created before :func:`install` are covered too. The hook parses
the method and URL (:func:`classify`), and for a write asks every installed
guard before the request is sent. Reads (``GET``, ``HEAD``) pass untouched.

**Which URLs are Cloud Storage.** JSON API paths (``/storage/v1/…``,
``/upload/storage/v1/…``, ``/batch/storage/v1``) on any host. XML API paths
only on storage hosts: ``storage.googleapis.com`` (and
``BUCKET.storage.googleapis.com``, ``storage.mtls.googleapis.com``,
``storage.REGION.rep.googleapis.com``), the host in ``STORAGE_EMULATOR_HOST``,
and the ``api_endpoint`` of every ``storage.Client`` (recorded when a client
is created, and found among existing objects at install).

**What decides.** The *destination* bucket's location: the body's
``location`` / ``customPlacementConfig.dataLocations`` for bucket creation
(no location means ``US``, as Cloud Storage does; the XML API's
``LocationConstraint`` likewise), otherwise the bucket's metadata, looked up
once per bucket with ``GET /storage/v1/b/{bucket}`` through the caller's
own session (same credentials, same endpoint) and cached for the guard's
``cache_ttl``. Failures are never cached; concurrent lookups of one bucket
wait for a single request.

**Open sessions.** A resumable session (JSON ``uploadType=resumable``, XML
``x-goog-resumable: start``) or XML multipart upload answers with an
``upload_id``; the hook records which bucket it belongs to. A later chunk is
checked against that bucket; a session the hook never saw is checked against
the bucket its URL names, and one whose URL names none is blocked (fail
closed).

**Signed URLs and POST policies** are made locally, with no request to
intercept: ``Blob.generate_signed_url`` / ``Bucket.generate_signed_url`` for
any method but ``GET``/``HEAD``/``OPTIONS``,
``Client.generate_signed_post_policy_v4`` and
``Bucket.generate_upload_policy`` are wrapped and check the bucket first.

**Processes.** A ``fork``-ed child inherits the hook. A ``spawn``-ed or
``forkserver`` child (the default on macOS and Windows, and from Python 3.14
on Linux) starts a fresh interpreter with no guard. ``transfer_manager``'s
process pools (``worker_type=PROCESS``, its default) are handled: while a
guard is installed they start each worker with the same policies, modes and
TTLs installed (``on_violation`` callbacks stay in the parent). Your own pools
need :func:`install_in_worker` as their ``initializer``::

    from concurrent.futures import ProcessPoolExecutor
    import multiprocessing as mp
    from residency.providers.gcp import install_in_worker

    ProcessPoolExecutor(mp_context=mp.get_context("spawn"),
                        initializer=install_in_worker, initargs=("eu", "enforce"))

**Not covered.** A plain ``requests.Session`` passed as ``_http`` to
``storage.Client`` (not an ``AuthorizedSession``), and the gRPC client
(``storage.Client`` with the experimental gRPC transport) — use the default
JSON transport under the guard.
"""

from __future__ import annotations

import concurrent.futures
import functools
import gc
import inspect
import json
import os
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from typing import Any, NamedTuple
from urllib.parse import parse_qs, quote, unquote, urlsplit
from xml.etree import ElementTree

import google.auth.transport.requests as auth_requests
import google.cloud.storage.blob as gcs_blob
import google.cloud.storage.bucket as gcs_bucket
import google.cloud.storage.client as gcs_client
import google.cloud.storage.transfer_manager as gcs_transfer

from residency._catalog import Location, catalog, lookup_location

__all__ = [
    "LocationCache",
    "Write",
    "bucket_location",
    "classify",
    "install",
    "install_in_worker",
    "installed_guards",
    "location_cache",
    "location_from_metadata",
    "uninstall",
]

_PROVIDER = "gcp"
_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_DEFAULT_BASE = "https://storage.googleapis.com"
_GOOGLE_STORAGE_HOST = re.compile(
    r"^(?:(?P<bucket>.+)\.)?storage(?:\.mtls|\.[a-z0-9-]+\.rep)?\.googleapis\.com(?::443)?$"
)
_S3_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"

# --------------------------------------------------------------------------- classification


class Write(NamedTuple):
    """One write a request makes: what, to which bucket, and where it lands if the request says so.

    ``location`` is set when the request itself decides it (bucket creation);
    otherwise the bucket's metadata decides. ``bucket`` is ``None`` when the
    request names no bucket the guard can trust (an unknown resumable session).
    """

    operation: str
    bucket: str | None
    object: str | None = None
    location: Location | None = None
    hint: str | None = None
    global_service: str | None = None

    @property
    def target(self) -> str:
        if self.bucket is None:
            return "gs://(unknown bucket)"
        return f"gs://{self.bucket}/{self.object}" if self.object else f"gs://{self.bucket}"


def _json_body(body: Any) -> dict[str, Any]:
    if isinstance(body, dict):
        return body
    if body is None:
        return {}
    if isinstance(body, (bytes, bytearray)):
        body = bytes(body).decode("utf-8", "replace")
    if not isinstance(body, str):
        return {}
    try:
        parsed = json.loads(body)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _created_location(spec: Mapping[str, Any], api: str) -> tuple[Location, str | None]:
    placement = spec.get("customPlacementConfig") or {}
    members = [str(m) for m in placement.get("dataLocations") or ()]
    if members:
        return location_from_metadata({"location": spec.get("location"), "customPlacementConfig": placement}), None
    code = str(spec.get("location") or "")
    if not code:
        return lookup_location(_PROVIDER, "US"), (
            f"no location given, so Cloud Storage creates the bucket in US; pass location= "
            f"(e.g. 'EU' or 'europe-west3') to {api}"
        )
    return lookup_location(_PROVIDER, code), None


def classify(
    method: str,
    url: str,
    body: Any = None,
    headers: Mapping[str, str] | None = None,
    *,
    storage_host: Callable[[str], bool] | None = None,
    sessions: Mapping[str, str] | None = None,
) -> list[Write] | None:
    """The writes an HTTP request makes to Cloud Storage; ``None`` if it is not a Cloud Storage write.

    >>> classify("POST", "https://storage.googleapis.com/storage/v1/b/src/o/a/copyTo/b/dst/o/b")
    [Write(operation='objects.copy', bucket='dst', object='b', location=None, hint=None, global_service=None)]
    >>> classify("GET", "https://storage.googleapis.com/storage/v1/b/src/o/a") is None
    True

    ``storage_host(netloc)`` says whether an XML API host is Cloud Storage
    (default: Google's storage hosts only); ``sessions`` maps known
    ``upload_id`` values to their bucket.
    """
    method = method.upper()
    if method in _READ_METHODS:
        return None
    parts = urlsplit(url)
    query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    hdrs = {k.lower(): v for k, v in (headers or {}).items()}
    path = parts.path
    sessions = sessions or {}
    for prefix in ("/storage/v1/", "/upload/storage/v1/"):
        if path.startswith(prefix):
            return [_classify_json(method, prefix, path[len(prefix) :].split("/"), query, body, sessions)]
    if path.rstrip("/") == "/batch/storage/v1":
        return _classify_batch(body, hdrs, parts.scheme + "://" + parts.netloc, sessions) or None
    netloc = parts.netloc.lower()
    google = _GOOGLE_STORAGE_HOST.match(netloc)
    if google is None and not (storage_host is not None and storage_host(netloc)):
        return None
    return [_classify_xml(method, path, query, body, hdrs, google.group("bucket") if google else None, sessions)]


def _classify_json(
    method: str, prefix: str, seg: list[str], query: Mapping[str, str], body: Any, sessions: Mapping[str, str]
) -> Write:
    seg = [unquote(s) for s in seg]
    if seg[0] == "projects":
        return Write(f"projects.{'.'.join(seg[2:3]) or 'write'}", None, global_service="Cloud Storage project settings")
    if seg == ["b"] and method == "POST":
        spec = _json_body(body)
        loc, hint = _created_location(spec, "create_bucket")
        return Write("buckets.insert", str(spec.get("name") or "") or None, location=loc, hint=hint)
    bucket = seg[1] if len(seg) > 1 and seg[0] == "b" and seg[1] else None
    if prefix == "/upload/storage/v1/":
        upload_id = query.get("upload_id")
        if upload_id is not None:
            return Write("objects.insert (resumable session)", sessions.get(upload_id, bucket), query.get("name"))
        kind = query.get("uploadType", "media")
        name = query.get("name") or (_json_body(body).get("name") if kind == "resumable" else _multipart_name(body))
        return Write(f"objects.insert ({kind} upload)", bucket, str(name) if name else None)
    verb = {"POST": "insert", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}.get(method, method.lower())
    if len(seg) == 2:
        return Write(f"buckets.{verb}", bucket)
    if len(seg) >= 9 and seg[4] in ("copyTo", "rewriteTo"):
        op = "objects.copy" if seg[4] == "copyTo" else "objects.rewrite"
        return Write(op, seg[6] or None, seg[8])
    if len(seg) >= 5 and seg[2] == "o" and seg[4] == "compose":
        return Write("objects.compose", bucket, seg[3])
    if len(seg) >= 4 and seg[2] == "o":
        return Write(f"objects.{verb}", bucket, seg[3])
    return Write(f"{seg[2] if len(seg) > 2 else 'buckets'}.{verb}", bucket)


_MULTIPART_NAME = re.compile(rb'\{[^{}]*?"name"\s*:\s*("(?:[^"\\]|\\.)*")')


def _multipart_name(body: Any) -> str | None:
    """The object name in a ``multipart/related`` upload's JSON part (for the message only)."""
    if not isinstance(body, (bytes, bytearray, str)):
        return None
    raw = body.encode() if isinstance(body, str) else bytes(body[:65536])
    m = _MULTIPART_NAME.search(raw[:65536])
    if m is None:
        return None
    try:
        name = json.loads(m.group(1))
    except ValueError:
        return None
    return name if isinstance(name, str) else None


_BATCH_LINE = re.compile(rb"^(POST|PUT|PATCH|DELETE) (\S+) HTTP/1\.1\r?$", re.MULTILINE)


def _classify_batch(body: Any, headers: Mapping[str, str], base: str, sessions: Mapping[str, str]) -> list[Write]:
    raw = body.encode() if isinstance(body, str) else bytes(body or b"")
    writes: list[Write] = []
    for m in _BATCH_LINE.finditer(raw):
        rest = raw[m.end() :]
        _, _, after = rest.partition(b"\r\n\r\n")
        inner_body = after.split(b"\r\n--", 1)[0]
        url = m.group(2).decode()
        found = classify(m.group(1).decode(), url if "://" in url else base + url, inner_body, sessions=sessions)
        writes.extend(found or [Write("batch", None)])
    return writes


def _classify_xml(
    method: str,
    path: str,
    query: Mapping[str, str],
    body: Any,
    headers: Mapping[str, str],
    host_bucket: str | None,
    sessions: Mapping[str, str],
) -> Write:
    if host_bucket:
        bucket, name = host_bucket, unquote(path.lstrip("/"))
    else:
        first, _, rest = path.lstrip("/").partition("/")
        bucket, name = unquote(first), unquote(rest)
    upload_id = query.get("upload_id") or query.get("uploadId")
    if upload_id is not None:
        op = "XML multipart upload" if "uploadId" in query else "XML resumable upload (session)"
        return Write(op, sessions.get(upload_id, bucket or None) or None, name or None)
    if not name:
        if method == "PUT":
            loc, hint = _created_location({"location": _location_constraint(body)}, "the XML API's PUT bucket")
            return Write("XML PUT bucket", bucket or None, location=loc, hint=hint)
        return Write(f"XML {method} (form upload)" if method == "POST" else f"XML {method} bucket", bucket or None)
    if method == "POST" and "uploads" in query:
        return Write("XML multipart upload (initiate)", bucket, name)
    if method == "POST" and headers.get("x-goog-resumable", "").lower() == "start":
        return Write("XML resumable upload (start)", bucket, name)
    if method == "PUT" and headers.get("x-goog-copy-source"):
        return Write("XML PUT object (copy)", bucket, name)
    return Write(f"XML {method} object", bucket, name)


def _location_constraint(body: Any) -> str | None:
    raw = body.encode() if isinstance(body, str) else bytes(body or b"")
    if not raw.strip():
        return None
    try:
        root = ElementTree.fromstring(raw)
    except ElementTree.ParseError:
        return None
    for node in root.iter():
        if node.tag.rsplit("}", 1)[-1] == "LocationConstraint" and node.text:
            return node.text.strip()
    return None


# --------------------------------------------------------------------------- bucket locations


def location_from_metadata(meta: Mapping[str, Any]) -> Location:
    """Where a bucket's data lands, from its JSON resource (``location``, ``customPlacementConfig``).

    A custom dual-region's countries are those of its ``dataLocations``; a
    predefined dual-region (``EUR4``) or multi-region (``EU``) comes from the
    catalog; a missing location is ``US`` (Cloud Storage's default).
    """
    placement = meta.get("customPlacementConfig") or {}
    members = [str(m).lower() for m in placement.get("dataLocations") or ()]
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


def _fetch_metadata(session: Any, base: str, bucket: str) -> tuple[Location | None, str | None]:
    url = f"{base.rstrip('/')}/storage/v1/b/{quote(bucket, safe='')}?fields=location,locationType,customPlacementConfig"
    try:
        response = _original_request(session, "GET", url, timeout=30)
    except Exception as exc:
        return None, f"looking up bucket {bucket} failed: {type(exc).__name__}: {exc}"
    if response.status_code != 200:
        return None, f"looking up bucket {bucket} answered HTTP {response.status_code}"
    try:
        meta = response.json()
    except ValueError:
        return None, f"looking up bucket {bucket} gave an unreadable answer"
    return location_from_metadata(meta), None


def bucket_location(session: Any, base: str, bucket: str) -> tuple[Location | None, str | None]:
    """The bucket's location (cached) through ``session`` at API base ``base``, or ``(None, why)``."""
    return location_cache.lookup((base.rstrip("/"), bucket), _ttl(), lambda: _fetch_metadata(session, base, bucket))


# --------------------------------------------------------------------------- install / uninstall

_lock = threading.RLock()
_guards: list[Any] = []
_hosts: set[str] = set()
_sessions: OrderedDict[str, str] = OrderedDict()
_MAX_SESSIONS = 10_000
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


def _install_specs(specs: tuple[tuple[Any, str, float], ...]) -> None:
    from residency._guard import guard

    if installed_guards():  # fork-ed: the parent's guards came along
        return
    for policy, mode, ttl in specs:
        guard(policy, mode=mode, cache_ttl=ttl, providers=["gcp"]).install()  # type: ignore[arg-type]


def _guarded_pool_class(worker_type: Any) -> Any:
    """transfer_manager's process pools start with this process's guards (policy, mode, TTL) installed."""
    original = _patched[(gcs_transfer, "_get_pool_class_and_requirements")]
    pool_class, needs_pickling = original(worker_type)
    if pool_class is concurrent.futures.ProcessPoolExecutor:
        specs = tuple((g.policy, g.mode, float(g.cache_ttl)) for g in installed_guards())
        pool_class = functools.partial(pool_class, initializer=_install_specs, initargs=(specs,))
    return pool_class, needs_pickling


def _patch(owner: Any, name: str, replacement: Any) -> None:
    _patched[(owner, name)] = vars(owner)[name]
    setattr(owner, name, replacement)


def _start() -> None:
    _patch(auth_requests.AuthorizedSession, "request", _guarded_request)
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
    for obj in gc.get_objects():
        if isinstance(obj, gcs_client.Client):
            _remember_client(obj)


def _stop() -> None:
    for (cls, name), original in _patched.items():
        setattr(cls, name, original)
    _patched.clear()
    _hosts.clear()
    _sessions.clear()


def _original_request(session: Any, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
    original = _patched.get((auth_requests.AuthorizedSession, "request"), auth_requests.AuthorizedSession.request)
    return original(session, method, url, *args, **kwargs)


def _remember_client(client: Any) -> None:
    base = getattr(getattr(client, "_connection", None), "API_BASE_URL", None)
    if isinstance(base, str) and base:
        _hosts.add(urlsplit(base).netloc.lower())


_ORIGINAL_CLIENT_INIT = gcs_client.Client.__init__


def _guarded_client_init(self: Any, *args: Any, **kwargs: Any) -> None:
    _ORIGINAL_CLIENT_INIT(self, *args, **kwargs)
    _remember_client(self)


def _is_storage_host(netloc: str) -> bool:
    if netloc in _hosts:
        return True
    emulator = os.environ.get("STORAGE_EMULATOR_HOST") or os.environ.get("API_ENDPOINT_OVERRIDE")
    if emulator:
        return urlsplit(emulator if "://" in emulator else "http://" + emulator).netloc.lower() == netloc
    return False


def _base_for(url: str) -> str:
    """The JSON API base URL for a request's host (virtual-hosted XML goes to the main endpoint)."""
    parts = urlsplit(url)
    google = _GOOGLE_STORAGE_HOST.match(parts.netloc.lower())
    if google is not None and google.group("bucket"):
        return _DEFAULT_BASE
    return f"{parts.scheme}://{parts.netloc}"


# --------------------------------------------------------------------------- checking


def _check(writes: list[Write], session: Any, base: str | None) -> None:
    guards = installed_guards()
    if not guards:
        return
    for write in writes:
        if write.global_service is not None:
            for g in guards:
                g.check_global_service(_PROVIDER, write.operation, write.global_service)
            continue
        location, why = write.location, None
        if location is None:
            if write.bucket is None:
                why = "the request names no bucket (an upload session this process did not open?)"
            elif session is None or base is None:
                why = "no client to look the bucket up with"
            else:
                location, why = bucket_location(session, base, write.bucket)
        for g in guards:
            g.check_write(_PROVIDER, write.operation, write.target, location, unknown_reason=why, hint=write.hint)


def _remember_session(upload_id: str | None, bucket: str | None) -> None:
    if not upload_id or not bucket:
        return
    with _lock:
        _sessions[upload_id] = bucket
        while len(_sessions) > _MAX_SESSIONS:
            _sessions.popitem(last=False)


def _guarded_request(
    self: Any, method: str, url: str, data: Any = None, headers: Any = None, *args: Any, **kwargs: Any
) -> Any:
    writes = None
    if str(method).upper() not in _READ_METHODS:
        with _lock:
            known = dict(_sessions)
        body = data if data is not None else kwargs.get("json")
        writes = classify(method, url, body, headers, storage_host=_is_storage_host, sessions=known)
        if writes:
            _check(writes, self, _base_for(url))
    response = _original_request(self, method, url, data, headers, *args, **kwargs)
    if writes and len(writes) == 1 and response.status_code in (200, 201):
        _learn_session(writes[0], response)
    return response


def _learn_session(write: Write, response: Any) -> None:
    if write.operation in ("objects.insert (resumable upload)", "XML resumable upload (start)"):
        location = response.headers.get("Location") or response.headers.get("location") or ""
        ids = parse_qs(urlsplit(location).query).get("upload_id")
        _remember_session(ids[-1] if ids else None, write.bucket)
    elif write.operation == "XML multipart upload (initiate)":
        try:
            node = ElementTree.fromstring(response.content).find(f"{_S3_NS}UploadId")
        except ElementTree.ParseError:
            return
        _remember_session(node.text if node is not None else None, write.bucket)


# --------------------------------------------------------------------------- local signers


def _wrap_signer(original: Callable[..., Any], describe: Callable[[inspect.BoundArguments], Iterator[Any]]) -> Any:
    signature = inspect.signature(original)

    @functools.wraps(original)
    def signer(*args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        for operation, bucket_name, obj, client in describe(bound):
            write = Write(operation, bucket_name, obj)
            session = getattr(client, "_http", None) if client is not None else None
            base = getattr(getattr(client, "_connection", None), "API_BASE_URL", None) if client is not None else None
            _check([write], session, base)
        return original(*args, **kwargs)

    return signer


def _write_method(method: Any) -> bool:
    return str(method or "GET").upper() not in _READ_METHODS


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


def _upload_policy(b: inspect.BoundArguments) -> Iterator[Any]:
    bucket = b.arguments["self"]
    yield "generate_upload_policy", bucket.name, None, b.arguments.get("client") or bucket.client


def _post_policy(b: inspect.BoundArguments) -> Iterator[Any]:
    client = b.arguments["self"]
    yield "generate_signed_post_policy_v4", b.arguments["bucket_name"], b.arguments["blob_name"], client
