"""``residency scan aws``: every place an AWS account's data lands.

Reached through ``load_provider("aws").scan(context)``; only this module (and
the guard) import boto3.

Before anything is read, the request is checked: ``--regions`` must be region
codes the account's ``DescribeRegions`` knows (a typo is a :class:`ProviderError`
with a "did you mean"), ``--accounts`` 12-digit ids, ``--endpoint-url`` an http(s)
URL. Each account is then set up on the pool (``AssumeRole`` into members, with
credentials refreshed before they expire; its enabled regions).

Work units, run on a bounded thread pool (``context.concurrency``):

* one **S3** unit per account — S3 is global, so buckets are listed once;
* one **regional** unit per account and region — DynamoDB (global tables, both
  versions), RDS (instances, clusters, read replicas, global databases,
  automated-backup replication), EC2 (instances, EBS volumes, snapshots, AMIs),
  KMS, Secrets Manager, AWS Backup, ECR, and a sweep of the resource groups
  tagging API for *any* other resource in regions the policy does not allow (a
  resource in us-east-1 is a violation whatever its type) — and, when the
  policy has data classes, for resources anywhere whose data-class tag the
  region does not satisfy.

Findings flow through a bounded queue to the caller, so memory stays flat.

Bucket locations at the API-call floor: ``ListBuckets`` returns
``BucketRegion`` (used when present); buckets still unresolved are found with
one ``ListBuckets(BucketRegion=r)`` per region — the scanned regions with
``--regions`` (a bucket none of them lists is outside the scope, whatever its
region), else every enabled region — busiest first, stopping as soon as every
bucket is placed; ``HeadBucket`` only for what is left (or for every unplaced
bucket when a filtered call failed). Never one ``GetBucketLocation`` per bucket. Tags come from the tagging API
in bulk (``GetBucketTagging`` per bucket only when that API is unreadable and
the policy needs tags). Replication destinations need ``GetBucketReplication``
per bucket, so it is asked only where it can change the verdict:
``s3_replication="needed"`` (the default) skips buckets whose own region is
already a violation no waiver covers; ``"all"`` asks every bucket (complete
location lists for violating buckets too); ``"off"`` asks none (and says so in
the scan notes).

Anything unreadable (AccessDenied, a disabled opt-in region, a throttled call
that ran out of retries, an answer that does not parse) is an ``unknown``
finding with the reason: a whole region or service (``resource_id`` ending in
``:*``), an account that could not be assumed, or one resource whose details
could not be read. What is known stays known: a resource whose own region
(or any place that was read) is denied is a ``violation`` even when a secondary
read (replication rules, replicas, copy actions, tags) failed; the finding's
``error`` says what could not be read.

Every client reports to one :class:`~residency._breaker.CircuitBreaker` per
endpoint (the ``--endpoint-url``, else the region): after
``breaker_threshold`` (default 5) consecutive calls that could not connect
(each after botocore's bounded retries, ``max_attempts``), nothing more is sent
there; what was not asked is folded into one ``scope_gap`` finding per account
and service that names every bucket or scope it covers.
"""

from __future__ import annotations

import datetime as dt
import difflib
import ipaddress
import os
import queue
import re
import threading
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import attrs
import boto3
import botocore.session
from botocore.config import Config
from botocore.credentials import RefreshableCredentials
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    HTTPClientError,
    NoCredentialsError,
    ProfileNotFound,
)
from botocore.exceptions import ConnectionError as BotoConnectionError
from botocore.parsers import ResponseParserError

from residency._breaker import DEFAULT_THRESHOLD, CircuitBreaker
from residency._catalog import catalog
from residency._errors import ProviderError
from residency._findings import Finding, evaluate, unreadable
from residency._scan import ScanContext

from ._regions import REGION

__all__ = ["SERVICES", "scan"]

#: services a scan can cover (``--services``); ``tagging`` is the any-resource sweep
SERVICES = ("s3", "dynamodb", "rds", "ec2", "kms", "secretsmanager", "backup", "ecr", "tagging")

#: tagging-API resource types whose tags the regional scanners use
_TAGGED_TYPES = ["dynamodb", "rds", "ec2", "kms", "secretsmanager", "backup", "ecr"]

#: resource types of the tagging sweep whose ARNs carry no ``type/`` prefix
_BARE_TYPES = {"sns": "topic", "sqs": "queue"}

_ARN = re.compile(
    r"^arn:(?P<partition>[^:]+):(?P<service>[^:]+):(?P<region>[^:]*):(?P<account>[^:]*):(?P<resource>.*)$"
)
_ACCOUNT = re.compile(r"^\d{12}$")

_NO_REPLICATION = {"ReplicationConfigurationNotFoundError", "NoSuchReplicationConfiguration"}
_NO_TAGS = {"NoSuchTagSet", "NoSuchTagSetError"}
#: a resource deleted between listing and describing it: gone, not unreadable
_GONE = {
    "ResourceNotFoundException",
    "NotFoundException",
    "NotFoundFault",
    "DBClusterNotFoundFault",
    "GlobalClusterNotFoundFault",
    "GlobalTableNotFoundException",
}


class _CircuitOpen(BotoCoreError):  # type: ignore[misc]
    """Raised before a request is sent to an endpoint the scan has given up on."""

    fmt = "{reason}"


#: what a read can fail with: an error response, no answer, or an answer that does not parse
_READ_ERRORS = (ClientError, BotoCoreError, ResponseParserError)

_URL = re.compile(r"(https?://[^/\s\"']+)[^\s\"']*")


def _why(exc: BaseException) -> str:
    """One line saying why a call failed (error code first).

    URLs are cut to their host, so a thousand calls that failed the same way
    (one per bucket) read the same and collapse into one line of the report.
    """
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        code = err.get("Code", "ClientError")
        msg = err.get("Message", "")
        op = getattr(exc, "operation_name", "")
        return f"{code} on {op}: {msg}".strip().rstrip(":") if op else f"{code}: {msg}"
    if isinstance(exc, _CircuitOpen):
        return str(exc)
    text = (str(exc).splitlines() or [""])[0]
    if isinstance(exc, ResponseParserError):
        text = "the endpoint's answer could not be parsed (" + text[:120] + ")"
    return f"{type(exc).__name__}: {_URL.sub(_host, text)}"


def _host(m: re.Match[str]) -> str:
    return m.group(1)


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _arn_region(arn: str) -> str | None:
    m = _ARN.match(arn)
    return m.group("region") if m and m.group("region") else None


