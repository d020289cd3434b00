"""A loopback fake of AWS Config aggregator queries, for tests, the demo and benchmarks.

moto implements configuration aggregators but not the advanced query
(``SelectAggregateResourceConfig``), so :class:`FakeConfig` serves the documented
AWS JSON 1.1 shapes of the few operations an organisation scan needs, on
127.0.0.1, for the real boto3 client (``endpoint_url=fake.url``)::

    with FakeConfig() as fake:
        fake.add_aggregator("org", accounts=["111111111111"], all_regions=True)
        fake.add_item("111111111111", "us-east-1", "AWS::S3::Bucket", "logs")
        client = boto3.client("config", endpoint_url=fake.url, region_name="eu-central-1")
        client.select_aggregate_resource_config(
            Expression="SELECT resourceId, awsRegion WHERE resourceType = 'AWS::S3::Bucket'",
            ConfigurationAggregatorName="org", Limit=100)

Served (``X-Amz-Target``):

* ``StarlingDoveService.SelectAggregateResourceConfig`` — ``SELECT p, p.q …
  WHERE c [AND c …]`` where each condition is ``prop = 'v'``, ``prop IN ('v', …)``
  or ``NOT prop IN (…)`` on a top-level property (``resourceType``, ``awsRegion``,
  ``accountId``, ``resourceId``, ``resourceName``); anything else is an
  ``InvalidExpressionException``. Rows are JSON strings holding only the selected
  properties, nested as in the configuration item (a path through a list maps
  over its elements); pages of ``Limit`` rows (at most 100, 25 by default, as
  documented) linked by ``NextToken``. Only configuration items of accounts and
  regions the aggregator covers are answered (and of its resource-type filter).
* ``StarlingDoveService.DescribeConfigurationAggregators`` and
  ``StarlingDoveService.DescribeConfigurationAggregatorSourcesStatus``
  (``UpdateStatus`` filter, ``Limit`` paging).
* ``AWSOrganizationsV20161128.ListAccounts`` (for ``--org``).

``requests`` counts requests by operation; ``fail`` answers chosen operations
with an AWS error (``AccessDeniedException``, ``ThrottlingException`` …) from a
given page on; ``malformed`` makes chosen rows come back as text that is not
JSON. Nothing here contacts a network beyond loopback.
"""

from __future__ import annotations

import base64
import collections
import hashlib
import json
import re
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from http.server import BaseHTTPRequestHandler
from typing import Any

from residency._net import LoopbackFake

__all__ = ["KINDS", "FakeConfig", "org_layout", "seed_org"]

_CONDITION = re.compile(
    r"^(?P<not>NOT\s+)?(?P<prop>[A-Za-z]+)\s*(?:=\s*'(?P<eq>[^']*)'|IN\s*\((?P<in>[^)]*)\))$", re.IGNORECASE
)
_TOP_LEVEL = {"resourceType", "awsRegion", "accountId", "resourceId", "resourceName"}


class _AwsError(Exception):
    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def _parse(expression: str) -> tuple[list[str], list[tuple[bool, str, frozenset[str]]]]:
    """``(selected properties, [(negated, property, values)])`` of an advanced query."""
    m = re.match(r"^\s*SELECT\s+(?P<fields>.+?)(?:\s+WHERE\s+(?P<where>.+?))?\s*$", expression, re.I | re.S)
    if not m:
        raise _AwsError("InvalidExpressionException", f"cannot parse {expression!r}")
    fields = [f.strip() for f in m.group("fields").split(",")]
    if not all(re.match(r"^[A-Za-z][\w.]*$", f) for f in fields):
        raise _AwsError("InvalidExpressionException", f"unsupported select list in {expression!r}")
    conditions: list[tuple[bool, str, frozenset[str]]] = []
    for part in re.split(r"\s+AND\s+", m.group("where") or "", flags=re.I) if m.group("where") else []:
        c = _CONDITION.match(part.strip())
        if not c or c.group("prop") not in _TOP_LEVEL:
            raise _AwsError("InvalidExpressionException", f"unsupported condition {part.strip()!r}")
        if c.group("eq") is not None:
            values = frozenset([c.group("eq")])
        else:
            values = frozenset(v.strip().strip("'") for v in c.group("in").split(",") if v.strip())
        conditions.append((bool(c.group("not")), c.group("prop"), values))
    return fields, conditions


