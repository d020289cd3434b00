"""The AWS storage guard: botocore event handlers that stop out-of-geography writes.

Design
======

**Which clients.** Handlers live on each client's own event emitter
(``client.meta.events``; botocore copies the session's emitter into every
client it creates, so session-level registration alone misses clients that
already exist). While at least one guard is installed:

* clients that already exist are found once, at install, by walking the
  garbage collector's objects (``gc.get_objects()``, ~10 ms), and so are
  botocore sessions (boto3's default session, every ``boto3.Session()``,
  plain botocore sessions); boto3's default session is also watched by name,
  since objects moved to the permanent generation by ``gc.freeze()`` are not
  in the walk (a WARNING on the ``residency`` logger says so);
* sessions created later get our ``creating-client-class`` handler from
  ``botocore.handlers.BUILTIN_HANDLERS`` (the list every new session copies);
  existing sessions get it registered directly;
* that handler adds a small mixin to the client class it is building, whose
  ``__init__`` attaches the handlers to the new client. The resource API's
  inner clients are ordinary clients and are covered the same way.

Every registration uses a ``unique_id``: installing twice, or attaching to a
client twice, is harmless. :func:`uninstall` of the last guard removes the
builtin handler and walks the objects again to unregister everything from
every client and session, including sessions created while a guard was
installed (they copied the builtin handler) and their clients; the mixin then
does nothing.

**Which events.** No single botocore event sees every path, so four carry the
checks (plus ``after-call.s3`` to keep the cache in step with CreateBucket
and DeleteBucket):

``provide-client-params``
    the caller's parameters, for API calls *and* presigning
    (``generate_presigned_post`` arrives as a ``CreateBucket``). It decides the
    target's location: the **bucket's** region for S3 (looked up with
    ``HeadBucket``'s ``x-amz-bucket-region`` header through the same client,
    so with the caller's own credentials and endpoint), the region in an
    access-point ARN, the zone id in an S3 Express bucket name, the
    ``LocationConstraint`` of ``CreateBucket`` (none means us-east-1), and
    parameters that name destination regions or buckets (DynamoDB
    ``ReplicaUpdates``, replication rules, logging targets, ``*Region`` keys).
    Runs before any other parameter handler, so a ``Stubber`` only needs the
    ``HeadBucket`` response queued first.
``before-endpoint-resolution.s3``
    routes a write to the bucket's own regional endpoint when the client is
    configured for another region (a us-east-1 default writing to an EU
    bucket), so the body never travels to the wrong region first. It also
    sees botocore's S3 redirector re-resolving after a 301/400 that names
    another region: that region is checked before the request is re-sent
    (and followed when inside).
``before-sign``
    every attempt, including retries, S3 301 redirects and presigned URLs and
    POSTs: the host the request is about to go to (its region for AWS
    endpoints, the signing region otherwise) must be inside the geography.
    ``before-call`` is not used: a ``Stubber`` answers there (nothing is
    sent), and every request that is sent is signed first.

**What counts as a write.** Everything but reads: operations named
``Get*``, ``List*``, ``Describe*``, ``Head*``, ``BatchGet*``, ``Query``,
``Scan``, ``Select*``, ``Search*``, ``Lookup*``, ``Filter*``, ``Download*``,
``ReceiveMessage`` and S3 Express's ``CreateSession`` pass. Deletes are
mutating calls and are checked like writes (a policy waiver lets clean-up
through). An S3 presigned URL whose method was changed to PUT/POST is a write. Global control-plane services (IAM, STS,
Organizations, Route 53, CloudFront …) pass unless the policy denies them.

**Loopback endpoints** (moto server, MinIO, LocalStack on 127.0.0.1 /
localhost) are not a location: for S3 the bucket's reported region decides;
for other services the signing region does.

**Fail closed.** When a bucket's region cannot be learned (``AccessDenied``
without the header, a timeout, a multi-region access point whose regions are
not all known), the guard reports the write as unknown, which blocks it in
enforce mode with the reason. Lookups are cached per endpoint and bucket for
the guard's ``cache_ttl``; failures are never cached; concurrent lookups of the
same bucket wait for one request.
"""

from __future__ import annotations

import functools
import gc
import logging
import re
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

import botocore.client
import botocore.handlers
import botocore.session
from botocore.exceptions import BotoCoreError, ClientError

from residency._errors import ResidencyViolation

from ._regions import REGION

__all__ = [
    "RegionCache",
    "bucket_location",
    "install",
    "installed_guards",
    "is_read_operation",
    "region_cache",
    "uninstall",
]

_UID = "residency-guard"
_PROVIDER = "aws"

_READ_PREFIXES = (
    "Get",
    "List",
    "Describe",
    "Head",
    "BatchGet",
    "Query",
    "Scan",
    "Select",
    "Search",
    "Lookup",
    "Filter",
    "Download",
)
# S3 Express's CreateSession only mints credentials for the bucket; the write
# that follows is checked on its own.
_READ_OPERATIONS = frozenset({"ReceiveMessage", "CreateSession"})
# DynamoDB's PartiQL calls: reads when every statement is a SELECT.
_PARTIQL = frozenset({"ExecuteStatement", "BatchExecuteStatement", "ExecuteTransaction"})

# Endpoint prefixes of AWS's global control-plane services (botocore's
# endpoints.json marks most with isRegionalized=false; STS, Route 53 Domains
# and Global Accelerator are global too even where regional endpoints exist).
_GLOBAL_SERVICES = frozenset(
    {
        "account",
        "billingconductor",
        "budgets",
        "ce",
        "chime",
        "cloudfront",
        "globalaccelerator",
        "health",
        "iam",
        "importexport",
        "networkmanager",
        "notifications-contacts",
        "organizations",
        "route53",
        "route53domains",
        "savingsplans",
        "shield",
        "sts",
        "support",
        "tax",
        "waf",
    }
)

_DIRECTORY_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]*--(?P<zone>[a-z0-9-]+)--x-s3$")