def _arn_key(arn: str) -> str:
    """An ARN without its account field: the tagging API and describe calls disagree on it
    for EBS snapshots and AMIs (``arn:aws:ec2:r::snapshot/…`` vs ``arn:aws:ec2:r:acct:snapshot/…``)."""
    m = _ARN.match(arn)
    return f"{m.group('service')}|{m.group('region')}|{m.group('resource')}" if m else arn


def _split(resource: str) -> tuple[str, str, str]:
    """``"volume/vol-1"`` → ``("volume", "/", "vol-1")``; ``"alerts"`` → ``("alerts", "", "")``."""
    m = re.search(r"[/:]", resource)
    return (resource[: m.start()], m.group(), resource[m.end() :]) if m else (resource, "", "")


def _tags(items: Iterable[Mapping[str, str]] | None) -> dict[str, str]:
    return {t["Key"]: t.get("Value", "") for t in items or ()}


def _did_you_mean(code: str, known: Iterable[str]) -> str:
    hit = difflib.get_close_matches(code, sorted(known), n=1, cutoff=0.7)
    return f" (did you mean '{hit[0]}'?)" if hit else ""


def _literal_host(endpoint_url: str) -> bool:
    """True for ``http://127.0.0.1:5000``, ``http://[::1]``, ``http://localhost``: hosts that
    cannot take the account-id prefix S3 Control puts in front of the host name."""
    host = urllib.parse.urlsplit(endpoint_url).hostname or ""
    if host == "localhost":
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _strip_account_prefix(request: Any, **_: Any) -> None:
    """``before-sign`` for S3 Control on a literal-IP endpoint: ``123456789012.127.0.0.1`` → ``127.0.0.1``."""
    parts = urllib.parse.urlsplit(request.url)
    first, dot, rest = parts.netloc.partition(".")
    if dot and _ACCOUNT.match(first):
        request.url = urllib.parse.urlunsplit(parts._replace(netloc=rest))


def check_request(ctx: ScanContext) -> None:
    """Normalise and check what ``ctx`` asks for; :class:`ProviderError` on bad input (CLI exit 2)."""
    if ctx.regions is not None:
        regions = tuple(dict.fromkeys(r.strip().lower() for r in ctx.regions if r.strip()))
        if not regions:
            raise ProviderError("--regions: no region given")
        known = [loc.code for loc in catalog().locations("aws") if loc.kind == "region"]
        for r in regions:
            if not REGION.match(r):
                raise ProviderError(f"--regions: {r!r} is not an AWS region code{_did_you_mean(r, known)}")
        ctx.regions = regions
    if ctx.accounts is not None:
        for a in ctx.accounts:
            if not _ACCOUNT.match(a):
                raise ProviderError(f"--accounts: {a!r} is not an AWS account id (12 digits)")
    endpoint = ctx.endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None
    if endpoint:
        parts = urllib.parse.urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            source = "--endpoint-url" if ctx.endpoint_url else "AWS_ENDPOINT_URL"
            raise ProviderError(f"{source}: {endpoint!r} is not an http(s) URL (e.g. http://127.0.0.1:5000)")
    if not re.match(r"^[\w+=,.@/-]{1,512}$", ctx.role_name or ""):
        raise ProviderError(f"--role-name: {ctx.role_name!r} is not an IAM role name")


@attrs.define
class _Account:
    """One account to scan, its session and a cache of thread-safe clients."""

    id: str
    session: Any
    config: Config
    endpoint_url: str | None
    regions: list[str] = attrs.field(factory=list)
    #: every enabled region (``regions`` is the part of it the scan covers)
    enabled: list[str] = attrs.field(factory=list)
    breaker: CircuitBreaker | None = None
    _clients: dict[tuple[str, str], Any] = attrs.field(factory=dict)
    _lock: threading.Lock = attrs.field(factory=threading.Lock)

    def client(self, service: str, region: str, *, local_endpoint_once: bool = False) -> Any:
        """A shared client; ``local_endpoint_once`` turns retries off when a custom endpoint is set
        (S3 Control's account-prefixed host names do not resolve on a local host name)."""
        # boto3 sessions are not thread-safe; clients are. Create under a lock, share.
        with self._lock:
            key = (service, region)
            if key not in self._clients:
                config = self.config
                if local_endpoint_once and self.endpoint_url and not _literal_host(self.endpoint_url):
                    config = config.merge(Config(retries={"mode": "standard", "total_max_attempts": 1}))
                kw: dict[str, Any] = {"region_name": region, "config": config}
                if self.endpoint_url:
                    kw["endpoint_url"] = self.endpoint_url
                try:
                    client = self.session.client(service, **kw)
                except ValueError as exc:  # botocore: "Invalid endpoint"
                    raise ProviderError(f"cannot create an AWS {service} client: {exc}") from None
                if service == "s3control" and self.endpoint_url and _literal_host(self.endpoint_url):
                    client.meta.events.register(
                        "before-sign.s3-control", _strip_account_prefix, unique_id="residency-s3control-host"
                    )
                if self.breaker is not None:
                    _watch(client, self.breaker, self.endpoint_url or region)
                self._clients[key] = client
            return self._clients[key]


def _watch(client: Any, breaker: CircuitBreaker, endpoint: str) -> None:
    """Report every call of ``client`` to ``breaker``; send nothing once ``endpoint``'s circuit is open."""

    def gate(**_: Any) -> None:
        if breaker.check(endpoint):
            raise _CircuitOpen(reason=breaker.not_asked(endpoint))

    def answered(**_: Any) -> None:
        breaker.success(endpoint)

    def failed(exception: BaseException | None = None, **_: Any) -> None:
        if isinstance(exception, (BotoConnectionError, HTTPClientError)) and not isinstance(exception, _CircuitOpen):
            breaker.failure(endpoint, type(exception).__name__, _why(exception))

    events = client.meta.events
    events.register("before-send", gate, unique_id="residency-breaker-gate")
    events.register("after-call", answered, unique_id="residency-breaker-answered")
    events.register("after-call-error", failed, unique_id="residency-breaker-failed")


