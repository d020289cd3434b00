"""``residency scan aws --source config``: an organisation's data stores from one AWS Config aggregator.

The per-account path (``--source api``, :mod:`._scan`) assumes a role in every
account and calls each service in each region. An AWS Config *configuration
aggregator* already holds the configuration items of every account and region
it aggregates, so this source reads them from the aggregator's account with
**advanced queries** (``SelectAggregateResourceConfig``), one request per page
of 100 rows, and assumes no role anywhere::

    residency scan aws --source config --aggregator org-all --org

One query reads the resource types that hold data — S3 buckets (with
``supplementaryConfiguration.BucketReplicationConfiguration``), DynamoDB tables
(``configuration.replicas``), RDS instances (read replicas, automated-backup
replication) and clusters, EC2 instances and volumes, KMS keys (multi-region
primary and replicas), Secrets Manager secrets, AWS Backup vaults and plans
(copy actions), ECR repositories — and, with the ``tagging`` service, a second
one reads resources of *any other* type in the regions the policy does not
allow. Each row becomes a finding through the same
:func:`residency._findings.evaluate`, with the placements and roles of the
per-account path. A replication destination bucket is placed from the same
results (or one more query by name); a destination the aggregator does not
know is ``unknown``, never compliant.

What the aggregator cannot vouch for is reported, never taken as clean
(``unknown`` findings with ``scope_gap``):

* a region it does not aggregate (``AwsRegions`` without ``AllAwsRegions``),
  within ``--regions`` when given, else every region of the catalog;
* an account it does not aggregate: one asked for with ``--accounts``, or an
  active account of the organisation (``--org``, Organizations ``ListAccounts``);
* a resource type its filter (``AggregatorFilters.ResourceType``) leaves out;
* a source (account or organisation, per region) whose last update ``FAILED``
  or is ``OUTDATED``: what it holds there may be stale or missing;
* a query that is denied, throttled past its retries or answers rows that are
  not JSON (what was read before still counts).

The Config client goes to ``--endpoint-url`` / ``AWS_ENDPOINT_URL`` like every
other AWS call, in the session's region (the aggregator's region).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, ProfileNotFound

from residency._catalog import catalog
from residency._errors import ProviderError
from residency._findings import Finding, evaluate, unreadable
from residency._scan import ScanContext

from ._scan import SERVICES, _arn_region, _why, check_request

__all__ = ["RESOURCE_TYPES", "scan_config"]

#: Config resource type -> (service, resource type, role of its home placement), as the API path names them
RESOURCE_TYPES: dict[str, tuple[str, str, str]] = {
    "AWS::S3::Bucket": ("s3", "bucket", "bucket"),
    "AWS::DynamoDB::Table": ("dynamodb", "table", "table"),
    "AWS::RDS::DBInstance": ("rds", "db-instance", "instance"),
    "AWS::RDS::DBCluster": ("rds", "db-cluster", "cluster"),
    "AWS::EC2::Instance": ("ec2", "instance", "instance"),
    "AWS::EC2::Volume": ("ec2", "volume", "volume"),
    "AWS::KMS::Key": ("kms", "key", "key"),
    "AWS::SecretsManager::Secret": ("secretsmanager", "secret", "secret"),
    "AWS::Backup::BackupVault": ("backup", "backup-vault", "backup vault"),
    "AWS::Backup::BackupPlan": ("backup", "backup-plan", "backup plan"),
    "AWS::ECR::Repository": ("ecr", "repository", "repository"),
}

_BASE_FIELDS = (
    "accountId",
    "awsRegion",
    "resourceType",
    "resourceId",
    "resourceName",
    "arn",
    "availabilityZone",
    "tags",
)
#: the parts of the configuration items that say where else the data lands
_DATA_FIELDS = (
    "configuration.replicas",
    "configuration.globalTableVersion",
    "configuration.readReplicaDBInstanceIdentifiers",
    "configuration.readReplicaDBClusterIdentifiers",
    "configuration.dBInstanceAutomatedBackupsReplications",
    "configuration.readReplicaIdentifiers",
    "configuration.multiRegionConfiguration",
    "configuration.keyManager",
    "configuration.BackupPlan",
    "supplementaryConfiguration.BucketReplicationConfiguration",
)
_PAGE = 100  # the API's maximum
_NAME = re.compile(r"^[\w-]{1,256}$")


def _quoted(values: Iterable[str]) -> str:
    return ", ".join("'" + v.replace("'", "") + "'" for v in values)


def _tags(row: Mapping[str, Any]) -> dict[str, str]:
    tags = row.get("tags") or []
    if isinstance(tags, Mapping):
        return {str(k): str(v) for k, v in tags.items()}
    return {str(t.get("key")): str(t.get("value", "")) for t in tags if isinstance(t, Mapping) and "key" in t}


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _replication_rules(value: Any) -> list[Mapping[str, Any]]:
    """Rules of a Config ``BucketReplicationConfiguration``: a map rule id -> rule (a list is taken too)."""
    rules = (value or {}).get("rules") if isinstance(value, Mapping) else None
    if isinstance(rules, Mapping):
        return [r for r in rules.values() if isinstance(r, Mapping)]
    return [r for r in _list(rules) if isinstance(r, Mapping)]


class _ConfigScanner:
    """One scan of one aggregator."""

    def __init__(self, ctx: ScanContext) -> None:
        self.ctx = ctx
        self.policy = ctx.policy
        check_request(ctx)
        name = ctx.options.get("aggregator")
        if not name:
            raise ProviderError(
                "--source config: no aggregator given (add --aggregator NAME, the AWS Config configuration aggregator)"
            )
        if not _NAME.match(str(name)):
            raise ProviderError(f"--aggregator: {name!r} is not an AWS Config aggregator name (letters, digits, - _)")
        self.name = str(name)
        services = set(ctx.services or SERVICES)
        unknown = services - set(SERVICES)
        if unknown:
            raise ProviderError(
                f"unknown AWS service(s) {', '.join(sorted(unknown))}; choose from {', '.join(SERVICES)}"
            )
        self.types = [t for t, (svc, _, _) in RESOURCE_TYPES.items() if svc in services]
        self.sweep = "tagging" in services
        profile = ctx.options.get("profile")
        try:
            session = ctx.session or boto3.Session(profile_name=profile)
        except ProfileNotFound:
            raise ProviderError(f"AWS profile {profile!r} not found in the AWS config files") from None
        self.home = session.region_name or "us-east-1"
        endpoint = ctx.endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None
        config = Config(
            retries={"mode": "standard", "total_max_attempts": int(ctx.options.get("max_attempts", 5))},
            connect_timeout=int(ctx.options.get("connect_timeout", 10)),
            read_timeout=int(ctx.options.get("read_timeout", 60)),
        )
        kw: dict[str, Any] = {"region_name": self.home, "config": config}
        if endpoint:
            kw["endpoint_url"] = endpoint
        try:
            self.config = session.client("config", **kw)
            self.org = session.client("organizations", **kw) if ctx.org else None
        except ValueError as exc:
            raise ProviderError(f"cannot create an AWS Config client: {exc}") from None
        self.owner = ""
        self.arn = f"arn:aws:config:{self.home}::config-aggregator/{self.name}"
        self.bucket_regions: dict[str, str] = {}
        self.coverage_error = ""

    # ------------------------------------------------------------------ findings

    def gap(self, what: str, error: str, *, account: str = "", region: str = "", suffix: str = "") -> Finding:
        return unreadable(
            provider="aws",
            account=account or self.owner,
            service="config",
            resource_type="aggregator-scope",
            resource_id=f"{self.arn}/{suffix}" if suffix else self.arn,
            name=what,
            region=region,
            placements=[region] if region else [],
            error=error,
            policy=self.policy.name,
            scope_gap=True,
        )

    def finding(self, row: Mapping[str, Any], placements: list[tuple[str | None, str]]) -> Finding:
        service, kind, _ = RESOURCE_TYPES.get(str(row.get("resourceType")), ("", "", ""))
        if not service:
            service, _, rest = str(row.get("resourceType", "")).removeprefix("AWS::").partition("::")
            service, kind = service.lower(), rest.lower() or "resource"
        return evaluate(
            self.policy,
            provider="aws",
            account=str(row.get("accountId", "")),
            service=service,
            resource_type=kind,
            resource_id=self.arn_of(row),
            name=str(row.get("resourceName") or row.get("resourceId") or ""),
            region=str(row.get("awsRegion", "")),
            placements=placements,
            tags=_tags(row),
            today=self.ctx.today,
        )

    @staticmethod
    def arn_of(row: Mapping[str, Any]) -> str:
        if row.get("arn"):
            return str(row["arn"])
        if row.get("resourceType") == "AWS::S3::Bucket":
            return f"arn:aws:s3:::{row.get('resourceName') or row.get('resourceId')}"
        return f"{row.get('resourceType')}:{row.get('accountId')}:{row.get('awsRegion')}:{row.get('resourceId')}"

    # ------------------------------------------------------------------ aggregator and coverage

    def aggregator(self) -> dict[str, Any] | None:
        """The aggregator's description; :class:`ProviderError` if it does not exist, ``None`` if unreadable."""
        try:
            found = self.config.describe_configuration_aggregators(ConfigurationAggregatorNames=[self.name])
        except NoCredentialsError:
            raise ProviderError(
                "no AWS credentials found (set AWS_PROFILE, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or a role)"
            ) from None
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code == "NoSuchConfigurationAggregatorException":
                raise ProviderError(
                    f"--aggregator: no AWS Config aggregator {self.name!r} in {self.home} "
                    "(check the name, and the region: AWS_DEFAULT_REGION or the profile's region)"
                ) from None
            self.coverage_error = _why(exc)
            return None
        except BotoCoreError as exc:
            raise ProviderError(f"cannot reach AWS Config in {self.home}: {_why(exc)}") from None
        aggs = found.get("ConfigurationAggregators") or []
        if not aggs:
            raise ProviderError(f"--aggregator: no AWS Config aggregator {self.name!r} in {self.home}")
        agg: dict[str, Any] = aggs[0]
        self.arn = str(agg.get("ConfigurationAggregatorArn") or self.arn)
        m = re.match(r"^arn:[^:]+:config:[^:]*:(\d{12}):", self.arn)
        self.owner = m.group(1) if m else ""
        return agg

    def scope_regions(self) -> list[str]:
        if self.ctx.regions:
            return list(self.ctx.regions)
        return sorted(loc.code for loc in catalog().locations("aws") if loc.kind == "region")

    def coverage(self, agg: Mapping[str, Any]) -> tuple[set[str] | None, Iterator[Finding]]:
        """``(accounts the aggregator names, or None for the whole organisation, gaps)``."""
        gaps: list[Finding] = []
        org = agg.get("OrganizationAggregationSource")
        sources: list[Mapping[str, Any]] = [org] if org else list(agg.get("AccountAggregationSources") or [])
        accounts: set[str] | None = None if org else {a for s in sources for a in s.get("AccountIds") or []}
        if not sources:
            gaps.append(self.gap("aggregator sources", "the aggregator has no source: it aggregates nothing"))
        for i, s in enumerate(sources):
            if s.get("AllAwsRegions"):
                continue
            covered = set(s.get("AwsRegions") or [])
            who = "the organisation's accounts" if org else "accounts " + ", ".join(sorted(s.get("AccountIds") or []))
            for r in self.scope_regions():
                if r not in covered:
                    gaps.append(
                        self.gap(
                            f"{who} in {r}",
                            f"aggregator {self.name} does not aggregate {r}; resources there are not seen "
                            "(add the region to the aggregator, or scan with --source api)",
                            region=r,
                            suffix=f"source-{i}/region/{r}",
                        )
                    )
        filters = ((agg.get("AggregatorFilters") or {}).get("ResourceType") or {}).get("Value")
        if filters is not None:
            for t in self.types:
                if t not in filters:
                    gaps.append(
                        self.gap(
                            f"{t} resources",
                            f"aggregator {self.name} filters resource types and leaves out {t}",
                            suffix=f"type/{t}",
                        )
                    )
        return accounts, iter(gaps)

    def source_status(self) -> Iterator[Finding]:
        """A gap for every source and region whose last update failed or is outdated."""
        kw: dict[str, Any] = {
            "ConfigurationAggregatorName": self.name,
            "UpdateStatus": ["FAILED", "OUTDATED"],
            "Limit": 100,
        }
        try:
            while True:
                page = self.config.describe_configuration_aggregator_sources_status(**kw)
                for s in page.get("AggregatedSourceStatusList", []):
                    source, region = str(s.get("SourceId", "")), str(s.get("AwsRegion", ""))
                    if self.ctx.regions and region not in self.ctx.regions:
                        continue
                    if self.ctx.accounts and s.get("SourceType") == "ACCOUNT" and source not in self.ctx.accounts:
                        continue
                    detail = ": ".join(x for x in (s.get("LastErrorCode"), s.get("LastErrorMessage")) if x)
                    yield self.gap(
                        f"{s.get('SourceType', 'source').lower()} {source} in {region}",
                        f"aggregation from {source} in {region} is {s.get('LastUpdateStatus')}"
                        + (f" ({detail})" if detail else "")
                        + "; its resources there may be missing or stale",
                        account=source if s.get("SourceType") == "ACCOUNT" else "",
                        region=region,
                        suffix=f"source/{source}/{region}",
                    )
                token = page.get("NextToken")
                if not token:
                    return
                kw["NextToken"] = token
        except (ClientError, BotoCoreError) as exc:
            yield self.gap("aggregator source status", f"cannot read the sources' status: {_why(exc)}", suffix="status")

    def account_gaps(self, covered: set[str] | None) -> Iterator[Finding]:
        """Accounts asked for (``--accounts``, or the organisation's with ``--org``) the aggregator leaves out."""
        wanted: list[str] = list(self.ctx.accounts or [])
        if self.org is not None:
            try:
                members = [a for p in self.org.get_paginator("list_accounts").paginate() for a in p["Accounts"]]
            except (ClientError, BotoCoreError) as exc:
                yield self.gap("organization accounts", f"cannot list the organization's accounts: {_why(exc)}")
                return
            wanted += [a["Id"] for a in members if a.get("Status", "ACTIVE") == "ACTIVE"]
            if covered is None:
                covered = {a["Id"] for a in members}
        for acct in dict.fromkeys(wanted):
            if covered is not None and acct not in covered:
                yield unreadable(
                    provider="aws",
                    account=acct,
                    service="config",
                    resource_type="account",
                    resource_id=f"arn:aws:organizations::{self.owner}:account/{acct}",
                    error=f"account {acct} is not aggregated by {self.name}; its resources are not seen",
                    policy=self.policy.name,
                    scope_gap=True,
                )
            else:
                self.ctx.accounts_scanned.append(acct)

    # ------------------------------------------------------------------ queries

    def expression(self, fields: Iterable[str], conditions: Iterable[str]) -> str:
        where = list(conditions)
        if self.ctx.accounts:
            where.append(f"accountId IN ({_quoted(self.ctx.accounts)})")
        if self.ctx.regions:
            where.append(f"awsRegion IN ({_quoted(self.ctx.regions)})")
        return f"SELECT {', '.join(fields)} WHERE {' AND '.join(where)}"

    def rows(self, expression: str, what: str) -> Iterator[dict[str, Any] | Finding]:
        """Every row of ``expression``, a page (one request) at a time; an unknown finding if it breaks off."""
        kw: dict[str, Any] = {"Expression": expression, "ConfigurationAggregatorName": self.name, "Limit": _PAGE}
        pages = count = 0
        while True:
            try:
                page = self.config.select_aggregate_resource_config(**kw)
            except (ClientError, BotoCoreError) as exc:
                after = f" after {count} rows" if count else ""
                yield self.gap(what, f"query failed{after}: {_why(exc)}", suffix=f"query/{what.replace(' ', '-')}")
                return
            pages += 1
            token = page.get("NextToken")
            if self.ctx.progress:
                self.ctx.progress(pages, pages + (1 if token else 0), f"{what}: page {pages}")
            for i, text in enumerate(page.get("Results") or []):
                count += 1
                try:
                    row = json.loads(text)
                    if not isinstance(row, dict):
                        raise ValueError("not a JSON object")
                except ValueError as exc:
                    yield self.gap(
                        f"{what} row {count}",
                        f"a row of the query is not a configuration item ({exc}): {str(text)[:80]!r}",
                        suffix=f"row/{pages}-{i}",
                    )
                    continue
                yield row
            if not token:
                return
            kw["NextToken"] = token

    def data(self) -> Iterator[Finding]:
        if not self.types:
            return
        conditions = [f"resourceType IN ({_quoted(self.types)})"]
        deferred: list[dict[str, Any]] = []
        for row in self.rows(self.expression(_BASE_FIELDS + _DATA_FIELDS, conditions), "data resources"):
            if isinstance(row, Finding):
                yield row
                continue
            if row.get("resourceType") == "AWS::S3::Bucket":
                name = str(row.get("resourceName") or row.get("resourceId") or "")
                if row.get("awsRegion"):
                    self.bucket_regions[name] = str(row["awsRegion"])
                if _replication_rules(row.get("supplementaryConfiguration", {}).get("BucketReplicationConfiguration")):
                    deferred.append(row)  # its destinations are placed once every bucket is known
                    continue
            if (
                row.get("resourceType") == "AWS::KMS::Key"
                and (row.get("configuration") or {}).get("keyManager") == "AWS"
            ):
                continue  # AWS-managed keys follow the resources that use them
            yield self.judge(row)
        if deferred:
            self.resolve_destinations(deferred)
        for row in deferred:
            yield self.judge(row)

    def resolve_destinations(self, rows: list[dict[str, Any]]) -> None:
        """Place destination buckets the query did not return (another account, or outside --regions)."""
        missing = sorted(
            {
                name
                for row in rows
                for rule in _replication_rules(row["supplementaryConfiguration"]["BucketReplicationConfiguration"])
                if (name := _destination(rule)) and name not in self.bucket_regions
            }
        )
        for start in range(0, len(missing), _PAGE):
            names = missing[start : start + _PAGE]
            expression = (
                "SELECT resourceName, awsRegion WHERE resourceType = 'AWS::S3::Bucket' "
                f"AND resourceName IN ({_quoted(names)})"
            )
            kw: dict[str, Any] = {"Expression": expression, "ConfigurationAggregatorName": self.name, "Limit": _PAGE}
            try:
                for text in self.config.select_aggregate_resource_config(**kw).get("Results") or []:
                    row = json.loads(text)
                    if row.get("resourceName") and row.get("awsRegion"):
                        self.bucket_regions[str(row["resourceName"])] = str(row["awsRegion"])
            except (ClientError, BotoCoreError, ValueError, AttributeError) as exc:
                self.ctx.notes.append(f"replication destination buckets could not be looked up ({exc})")
                return

    def judge(self, row: Mapping[str, Any]) -> Finding:
        """The finding for one configuration item (``unknown`` when it says too little)."""
        region = str(row.get("awsRegion") or "")
        rtype = str(row.get("resourceType") or "")
        role = RESOURCE_TYPES.get(rtype, ("", "", "resource"))[2]
        if not region or not row.get("accountId"):
            return unreadable(
                provider="aws",
                account=str(row.get("accountId") or self.owner),
                service="config",
                resource_type=rtype or "resource",
                resource_id=self.arn_of(row),
                name=str(row.get("resourceName") or ""),
                error="the configuration item has no region or account",
                policy=self.policy.name,
            )
        conf: Mapping[str, Any] = row.get("configuration") or {}
        placements: list[tuple[str | None, str]] = [(region, role)]
        if rtype == "AWS::EC2::Instance" or rtype == "AWS::EC2::Volume":
            zone = conf.get("availabilityZone") or row.get("availabilityZone") or region
            zone = region if zone == "Not Applicable" else zone
            placements = [(region, f"{role} in {zone}")]
        elif rtype == "AWS::DynamoDB::Table":
            placements += [(r.get("regionName"), "global table replica") for r in _list(conf.get("replicas"))]
        elif rtype == "AWS::RDS::DBInstance":
            for rep in _list(conf.get("readReplicaDBInstanceIdentifiers")):
                placements.append((_arn_region(str(rep)) or region, f"read replica {rep}"))
            for rep in _list(conf.get("readReplicaDBClusterIdentifiers")):
                placements.append((_arn_region(str(rep)) or region, f"read replica cluster {rep}"))
            for rep in _list(conf.get("dBInstanceAutomatedBackupsReplications")):
                arn = str((rep or {}).get("dBInstanceAutomatedBackupsArn", ""))
                placements.append((_arn_region(arn) or "unresolved", "automated-backup replication"))
        elif rtype == "AWS::RDS::DBCluster":
            for rep in _list(conf.get("readReplicaIdentifiers")):
                placements.append((_arn_region(str(rep)) or region, f"read replica {rep}"))
        elif rtype == "AWS::KMS::Key":
            mrc = conf.get("multiRegionConfiguration") or {}
            primary = (mrc.get("primaryKey") or {}).get("region")
            if primary and primary != region:
                placements.append((primary, "multi-region primary key"))
            placements += [(r.get("region"), "multi-region replica key") for r in _list(mrc.get("replicaKeys"))]
        elif rtype == "AWS::Backup::BackupPlan":
            plan = conf.get("BackupPlan") or {}
            for rule in _list(plan.get("BackupPlanRule") or plan.get("Rules")):
                for copy in _list((rule or {}).get("CopyActions")):
                    dest = str((copy or {}).get("DestinationBackupVaultArn", ""))
                    placements.append((_arn_region(dest) or "unresolved", f"copy action to {dest}"))
        elif rtype == "AWS::S3::Bucket":
            replication = (row.get("supplementaryConfiguration") or {}).get("BucketReplicationConfiguration")
            unplaced: list[str] = []
            for rule in _replication_rules(replication):
                if str(rule.get("status", "Enabled")).lower() != "enabled":
                    continue
                name = _destination(rule)
                target = self.bucket_regions.get(name)
                if target is None:
                    unplaced.append(name or "?")
                else:
                    placements.append((target, f"replication destination arn:aws:s3:::{name}"))
            if unplaced:
                found = self.finding(row, placements)
                if found.status == "violation":
                    return found  # a bucket already in violation stays one, whatever else it replicates to
                return unreadable(
                    provider="aws",
                    account=str(row["accountId"]),
                    service="s3",
                    resource_type="bucket",
                    resource_id=self.arn_of(row),
                    name=str(row.get("resourceName") or row.get("resourceId") or ""),
                    region=region,
                    placements=[p for p, _ in placements if p],
                    tags=_tags(row),
                    error="replication destination bucket(s) not in the aggregator, region unknown: "
                    + ", ".join(sorted(unplaced)),
                    policy=self.policy.name,
                )
        return self.finding(row, placements)

    def others(self) -> Iterator[Finding]:
        """Resources of any other type in the regions the policy does not allow (the tagging sweep's twin);
        with data classes, also those anywhere whose data-class tag the region may not satisfy."""
        outside = [r for r in self.scope_regions() if not self.policy.check("aws", r).allowed]
        classes = bool(self.policy.data_classes)
        if not self.sweep or not (outside or classes):
            return
        conditions = [f"NOT resourceType IN ({_quoted(RESOURCE_TYPES)})"]
        if not classes:
            conditions.insert(0, f"awsRegion IN ({_quoted(outside)})")
        for row in self.rows(self.expression(_BASE_FIELDS, conditions), "other resources"):
            if isinstance(row, Finding):
                yield row
            elif (
                row.get("awsRegion") in outside
                or _tags(row).get(self.policy.data_class_tag) in self.policy.data_classes
            ):
                yield self.judge(row)