def _aws_domains() -> tuple[str, ...]:
    """Every partition's DNS suffixes, from botocore's own data (a new partition is covered when it ships)."""
    known = {".amazonaws.com", ".amazonaws.com.cn", ".api.aws", ".c2s.ic.gov", ".sc2s.sgov.gov"}
    try:
        import botocore.loaders

        data = botocore.loaders.create_loader().load_data("partitions")
        for part in data.get("partitions", []):
            outputs = part.get("outputs", {})
            for key in ("dnsSuffix", "dualStackDnsSuffix"):
                if isinstance(outputs.get(key), str) and outputs[key]:
                    known.add("." + outputs[key].lower().lstrip("."))
    except Exception:  # an old botocore without the file keeps the built-in list
        pass
    return tuple(sorted(known, key=len, reverse=True))


_AWS_DOMAINS = _aws_domains()
# Parameter keys whose string value names a region data is written to.
_REGION_KEY = re.compile(r"region(?:name)?(?:s|list)?$", re.IGNORECASE)
_DESTINATION_PATH = re.compile(
    r"destination|target|replica|replication|output|export|result|report|delivery|logging", re.IGNORECASE
)
# Where a parameter names what is read, not written (a copy's source, a job's input).
_SOURCE_KEY = re.compile(r"source|input", re.IGNORECASE)
# Members that may hold the ARN of where data goes (a state machine, an event
# bus, an SNS subscription's endpoint, a DynamoDB table in a transaction): a
# regional ARN there names a location.
_ARN_MEMBER = re.compile(r"(?:arns?|endpoint|eventbusname|tablename)$", re.IGNORECASE)
# Services whose ARNs name what a call uses, not where it writes data: keys,
# roles, certificates, parameters, images (and global services).
_REFERENCE_ARN_SERVICES = frozenset(
    {"acm", "acm-pca", "cloudfront", "ecr", "iam", "kms", "organizations", "route53", "secretsmanager", "ssm", "sts"}
)
# Parameters that name a destination bucket under a generic key, per operation.
_BUCKET_PARAMS = {
    ("logs", "CreateExportTask"): "destination",
    ("ec2", "CreateStoreImageTask"): "Bucket",
    ("ec2", "CreateSpotDatafeedSubscription"): "Bucket",
    ("redshift", "EnableLogging"): "BucketName",
}
# Keys whose value is a bucket name data is written to, wherever they appear.
_BUCKET_KEYS = frozenset({"targetbucket", "s3bucket", "s3bucketname", "destinationbucket"})
# A bucket key (any case: ``Bucket``, ``bucketName``, ``OutputS3BucketName``) names
# where data goes when it or its path says so: an output, a log or delivery
# bucket, an action's or a storage configuration's bucket. Elsewhere it is an
# input (Rekognition's image, CodeDeploy's revision).
_BUCKET_KEY = re.compile(r"bucket(?:name)?$", re.IGNORECASE)
_BUCKET_DESTINATION = re.compile(_DESTINATION_PATH.pattern + r"|deliver|log|action|storage", re.IGNORECASE)
_TARGET_KEYS = (
    "TableName",
    "GlobalTableName",
    "QueueUrl",
    "TopicArn",
    "TargetArn",
    "StreamARN",
    "StreamName",
    "DeliveryStreamName",
    "FunctionName",
    "SecretId",
    "KeyId",
    "LogGroupName",
    "ResourceArn",
    "stateMachineArn",
    "Name",
)


def is_read_operation(operation: str) -> bool:
    """Whether an AWS operation only reads (and so is never an export)."""
    hit = _read_memo.get(operation)
    if hit is None:
        hit = _read_memo[operation] = operation.startswith(_READ_PREFIXES) or operation in _READ_OPERATIONS
        if len(_read_memo) > 4096:
            _read_memo.clear()
    return hit


_read_memo: dict[str, bool] = {}


# --------------------------------------------------------------------------- guards


_lock = threading.RLock()
# Replaced, never mutated, so handlers read it without taking the lock.
_guards: tuple[Any, ...] = ()
_sessions: weakref.WeakSet[Any] = weakref.WeakSet()
_warned_frozen = False
_clients: weakref.WeakSet[Any] = weakref.WeakSet()


def installed_guards() -> tuple[Any, ...]:
    """The guards whose AWS hooks are installed, oldest first."""
    return _guards


def install(guard: Any) -> None:
    """Start checking botocore writes against ``guard`` (idempotent)."""
    global _guards
    with _lock:
        if any(g is guard for g in _guards):
            return
        first = not _guards
        _guards = (*_guards, guard)
        region_cache.clear()
        _allowed.clear()
        _allowed_all.clear()
        if first:
            _start()


def uninstall(guard: Any) -> None:
    """Stop checking against ``guard``; the last one out removes every hook."""
    global _guards
    with _lock:
        if not any(g is guard for g in _guards):
            return
        _guards = tuple(g for g in _guards if g is not guard)
        region_cache.clear()
        _allowed.clear()
        _allowed_all.clear()
        if not _guards:
            _stop()


def _botocore_objects() -> Iterator[tuple[bool, Any]]:
    """``(is_session, obj)`` for every botocore session and client alive in the process."""
    # type(), not isinstance(): weakref proxies to clients pass isinstance.
    kinds: dict[type, bool | None] = {}
    for obj in gc.get_objects():
        cls = type(obj)
        try:
            is_session = kinds[cls]
        except KeyError:
            is_session = kinds[cls] = (
                True
                if issubclass(cls, botocore.session.Session)
                else False
                if issubclass(cls, botocore.client.BaseClient)
                else None
            )
        if is_session is not None:
            yield is_session, obj


def _start() -> None:
    global _warned_frozen
    if _BUILTIN not in botocore.handlers.BUILTIN_HANDLERS:
        botocore.handlers.BUILTIN_HANDLERS.append(_BUILTIN)
    for is_session, obj in _botocore_objects():
        try:
            if is_session:
                _watch_session(obj)
            else:
                _attach(obj)
        except AttributeError:
            # Half-built in another thread (its __init__ has not set meta yet);
            # a client class built from now on gets the mixin.
            continue
    # boto3's default session by name: the walk cannot see objects that
    # gc.freeze() moved to the permanent generation.
    boto3 = sys.modules.get("boto3")
    default = getattr(getattr(boto3, "DEFAULT_SESSION", None), "_session", None)
    if isinstance(default, botocore.session.Session) and default not in _sessions:
        _watch_session(default)
    if gc.get_freeze_count() and not _warned_frozen:
        _warned_frozen = True
        logging.getLogger("residency").warning(
            "residency: gc.freeze() hid %d objects from the guard; botocore clients and sessions created "
            "before the freeze (other than boto3's default session) are not guarded",
            gc.get_freeze_count(),
        )