class _Scanner:
    """Holds the context and builds findings for one scan."""

    def __init__(self, ctx: ScanContext) -> None:
        self.ctx = ctx
        self.policy = ctx.policy
        check_request(ctx)
        self.services = set(ctx.services or SERVICES)
        unknown = self.services - set(SERVICES)
        if unknown:
            raise ProviderError(
                f"unknown AWS service(s) {', '.join(sorted(unknown))}; choose from {', '.join(SERVICES)}"
            )
        self.config = Config(
            # botocore's standard retry mode: throttling and transient errors, 5 attempts in all
            retries={"mode": "standard", "total_max_attempts": int(ctx.options.get("max_attempts", 5))},
            max_pool_connections=max(10, ctx.concurrency * 2),
            connect_timeout=int(ctx.options.get("connect_timeout", 10)),
            read_timeout=int(ctx.options.get("read_timeout", 60)),
        )
        mode = ctx.options.get("s3_replication", "needed")
        mode = {True: "all", False: "off"}.get(mode, mode) if isinstance(mode, bool) else mode
        if mode not in ("all", "needed", "off"):
            raise ProviderError(f"s3_replication must be 'all', 'needed' or 'off', got {mode!r}")
        self.s3_replication: str = mode
        self.breaker = CircuitBreaker(threshold=int(ctx.options.get("breaker_threshold", DEFAULT_THRESHOLD)))
        self.needs_tags = bool(self.policy.data_classes) or any(w.tags for w in self.policy.waivers)
        self._lock = threading.Lock()
        self._global_clusters: dict[tuple[str, str], list[str] | str] = {}
        # per-bucket look-ups of every account share one pool, so concurrency stays bounded
        self.bucket_pool = ThreadPoolExecutor(max_workers=ctx.concurrency, thread_name_prefix="residency-s3")
        self._caller_regions: list[dict[str, Any]] | None = None

    # ------------------------------------------------------------------ helpers

    def finding(self, acct: _Account, **kw: Any) -> Finding:
        return evaluate(self.policy, provider="aws", account=acct.id, today=self.ctx.today, **kw)

    def gap(self, acct: _Account, service: str, region: str, what: str, exc: BaseException | str) -> Finding:
        error = exc if isinstance(exc, str) else _why(exc)
        scope = region or "global"
        return unreadable(
            provider="aws",
            account=acct.id,
            service=service,
            resource_type=what,
            resource_id=f"arn:aws:{service}:{region}:{acct.id}:*",
            region=region,
            error=error,
            policy=self.policy.name,
            placements=[region] if region else [],
            name=f"{what} in {scope}",
            scope_gap=True,
        )

    def item_gap(
        self,
        acct: _Account,
        service: str,
        resource_type: str,
        arn: str,
        region: str,
        what: str,
        exc: BaseException | str,
        *,
        name: str = "",
        tags: Mapping[str, str] | None = None,
        placements: list[tuple[str | None, str]] | None = None,
        decided: bool = True,
    ) -> Finding:
        """One resource listed but not fully described.

        What is known stays known: the places read so far (``placements``, else
        its region) decide a violation, and the unread part is named in the
        finding; otherwise it is ``unknown``. ``decided=False`` when the listing
        alone does not say the resource is one to judge (a KMS key that may be
        AWS-managed): then it is ``unknown`` whatever its region.
        """
        error = f"{what} unreadable: {exc if isinstance(exc, str) else _why(exc)}"
        if decided:
            return self.finding(
                acct,
                service=service,
                resource_type=resource_type,
                resource_id=arn,
                name=name,
                region=region,
                placements=placements or [(region, resource_type)],
                tags=tags,
                unread=[error],
            )
        return unreadable(
            provider="aws",
            account=acct.id,
            service=service,
            resource_type=resource_type,
            resource_id=arn,
            name=name,
            region=region,
            placements=[region],
            tags=tags,
            error=error,
            policy=self.policy.name,
        )

    def region_allowed(self, region: str) -> bool:
        return self.policy.check("aws", region).allowed

    # ------------------------------------------------------------------ accounts and regions

    def accounts(self) -> list[_Account]:
        """The accounts to scan (the caller's first); raises :class:`ProviderError` before any work."""
        profile = self.ctx.options.get("profile")
        try:
            base = self.ctx.session or boto3.Session(profile_name=profile)
        except ProfileNotFound:
            raise ProviderError(f"AWS profile {profile!r} not found in the AWS config files") from None
        endpoint = self.ctx.endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None
        home = base.region_name or "us-east-1"
        self._home = home
        # the caller's own clients (STS for AssumeRole into every member, EC2 for its regions)
        self._probe = probe = _Account("?", base, self.config, endpoint, breaker=self.breaker)
        try:
            caller = probe.client("sts", home).get_caller_identity()["Account"]
        except NoCredentialsError:
            raise ProviderError(
                "no AWS credentials found (set AWS_PROFILE, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or a role)"
            ) from None
        except _READ_ERRORS as exc:
            raise ProviderError(f"AWS credentials could not be used: {_why(exc)}") from None
        self._caller = probe.id = caller
        self._check_regions(probe)
        targets: list[str] = list(self.ctx.accounts or [])
        if self.ctx.org:
            try:
                pages = probe.client("organizations", home).get_paginator("list_accounts").paginate()
                members = [a for p in pages for a in p["Accounts"]]
            except _READ_ERRORS as exc:
                raise ProviderError(f"cannot list the AWS Organization's accounts: {_why(exc)}") from None
            targets += [a["Id"] for a in members if a.get("Status", "ACTIVE") == "ACTIVE"]
            inactive = sorted(
                f"{a['Id']} ({a.get('Status')})" for a in members if a.get("Status", "ACTIVE") != "ACTIVE"
            )
            if inactive:
                self.ctx.notes.append(
                    f"{len(inactive)} organization account(s) not active, not scanned (no role can be assumed "
                    "there): " + ", ".join(inactive)
                )
        if not targets:
            targets = [caller]
        out: list[_Account] = []
        for acct_id in dict.fromkeys(targets):
            out.append(
                probe if acct_id == caller else _Account(acct_id, None, self.config, endpoint, breaker=self.breaker)
            )
        return out

    def _check_regions(self, probe: _Account) -> None:
        """A requested region the caller's account does not know at all is a typo: stop (exit 2)."""
        try:
            self._caller_regions = probe.client("ec2", self._home).describe_regions(AllRegions=True)["Regions"]
        except _READ_ERRORS:
            self._caller_regions = None  # reported per account in regions()
            return
        known = {r["RegionName"] for r in self._caller_regions}
        for r in self.ctx.regions or ():
            if r not in known:
                raise ProviderError(f"--regions: unknown AWS region {r!r}{_did_you_mean(r, known)}")

    def assume(self, acct: _Account) -> Finding | None:
        """Give ``acct`` a session by assuming the role; an unknown finding if that fails.

        The credentials refresh themselves before they expire (an organization scan can
        outlast the one hour an assumed role lasts by default).
        """
        if acct.session is not None:
            return None
        role = f"arn:aws:iam::{acct.id}:role/{self.ctx.role_name}"
        sts = self._probe.client("sts", self._home)

        def fetch() -> dict[str, str]:
            c = sts.assume_role(RoleArn=role, RoleSessionName="eu-residency-scan")["Credentials"]
            expiry = c["Expiration"]
            return {
                "access_key": c["AccessKeyId"],
                "secret_key": c["SecretAccessKey"],
                "token": c["SessionToken"],
                "expiry_time": expiry.isoformat() if isinstance(expiry, dt.datetime) else str(expiry),
            }

        try:
            metadata = fetch()
        except _READ_ERRORS as exc:
            return unreadable(
                provider="aws",
                account=acct.id,
                service="sts",
                resource_type="account",
                resource_id=f"arn:aws:organizations::{self._caller}:account/{acct.id}",
                error=f"cannot assume {role}: {_why(exc)}",
                policy=self.policy.name,
                scope_gap=True,
            )
        core = botocore.session.get_session()
        core._credentials = RefreshableCredentials.create_from_metadata(
            metadata, refresh_using=fetch, method="sts-assume-role"
        )
        acct.session = boto3.Session(botocore_session=core, region_name=self._home)
        return None

    def regions(self, acct: _Account) -> tuple[list[str], list[Finding]]:
        """The regions to scan in ``acct`` and unknown findings for requested-but-disabled ones."""
        try:
            if acct.id == self._caller and self._caller_regions is not None:
                listed = self._caller_regions
            else:
                listed = acct.client("ec2", self._home).describe_regions(AllRegions=True)["Regions"]
        except _READ_ERRORS as exc:
            if self.ctx.regions:
                self.ctx.notes.append(f"account {acct.id}: cannot list regions ({_why(exc)}); scanning as requested")
                acct.enabled = list(self.ctx.regions)
                return list(self.ctx.regions), []
            return [], [self.gap(acct, "ec2", "", "regions", exc)]
        enabled = [r["RegionName"] for r in listed if r.get("OptInStatus", "opt-in-not-required") != "not-opted-in"]
        disabled = sorted(r["RegionName"] for r in listed if r["RegionName"] not in enabled)
        acct.enabled = sorted(enabled)
        if not self.ctx.regions:
            if disabled:
                self.ctx.notes.append(
                    f"account {acct.id}: {len(disabled)} opt-in region(s) not enabled, their regional services "
                    "cannot be read (S3 buckets placed there are still listed and judged): " + ", ".join(disabled)
                )
            return sorted(enabled), []
        # S3 is global: buckets placed in such a region are still listed, so the gap must not claim otherwise
        why = "opt-in region not enabled for this account: its regional services cannot be read" + (
            "; its S3 buckets, listed through the global S3 endpoint, are reported" if "s3" in self.services else ""
        )
        gaps = [self.gap(acct, "ec2", r, "region", why) for r in self.ctx.regions if r not in enabled]
        return [r for r in self.ctx.regions if r in enabled], gaps

    def setup(self, acct: _Account) -> tuple[bool, list[Finding]]:
        """Assume into ``acct`` and list its regions: ``(ready, unknown findings)``."""
        failed = self.assume(acct)
        if failed is not None:
            return False, [failed]
        regions, gaps = self.regions(acct)
        acct.regions = regions
        return True, gaps

    # ------------------------------------------------------------------ S3

    def s3(self, acct: _Account) -> Iterator[Finding]:
        """Every bucket with its region, replication destinations and tags; MRAPs."""
        lister = acct.client("s3", "us-east-1")
        located: dict[str, str | None] = {}
        try:
            kw: dict[str, Any] = {}
            while True:
                page = lister.list_buckets(**kw)
                for b in page.get("Buckets", []):
                    located[b["Name"]] = b.get("BucketRegion")
                token = page.get("ContinuationToken")
                if not token:
                    break
                kw = {"ContinuationToken": token}
        except _READ_ERRORS as exc:
            yield self.gap(acct, "s3", "", "buckets", exc)
            return
        # with --regions only the scanned regions are asked: a bucket none of them lists is outside the
        # scope, whatever its region; without, every enabled region (a bucket left over, e.g. in a region
        # disabled since, gets its HeadBucket)
        scoped = self.ctx.regions is not None
        # S3 is global: a requested region is asked even when it is not enabled (its buckets are still listed)
        lookup = list(self.ctx.regions or ()) if scoped else (acct.enabled or acct.regions)
        complete = True
        for region in self._s3_lookup_order(lookup):
            if all(located.values()):
                break
            try:
                kw = {"BucketRegion": region}
                while True:
                    page = lister.list_buckets(**kw)
                    for b in page.get("Buckets", []):
                        if b["Name"] in located:
                            located[b["Name"]] = region
                    token = page.get("ContinuationToken")
                    if not token:
                        break
                    kw = {"BucketRegion": region, "ContinuationToken": token}
            except _READ_ERRORS as exc:
                complete = False
                self.ctx.notes.append(f"account {acct.id}: ListBuckets filtered by {region} failed ({_why(exc)})")
        unplaced = [n for n, r in located.items() if not r]
        if scoped and complete:
            for name in unplaced:
                del located[name]  # in none of the scanned regions
            unplaced = []
        errors: dict[str, str] = {}
        for name in unplaced:
            found, err = self._head_bucket(lister, name)
            located[name] = found
            if err:
                errors[name] = err
        scope = set(self.ctx.regions) if self.ctx.regions else None
        names = sorted(n for n, r in located.items() if scope is None or r is None or r in scope)
        tags = self._s3_tags(acct, {r for n in names if (r := located[n])})
        # in slices, so finished findings never pile up ahead of the consumer (memory stays flat)
        for start in range(0, len(names), 256):
            chunk = names[start : start + 256]
            yield from self.bucket_pool.map(lambda n: self._bucket(acct, n, located, tags, errors.get(n)), chunk)
        yield from self._mraps(acct, located)

    @staticmethod
    def _s3_lookup_order(regions: Iterable[str]) -> list[str]:
        # the busiest regions first: most buckets are placed in the first few calls
        first = ("us-east-1", "eu-west-1", "eu-central-1", "us-west-2", "eu-west-2")
        rs = list(dict.fromkeys(regions))
        return [r for r in first if r in rs] + [r for r in rs if r not in first]

    @staticmethod
    def _head_bucket(client: Any, name: str) -> tuple[str | None, str | None]:
        try:
            resp = client.head_bucket(Bucket=name)
        except ClientError as exc:
            resp = exc.response
            region = resp.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("x-amz-bucket-region")
            return (region, None) if region else (None, _why(exc))
        except (BotoCoreError, ResponseParserError) as exc:
            return None, _why(exc)
        region = resp.get("BucketRegion") or resp.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get(
            "x-amz-bucket-region"
        )
        return (region, None) if region else (None, "HeadBucket answered without a region")

    def _s3_tags(self, acct: _Account, regions: set[str]) -> dict[str, dict[str, str]] | None:
        """Bucket tags by bucket name from the tagging API; ``None`` if it could not be read."""
        out: dict[str, dict[str, str]] = {}
        for region in sorted(regions):
            try:
                pages = (
                    acct.client("resourcegroupstaggingapi", region)
                    .get_paginator("get_resources")
                    .paginate(ResourceTypeFilters=["s3"], ResourcesPerPage=100)
                )
                for page in pages:
                    for item in page.get("ResourceTagMappingList", []):
                        name = item["ResourceARN"].rsplit(":", 1)[-1]
                        out[name] = _tags(item.get("Tags"))
            except _READ_ERRORS as exc:
                self.ctx.notes.append(f"account {acct.id}: bucket tags not readable in bulk in {region} ({_why(exc)})")
                return None
        return out

    def _bucket(
        self,
        acct: _Account,
        name: str,
        located: Mapping[str, str | None],
        bulk_tags: Mapping[str, Mapping[str, str]] | None,
        error: str | None,
    ) -> Finding:
        arn = f"arn:aws:s3:::{name}"
        region = located[name]
        if region is None:
            return unreadable(
                provider="aws",
                account=acct.id,
                service="s3",
                resource_type="bucket",
                resource_id=arn,
                name=name,
                error=f"bucket region unknown: {error}",
                policy=self.policy.name,
            )
        tags: Mapping[str, str] = {}
        unread: list[str] = []
        if bulk_tags is not None:
            tags = bulk_tags.get(name, {})
        elif self.needs_tags:
            try:
                tags = _tags(acct.client("s3", region).get_bucket_tagging(Bucket=name).get("TagSet"))
            except _READ_ERRORS as exc:
                if not isinstance(exc, ClientError) or _code(exc) not in _NO_TAGS:
                    unread.append(f"tags needed by the policy's data classes are unreadable: {_why(exc)}")
        placements: list[tuple[str | None, str]] = [(region, "bucket")]
        lookup = self.s3_replication == "all"
        if self.s3_replication == "needed":
            home = self.policy.check("aws", region, tags=tags, resource=arn, today=self.ctx.today)
            lookup = home.allowed  # a bucket already in violation stays one whatever it replicates to
        if lookup:
            try:
                rules = (
                    acct.client("s3", region)
                    .get_bucket_replication(Bucket=name)
                    .get("ReplicationConfiguration", {})
                    .get("Rules", [])
                )
            except _READ_ERRORS as exc:
                if not isinstance(exc, ClientError) or _code(exc) not in _NO_REPLICATION:
                    unread.append(f"replication configuration unreadable: {_why(exc)}")
                rules = []
            for rule in rules:
                if rule.get("Status", "Enabled") != "Enabled":
                    continue
                dest = rule.get("Destination", {}).get("Bucket", "")
                dest_name = dest.rsplit(":", 1)[-1]
                dest_region = located.get(dest_name)
                if dest_region is None and dest_name:
                    dest_region, _ = self._head_bucket(acct.client("s3", "us-east-1"), dest_name)
                placements.append((dest_region or "unresolved", f"replication destination {dest}"))
        # known stays known: a bucket whose own region is denied is a violation whatever could not be read
        return self.finding(
            acct,
            service="s3",
            resource_type="bucket",
            resource_id=arn,
            name=name,
            region=region,
            placements=placements,
            tags=tags,
            unread=unread,
        )

    def _mraps(self, acct: _Account, located: Mapping[str, str | None]) -> Iterator[Finding]:
        """Multi-region access points: their data lands in each of their buckets' regions."""
        try:
            client = acct.client("s3control", "us-west-2", local_endpoint_once=True)
            kw: dict[str, Any] = {"AccountId": acct.id}
            while True:
                page = client.list_multi_region_access_points(**kw)
                for ap in page.get("AccessPoints", []):
                    # a bucket this scan placed is where the data is; else the access point's own answer
                    placements: list[tuple[str | None, str]] = [
                        (
                            located.get(r.get("Bucket", "")) or r.get("Region") or "unresolved",
                            f"multi-region access point bucket {r.get('Bucket', '?')}",
                        )
                        for r in ap.get("Regions", [])
                    ]
                    yield self.finding(
                        acct,
                        service="s3",
                        resource_type="multi-region-access-point",
                        resource_id=f"arn:aws:s3::{acct.id}:accesspoint/{ap.get('Alias', ap['Name'])}",
                        name=ap["Name"],
                        region="",
                        placements=placements,
                    )
                token = page.get("NextToken")
                if not token:
                    break
                kw["NextToken"] = token
        except EndpointConnectionError as exc:
            if acct.endpoint_url:
                # a local host name cannot serve S3 Control's account-prefixed host names
                self.ctx.notes.append(
                    f"account {acct.id}: multi-region access points not checked: {acct.endpoint_url} "
                    "does not serve S3 Control"
                )
                return
            yield self.gap(acct, "s3", "", "multi-region access points", exc)
        except _READ_ERRORS as exc:
            yield self.gap(acct, "s3", "", "multi-region access points", exc)

    # ------------------------------------------------------------------ regional services

    def _sweeps(self, region: str) -> tuple[bool, bool]:
        """``(outside, classes)``: sweep every resource of the region because the policy does not
        allow the region, or (data classes) because a tag may ask for a narrower geography."""
        if "tagging" not in self.services:
            return False, False
        return not self.region_allowed(region), bool(self.policy.data_classes)

    def _swept(self, region: str, tags: Mapping[str, str]) -> bool:
        outside, classes = self._sweeps(region)
        return outside or (classes and tags.get(self.policy.data_class_tag) in self.policy.data_classes)

    def regional(self, acct: _Account, region: str) -> Iterator[Finding]:
        outside, classes = self._sweeps(region)
        sweep = outside or classes
        tags: dict[str, dict[str, str]] = {}
        tag_error: str | None = None
        try:
            kw: dict[str, Any] = {"ResourcesPerPage": 100}
            if not sweep:
                kw["ResourceTypeFilters"] = _TAGGED_TYPES
            for page in acct.client("resourcegroupstaggingapi", region).get_paginator("get_resources").paginate(**kw):
                for item in page.get("ResourceTagMappingList", []):
                    tags[item["ResourceARN"]] = _tags(item.get("Tags"))
        except _READ_ERRORS as exc:
            tag_error = _why(exc)
            if sweep:
                yield self.gap(acct, "tagging", region, "resources of any type", exc)
            elif self.needs_tags:
                self.ctx.notes.append(f"account {acct.id}: tags unreadable in {region} ({tag_error})")
        seen: set[str] = set()
        for service, fn in self._regional_scanners():
            if service not in self.services:
                continue
            try:
                for f in fn(acct, region, tags):
                    seen.add(_arn_key(f.resource_id))
                    if tag_error and self.needs_tags and f.status == "compliant" and not f.tags:
                        # without its tags a data-class rule could not be applied: never call it compliant
                        f = unreadable(
                            provider="aws",
                            account=acct.id,
                            service=f.service,
                            resource_type=f.resource_type,
                            resource_id=f.resource_id,
                            name=f.name,
                            region=region,
                            placements=[loc.code for loc in f.locations],
                            error=f"tags needed by the policy's data classes are unreadable: {tag_error}",
                            policy=self.policy.name,
                        )
                    yield f
            except _READ_ERRORS as exc:
                yield self.gap(acct, service, region, f"{service} resources", exc)
        if not sweep or tag_error is not None:
            return
        for arn, t in tags.items():
            m = _ARN.match(arn)
            if not m or m.group("service") == "s3" or _arn_key(arn) in seen or not self._swept(region, t):
                continue
            service, resource = m.group("service"), m.group("resource")
            kind, sep, rest = _split(resource)
            yield self.finding(
                acct,
                service=service,
                resource_type=kind if sep else _BARE_TYPES.get(service, "resource"),
                resource_id=arn,
                name=rest if sep else resource,
                region=region,
                placements=[(m.group("region") or region, "resource")],
                tags=t,
            )

    def _regional_scanners(
        self,
    ) -> list[tuple[str, Callable[[_Account, str, dict[str, dict[str, str]]], Iterator[Finding]]]]:
        return [
            ("dynamodb", self._dynamodb),
            ("rds", self._rds),
            ("ec2", self._ec2),
            ("kms", self._kms),
            ("secretsmanager", self._secrets),
            ("backup", self._backup),
            ("ecr", self._ecr),
        ]

    def _dynamodb(self, acct: _Account, region: str, tags: dict[str, dict[str, str]]) -> Iterator[Finding]:
        client = acct.client("dynamodb", region)
        for page in client.get_paginator("list_tables").paginate():
            for name in page.get("TableNames", []):
                arn = f"arn:aws:dynamodb:{region}:{acct.id}:table/{name}"
                try:
                    table = client.describe_table(TableName=name)["Table"]
                    arn = table.get("TableArn", arn)
                    placements: list[tuple[str | None, str]] = [(region, "table")]
                    placements += [(r["RegionName"], "global table replica") for r in table.get("Replicas", [])]
                    if table.get("GlobalTableVersion") == "2017.11.29":
                        # legacy global tables: the replicas are only in DescribeGlobalTable
                        group = client.describe_global_table(GlobalTableName=name)["GlobalTableDescription"]
                        placements += [
                            (r["RegionName"], "global table replica (version 2017.11.29)")
                            for r in group.get("ReplicationGroup", [])
                        ]
                except ClientError as exc:
                    if _code(exc) in _GONE and exc.operation_name == "DescribeTable":
                        continue
                    yield self.item_gap(
                        acct, "dynamodb", "table", arn, region, "table", exc, name=name, tags=tags.get(arn)
                    )
                    continue
                yield self.finding(
                    acct,
                    service="dynamodb",
                    resource_type="table",
                    resource_id=arn,
                    name=name,
                    region=region,
                    placements=placements,
                    tags=tags.get(arn, {}),
                )

    def _global_cluster(self, acct: _Account, client: Any, gid: str) -> list[str] | str:
        """Member cluster ARNs of an Aurora global database (cached per account), or why unreadable."""
        key = (acct.id, gid)  # a global database is the same seen from any of its regions
        with self._lock:
            if key in self._global_clusters:
                return self._global_clusters[key]
        try:
            found = client.describe_global_clusters(GlobalClusterIdentifier=gid).get("GlobalClusters", [])
            members: list[str] | str = [m["DBClusterArn"] for g in found for m in g.get("GlobalClusterMembers", [])]
        except ClientError as exc:
            members = _why(exc)
        with self._lock:
            self._global_clusters[key] = members
        return members

    def _rds(self, acct: _Account, region: str, tags: dict[str, dict[str, str]]) -> Iterator[Finding]:
        client = acct.client("rds", region)
        for page in client.get_paginator("describe_db_instances").paginate():
            for db in page.get("DBInstances", []):
                placements: list[tuple[str | None, str]] = [(region, "instance")]
                for rep in db.get("ReadReplicaDBInstanceIdentifiers", []):
                    placements.append((_arn_region(rep) or region, f"read replica {rep}"))
                for rep in db.get("ReadReplicaDBClusterIdentifiers", []):
                    placements.append((_arn_region(rep) or region, f"read replica cluster {rep}"))
                for rep in db.get("DBInstanceAutomatedBackupsReplications", []):
                    arn = rep.get("DBInstanceAutomatedBackupsArn", "")
                    placements.append((_arn_region(arn) or "unresolved", "automated-backup replication"))
                yield self.finding(
                    acct,
                    service="rds",
                    resource_type="db-instance",
                    resource_id=db["DBInstanceArn"],
                    name=db["DBInstanceIdentifier"],
                    region=region,
                    placements=placements,
                    tags=_tags(db.get("TagList")) or tags.get(db["DBInstanceArn"], {}),
                )
        for page in client.get_paginator("describe_db_clusters").paginate():
            for cl in page.get("DBClusters", []):
                arn = cl["DBClusterArn"]
                placements = [(region, "cluster")]
                for rep in cl.get("ReadReplicaIdentifiers", []):
                    placements.append((_arn_region(rep) or region, f"read replica {rep}"))
                gid = cl.get("GlobalClusterIdentifier")
                if gid:
                    members = self._global_cluster(acct, client, gid)
                    if isinstance(members, str):
                        yield self.item_gap(
                            acct,
                            "rds",
                            "db-cluster",
                            arn,
                            region,
                            f"global database {gid}",
                            members,
                            name=cl["DBClusterIdentifier"],
                            tags=_tags(cl.get("TagList")) or tags.get(arn),
                        )
                        continue
                    placements += [
                        (_arn_region(m) or "unresolved", f"global database {gid} member {m}")
                        for m in members
                        if m != arn
                    ]
                yield self.finding(
                    acct,
                    service="rds",
                    resource_type="db-cluster",
                    resource_id=arn,
                    name=cl["DBClusterIdentifier"],
                    region=region,
                    placements=placements,
                    tags=_tags(cl.get("TagList")) or tags.get(arn, {}),
                )

    def _ec2(self, acct: _Account, region: str, tags: dict[str, dict[str, str]]) -> Iterator[Finding]:
        client = acct.client("ec2", region)
        for page in client.get_paginator("describe_instances").paginate():
            for res in page.get("Reservations", []):
                for i in res.get("Instances", []):
                    if i.get("State", {}).get("Name") == "terminated":
                        continue
                    zone = i.get("Placement", {}).get("AvailabilityZone", region)
                    yield self.finding(
                        acct,
                        service="ec2",
                        resource_type="instance",
                        resource_id=f"arn:aws:ec2:{region}:{acct.id}:instance/{i['InstanceId']}",
                        name=i["InstanceId"],
                        region=region,
                        placements=[(region, f"instance in {zone}")],
                        tags=_tags(i.get("Tags")),
                    )
        for page in client.get_paginator("describe_volumes").paginate():
            for v in page.get("Volumes", []):
                arn = f"arn:aws:ec2:{region}:{acct.id}:volume/{v['VolumeId']}"
                yield self.finding(
                    acct,
                    service="ec2",
                    resource_type="volume",
                    resource_id=arn,
                    name=v["VolumeId"],
                    region=region,
                    placements=[(region, f"volume in {v.get('AvailabilityZone', region)}")],
                    tags=_tags(v.get("Tags")),
                )
        for page in client.get_paginator("describe_snapshots").paginate(OwnerIds=["self"]):
            for s in page.get("Snapshots", []):
                if s.get("OwnerId", acct.id) != acct.id:
                    continue  # some endpoints ignore the owner filter
                arn = f"arn:aws:ec2:{region}::snapshot/{s['SnapshotId']}"
                yield self.finding(
                    acct,
                    service="ec2",
                    resource_type="snapshot",
                    resource_id=arn,
                    name=s["SnapshotId"],
                    region=region,
                    placements=[(region, "snapshot")],
                    tags=_tags(s.get("Tags")),
                )
        for page in client.get_paginator("describe_images").paginate(Owners=["self"]):
            for img in page.get("Images", []):
                if img.get("OwnerId", acct.id) != acct.id:
                    continue
                arn = f"arn:aws:ec2:{region}::image/{img['ImageId']}"
                yield self.finding(
                    acct,
                    service="ec2",
                    resource_type="image",
                    resource_id=arn,
                    name=img.get("Name", img["ImageId"]),
                    region=region,
                    placements=[(region, "AMI")],
                    tags=_tags(img.get("Tags")),
                )

    def _kms(self, acct: _Account, region: str, tags: dict[str, dict[str, str]]) -> Iterator[Finding]:
        client = acct.client("kms", region)
        for page in client.get_paginator("list_keys").paginate():
            for k in page.get("Keys", []):
                arn = k.get("KeyArn") or f"arn:aws:kms:{region}:{acct.id}:key/{k['KeyId']}"
                try:
                    meta = client.describe_key(KeyId=k["KeyId"])["KeyMetadata"]
                except ClientError as exc:
                    if _code(exc) not in _GONE:
                        # an AWS-managed key is not judged (it follows its resources): unread, it stays unknown
                        yield self.item_gap(acct, "kms", "key", arn, region, "key", exc, name=k["KeyId"], decided=False)
                    continue
                if meta.get("KeyManager") == "AWS":
                    continue  # AWS-managed keys follow the resources that use them
                arn = meta.get("Arn", arn)
                placements: list[tuple[str | None, str]] = [(region, "key")]
                mrc = meta.get("MultiRegionConfiguration") or {}
                primary = (mrc.get("PrimaryKey") or {}).get("Region")
                if primary and primary != region:
                    placements.append((primary, "multi-region primary key"))
                placements += [(r.get("Region"), "multi-region replica key") for r in mrc.get("ReplicaKeys", [])]
                yield self.finding(
                    acct,
                    service="kms",
                    resource_type="key",
                    resource_id=arn,
                    name=k["KeyId"],
                    region=region,
                    placements=placements,
                    tags=tags.get(arn, {}),
                )

    def _secrets(self, acct: _Account, region: str, tags: dict[str, dict[str, str]]) -> Iterator[Finding]:
        client = acct.client("secretsmanager", region)
        for page in client.get_paginator("list_secrets").paginate():
            for s in page.get("SecretList", []):
                arn, name = s["ARN"], s.get("Name", "")
                found = _tags(s.get("Tags")) or tags.get(arn, {})
                placements: list[tuple[str | None, str]] = [(region, "secret")]
                primary = s.get("PrimaryRegion")
                if primary and primary != region:
                    placements.append((primary, "primary secret"))
                try:
                    desc = client.describe_secret(SecretId=arn)
                except ClientError as exc:
                    if _code(exc) not in _GONE:
                        yield self.item_gap(
                            acct,
                            "secretsmanager",
                            "secret",
                            arn,
                            region,
                            "replicas",
                            exc,
                            name=name,
                            tags=found,
                            placements=placements,
                        )
                    continue
                placements += [(r.get("Region"), "replica secret") for r in desc.get("ReplicationStatus", [])]
                yield self.finding(
                    acct,
                    service="secretsmanager",
                    resource_type="secret",
                    resource_id=arn,
                    name=name,
                    region=region,
                    placements=placements,
                    tags=found,
                )

    def _backup(self, acct: _Account, region: str, tags: dict[str, dict[str, str]]) -> Iterator[Finding]:
        client = acct.client("backup", region)
        for page in client.get_paginator("list_backup_vaults").paginate():
            for v in page.get("BackupVaultList", []):
                arn = v["BackupVaultArn"]
                yield self.finding(
                    acct,
                    service="backup",
                    resource_type="backup-vault",
                    resource_id=arn,
                    name=v.get("BackupVaultName", ""),
                    region=region,
                    placements=[(region, "backup vault")],
                    tags=tags.get(arn, {}),
                )
        for page in client.get_paginator("list_backup_plans").paginate():
            for p in page.get("BackupPlansList", []):
                arn = p.get("BackupPlanArn", f"arn:aws:backup:{region}:{acct.id}:backup-plan:{p['BackupPlanId']}")
                name = p.get("BackupPlanName", "")
                try:
                    plan = client.get_backup_plan(BackupPlanId=p["BackupPlanId"]).get("BackupPlan", {})
                except ClientError as exc:
                    if _code(exc) not in _GONE:
                        yield self.item_gap(
                            acct,
                            "backup",
                            "backup-plan",
                            arn,
                            region,
                            "copy actions",
                            exc,
                            name=name,
                            tags=tags.get(arn),
                        )
                    continue
                placements: list[tuple[str | None, str]] = [(region, "backup plan")]
                for rule in plan.get("Rules", []):
                    for copy in rule.get("CopyActions", []):
                        dest = copy.get("DestinationBackupVaultArn", "")
                        placements.append((_arn_region(dest) or "unresolved", f"copy action to {dest}"))
                yield self.finding(
                    acct,
                    service="backup",
                    resource_type="backup-plan",
                    resource_id=arn,
                    name=name,
                    region=region,
                    placements=placements,
                    tags=tags.get(arn, {}),
                )

    def _ecr(self, acct: _Account, region: str, tags: dict[str, dict[str, str]]) -> Iterator[Finding]:
        client = acct.client("ecr", region)
        rules = client.describe_registry().get("replicationConfiguration", {}).get("rules", [])
        for page in client.get_paginator("describe_repositories").paginate():
            for repo in page.get("repositories", []):
                name = repo["repositoryName"]
                placements: list[tuple[str | None, str]] = [(region, "repository")]
                for rule in rules:
                    filters = [f.get("filter", "") for f in rule.get("repositoryFilters", [])]
                    if filters and not any(name.startswith(f) for f in filters):
                        continue
                    for d in rule.get("destinations", []):
                        placements.append((d.get("region"), f"registry replication to {d.get('registryId', '?')}"))
                arn = repo["repositoryArn"]
                yield self.finding(
                    acct,
                    service="ecr",
                    resource_type="repository",
                    resource_id=arn,
                    name=name,
                    region=region,
                    placements=placements,
                    tags=tags.get(arn, {}),
                )