def _project(item: Any, path: Sequence[str]) -> Any:
    """The part of ``item`` at ``path`` (mapping over lists), or ``None``."""
    if not path:
        return item
    if isinstance(item, list):
        found = [v for v in (_project(x, path) for x in item) if v is not None]
        return found or None
    if not isinstance(item, Mapping) or path[0] not in item:
        return None
    return _project(item[path[0]], path[1:])


def _merge(into: dict[str, Any], path: Sequence[str], value: Any) -> None:
    for key in path[:-1]:
        into = into.setdefault(key, {})
    into[path[-1]] = value


class FakeConfig(LoopbackFake):
    """AWS Config aggregators, their sources' status and an organisation's configuration items."""

    thread_name = "fake-config"

    def __init__(self, *, owner: str = "999999999999", region: str = "eu-central-1") -> None:
        self.owner = owner
        self.region = region
        self.aggregators: dict[str, dict[str, Any]] = {}
        self.statuses: dict[str, list[dict[str, Any]]] = {}
        self.items: list[dict[str, Any]] = []
        self.org_accounts: list[dict[str, Any]] = []
        self.requests: collections.Counter[str] = collections.Counter()
        self.expressions: list[str] = []
        self._faults: list[dict[str, Any]] = []
        self._malformed: set[str] = set()
        self._results: dict[tuple[str, str], list[str]] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ seeding

    def add_aggregator(
        self,
        name: str,
        *,
        accounts: Iterable[str] = (),
        regions: Iterable[str] = (),
        all_regions: bool = False,
        organization: bool = False,
        resource_types: Iterable[str] | None = None,
    ) -> dict[str, Any]:
        """An aggregator over ``accounts`` (or the whole organisation) in ``regions`` (or all of them)."""
        region_part: dict[str, Any] = (
            {"AllAwsRegions": True} if all_regions else {"AllAwsRegions": False, "AwsRegions": sorted(regions)}
        )
        agg: dict[str, Any] = {
            "ConfigurationAggregatorName": name,
            "ConfigurationAggregatorArn": f"arn:aws:config:{self.region}:{self.owner}:config-aggregator/"
            f"config-aggregator-{hashlib.sha1(name.encode()).hexdigest()[:8]}",
            "CreationTime": 1_700_000_000.0,
            "LastUpdatedTime": 1_700_000_000.0,
        }
        if organization:
            agg["OrganizationAggregationSource"] = {
                "RoleArn": f"arn:aws:iam::{self.owner}:role/ConfigAggregator",
                **region_part,
            }
        else:
            agg["AccountAggregationSources"] = [{"AccountIds": sorted(accounts), **region_part}]
        if resource_types is not None:
            agg["AggregatorFilters"] = {"ResourceType": {"Type": "INCLUDE", "Value": sorted(resource_types)}}
        self.aggregators[name] = agg
        self.statuses.setdefault(name, [])
        self._results.clear()
        return agg

    def set_status(self, aggregator: str, source: str, region: str, status: str = "SUCCEEDED", **error: str) -> None:
        """The last update of one source (an account, or the organisation) in one region."""
        self.statuses[aggregator].append(
            {
                "SourceId": source,
                "SourceType": "ORGANIZATION" if source.startswith("o-") else "ACCOUNT",
                "AwsRegion": region,
                "LastUpdateStatus": status,
                "LastUpdateTime": 1_700_000_000.0,
                **({"LastErrorCode": error["code"], "LastErrorMessage": error.get("message", "")} if error else {}),
            }
        )

    def add_org_account(self, account: str, status: str = "ACTIVE") -> None:
        self.org_accounts.append(
            {
                "Id": account,
                "Arn": f"arn:aws:organizations::{self.owner}:account/o-fake/{account}",
                "Email": f"{account}@example.com",
                "Name": f"account {account}",
                "Status": status,
                "JoinedMethod": "CREATED",
                "JoinedTimestamp": 1_700_000_000.0,
            }
        )

    def add_item(
        self,
        account: str,
        region: str,
        resource_type: str,
        resource_id: str,
        *,
        name: str | None = None,
        arn: str | None = None,
        configuration: Mapping[str, Any] | None = None,
        supplementary: Mapping[str, Any] | None = None,
        tags: Mapping[str, str] | None = None,
        availability_zone: str = "Not Applicable",
    ) -> dict[str, Any]:
        """One configuration item, as Config records it."""
        service, kind = resource_type.split("::")[1:3]
        item = {
            "version": "1.3",
            "accountId": account,
            "configurationItemCaptureTime": "2026-12-01T00:00:00.000Z",
            "configurationItemStatus": "OK",
            "resourceType": resource_type,
            "resourceId": resource_id,
            "resourceName": name if name is not None else resource_id,
            "arn": arn or f"arn:aws:{service.lower()}:{region}:{account}:{kind.lower()}/{resource_id}",
            "awsRegion": region,
            "availabilityZone": availability_zone,
            "tags": [{"key": k, "value": v, "tag": f"{k}={v}"} for k, v in (tags or {}).items()],
            "configuration": dict(configuration or {}),
            "supplementaryConfiguration": dict(supplementary or {}),
        }
        self.items.append(item)
        self._results.clear()
        return item

    def fail(self, operation: str, code: str, *, status: int = 400, times: int = -1, from_page: int = 0) -> None:
        """Answer ``operation`` with ``code`` (``times`` requests, all by default; from page ``from_page``)."""
        self._faults.append({"op": operation, "code": code, "status": status, "n": times, "page": from_page})

    def malformed(self, resource_id: str) -> None:
        """The row of ``resource_id`` comes back as text that is not JSON."""
        self._malformed.add(resource_id)
        self._results.clear()

    @property
    def total(self) -> int:
        return sum(self.requests.values())

    def handle(self, target: str, body: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
        op = target.rsplit(".", 1)[-1]
        with self._lock:
            self.requests[op] += 1
        page = _token_page(body.get("NextToken"))
        for f in self._faults:
            if f["op"] == op and f["n"] != 0 and page >= f["page"]:
                f["n"] -= 1 if f["n"] > 0 else 0
                return f["status"], {"__type": f["code"], "message": f"injected {f['code']}"}
        try:
            if op == "SelectAggregateResourceConfig":
                return 200, self._select(body)
            if op == "DescribeConfigurationAggregators":
                return 200, self._describe(body)
            if op == "DescribeConfigurationAggregatorSourcesStatus":
                return 200, self._statuses(body)
            if op == "ListAccounts":
                return 200, self._page(body, self.org_accounts, "Accounts", "MaxResults", 20, "ListAccounts")
        except _AwsError as exc:
            return exc.status, {"__type": exc.code, "message": exc.message}
        return 400, {"__type": "UnknownOperationException", "message": f"{target} is not served by FakeConfig"}

    def _aggregator(self, name: Any) -> dict[str, Any]:
        if name not in self.aggregators:
            raise _AwsError(
                "NoSuchConfigurationAggregatorException", f"The configuration aggregator {name} does not exist."
            )
        return self.aggregators[name]

    def _page(
        self, body: Mapping[str, Any], items: Sequence[Any], key: str, limit_key: str, default: int, scope: str
    ) -> dict[str, Any]:
        limit = int(body.get(limit_key) or default)
        start = _token_page(body.get("NextToken"), scope) * limit if body.get("NextToken") else 0
        out: dict[str, Any] = {key: list(items[start : start + limit])}
        if start + limit < len(items):
            out["NextToken"] = _token(scope, start // limit + 1)
        return out

    def _describe(self, body: Mapping[str, Any]) -> dict[str, Any]:
        names = body.get("ConfigurationAggregatorNames") or sorted(self.aggregators)
        return {"ConfigurationAggregators": [self._aggregator(n) for n in names]}

    def _statuses(self, body: Mapping[str, Any]) -> dict[str, Any]:
        self._aggregator(body.get("ConfigurationAggregatorName"))
        wanted = set(body.get("UpdateStatus") or ("FAILED", "SUCCEEDED", "OUTDATED"))
        rows = [s for s in self.statuses[body["ConfigurationAggregatorName"]] if s["LastUpdateStatus"] in wanted]
        return self._page(body, rows, "AggregatedSourceStatusList", "Limit", 100, "status")

    def _covers(self, agg: Mapping[str, Any], item: Mapping[str, Any]) -> bool:
        filters = agg.get("AggregatorFilters", {}).get("ResourceType", {}).get("Value")
        if filters is not None and item["resourceType"] not in filters:
            return False
        org = agg.get("OrganizationAggregationSource")
        sources = [org] if org else agg.get("AccountAggregationSources", [])
        members = {a["Id"] for a in self.org_accounts if a["Status"] == "ACTIVE"}
        for s in sources:
            accounts = members if org else set(s.get("AccountIds", []))
            if item["accountId"] in accounts and (
                s.get("AllAwsRegions") or item["awsRegion"] in s.get("AwsRegions", [])
            ):
                return True
        return False

    def _select(self, body: Mapping[str, Any]) -> dict[str, Any]:
        name, expression = body.get("ConfigurationAggregatorName"), str(body.get("Expression", ""))
        agg = self._aggregator(name)
        limit = int(body.get("Limit") or body.get("MaxResults") or 25)
        if limit > 100:
            raise _AwsError("InvalidLimitException", "Limit must be at most 100")
        fields, conditions = _parse(expression)
        key = (str(name), expression)
        with self._lock:
            if key not in self._results:
                self.expressions.append(expression)
                rows: list[str] = []
                for item in self.items:
                    if not self._covers(agg, item):
                        continue
                    if any((item.get(p) in values) == negated for negated, p, values in conditions):
                        continue
                    if item["resourceId"] in self._malformed:
                        rows.append('{"resourceId": "' + item["resourceId"] + '", "configuration": {')
                        continue
                    row: dict[str, Any] = {}
                    for f in fields:
                        value = _project(item, f.split("."))
                        if value is not None:
                            _merge(row, f.split("."), value)
                    rows.append(json.dumps(row, separators=(",", ":")))
                self._results[key] = rows
            rows = self._results[key]
        digest = hashlib.sha1(f"{name}|{expression}".encode()).hexdigest()[:12]
        page = _token_page(body.get("NextToken"), digest) if body.get("NextToken") else 0
        start = page * limit
        out: dict[str, Any] = {
            "Results": rows[start : start + limit],
            "QueryInfo": {"SelectFields": [{"Name": f} for f in fields]},
        }
        if start + limit < len(rows):
            out["NextToken"] = _token(digest, page + 1)
        return out


def _token(scope: str, page: int) -> str:
    return base64.urlsafe_b64encode(f"{scope}:{page}".encode()).decode()


def _token_page(token: Any, scope: str | None = None) -> int:
    """The page a ``NextToken`` points at (0 without one); ``InvalidNextTokenException`` if foreign."""
    if not token:
        return 0
    try:
        got_scope, page = base64.urlsafe_b64decode(str(token).encode()).decode().rsplit(":", 1)
        if scope is not None and got_scope != scope:
            raise ValueError(got_scope)
        return int(page)
    except ValueError:
        raise _AwsError("InvalidNextTokenException", "The nextToken provided is invalid") from None


class _Handler(BaseHTTPRequestHandler):
    owner: FakeConfig
    protocol_version = "HTTP/1.1"
    # headers and body are two writes: without this, Nagle's algorithm and delayed ACKs stall each answer ~40 ms
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body = json.loads(raw or b"{}")
            status, answer = self.owner.handle(self.headers.get("X-Amz-Target", ""), body)
        except (ValueError, _AwsError) as exc:
            status, answer = 400, {"__type": "SerializationException", "message": str(exc)}
        data = json.dumps(answer, default=str).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-amzn-RequestId", hashlib.sha1(raw).hexdigest())
        self.end_headers()
        self.wfile.write(data)


# ---------------------------------------------------------------------- seeding an organisation

_EU = ("eu-central-1", "eu-west-1", "eu-west-3", "eu-north-1")
_OUTSIDE = ("us-east-1", "eu-west-2", "ap-southeast-2")
#: the data stores of :func:`org_layout`, in turn
KINDS = ("bucket", "table", "volume", "key", "secret", "repository", "db")


def org_layout(resources: int, *, outside_every: int = 20) -> Iterator[tuple[int, str, str, bool]]:
    """``(n, kind, region, outside the EU)`` for each of one account's ``resources`` (the benchmarks share it).

    Every ``outside_every``-th resource is in us-east-1, London or Sydney, the rest in EU regions.
    """
    for n in range(resources):
        outside = n % outside_every == outside_every - 1
        region = _OUTSIDE[n % len(_OUTSIDE)] if outside else _EU[n % len(_EU)]
        yield n, KINDS[n % len(KINDS)], region, outside


def seed_org(
    fake: FakeConfig,
    *,
    accounts: int,
    resources: int,
    aggregator: str = "org",
    outside_every: int = 20,
    first_account: int = 100_000_000_000,
) -> dict[str, str]:
    """An organisation of ``accounts`` × ``resources`` data resources behind one all-regions aggregator.

    The layout is :func:`org_layout`; every 50th resource that is a bucket replicates
    to the account's previous bucket. Returns the truth: resource ARN ->
    ``"violation"`` or ``"compliant"``.
    """
    truth: dict[str, str] = {}
    fake.add_aggregator(aggregator, organization=True, all_regions=True)
    fake.set_status(aggregator, "o-fake", "eu-central-1")
    for a in (f"{first_account + i:012d}" for i in range(accounts)):
        fake.add_org_account(a)
        buckets: list[tuple[str, str]] = []
        for n, kind, region, outside in org_layout(resources, outside_every=outside_every):
            rid = f"{kind}-{a}-{n:05d}"
            if kind == "bucket":
                arn = f"arn:aws:s3:::{rid}"
                sup: dict[str, Any] = {}
                if buckets and n % 50 == 0:
                    dest, dest_region = buckets[-1]
                    sup["BucketReplicationConfiguration"] = {
                        "roleARN": f"arn:aws:iam::{a}:role/replication",
                        "rules": {
                            "r1": {"destinationConfig": {"bucketARN": f"arn:aws:s3:::{dest}"}, "status": "Enabled"}
                        },
                    }
                    outside = outside or dest_region in _OUTSIDE
                buckets.append((rid, region))
                fake.add_item(a, region, "AWS::S3::Bucket", rid, arn=arn, supplementary=sup)
            elif kind == "table":
                arn = f"arn:aws:dynamodb:{region}:{a}:table/{rid}"
                fake.add_item(a, region, "AWS::DynamoDB::Table", rid, arn=arn, configuration={"tableName": rid})
            elif kind == "volume":
                arn = f"arn:aws:ec2:{region}:{a}:volume/{rid}"
                fake.add_item(a, region, "AWS::EC2::Volume", rid, arn=arn, availability_zone=f"{region}a")
            elif kind == "key":
                arn = f"arn:aws:kms:{region}:{a}:key/{rid}"
                fake.add_item(a, region, "AWS::KMS::Key", rid, arn=arn, configuration={"keyManager": "CUSTOMER"})
            elif kind == "secret":
                arn = f"arn:aws:secretsmanager:{region}:{a}:secret:{rid}"
                fake.add_item(a, region, "AWS::SecretsManager::Secret", rid, arn=arn)
            elif kind == "repository":
                arn = f"arn:aws:ecr:{region}:{a}:repository/{rid}"
                fake.add_item(a, region, "AWS::ECR::Repository", rid, arn=arn)
            else:
                arn = f"arn:aws:rds:{region}:{a}:db:{rid}"
                fake.add_item(a, region, "AWS::RDS::DBInstance", rid, arn=arn)
            truth[arn] = "violation" if outside else "compliant"
    return truth


FakeConfig.handler = _Handler