def _stop() -> None:
    while _BUILTIN in botocore.handlers.BUILTIN_HANDLERS:
        botocore.handlers.BUILTIN_HANDLERS.remove(_BUILTIN)
    for session in list(_sessions):
        _unwatch(session)
    _sessions.clear()
    for client in list(_clients):
        _detach(client)
    _clients.clear()
    # Every session and client, not only those tracked: sessions created while
    # a guard was installed copied our builtin handler (without a unique id),
    # and their clients copied it from them.
    for is_session, obj in _botocore_objects():
        try:
            if is_session:
                _unwatch(obj)
            else:
                _detach(obj)
        except AttributeError:
            continue


def _watch_session(session: Any) -> None:
    session.register("creating-client-class", _on_creating_client_class, unique_id=f"{_UID}-class")
    _sessions.add(session)


def _unwatch(emitter: Any) -> None:
    """Remove our class handler from a session or a client's emitter (by id, and as copied without one)."""
    emitter.unregister("creating-client-class", unique_id=f"{_UID}-class")
    emitter.unregister("creating-client-class", _on_creating_client_class)


class _GuardedClient:
    """Mixin added to client classes built while a guard is installed."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if _guards:
            _attach(self)


def _on_creating_client_class(base_classes: list[type], **kwargs: Any) -> None:
    if _GuardedClient not in base_classes:
        base_classes.insert(0, _GuardedClient)


_BUILTIN = ("creating-client-class", _on_creating_client_class)

_EVENTS = (
    ("provide-client-params", "params"),
    ("before-endpoint-resolution.s3", "endpoint"),
    ("before-sign", "sign"),
    ("after-call.s3.CreateBucket", "after-CreateBucket"),
    ("after-call.s3.DeleteBucket", "after-DeleteBucket"),
)


def _attach(client: Any) -> None:
    with _lock:
        if not _guards:
            return
        hooks = _ClientHooks(client)
        events = client.meta.events
        events.register_first("provide-client-params", hooks.on_params, unique_id=f"{_UID}-params")
        # Last, so botocore's own builtin customisations (global endpoint for
        # presigning, its redirect cache) cannot undo the routing.
        events.register_last(
            "before-endpoint-resolution.s3", hooks.on_endpoint_resolution, unique_id=f"{_UID}-endpoint"
        )
        events.register("before-sign", hooks.on_before_sign, unique_id=f"{_UID}-sign")
        for operation in ("CreateBucket", "DeleteBucket"):
            events.register(f"after-call.s3.{operation}", hooks.on_after_call, unique_id=f"{_UID}-after-{operation}")
        _clients.add(client)


def _detach(client: Any) -> None:
    events = client.meta.events
    for event, suffix in _EVENTS:
        events.unregister(event, unique_id=f"{_UID}-{suffix}")
    _unwatch(events)  # copied from its session's emitter when the client was created


# --------------------------------------------------------------------------- reporting

# (guard id, location, target) -> until when an "allowed" decision is reused.
# Only allowed decisions are kept: every violation is decided (and reported)
# afresh. Cleared whenever a guard comes or goes.
_allowed: dict[tuple[int, str | None, str], float] = {}
_allowed_all: dict[tuple[str | None, str], float] = {}
_ALLOWED_TTL = 60.0


def _report(
    operation: str,
    target: str,
    location: str | None,
    *,
    unknown_reason: str | None = None,
    hint: str | None = None,
    context: dict[str, Any] | None = None,
) -> None:
    """Ask every installed guard about one write; raise the first enforce violation."""
    guards = _guards
    if not guards:
        return
    now = time.monotonic()
    if location is not None and _allowed_all.get((location, target), 0.0) > now:
        return  # every guard allowed this very write a moment ago
    if context is not None:
        seen: set[tuple[str, str, str | None]] = context.setdefault("residency_seen", set())
        key = (operation, target, location or unknown_reason)
        if key in seen:
            return
        seen.add(key)
    first: ResidencyViolation | None = None
    everyone = location is not None
    for g in guards:
        memo = (id(g), location, target)
        if location is not None and _allowed.get(memo, 0.0) > now:
            continue
        try:
            decision = g.check_write(
                _PROVIDER,
                operation,
                target,
                location,
                unknown_reason=unknown_reason,
                hint=hint,
                resources=_aliases(target),
            )
        except ResidencyViolation as exc:
            everyone = False
            if first is None:
                first = exc
            continue
        if location is not None and decision is not None and decision.allowed:
            _allowed[memo] = now + min(float(g.cache_ttl), _ALLOWED_TTL)
        else:
            everyone = False
    if len(_allowed) > _MAX_ENTRIES or len(_allowed_all) > _MAX_ENTRIES:
        _allowed.clear()
        _allowed_all.clear()
    if everyone:
        _allowed_all[(location, target)] = now + min(min(float(g.cache_ttl) for g in guards), _ALLOWED_TTL)
    if first is not None:
        if context is not None:
            context["residency_blocked"] = True
        raise first


def _aliases(target: str) -> tuple[str, ...]:
    """Other names of a target for waivers: the bucket ARN and the bare name for ``s3://bucket``."""
    if target.startswith("s3://"):
        bucket = target[5:].split(" ", 1)[0]
        return (f"arn:aws:s3:::{bucket}", bucket)
    return ()


def _report_global(operation: str, service: str, context: dict[str, Any]) -> None:
    if context.get("residency_global_checked"):
        return
    context["residency_global_checked"] = True
    first: ResidencyViolation | None = None
    for g in installed_guards():
        try:
            g.check_global_service(_PROVIDER, operation, service)
        except ResidencyViolation as exc:
            if first is None:
                first = exc
    if first is not None:
        raise first


# --------------------------------------------------------------------------- region cache