# ---------------------------------------------------------------------- execution

_DONE = object()


def _run(
    units: list[tuple[str, Callable[[], Iterable[Finding]], Callable[[BaseException], Finding]]],
    concurrency: int,
    progress: Callable[[int, int, str], None] | None,
) -> Iterator[Finding]:
    """Run work units on a bounded pool; yield their findings through a bounded queue."""
    q: queue.Queue[Any] = queue.Queue(maxsize=512)
    stop = threading.Event()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work(label: str, fn: Callable[[], Iterable[Finding]], on_error: Callable[[BaseException], Finding]) -> None:
        try:
            for f in fn():
                if not put(f):
                    return
        except Exception as exc:  # never skip silently: an unexpected failure is an unknown finding
            put(on_error(exc))
        finally:
            put((_DONE, label))

    total = len(units)
    if progress:
        progress(0, total, "starting")
    pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="residency-scan")
    try:
        for label, fn, on_error in units:
            pool.submit(work, label, fn, on_error)
        done = 0
        while done < total:
            item = q.get()
            if isinstance(item, tuple) and item and item[0] is _DONE:
                done += 1
                if progress:
                    progress(done, total, item[1])
                continue
            yield item
    finally:
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)


def scan(ctx: ScanContext) -> Iterator[Finding]:
    """Yield a finding for every resource (and every unreadable part) of the AWS scope in ``ctx``.

    Bad input (regions, accounts, endpoint, credentials) raises :class:`ProviderError`
    here, before anything is yielded.
    """
    source = ctx.options.get("source") or "api"
    if source == "config":
        from ._config_source import scan_config

        return scan_config(ctx)
    if source != "api":
        raise ProviderError(f"unknown aws source {source!r}; expected one of api, config")
    scanner = _Scanner(ctx)
    try:
        accounts = scanner.accounts()
    except BaseException:
        scanner.bucket_pool.shutdown(wait=False)
        raise
    return _scan(scanner, accounts)


