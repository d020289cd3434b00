"""``residency scan aws``: every place an AWS account's data lands.

Reached through ``load_provider("aws").scan(context)``; only this module (and
the guard) import boto3.

Work units, run on a bounded thread pool (``context.concurrency``):

* one **S3** unit per account — S3 is global, so buckets are listed once;
* one **regional** unit per account and region — DynamoDB, RDS, EC2 (EBS
  volumes, snapshots, AMIs), KMS, Secrets Manager, AWS Backup, ECR, and in
  regions the policy does not allow, a sweep of the resource groups tagging
  API for *any* other resource (a resource in us-east-1 is a violation
  whatever its type).

Findings flow through a bounded queue to the caller, so memory stays flat.

Bucket locations at the API-call floor: ``ListBuckets`` returns
``BucketRegion`` (used when present); buckets still unresolved are found with
one ``ListBuckets(BucketRegion=r)`` per enabled region, stopping as soon as
every bucket is placed; ``HeadBucket`` only for what is left. Never one
``GetBucketLocation`` per bucket. Tags come from the tagging API in bulk
(``GetBucketTagging`` per bucket only when that API is unreadable and the
policy needs tags). Replication destinations need ``GetBucketReplication`` per
bucket, so it is asked only where it can change the verdict: ``s3_replication="needed"``
(the default) skips buckets whose own region is already a violation no waiver covers;
``"all"`` asks every bucket (complete location lists for violating buckets too);
``"off"`` asks none (and says so in the scan notes).

Anything unreadable (AccessDenied, a disabled opt-in region, a throttled call
that ran out of retries) is an ``unknown`` finding with the reason.
"""

from __future__ import annotations

import os
import queue
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import attrs
import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    ProfileNotFound,
)

from residency._errors import ProviderError
from residency._findings import Finding, evaluate, unreadable
from residency._scan import ScanContext

__all__ = ["SERVICES", "scan"]

#: services a scan can cover (``--services``); ``tagging`` is the any-resource sweep
SERVICES = ("s3", "dynamodb", "rds", "ec2", "kms", "secretsmanager", "backup", "ecr", "tagging")

#: tagging-API resource types whose tags the regional scanners use
_TAGGED_TYPES = ["dynamodb", "rds", "ec2", "kms", "secretsmanager", "backup", "ecr"]

_ARN = re.compile(
    r"^arn:(?P<partition>[^:]+):(?P<service>[^:]+):(?P<region>[^:]*):(?P<account>[^:]*):(?P<resource>.*)$"
)

_NO_REPLICATION = {"ReplicationConfigurationNotFoundError", "NoSuchReplicationConfiguration"}
_NO_TAGS = {"NoSuchTagSet", "NoSuchTagSetError"}


def _why(exc: BaseException) -> str:
    """One line saying why a call failed (error code first)."""
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        code = err.get("Code", "ClientError")
        msg = err.get("Message", "")
        op = getattr(exc, "operation_name", "")
        return f"{code} on {op}: {msg}".strip().rstrip(":") if op else f"{code}: {msg}"
    return f"{type(exc).__name__}: {exc}"


def _arn_region(arn: str) -> str | None:
    m = _ARN.match(arn)
    return m.group("region") if m and m.group("region") else None


def _tags(items: Iterable[Mapping[str, str]] | None) -> dict[str, str]:
    return {t["Key"]: t.get("Value", "") for t in items or ()}


@attrs.define
class _Account:
    """One account to scan, its session and a cache of thread-safe clients."""

    id: str
    session: Any
    config: Config
    endpoint_url: str | None
    regions: list[str] = attrs.field(factory=list)
    _clients: dict[tuple[str, str], Any] = attrs.field(factory=dict)
    _lock: threading.Lock = attrs.field(factory=threading.Lock)

    def client(self, service: str, region: str, *, local_endpoint_once: bool = False) -> Any:
        """A shared client; ``local_endpoint_once`` turns retries off when a custom endpoint is set
        (S3 Control's account-prefixed host names never resolve on a local endpoint)."""
        # boto3 sessions are not thread-safe; clients are. Create under a lock, share.
        with self._lock:
            key = (service, region)
            if key not in self._clients:
                config = self.config
                if local_endpoint_once and self.endpoint_url:
                    config = config.merge(Config(retries={"mode": "standard", "max_attempts": 1}))
                kw: dict[str, Any] = {"region_name": region, "config": config}
                if self.endpoint_url:
                    kw["endpoint_url"] = self.endpoint_url
                self._clients[key] = self.session.client(service, **kw)
            return self._clients[key]