class RegionCache:
    """Bucket → region answers, trusted for a TTL; thread-safe, no negative caching.

    Concurrent lookups of the same key wait for the first one, so a burst of
    writes to a new bucket costs one request.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, str], tuple[str, float]] = {}
        self._key_locks: dict[tuple[str, str], threading.Lock] = {}
        self.lookups = 0

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._key_locks.clear()
            self.lookups = 0

    def get(self, key: tuple[str, str]) -> str | None:
        with self._lock:
            hit = self._entries.get(key)
            if hit is None:
                return None
            if hit[1] < time.monotonic():
                del self._entries[key]
                return None
            return hit[0]

    def put(self, key: tuple[str, str], region: str, ttl: float) -> None:
        if ttl <= 0:
            return
        with self._lock:
            now = time.monotonic()
            if len(self._entries) >= _MAX_ENTRIES:
                self._entries = {k: v for k, v in self._entries.items() if v[1] >= now}
                if len(self._entries) >= _MAX_ENTRIES:
                    self._entries.clear()
            self._entries[key] = (region, now + ttl)

    def forget(self, key: tuple[str, str]) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def lookup(
        self,
        key: tuple[str, str],
        ttl: Callable[[], float],
        fetch: Callable[[], tuple[str | None, str | None]],
    ) -> tuple[str | None, str | None]:
        """The cached region, or ``fetch()``'s ``(region, why_unknown)`` (cached only on success)."""
        # Lock-free fast path: a dict read is atomic.
        entry = self._entries.get(key)
        if entry is not None and entry[1] >= time.monotonic():
            return entry[0], None
        with self._lock:
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            hit = self.get(key)
            if hit is not None:
                return hit, None
            with self._lock:
                self.lookups += 1
            try:
                region, why = fetch()
                if region:
                    self.put(key, region, ttl())
            finally:
                with self._lock:
                    self._key_locks.pop(key, None)
            return region, why


_MAX_ENTRIES = 50_000

#: The process-wide cache (cleared whenever a guard is installed or removed).
region_cache = RegionCache()


def _ttl() -> float:
    guards = installed_guards()
    return min((float(g.cache_ttl) for g in guards), default=0.0)


# --------------------------------------------------------------------------- endpoints


@functools.lru_cache(maxsize=4096)
def _host_region(host: str) -> tuple[bool, str | None, str | None]:
    """``(is_aws_host, region, why_unknown)`` for an endpoint host name."""
    host = host.lower().rstrip(".")
    if not host.endswith(_AWS_DOMAINS):
        return False, None, None
    labels = host.split(".")
    # From the right: in virtual-hosted style the leftmost label is the bucket,
    # and a bucket may be named like a region.
    for i, label in reversed(list(enumerate(labels))):
        if REGION.match(label) and i > 0:
            return True, label, None
        if label.startswith("s3-") and REGION.match(label[3:]):
            return True, label[3:], None
        if label in ("s3-external-1",):
            return True, "us-east-1", None
        if label == "s3-accelerate":
            return True, None, "S3 Transfer Acceleration sends the body through edge locations worldwide"
        if label == "s3-global":
            return True, None, "a multi-region access point endpoint may send the body to any of its regions"
        if label == "endpoint" and labels[i + 1 : i + 2] == ["events"]:
            return True, None, "an EventBridge global endpoint fails events over to its secondary region"
        if label == "queue" and i > 0 and REGION.match(labels[i - 1]):
            return True, labels[i - 1], None  # legacy SQS queue URL: <region>.queue.amazonaws.com
        if label == "s3" or label.startswith(("s3-", "s3.")):
            break  # left of the S3 service label is the bucket (virtual-hosted style), not a region
    if host == "queue.amazonaws.com":
        return True, "us-east-1", None
    if host in ("s3.amazonaws.com",) or host.endswith(".s3.amazonaws.com"):
        return True, "us-east-1", None
    return True, None, None


def _custom_endpoint(client: Any) -> bool:
    return _is_custom_url(str(client.meta.endpoint_url))


@functools.lru_cache(maxsize=1024)
def _is_custom_url(url: str) -> bool:
    return not _host_region(_host(url))[0]


def _url_region(url: str) -> tuple[bool, str | None, str | None]:
    """:func:`_host_region` of a URL's host."""
    return _netloc_region(url.split("/", 3)[2]) if "://" in url else (False, None, None)


@functools.lru_cache(maxsize=4096)
def _netloc_region(netloc: str) -> tuple[bool, str | None, str | None]:
    return _host_region(_netloc_host(netloc))


def _host(url: str) -> str:
    """The host name of a URL (lower case, no port or user info)."""
    if "://" not in url:
        return ""
    return _netloc_host(url.split("/", 3)[2])


@functools.lru_cache(maxsize=4096)
def _netloc_host(netloc: str) -> str:
    return urlsplit(f"//{netloc}").hostname or ""


def _scope(client: Any) -> str:
    """Cache scope: the partition for AWS endpoints, the URL for anything else."""
    url = str(client.meta.endpoint_url)
    return url if _is_custom_url(url) else str(client.meta.partition)


# --------------------------------------------------------------------------- S3 targets


def _parse_arn(arn: str) -> tuple[str, str, str] | None:
    """``(service, region, resource)`` of an ARN, or None."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn":
        return None
    return parts[2], parts[3], parts[5]


def _head_bucket_region(client: Any, bucket: str) -> tuple[str | None, str | None]:
    try:
        response = client.head_bucket(Bucket=bucket)
    except ClientError as exc:
        meta = exc.response.get("ResponseMetadata", {})
        region = meta.get("HTTPHeaders", {}).get("x-amz-bucket-region") or exc.response.get("Error", {}).get("Region")
        if region:
            return str(region), None
        err = exc.response.get("Error", {})
        code = err.get("Code") or meta.get("HTTPStatusCode") or "an error"
        return None, (
            f"HeadBucket answered {code}"
            + (f" ({err['Message']})" if err.get("Message") else "")
            + " without an x-amz-bucket-region header"
        )
    except BotoCoreError as exc:
        return None, f"HeadBucket failed: {exc}"
    region = response.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("x-amz-bucket-region")
    if not region:
        return None, "HeadBucket answered without an x-amz-bucket-region header"
    return str(region), None


_mrap_clients: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()
_s3_clients: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


def _sibling_client(client: Any, service: str, region: str | None, cache: Any) -> Any:
    """A client for ``service`` with ``client``'s credentials and (custom) endpoint."""
    with _lock:
        hit = cache.get(client)
        if hit is not None:
            return hit
    from botocore.config import Config

    session = botocore.session.Session()
    # The caller's own credentials object (refreshable ones keep refreshing).
    session._credentials = getattr(client._request_signer, "_credentials", None)
    kwargs: dict[str, Any] = {"region_name": region or client.meta.region_name}
    if _custom_endpoint(client):
        kwargs["endpoint_url"] = client.meta.endpoint_url
        kwargs["config"] = Config(s3={"addressing_style": "path"})
    new = session.create_client(service, **kwargs)
    with _lock:
        cache[client] = new
    return new