def _destination(rule: Mapping[str, Any]) -> str:
    """The bucket name of a Config replication rule's ``destinationConfig.bucketARN``."""
    dest = rule.get("destinationConfig") or rule.get("destination") or {}
    arn = str(dest.get("bucketARN") or dest.get("bucket") or "") if isinstance(dest, Mapping) else ""
    return arn.rsplit(":", 1)[-1]


def scan_config(ctx: ScanContext) -> Iterator[Finding]:
    """Yield a finding for every data resource the aggregator ``ctx.options["aggregator"]`` knows, and every gap.

    Bad input (no aggregator, an aggregator that does not exist, no credentials)
    raises :class:`ProviderError` here, before anything is yielded.
    """
    scanner = _ConfigScanner(ctx)
    agg = scanner.aggregator()
    return _scan(scanner, agg)


def _scan(scanner: _ConfigScanner, agg: Mapping[str, Any] | None) -> Iterator[Finding]:
    ctx = scanner.ctx
    if agg is None:
        covered: set[str] | None = None
        yield scanner.gap("aggregator coverage", f"cannot read the aggregator: {scanner.coverage_error}")
    else:
        covered, gaps = scanner.coverage(agg)
        yield from gaps
        yield from scanner.source_status()
    yield from scanner.account_gaps(covered)
    accounts: set[str] = set()
    regions: set[str] = set()
    for source in (scanner.data(), scanner.others()):
        for f in source:
            if f.status != "unknown" or not f.scope_gap:
                accounts.add(f.account)
                regions.add(f.region)
            yield f
    if not ctx.accounts and not ctx.org:
        ctx.accounts_scanned.extend(sorted(a for a in accounts if a))
    ctx.regions_scanned[:] = sorted(set(ctx.regions or ()) | {r for r in regions if r})
    ctx.notes.append(
        f"read from AWS Config aggregator {scanner.name} ({scanner.home}): only what its accounts' configuration "
        "recorders record is seen; Secrets Manager and ECR replicas, KMS replica keys and Aurora global database "
        "members appear as their own resources in their regions; S3 multi-region access points are not checked"
    )