class _Scanner:
    """Holds the context and builds findings for one scan."""

    def __init__(self, ctx: ScanContext) -> None:
        self.ctx = ctx
        self.policy = ctx.policy
        self.services = set(ctx.services or SERVICES)
        unknown = self.services - set(SERVICES)
        if unknown:
            raise ProviderError(
                f"unknown AWS service(s) {', '.join(sorted(unknown))}; choose from {', '.join(SERVICES)}"
            )
        self.config = Config(
            retries={"mode": "standard", "max_attempts": int(ctx.options.get("max_attempts", 5))},
            max_pool_connections=max(10, ctx.concurrency * 2),
            connect_timeout=int(ctx.options.get("connect_timeout", 10)),
            read_timeout=int(ctx.options.get("read_timeout", 60)),
        )
        mode = ctx.options.get("s3_replication", "needed")
        mode = {True: "all", False: "off"}.get(mode, mode) if isinstance(mode, bool) else mode
        if mode not in ("all", "needed", "off"):
            raise ProviderError(f"s3_replication must be 'all', 'needed' or 'off', got {mode!r}")
        self.s3_replication: str = mode
        self.needs_tags = bool(self.policy.data_classes) or any(w.tags for w in self.policy.waivers)

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
        )

    def region_allowed(self, region: str) -> bool:
        return self.policy.check("aws", region).allowed

    # ------------------------------------------------------------------ accounts and regions

    def accounts(self) -> list[_Account]:
        profile = self.ctx.options.get("profile")
        try:
            base = self.ctx.session or boto3.Session(profile_name=profile)
        except ProfileNotFound:
            raise ProviderError(f"AWS profile {profile!r} not found in the AWS config files") from None
        endpoint = self.ctx.endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None
        home = base.region_name or "us-east-1"
        probe = _Account("?", base, self.config, endpoint)
        try:
            caller = probe.client("sts", home).get_caller_identity()["Account"]
        except NoCredentialsError:
            raise ProviderError(
                "no AWS credentials found (set AWS_PROFILE, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or a role)"
            ) from None
        except (ClientError, BotoCoreError) as exc:
            raise ProviderError(f"AWS credentials could not be used: {_why(exc)}") from None
        targets: list[str] = list(self.ctx.accounts or [])
        if self.ctx.org:
            try:
                pages = probe.client("organizations", home).get_paginator("list_accounts").paginate()
                targets += [a["Id"] for p in pages for a in p["Accounts"] if a.get("Status", "ACTIVE") == "ACTIVE"]
            except (ClientError, BotoCoreError) as exc:
                raise ProviderError(f"cannot list the AWS Organization's accounts: {_why(exc)}") from None
        if not targets:
            targets = [caller]
        out: list[_Account] = []
        for acct_id in dict.fromkeys(targets):
            if acct_id == caller:
                out.append(_Account(caller, base, self.config, endpoint))
            else:
                out.append(_Account(acct_id, None, self.config, endpoint))
        self._base, self._home, self._caller, self._endpoint = base, home, caller, endpoint
        return out

    def assume(self, acct: _Account) -> Finding | None:
        """Give ``acct`` a session by assuming the role; an unknown finding if that fails."""
        if acct.session is not None:
            return None
        role = f"arn:aws:iam::{acct.id}:role/{self.ctx.role_name}"
        try:
            sts = _Account(self._caller, self._base, self.config, self._endpoint).client("sts", self._home)
            creds = sts.assume_role(RoleArn=role, RoleSessionName="eu-residency-scan")["Credentials"]
        except (ClientError, BotoCoreError) as exc:
            return unreadable(
                provider="aws",
                account=acct.id,
                service="sts",
                resource_type="account",
                resource_id=f"arn:aws:organizations::{self._caller}:account/{acct.id}",
                error=f"cannot assume {role}: {_why(exc)}",
                policy=self.policy.name,
            )
        acct.session = boto3.Session(
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
            region_name=self._home,
        )
        return None

    def regions(self, acct: _Account) -> tuple[list[str], list[Finding]]:
        """The regions to scan in ``acct`` and unknown findings for requested-but-disabled ones."""
        try:
            pages = acct.client("ec2", self._home).describe_regions(AllRegions=True)["Regions"]
        except (ClientError, BotoCoreError) as exc:
            if self.ctx.regions:
                self.ctx.notes.append(f"account {acct.id}: cannot list regions ({_why(exc)}); scanning as requested")
                return list(self.ctx.regions), []
            return [], [self.gap(acct, "ec2", "", "regions", exc)]
        enabled = [r["RegionName"] for r in pages if r.get("OptInStatus", "opt-in-not-required") != "not-opted-in"]
        disabled = sorted(r["RegionName"] for r in pages if r["RegionName"] not in enabled)
        if not self.ctx.regions:
            if disabled:
                self.ctx.notes.append(
                    f"account {acct.id}: {len(disabled)} opt-in region(s) not enabled, nothing can be read there: "
                    + ", ".join(disabled)
                )
            return sorted(enabled), []
        gaps = [
            self.gap(
                acct, "ec2", r, "region", "opt-in region not enabled for this account; its resources cannot be read"
            )
            for r in self.ctx.regions
            if r not in enabled
        ]
        return [r for r in self.ctx.regions if r in enabled], gaps

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
        except (ClientError, BotoCoreError) as exc:
            yield self.gap(acct, "s3", "", "buckets", exc)
            return
        lookup_regions = acct.regions or sorted(set(self.ctx.regions or ()))
        for region in self._s3_lookup_order(lookup_regions):
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
            except (ClientError, BotoCoreError) as exc:
                self.ctx.notes.append(f"account {acct.id}: ListBuckets filtered by {region} failed ({_why(exc)})")
        errors: dict[str, str] = {}
        for name in [n for n, r in located.items() if not r]:
            found, err = self._head_bucket(lister, name)
            located[name] = found
            if err:
                errors[name] = err
        scope = set(self.ctx.regions) if self.ctx.regions else None
        names = sorted(n for n, r in located.items() if scope is None or r is None or r in scope)
        tags = self._s3_tags(acct, {r for n in names if (r := located[n])})
        pool = ThreadPoolExecutor(max_workers=self.ctx.concurrency, thread_name_prefix="residency-s3")
        try:
            # in slices, so finished findings never pile up ahead of the consumer (memory stays flat)
            for start in range(0, len(names), 256):
                chunk = names[start : start + 256]
                yield from pool.map(lambda n: self._bucket(acct, n, located, tags, errors.get(n)), chunk)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        yield from self._mraps(acct)

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
        except BotoCoreError as exc:
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
            except (ClientError, BotoCoreError) as exc:
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
        if bulk_tags is not None:
            tags = bulk_tags.get(name, {})
        elif self.needs_tags:
            try:
                tags = _tags(acct.client("s3", region).get_bucket_tagging(Bucket=name).get("TagSet"))
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") not in _NO_TAGS:
                    return unreadable(
                        provider="aws",
                        account=acct.id,
                        service="s3",
                        resource_type="bucket",
                        resource_id=arn,
                        name=name,
                        region=region,
                        placements=[region],
                        error=f"tags needed by the policy's data classes are unreadable: {_why(exc)}",
                        policy=self.policy.name,
                    )
            except BotoCoreError as exc:
                return self.gap(acct, "s3", region, "bucket tags", exc)
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
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") not in _NO_REPLICATION:
                    return unreadable(
                        provider="aws",
                        account=acct.id,
                        service="s3",
                        resource_type="bucket",
                        resource_id=arn,
                        name=name,
                        region=region,
                        placements=[region],
                        tags=tags,
                        error=f"replication configuration unreadable: {_why(exc)}",
                        policy=self.policy.name,
                    )
                rules = []
            except BotoCoreError as exc:
                return self.gap(acct, "s3", region, "bucket replication", exc)
            for rule in rules:
                if rule.get("Status", "Enabled") != "Enabled":
                    continue
                dest = rule.get("Destination", {}).get("Bucket", "")
                dest_name = dest.rsplit(":", 1)[-1]
                dest_region = located.get(dest_name)
                if dest_region is None and dest_name:
                    dest_region, _ = self._head_bucket(acct.client("s3", "us-east-1"), dest_name)
                placements.append((dest_region or "unresolved", f"replication destination {dest}"))
        return self.finding(
            acct,
            service="s3",
            resource_type="bucket",
            resource_id=arn,
            name=name,
            region=region,
            placements=placements,
            tags=tags,
        )

    def _mraps(self, acct: _Account) -> Iterator[Finding]:
        try:
            client = acct.client("s3control", "us-west-2", local_endpoint_once=True)
            kw: dict[str, Any] = {"AccountId": acct.id}
            while True:
                page = client.list_multi_region_access_points(**kw)
                for ap in page.get("AccessPoints", []):
                    regions = [r.get("Region") for r in ap.get("Regions", [])]
                    yield self.finding(
                        acct,
                        service="s3",
                        resource_type="multi-region-access-point",
                        resource_id=f"arn:aws:s3::{acct.id}:accesspoint/{ap.get('Alias', ap['Name'])}",
                        name=ap["Name"],
                        region="",
                        placements=[
                            (r.get("Region"), f"multi-region access point bucket {r.get('Bucket', '?')}")
                            for r in ap.get("Regions", [])
                        ]
                        if regions
                        else [],
                    )
                token = page.get("NextToken")
                if not token:
                    break
                kw["NextToken"] = token
        except EndpointConnectionError as exc:
            if acct.endpoint_url:
                # a local endpoint (moto) cannot serve S3 Control's account-prefixed host names
                self.ctx.notes.append(
                    f"account {acct.id}: multi-region access points not checked: {acct.endpoint_url} "
                    "does not serve S3 Control"
                )
                return
            yield self.gap(acct, "s3", "", "multi-region access points", exc)
        except (ClientError, BotoCoreError) as exc:
            yield self.gap(acct, "s3", "", "multi-region access points", exc)

    # ------------------------------------------------------------------ regional services

    def regional(self, acct: _Account, region: str) -> Iterator[Finding]:
        allowed = self.region_allowed(region)
        sweep = "tagging" in self.services and not allowed
        tags: dict[str, dict[str, str]] = {}
        tag_error: str | None = None
        try:
            kw: dict[str, Any] = {"ResourcesPerPage": 100}
            if not sweep:
                kw["ResourceTypeFilters"] = _TAGGED_TYPES
            for page in acct.client("resourcegroupstaggingapi", region).get_paginator("get_resources").paginate(**kw):
                for item in page.get("ResourceTagMappingList", []):
                    tags[item["ResourceARN"]] = _tags(item.get("Tags"))
        except (ClientError, BotoCoreError) as exc:
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
                    seen.add(f.resource_id)
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
            except (ClientError, BotoCoreError) as exc:
                yield self.gap(acct, service, region, f"{service} resources", exc)
        if sweep and tag_error is None:
            for arn, t in tags.items():
                m = _ARN.match(arn)
                if not m or arn in seen or m.group("service") == "s3":
                    continue
                yield self.finding(
                    acct,
                    service=m.group("service"),
                    resource_type=m.group("resource").split("/", 1)[0].split(":", 1)[0] or "resource",
                    resource_id=arn,
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
                table = client.describe_table(TableName=name)["Table"]
                arn = table.get("TableArn", f"arn:aws:dynamodb:{region}:{acct.id}:table/{name}")
                placements: list[tuple[str | None, str]] = [(region, "table")]
                placements += [(r["RegionName"], "global table replica") for r in table.get("Replicas", [])]
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

    def _rds(self, acct: _Account, region: str, tags: dict[str, dict[str, str]]) -> Iterator[Finding]:
        client = acct.client("rds", region)
        for page in client.get_paginator("describe_db_instances").paginate():
            for db in page.get("DBInstances", []):
                placements: list[tuple[str | None, str]] = [(region, "instance")]
                for rep in db.get("ReadReplicaDBInstanceIdentifiers", []):
                    placements.append((_arn_region(rep) or region, f"read replica {rep}"))
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
                placements = [(region, "cluster")]
                for rep in cl.get("ReadReplicaIdentifiers", []):
                    placements.append((_arn_region(rep) or region, f"read replica {rep}"))
                yield self.finding(
                    acct,
                    service="rds",
                    resource_type="db-cluster",
                    resource_id=cl["DBClusterArn"],
                    name=cl["DBClusterIdentifier"],
                    region=region,
                    placements=placements,
                    tags=_tags(cl.get("TagList")) or tags.get(cl["DBClusterArn"], {}),
                )

    def _ec2(self, acct: _Account, region: str, tags: dict[str, dict[str, str]]) -> Iterator[Finding]:
        client = acct.client("ec2", region)
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
        for img in client.describe_images(Owners=["self"]).get("Images", []):
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
                meta = client.describe_key(KeyId=k["KeyId"])["KeyMetadata"]
                if meta.get("KeyManager") == "AWS":
                    continue  # AWS-managed keys follow the resources that use them
                arn = meta.get("Arn", k.get("KeyArn", ""))
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
                placements: list[tuple[str | None, str]] = [(region, "secret")]
                primary = s.get("PrimaryRegion")
                if primary and primary != region:
                    placements.append((primary, "primary secret"))
                desc = client.describe_secret(SecretId=s["ARN"])
                placements += [(r.get("Region"), "replica secret") for r in desc.get("ReplicationStatus", [])]
                yield self.finding(
                    acct,
                    service="secretsmanager",
                    resource_type="secret",
                    resource_id=s["ARN"],
                    name=s.get("Name", ""),
                    region=region,
                    placements=placements,
                    tags=_tags(s.get("Tags")) or tags.get(s["ARN"], {}),
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
                plan = client.get_backup_plan(BackupPlanId=p["BackupPlanId"]).get("BackupPlan", {})
                placements: list[tuple[str | None, str]] = [(region, "backup plan")]
                for rule in plan.get("Rules", []):
                    for copy in rule.get("CopyActions", []):
                        dest = copy.get("DestinationBackupVaultArn", "")
                        placements.append((_arn_region(dest) or "unresolved", f"copy action to {dest}"))
                arn = p.get("BackupPlanArn", f"arn:aws:backup:{region}:{acct.id}:backup-plan:{p['BackupPlanId']}")
                yield self.finding(
                    acct,
                    service="backup",
                    resource_type="backup-plan",
                    resource_id=arn,
                    name=p.get("BackupPlanName", ""),
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
    """Yield a finding for every resource (and every unreadable part) of the AWS scope in ``ctx``."""
    scanner = _Scanner(ctx)
    accounts = scanner.accounts()  # raises ProviderError before anything is yielded
    return _scan(scanner, accounts)


def _scan(scanner: _Scanner, accounts: list[_Account]) -> Iterator[Finding]:
    ctx = scanner.ctx
    ready: list[_Account] = []
    for acct in accounts:
        failed = scanner.assume(acct)
        if failed is not None:
            yield failed
            continue
        regions, gaps = scanner.regions(acct)
        yield from gaps
        acct.regions = regions
        ctx.accounts_scanned.append(acct.id)
        ready.append(acct)
    ctx.regions_scanned[:] = sorted({r for a in ready for r in a.regions})
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
    yield from _run(units, ctx.concurrency, ctx.progress)