def _s3_client_for(client: Any) -> Any:
    if client.meta.service_model.service_name == "s3":
        return client
    return _sibling_client(client, "s3", None, _s3_clients)


def _mrap_member_region(client: Any, member: Mapping[str, Any]) -> str | None:
    """A member bucket's own region (HeadBucket), else the region S3 Control lists."""
    bucket = member.get("Bucket")
    if isinstance(bucket, str) and bucket:
        regions, _ = bucket_location(client, bucket)
        if len(regions) == 1:
            return regions[0]
    listed = member.get("Region")
    return str(listed) if listed else None


def _mrap_regions(client: Any, account: str, alias: str) -> tuple[list[str] | None, str | None]:
    """The regions of a multi-region access point, via S3 Control in us-west-2."""
    try:
        control = _sibling_client(client, "s3control", "us-west-2", _mrap_clients)
        token: str | None = None
        while True:
            kw: dict[str, Any] = {"AccountId": account}
            if token:
                kw["NextToken"] = token
            page = control.list_multi_region_access_points(**kw)
            for ap in page.get("AccessPoints", []):
                if ap.get("Alias") == alias:
                    regions = [_mrap_member_region(client, r) for r in ap.get("Regions", [])]
                    if not regions or not all(regions):
                        return None, f"the regions of multi-region access point {alias} are not all known"
                    return [str(r) for r in regions], None
            token = page.get("NextToken")
            if not token:
                return None, f"multi-region access point {alias} not found in account {account}"
    except (ClientError, BotoCoreError) as exc:
        return None, f"cannot list the regions of multi-region access point {alias}: {exc}"


def bucket_location(client: Any, bucket: str) -> tuple[list[str], str | None]:
    """Where a bucket (name, ARN or S3 Express name) stores data.

    Returns ``(regions, why_unknown)``: a list of region or zone codes, or an
    empty list and the reason the location cannot be established.
    """
    parsed = _parse_arn(bucket)
    if parsed is not None:
        service, region, resource = parsed
        if service == "s3-outposts":
            return [], "S3 on Outposts stores data on the Outpost, whose country cannot be established"
        if region:
            return [region], None
        if service == "s3" and resource.startswith("accesspoint/") and resource.endswith(".mrap"):
            account = bucket.split(":")[4]
            alias = resource.split("/", 1)[1]
            key = ("mrap:" + _scope(client), bucket)
            cached = region_cache.get(key)
            if cached is not None:
                return cached.split(","), None
            with _lock:
                region_cache.lookups += 1
            regions, why = _mrap_regions(client, account, alias)
            if regions is None:
                return [], why
            region_cache.put(key, ",".join(regions), _ttl())
            return regions, None
        if service == "s3" and not resource.startswith(("accesspoint/", "outpost/")):
            return bucket_location(client, resource.split("/", 1)[0])
        return [], f"the ARN {bucket} names no region"
    m = _DIRECTORY_BUCKET.match(bucket)
    if m:
        return [m.group("zone")], None
    s3 = _s3_client_for(client)
    found, why = region_cache.lookup((_scope(s3), bucket), _ttl, lambda: _head_bucket_region(s3, bucket))
    return ([found], None) if found else ([], why)


# --------------------------------------------------------------------------- parameters


def _target(service: str, params: Mapping[str, Any], keys: tuple[str, ...] = _TARGET_KEYS) -> str:
    """What a call writes to: the first of ``keys`` (default: every target key) it names."""
    for key in keys:
        value = params.get(key)
        if isinstance(value, str) and value:
            if value.startswith("arn:") or "://" in value:
                return value
            return f"{service}:{value}"
    return service


def _partiql_reads(params: Mapping[str, Any]) -> bool:
    """Whether a DynamoDB PartiQL call (ExecuteStatement, BatchExecuteStatement, ExecuteTransaction) only selects.

    Every statement must be a string starting with ``SELECT``; anything else
    (an INSERT among SELECTs, an entry that is not a statement) is a write.
    """
    texts: list[object] = [params["Statement"]] if "Statement" in params else []
    for key in ("Statements", "TransactStatements"):
        for entry in params.get(key) or ():
            texts.append(entry.get("Statement") if isinstance(entry, Mapping) else None)
    return bool(texts) and all(isinstance(t, str) and t.lstrip().upper().startswith("SELECT") for t in texts)


def _resource_region(target: str) -> str | None:
    """The region an ARN or AWS URL names, if any."""
    if target.startswith("arn:"):
        parsed = _parse_arn(target)
        return parsed[1] if parsed and parsed[1] else None
    if "://" in target:
        is_aws, region, _ = _host_region(_host(target))
        return region if is_aws else None
    return None