def _scan(scanner: _Scanner, accounts: list[_Account]) -> Iterator[Finding]:
    # what was not asked because an endpoint was given up on becomes one finding per account and service
    yield from scanner.breaker.fold(_scan_all(scanner, accounts))
    for why in scanner.breaker.opened:
        scanner.ctx.notes.append(f"stopped asking early: {why}; what was read is reported, the rest is unknown")


def _scan_all(scanner: _Scanner, accounts: list[_Account]) -> Iterator[Finding]:
    ctx = scanner.ctx
    try:
        # set up every account (assume role, list regions) on the bounded pool, in order
        with ThreadPoolExecutor(max_workers=ctx.concurrency, thread_name_prefix="residency-setup") as pool:
            prepared = list(pool.map(scanner.setup, accounts))
        ready: list[_Account] = []
        for acct, (ok, found) in zip(accounts, prepared, strict=True):
            yield from found
            if ok:
                ctx.accounts_scanned.append(acct.id)
                ready.append(acct)
        ctx.regions_scanned[:] = sorted({r for a in ready for r in a.regions})
        yield from _run(_units(scanner, ready), ctx.concurrency, ctx.progress)
    finally:
        scanner.bucket_pool.shutdown(wait=True, cancel_futures=True)


def _units(
    scanner: _Scanner, ready: list[_Account]
) -> list[tuple[str, Callable[[], Iterable[Finding]], Callable[[BaseException], Finding]]]:
    ctx = scanner.ctx
    units: list[tuple[str, Callable[[], Iterable[Finding]], Callable[[BaseException], Finding]]] = []
    for acct in ready:
        if "s3" in scanner.services:
            units.append(
                (
                    f"{acct.id} s3",
                    lambda a=acct: scanner.s3(a),  # type: ignore[misc]
                    lambda e, a=acct: scanner.gap(a, "s3", "", "buckets", e),  # type: ignore[misc]
                )
            )
        if scanner.services - {"s3"}:
            for region in acct.regions:
                units.append(
                    (
                        f"{acct.id} {region}",
                        lambda a=acct, r=region: scanner.regional(a, r),  # type: ignore[misc]
                        lambda e, a=acct, r=region: scanner.gap(a, "aws", r, "regional resources", e),  # type: ignore[misc]
                    )
                )
    if "s3" in scanner.services and scanner.s3_replication != "all":
        ctx.notes.append(
            "S3 replication destinations not looked up (s3_replication off)"
            if scanner.s3_replication == "off"
            else "S3 replication destinations looked up only for buckets whose own region is allowed "
            "(a bucket in violation stays one); --s3-replication all lists them for every bucket"
        )
    if any(any(scanner._sweeps(r)) for a in ready for r in a.regions):
        ctx.notes.append(
            "resources of other types are found through the resource groups tagging API, which lists "
            "resources that carry (or once carried) a tag"
        )
    return units