def _walk(value: Any, shape: Any, path: str = "") -> Iterator[tuple[str, str, str]]:
    """``(path, key, value)`` for every string leaf the input shape declares.

    Guided by the operation's input shape: only modelled structure members
    are visited. Maps are skipped (their keys are the caller's own: tags,
    DynamoDB items, message attributes), and so are ``Delete`` entries and
    source/input members.
    """
    kind = getattr(shape, "type_name", None)
    if kind == "structure" and isinstance(value, Mapping):
        members = shape.members
        for k, v in value.items():
            member = members.get(k) if isinstance(k, str) else None
            if member is None or k == "Delete" or _SOURCE_KEY.search(k):
                continue
            sub = f"{path}.{k}" if path else k
            if isinstance(v, str):
                yield sub, k, v
            else:
                yield from _walk(v, member, sub)
    elif kind == "list" and isinstance(value, list | tuple):
        key = path.rsplit(".", 1)[-1].split("[", 1)[0]
        for i, v in enumerate(value):
            sub = f"{path}[{i}]"
            if isinstance(v, str):
                yield sub, key, v
            else:
                yield from _walk(v, shape.member, sub)


def _destinations(params: Mapping[str, Any], shape: Any) -> Iterator[tuple[str, str]]:
    """``(parameter path, region/ARN/bucket)`` for parameters that name where data goes.

    Only what the parameter names: a ``*Region``/``*RegionName(s)``/``*RegionList``
    key, an ARN or ``s3://`` URI under a destination/target/replica/output/export
    key, a bucket key of any case (``Bucket``, ``bucketName``, ``OutputBucketName``)
    whose path also names a destination, log, delivery, action or storage, and keys
    that always name a destination bucket (``TargetBucket``, ``S3Bucket`` …).
    Source and input parameters, and ``Delete`` entries, are not destinations.
    """
    for path, key, value in _walk(params, shape):
        if _REGION_KEY.search(key):
            region = value.strip().lower()  # "US-EAST-1" must not slip past the pattern
            if REGION.match(region):
                yield path, region
        elif (
            (value.startswith(("arn:", "s3://")) and _DESTINATION_PATH.search(path))
            or _regional_data_arn(value)
            or key.lower() in _BUCKET_KEYS
            or (_BUCKET_KEY.search(key) and _BUCKET_DESTINATION.search(path))
        ):
            yield path, value


def _regional_data_arn(value: str) -> bool:
    """Whether ``value`` is the ARN of a regional resource that holds data (a queue, a stream …)."""
    parsed = _parse_arn(value)
    return parsed is not None and bool(parsed[1]) and parsed[0] not in _REFERENCE_ARN_SERVICES


_shape_memo: dict[tuple[str, str], bool] = {}


def _may_name_destinations(model: Any) -> bool:
    """Whether an operation's input shape has any member :func:`_destinations` looks at.

    Decided once per operation from the service model, so ``PutObject`` and
    ``PutItem`` never walk their parameters.
    """
    key = (str(model.service_model.service_name), str(model.name))
    hit = _shape_memo.get(key)
    if hit is not None:
        return hit
    seen: set[str] = set()
    # The call's own target (PutItem's TableName), when it is the only target
    # key at the top: on_params checks it already.
    own = [k for k in _TARGET_KEYS if k in model.input_shape.members] if model.input_shape else []
    target = own[0] if len(own) == 1 else None

    def visit(shape: Any, top: bool) -> bool:
        # botocore builds a new shape object per reference: dedupe by name
        # (recursive shapes such as DynamoDB's AttributeValue).
        if shape is None or shape.name in seen:
            return False
        seen.add(shape.name)
        kind = shape.type_name
        if kind == "structure":
            for name, member in shape.members.items():
                if _SOURCE_KEY.search(name) or name == "Delete" or (top and name == target):
                    continue
                if (
                    _REGION_KEY.search(name)
                    or name.lower() in _BUCKET_KEYS
                    or _DESTINATION_PATH.search(name)
                    or _ARN_MEMBER.search(name)
                    # a nested bucket (its path may name a destination); S3's own
                    # top-level ``Bucket`` is the call's target, checked already
                    or (_BUCKET_KEY.search(name) and not (top and name == "Bucket"))
                    or visit(member, False)
                ):
                    return True
        elif kind == "list":
            return visit(shape.member, False)
        return False  # maps are not walked: their keys are the caller's

    result = visit(model.input_shape, True)
    _shape_memo[key] = result
    return result


# --------------------------------------------------------------------------- handlers


class _ClientHooks:
    """The handlers registered on one client (holding it weakly)."""

    def __init__(self, client: Any) -> None:
        self._client = weakref.ref(client)
        model = client.meta.service_model
        self.service = str(model.service_name)
        self.endpoint_prefix = str(model.endpoint_prefix)
        self.is_s3 = self.service == "s3"
        self.is_global = self.endpoint_prefix in _GLOBAL_SERVICES or self.service in _GLOBAL_SERVICES
        # A client's endpoint and region never change: decide once where its
        # requests go (the host's region for AWS endpoints, else the signing region).
        self.scope = _scope(client)
        self._walks: dict[str, bool] = {}
        self._target_keys: dict[str, tuple[str, ...]] = {}
        is_aws, host_region, _ = _host_region(_host(str(client.meta.endpoint_url)))
        self.region = str(host_region if is_aws and host_region else client.meta.region_name)
        # The region the client was configured with, without FIPS pseudo-region spelling.
        configured = str(client.meta.region_name or "")
        self.configured_region = configured.removeprefix("fips-").removesuffix("-fips")
        # Requests to the client's own AWS endpoint go to ``self.region``: the
        # region this call was already checked for at provide-client-params.
        own = str(client.meta.endpoint_url).rstrip("/") + "/"
        self._own_url = own if is_aws and host_region == self.region and not self.is_s3 else None

    def _may_walk(self, model: Any) -> bool:
        walk = self._walks[model.name] = _may_name_destinations(model)
        return walk

    # -- provide-client-params: the caller's parameters ----------------------------------

    def on_params(self, params: Mapping[str, Any], model: Any, context: dict[str, Any], **kw: Any) -> None:
        if not _guards or not (type(params) is dict or isinstance(params, Mapping)):
            return
        client = self._client()
        if client is None:
            return
        operation = model.name
        presign = context.get("is_presign_request", False)
        if self.is_s3 and presign and operation == "CreateBucket" and "CreateBucketConfiguration" not in params:
            # generate_presigned_post serialises as CreateBucket: it hands out an
            # upload into an existing bucket, so the bucket's region decides.
            operation = "presigned POST"
            context["residency_operation"] = operation
        if self.service == "dynamodb" and operation in _PARTIQL and _partiql_reads(params):
            context["residency_read"] = True  # PartiQL SELECTs only: a read, also at before-sign
            return
        if is_read_operation(operation):
            if self.is_s3 and presign and isinstance(params.get("Bucket"), str):
                # A presigned URL's method can be changed (HttpMethod="PUT"):
                # point it at the bucket's own region like a write.
                regions, _ = bucket_location(client, params["Bucket"])
                if len(regions) == 1 and REGION.match(regions[0]):
                    context["residency_region"] = regions[0]
            return
        label = f"{operation} (presigned URL)" if presign and operation != "presigned POST" else operation
        context["residency_operation"] = label
        # Marks this call's own context: botocore signs deep copies of it for
        # the presigned source-region URLs of EC2/RDS cross-region copies.
        context["residency_context"] = id(context)
        if self.is_global:
            _report_global(label, self.service, context)
            return
        if self.is_s3:
            if isinstance(params.get("Bucket"), str):
                self._check_bucket(client, label, operation, params, context)
        else:
            # Early, before serialisation: the client's own region. The endpoint
            # each attempt really goes to is checked again at before-sign.
            keys = self._target_keys.get(operation)
            if keys is None:
                members = model.input_shape.members if model.input_shape else {}
                keys = self._target_keys[operation] = tuple(k for k in _TARGET_KEYS if k in members)
            target = context["residency_target"] = _target(self.service, params, keys)
            _report(label, target, self.region, context=context)
            # A queue URL, topic/stream/function ARN in another region than the client's.
            named = _resource_region(target)
            if named and named != self.region:
                _report(label, target, named, context=context)
            items = params.get("RequestItems")
            if items is not None and isinstance(items, Mapping):
                # DynamoDB BatchWriteItem: tables named by ARN (map keys, not walked below).
                for table in items:
                    named = _resource_region(table) if isinstance(table, str) else None
                    if named and named != self.region:
                        _report(label, table, named, context=context)
            key = _BUCKET_PARAMS.get((self.service, operation))
            if key and isinstance(params.get(key), str):
                self._check_destination(client, label, key, params[key], context)
        if self._walks.get(operation, True) and self._may_walk(model):
            for path, value in _destinations(params, model.input_shape):
                if not self.is_s3 and value == context.get("residency_target"):
                    continue  # the call's own target (a topic, a function): checked above
                self._check_destination(client, label, path, value, context)

    def _check_bucket(
        self,
        client: Any,
        label: str,
        operation: str,
        params: Mapping[str, Any],
        context: dict[str, Any],
    ) -> None:
        bucket = str(params["Bucket"])
        target = bucket if bucket.startswith("arn:") else f"s3://{bucket}"
        context["residency_target"] = target
        context["residency_bucket"] = bucket
        entry = region_cache._entries.get((self.scope, bucket))
        if entry is not None and operation != "CreateBucket":
            now = time.monotonic()
            if entry[1] >= now:
                # Warm cache: a plain bucket name whose region is known (and, most often, just allowed).
                if _allowed_all.get((entry[0], target), 0.0) <= now:
                    _report(label, target, entry[0], context=context)
                context["residency_region"] = entry[0]
                return
        if operation == "CreateBucket":
            config = params.get("CreateBucketConfiguration") or {}
            if (
                config.get("LocationConstraint") == "EU"
                and isinstance(params, dict)
                and not context.get("is_presign_request")
            ):
                # The legacy alias of eu-west-1: name the region, so the request
                # can be routed there (a regional endpoint rejects "EU").
                config = params["CreateBucketConfiguration"] = {**config, "LocationConstraint": "eu-west-1"}
            m = _DIRECTORY_BUCKET.match(bucket)
            regions = [m.group("zone")] if m else [str(config.get("LocationConstraint") or "us-east-1")]
            location = config.get("Location")
            named = location.get("Name") if isinstance(location, Mapping) else None
            if isinstance(named, str) and named and named not in regions:
                regions.append(named)  # a directory bucket's zone, also when the name says otherwise
            why = None
        else:
            regions, why = bucket_location(client, bucket)
        if not regions:
            _report(label, target, None, unknown_reason=why, context=context)
            return
        for code in regions:
            _report(label, target, code, context=context)
        if len(regions) == 1 and REGION.match(regions[0]):
            context["residency_region"] = regions[0]
        elif len(regions) == 1:
            member = self._zone_region(regions[0])
            if member:
                context["residency_region"] = member

    @staticmethod
    def _zone_region(zone: str) -> str | None:
        from residency._catalog import lookup_location

        loc = lookup_location(_PROVIDER, zone)
        return loc.members[0] if loc.members else None

    def _check_destination(self, client: Any, label: str, path: str, value: str, context: dict[str, Any]) -> None:
        base = context.get("residency_target", self.service)
        target = f"{base} ({path})"
        parsed = _parse_arn(value)
        named = value if REGION.match(value) else parsed[1] if parsed else None
        if named and named == self.region and not self.is_s3:
            return  # the client's own region, reported for this call already
        if REGION.match(value):
            _report(label, target, value, context=context)
            return
        if parsed is None:
            # A bucket name (S3 logging's TargetBucket) or an s3:// URI.
            bucket = value[5:].split("/", 1)[0] if value.startswith("s3://") else value
            if not bucket:
                return
            regions, why = bucket_location(client, bucket)
            target = f"s3://{bucket} ({path})"
        else:
            service, region, resource = parsed
            if service.startswith("s3"):
                regions, why = bucket_location(client, value)
                if service == "s3" and not region and not resource.startswith("accesspoint/"):
                    target = f"s3://{resource.split('/', 1)[0]} ({path})"
            elif region:
                regions, why = [region], None
            else:
                return  # a global resource (an IAM role, a CloudFront distribution)
        if not regions:
            _report(label, target, None, unknown_reason=why, context=context)
        for code in regions:
            _report(label, target, code, context=context)

    # -- before-endpoint-resolution: route S3 writes to the bucket's region ----------------

    def on_endpoint_resolution(
        self, builtins: dict[str, Any], context: dict[str, Any], params: Any = None, model: Any = None, **kw: Any
    ) -> None:
        if not context:
            return
        if (
            context.get("residency_operation")
            and _guards
            and (type(params) is not dict or params.get("Bucket") != context.get("residency_bucket"))
        ):
            self._recheck_bucket(params, model, context)
        region = context.get("residency_region")
        if not region or builtins.get("SDK::Endpoint"):
            return
        chosen = builtins.get("AWS::Region")
        if chosen == region:
            return  # already the bucket's region
        target = str(context.get("residency_target") or "")
        # A region that is neither ours nor the client's configuration (presigned
        # URLs and POSTs carry no ``client_region``) comes from botocore's S3
        # redirector; once we have routed this request, any other region does
        # (a 301 may name the client's own region).
        configured = (context.get("client_region"), self.configured_region, "aws-global")
        redirected = context.get("residency_rerouted") or chosen not in configured
        if chosen not in (region, None) and redirected and target.startswith("s3://"):
            # botocore's S3 redirector learned
            # from a 301/400 that the bucket lives in ``chosen``. Report that
            # region (raises if outside) before the request is re-sent; follow
            # it when inside.
            region_cache.forget((self.scope, target[5:]))
            label = context.get("residency_operation")
            if label:
                _report(str(label), target, str(chosen), context=context)
            context["residency_region"] = chosen
            return
        if chosen != region:
            builtins["AWS::Region"] = region
            builtins["AWS::S3::UseGlobalEndpoint"] = False
            # Presigned requests ignore the resolver's signing region: sign for
            # the bucket's region explicitly so the URL works there.
            context.setdefault("signing", {})["region"] = region
            context["residency_rerouted"] = region

    def _recheck_bucket(self, params: Any, model: Any, context: dict[str, Any]) -> None:
        """The final parameters' bucket, when a handler after ours changed it.

        Handlers registered later on ``provide-client-params`` (which may return
        new parameters) or on ``before-parameter-build`` (which may edit them)
        run after the check: the bucket the request is really built for is
        checked again, before routing and before anything is sent.
        """
        if not (type(params) is dict or isinstance(params, Mapping)):
            return
        bucket = params.get("Bucket")
        if not isinstance(bucket, str) or bucket == context.get("residency_bucket"):
            return
        client = self._client()
        if client is None:
            return
        operation = str(getattr(model, "name", "") or "PutObject")
        if operation == "CreateBucket" and context.get("residency_operation") == "presigned POST":
            operation = "PutObject"
        context.pop("residency_region", None)
        self._check_bucket(client, str(context["residency_operation"]), operation, params, context)

    # -- before-sign: the endpoint every attempt goes to ------------------------------

    def on_before_sign(self, request: Any, operation_name: str, region_name: str, **kw: Any) -> None:
        if not _guards:
            return
        context: dict[str, Any] = request.context
        if context.get("residency_read"):
            return
        if not self.is_s3 and context.get("residency_context", id(context)) != id(context):
            # A copy of the call's context: the presigned URL EC2 CopySnapshot/CopyImage
            # and RDS cross-region copies embed so the destination region may read
            # from the source region. It is never sent from here; the call is
            # checked on its own request.
            return
        own = self._own_url
        if own is not None and "residency_context" in context and request.url.startswith(own):
            return  # this client's own endpoint: its region was checked with the parameters
        if "residency_operation" not in context and is_read_operation(operation_name):
            if not (self.is_s3 and context.get("is_presign_request") and request.method in ("PUT", "POST")):
                return
            # generate_presigned_url("get_object", HttpMethod="PUT") is an upload URL.
            operation_name = f"{operation_name} (presigned {request.method} URL)"
            client = self._client()
            bucket = (context.get("s3_redirect") or {}).get("bucket")
            if client is None or not isinstance(bucket, str):
                _report(operation_name, "s3", None, unknown_reason="no bucket in the presigned request")
                return
            context["residency_operation"] = operation_name
            self._check_bucket(client, operation_name, "PutObject", {"Bucket": bucket}, context)
        if self.is_s3 and "residency_region" in context:
            # The common S3 write: the host is the bucket's own region, decided at the parameters.
            is_aws, region, _ = _url_region(request.url)
            if not is_aws or (region is not None and region == context["residency_region"]):
                return
        signing = context.get("signing")
        signing_region = (signing.get("region") if signing else None) or region_name
        self._check_endpoint(context.get("residency_operation") or operation_name, request.url, signing_region, context)

    def _check_endpoint(self, operation: str, url: str, signing_region: str | None, context: dict[str, Any]) -> None:
        if self.is_global:
            _report_global(context.get("residency_operation", operation), self.service, context)
            return
        is_aws, region, why = _url_region(url)
        if self.is_s3 and not is_aws:
            return  # loopback or custom S3 endpoint: the bucket's region decided
        if region is None and why is None:
            region = signing_region
        wanted = context.get("residency_region")
        if region is not None and (
            region == wanted if self.is_s3 else region == self.region and "residency_context" in context
        ):
            # The region this call's parameters were already checked for (the
            # bucket's, or the client's own): decided, and reported, once.
            return
        label = str(operation)
        target = str(context.get("residency_target") or self.service)
        hint = None
        if self.is_s3 and wanted and region and region != wanted:
            hint = (
                f"the client would send the request to {region}, not the bucket's region {wanted}; "
                f"create the client with region_name='{wanted}' and no endpoint_url"
            )
        if region is None:
            _report(label, target, None, unknown_reason=why or f"no region in endpoint {_host(url)}", context=context)
            return
        _report(label, target, region, hint=hint, context=context)

    # -- after-call: keep the cache in step with the caller's own bucket changes ----------

    def on_after_call(self, http_response: Any, model: Any, context: dict[str, Any], **kw: Any) -> None:
        client = self._client()
        name = str(model.name)
        if client is None or name not in ("CreateBucket", "DeleteBucket"):
            return
        target = str((context or {}).get("residency_target", ""))
        if not target.startswith("s3://") or http_response is None or http_response.status_code >= 300:
            return
        key = (_scope(client), target[5:])
        region = context.get("residency_region")
        if name == "CreateBucket" and region:
            region_cache.put(key, region, _ttl())
        else:
            region_cache.forget(key)
