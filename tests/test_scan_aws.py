"""``run_scan("aws")`` against a real moto server over HTTP, and botocore Stubber where moto lacks a feature.

``_Wire`` serves the same in-process moto backends on another loopback port behind
a WSGI middleware that counts requests per operation as they arrive and can
answer chosen operations with an error (AccessDenied, throttling), so
"unreadable" and "retried" are tested against a real HTTP peer.

Every test limits the regions it scans, so the suite stays fast.
"""

from __future__ import annotations

import collections
import datetime as dt
import io
import json
import re
import threading
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from residency import parse_policy
from residency._errors import ProviderError
from residency._findings import Finding
from residency._scan import make_context, run_scan

ACCOUNT = "123456789012"
REGIONS = ["eu-central-1", "eu-west-1", "eu-west-2", "us-east-1"]


_CLIENTS: dict[tuple[str, str, str], Any] = {}


def _client(url: str, service: str, region: str, session: Any = None) -> Any:
    if session is not None:
        return session.client(service, region_name=region, endpoint_url=url)
    key = (url, service, region)
    if key not in _CLIENTS:
        _CLIENTS[key] = boto3.Session().client(service, region_name=region, endpoint_url=url)
    return _CLIENTS[key]


def _bucket(url: str, name: str, region: str, session: Any = None) -> None:
    kw: dict[str, Any] = {}
    if region != "us-east-1":
        kw["CreateBucketConfiguration"] = {"LocationConstraint": region}
    _client(url, "s3", region, session).create_bucket(Bucket=name, **kw)


def _by_id(findings: list[Finding]) -> dict[str, Finding]:
    return {f.resource_id: f for f in findings}


class _Counter:
    """Counts the requests a boto3 session sends (botocore's ``before-send`` event)."""

    def __init__(self) -> None:
        self.ops: collections.Counter[str] = collections.Counter()
        self.session = boto3.Session()
        self.session.events.register("before-call", self._on_call)

    def _on_call(self, model: Any, params: Any, **kw: Any) -> None:
        op = model.name
        if op == "ListBuckets" and isinstance(params, dict) and "bucket-region" in str(params.get("query_string")):
            op = "ListBuckets(BucketRegion)"
        self.ops[op] += 1

    @property
    def total(self) -> int:
        return sum(self.ops.values())


_CREDENTIAL = re.compile(r"Credential=[^/]+/\d+/([^/]+)/([^/]+)/")
_QUERY_SERVICES = {"ec2", "sts", "rds", "iam", "sns", "sqs"}


class _Wire:
    """The in-process moto backends on their own loopback port, behind a counting, fault-injecting middleware.

    ``ops`` counts requests per ``service:Operation`` as they arrive (S3's
    ``ListBuckets`` split into filtered and unfiltered); ``fail(service, op, code, …)``
    answers the next ``times`` matching requests (all of them by default) with an AWS error.
    """

    def __init__(self) -> None:
        from moto.server import DomainDispatcherApplication, create_backend_app
        from werkzeug.serving import make_server

        self.app = DomainDispatcherApplication(create_backend_app)
        self.ops: collections.Counter[str] = collections.Counter()
        self.active = 0
        self.peak = 0
        self._faults: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self.server = make_server("127.0.0.1", 0, self, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def fail(
        self,
        service: str,
        op: str,
        code: str,
        *,
        status: int = 400,
        region: str | None = None,
        times: int = -1,
        body: str = "",
    ) -> None:
        """Answer matching requests (``body``: a substring of the request body) with ``code``."""
        self._faults.append(
            {"service": service, "op": op, "code": code, "status": status, "region": region, "n": times, "body": body}
        )

    def reset_counts(self) -> None:
        with self._lock:
            self.ops.clear()
            self.peak = 0

    @property
    def total(self) -> int:
        return sum(self.ops.values())

    @staticmethod
    def _classify(environ: dict[str, Any], body: bytes) -> tuple[str, str, str]:
        m = _CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", ""))
        region, service = (m.group(1), m.group(2)) if m else ("", "unsigned")
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "/")
        query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        if environ.get("HTTP_X_AMZ_TARGET"):
            return service, region, environ["HTTP_X_AMZ_TARGET"].rsplit(".", 1)[-1]
        if service == "s3" and path.startswith("/v20180820/"):
            return "s3control", region, f"{method} {path.split('/')[2]}"
        if service == "s3":
            if path in ("", "/"):
                return service, region, "ListBuckets(BucketRegion)" if "bucket-region" in query else "ListBuckets"
            sub = {
                "replication": "GetBucketReplication",
                "location": "GetBucketLocation",
                "tagging": "GetBucketTagging",
            }
            for key, op in sub.items():
                if key in query and method == "GET":
                    return service, region, op
            return service, region, {"HEAD": "HeadBucket"}.get(method, f"{method} {path}")
        if service in _QUERY_SERVICES:
            form = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
            action = (query.get("Action") or form.get("Action") or ["?"])[0]
            return service, region, action
        return service, region, f"{method} {path}"

    def _error(self, service: str, fault: dict[str, Any], start_response: Any) -> list[bytes]:
        code, status = fault["code"], fault["status"]
        if service == "s3":
            body, ctype = f"<Error><Code>{code}</Code><Message>injected</Message></Error>", "application/xml"
        elif service == "ec2":
            body = (
                f"<Response><Errors><Error><Code>{code}</Code><Message>injected</Message></Error></Errors></Response>"
            )
            ctype = "text/xml"
        elif service in _QUERY_SERVICES:
            error = f"<Error><Type>Sender</Type><Code>{code}</Code><Message>injected</Message></Error>"
            body = f"<ErrorResponse>{error}</ErrorResponse>"
            ctype = "text/xml"
        else:
            body, ctype = json.dumps({"__type": code, "message": "injected"}), "application/x-amz-json-1.1"
        start_response(f"{status} Error", [("Content-Type", ctype), ("x-amzn-ErrorType", code)])
        return [body.encode()]

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"] = io.BytesIO(body)
        service, region, op = self._classify(environ, body)
        with self._lock:
            self.ops[f"{service}:{op}"] += 1
            self.active += 1
            self.peak = max(self.peak, self.active)
            fault = next(
                (
                    f
                    for f in self._faults
                    if f["n"] != 0
                    and f["service"] == service
                    and f["op"] == op
                    and f["region"] in (None, region)
                    and f["body"].encode() in body
                ),
                None,
            )
            if fault is not None and fault["n"] > 0:
                fault["n"] -= 1
        try:
            if fault is not None:
                return self._error(service, fault, start_response)
            return self.app(environ, start_response)
        finally:
            with self._lock:
                self.active -= 1


@pytest.fixture
def wire(reset_moto_server: str) -> Iterator[_Wire]:
    """A fresh moto state, served behind the counting middleware (the plain server shares the state)."""
    w = _Wire()
    try:
        yield w
    finally:
        w.server.shutdown()
        w.server.server_close()


def test_mixed_estate_every_place_data_lands(reset_moto_server: str) -> None:
    url = reset_moto_server
    _bucket(url, "eu-data", "eu-central-1")
    _bucket(url, "uk-data", "eu-west-2")
    _bucket(url, "us-data", "us-east-1")
    _bucket(url, "eu-replicated", "eu-west-1")
    _bucket(url, "us-replica", "us-east-1")
    for name, region in (("eu-replicated", "eu-west-1"), ("us-replica", "us-east-1")):
        _client(url, "s3", region).put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    _client(url, "s3", "eu-west-1").put_bucket_replication(
        Bucket="eu-replicated",
        ReplicationConfiguration={
            "Role": f"arn:aws:iam::{ACCOUNT}:role/r",
            "Rules": [
                {
                    "ID": "us",
                    "Status": "Enabled",
                    "Priority": 1,
                    "Filter": {"Prefix": ""},
                    "DeleteMarkerReplication": {"Status": "Disabled"},
                    "Destination": {"Bucket": "arn:aws:s3:::us-replica"},
                }
            ],
        },
    )
    _client(url, "dynamodb", "eu-west-1").create_table(
        TableName="sessions",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    rds = _client(url, "rds", "eu-west-1")
    rds.create_db_instance(
        DBInstanceIdentifier="db1",
        DBInstanceClass="db.t3.micro",
        Engine="postgres",
        AllocatedStorage=20,
        MasterUsername="u",
        MasterUserPassword="password123",
    )
    _client(url, "rds", "us-east-1").create_db_instance_read_replica(
        DBInstanceIdentifier="db1-us",
        SourceDBInstanceIdentifier=f"arn:aws:rds:eu-west-1:{ACCOUNT}:db:db1",
        DBInstanceClass="db.t3.micro",
    )
    ec2 = _client(url, "ec2", "eu-central-1")
    vol = ec2.create_volume(AvailabilityZone="eu-central-1a", Size=1)
    ec2.create_snapshot(VolumeId=vol["VolumeId"])
    kms = _client(url, "kms", "eu-west-1")
    key = kms.create_key(MultiRegion=True)["KeyMetadata"]
    kms.replicate_key(KeyId=key["KeyId"], ReplicaRegion="us-east-1")
    _client(url, "secretsmanager", "eu-central-1").create_secret(
        Name="db-password", SecretString="x", AddReplicaRegions=[{"Region": "us-east-1"}]
    )
    backup = _client(url, "backup", "eu-west-1")
    backup.create_backup_vault(BackupVaultName="vault")
    backup.create_backup_plan(
        BackupPlan={
            "BackupPlanName": "nightly",
            "Rules": [
                {
                    "RuleName": "r",
                    "TargetBackupVaultName": "vault",
                    "CopyActions": [
                        {"DestinationBackupVaultArn": f"arn:aws:backup:us-east-1:{ACCOUNT}:backup-vault:us"}
                    ],
                }
            ],
        }
    )
    ecr = _client(url, "ecr", "eu-central-1")
    ecr.create_repository(repositoryName="app")
    ecr.put_replication_configuration(
        replicationConfiguration={"rules": [{"destinations": [{"region": "us-east-1", "registryId": ACCOUNT}]}]}
    )
    _client(url, "sns", "us-east-1").create_topic(Name="alerts", Tags=[{"Key": "team", "Value": "ops"}])

    result = run_scan("aws", "eu", regions=REGIONS, endpoint_url=url)
    by_id = _by_id(result.findings)

    def status(rid: str) -> str:
        return by_id[rid].status

    assert status("arn:aws:s3:::eu-data") == "compliant"
    assert status("arn:aws:s3:::uk-data") == "violation"
    assert by_id["arn:aws:s3:::uk-data"].countries == ("GB",)
    assert status("arn:aws:s3:::us-data") == "violation"
    rep = by_id["arn:aws:s3:::eu-replicated"]
    assert rep.status == "violation"
    assert [loc.code for loc in rep.locations] == ["eu-west-1", "us-east-1"]
    assert rep.roles[1] == "replication destination arn:aws:s3:::us-replica"
    assert "replication destination" in rep.reason
    assert status(f"arn:aws:dynamodb:eu-west-1:{ACCOUNT}:table/sessions") == "compliant"
    db = by_id[f"arn:aws:rds:eu-west-1:{ACCOUNT}:db:db1"]
    assert db.status == "violation"
    assert [loc.code for loc in db.locations] == ["eu-west-1", "us-east-1"]
    assert status(f"arn:aws:rds:us-east-1:{ACCOUNT}:db:db1-us") == "violation"
    vols = [f for f in result.findings if f.resource_type == "volume"]
    snaps = [f for f in result.findings if f.resource_type == "snapshot"]
    assert [f.status for f in vols] == ["compliant"]
    assert [f.status for f in snaps] == ["compliant"]  # moto's public AMI snapshots are not ours
    keys = [f for f in result.findings if f.service == "kms"]
    assert {f.region for f in keys} == {"eu-west-1", "us-east-1"}
    assert all(f.status == "violation" for f in keys)  # the EU primary has a US replica
    secret = next(f for f in result.findings if f.service == "secretsmanager" and f.region == "eu-central-1")
    assert secret.status == "violation"
    assert "replica secret" in secret.roles
    plan = next(f for f in result.findings if f.resource_type == "backup-plan")
    assert plan.status == "violation"
    assert plan.locations[1].code == "us-east-1"
    repo = next(f for f in result.findings if f.resource_type == "repository")
    assert repo.status == "violation"
    assert "registry replication" in repo.roles[1]
    topic = by_id[f"arn:aws:sns:us-east-1:{ACCOUNT}:alerts"]
    assert topic.status == "violation"  # found by the tagging sweep: any resource in us-east-1
    assert topic.tags == {"team": "ops"}
    assert result.gaps == []
    assert result.scope.accounts == (ACCOUNT,)
    assert result.exit_code() == 1
    assert result.findings[0].status == "violation"


def test_bucket_locations_never_one_call_per_bucket(wire: _Wire) -> None:
    """moto returns no ``BucketRegion`` field but honours the filter: filtered ListBuckets calls (at most one per
    enabled region, busiest first, stopping once every bucket is placed) place every bucket, with no
    GetBucketLocation and no HeadBucket at all. Counted at the wire."""
    url = wire.url
    layout = {"eu-central-1": 12, "eu-west-1": 9, "eu-west-2": 5, "us-east-1": 14}
    for region, n in layout.items():
        for i in range(n):
            _bucket(url, f"count-{region}-{i}", region)
    wire.reset_counts()
    result = run_scan("aws", "eu", regions=list(layout), endpoint_url=url, services=["s3"], s3_replication="off")
    assert len(result.findings) == sum(layout.values())
    assert collections.Counter(f.status for f in result.findings) == {"compliant": 21, "violation": 19}
    ops = wire.ops
    for per_bucket in ("GetBucketLocation", "HeadBucket", "GetBucketTagging", "GetBucketReplication"):
        assert ops[f"s3:{per_bucket}"] == 0, ops
    assert ops["s3:ListBuckets"] == 1, ops
    # one per scanned region (busiest first, stopping once every bucket is placed)
    assert ops["s3:ListBuckets(BucketRegion)"] == len(layout), ops
    # the rest is per account or per region, not per bucket: STS, DescribeRegions, bulk tags, MRAPs
    assert wire.total == 1 + 1 + 1 + len(layout) + len(layout) + 1, ops

    # every enabled region (no --regions): us-west-2 (empty) is asked too, then all 40 are placed
    wire.reset_counts()
    everywhere = run_scan("aws", "eu", endpoint_url=url, services=["s3"], s3_replication="off")
    assert len(everywhere.findings) == sum(layout.values())
    assert wire.ops["s3:ListBuckets(BucketRegion)"] == 5, wire.ops
    assert wire.ops["s3:HeadBucket"] == wire.ops["s3:GetBucketLocation"] == 0

    # replication is asked only where it can change the verdict: the 21 EU buckets
    wire.reset_counts()
    run_scan("aws", "eu", regions=list(layout), endpoint_url=url, services=["s3"])
    assert wire.ops["s3:GetBucketReplication"] == 21
    wire.reset_counts()
    run_scan("aws", "eu", regions=list(layout), endpoint_url=url, services=["s3"], s3_replication="all")
    assert wire.ops["s3:GetBucketReplication"] == sum(layout.values())
    assert wire.ops["s3:GetBucketLocation"] == wire.ops["s3:HeadBucket"] == 0

    # a narrower --regions asks only its own regions: the other buckets are outside the scope, unasked
    wire.reset_counts()
    london = run_scan("aws", "eu", regions=["eu-west-2"], endpoint_url=url, services=["s3"], s3_replication="off")
    assert sorted(f.name for f in london.findings) == sorted(f"count-eu-west-2-{i}" for i in range(5))
    assert wire.ops["s3:HeadBucket"] == wire.ops["s3:GetBucketLocation"] == 0
    assert wire.ops["s3:ListBuckets(BucketRegion)"] == 1

    # a filtered call that fails: what it would have placed falls back to HeadBucket, nothing is lost
    wire.fail("s3", "ListBuckets(BucketRegion)", "InternalError", status=500)
    wire.reset_counts()
    london = run_scan("aws", "eu", regions=["eu-west-2"], endpoint_url=url, services=["s3"], s3_replication="off")
    assert sorted(f.name for f in london.findings) == sorted(f"count-eu-west-2-{i}" for i in range(5))
    assert wire.ops["s3:HeadBucket"] == sum(layout.values())
    assert any("ListBuckets filtered by eu-west-2 failed" in n for n in london.notes)


def test_requests_do_not_grow_with_buckets(wire: _Wire) -> None:
    """The same estate shape at 10 and 60 buckets costs the same number of requests (s3_replication off)."""
    totals = []
    for n in (10, 60):
        urllib.request.urlopen(urllib.request.Request(f"{wire.url}/moto-api/reset", method="POST")).close()
        for i in range(n):
            _bucket(wire.url, f"grow-{n}-{i}", ("eu-west-1", "us-east-1")[i % 2])
        wire.reset_counts()
        run_scan(
            "aws",
            "eu",
            regions=["eu-west-1", "us-east-1"],
            endpoint_url=wire.url,
            services=["s3"],
            s3_replication="off",
        )
        totals.append(wire.total)
    assert totals[0] == totals[1], totals


def _stubbed_session(stubs: dict[tuple[str, str], Stubber]) -> Any:
    class _Session:
        region_name = "eu-central-1"

        def client(self, service: str, region_name: str, **kw: Any) -> Any:
            return stubs[(service, region_name)].client

    return _Session()


def _stub(service: str, region: str, stubs: dict[tuple[str, str], Stubber]) -> Stubber:
    client = boto3.Session().client(service, region_name=region)
    stubs[(service, region)] = Stubber(client)
    return stubs[(service, region)]


def _preamble(stubs: dict[tuple[str, str], Stubber], regions: list[str]) -> None:
    _stub("sts", "eu-central-1", stubs).add_response("get_caller_identity", {"Account": ACCOUNT})
    _stub("ec2", "eu-central-1", stubs).add_response(
        "describe_regions",
        {"Regions": [{"RegionName": r, "OptInStatus": "opt-in-not-required"} for r in regions]},
        {"AllRegions": True},
    )


def _activate(stubs: dict[tuple[str, str], Stubber]) -> None:
    for s in stubs.values():
        s.activate()


def test_bucket_region_field_head_bucket_fallback_and_mrap_with_stubber() -> None:
    """Stubber: moto lacks ListBuckets' ``BucketRegion`` field and S3 Control multi-region access
    points. A bucket with the field needs no further call; one the filters miss gets one HeadBucket."""
    stubs: dict[tuple[str, str], Stubber] = {}
    _preamble(stubs, ["eu-west-1"])
    s3 = _stub("s3", "us-east-1", stubs)
    s3.add_response(
        "list_buckets",
        {"Buckets": [{"Name": "has-field", "BucketRegion": "eu-west-1"}, {"Name": "elsewhere"}]},
        {},
    )
    s3.add_response("list_buckets", {"Buckets": []}, {"BucketRegion": "eu-west-1"})
    s3.add_client_error(
        "head_bucket",
        service_error_code="301",
        http_status_code=301,
        expected_params={"Bucket": "elsewhere"},
        response_meta={"HTTPHeaders": {"x-amz-bucket-region": "ap-southeast-2"}},
    )
    _stub("resourcegroupstaggingapi", "ap-southeast-2", stubs).add_response(
        "get_resources",
        {"ResourceTagMappingList": [{"ResourceARN": "arn:aws:s3:::elsewhere", "Tags": [{"Key": "k", "Value": "v"}]}]},
    )
    _stub("resourcegroupstaggingapi", "eu-west-1", stubs).add_response("get_resources", {"ResourceTagMappingList": []})
    _stub("s3control", "us-west-2", stubs).add_response(
        "list_multi_region_access_points",
        {
            "AccessPoints": [
                {
                    "Name": "global-ap",
                    "Alias": "mfzwi23gnjvgw.mrap",
                    "Regions": [
                        {"Bucket": "has-field", "Region": "eu-west-1"},
                        {"Bucket": "elsewhere", "Region": "ap-southeast-2"},
                    ],
                }
            ]
        },
        {"AccountId": ACCOUNT},
    )
    _activate(stubs)
    result = run_scan("aws", "eu", session=_stubbed_session(stubs), services=["s3"], s3_replication="off")
    by_id = _by_id(result.findings)
    assert by_id["arn:aws:s3:::has-field"].status == "compliant"
    far = by_id["arn:aws:s3:::elsewhere"]
    assert (far.status, far.region, dict(far.tags)) == ("violation", "ap-southeast-2", {"k": "v"})
    mrap = next(f for f in result.findings if f.resource_type == "multi-region-access-point")
    assert mrap.status == "violation"
    assert [loc.code for loc in mrap.locations] == ["eu-west-1", "ap-southeast-2"]
    for s in stubs.values():
        s.assert_no_pending_responses()


def test_dynamodb_global_table_replicas_with_stubber() -> None:
    """Stubber: moto's DescribeTable does not report global-table (2019) replicas."""
    stubs: dict[tuple[str, str], Stubber] = {}
    _preamble(stubs, ["eu-west-1"])
    _stub("resourcegroupstaggingapi", "eu-west-1", stubs).add_response("get_resources", {"ResourceTagMappingList": []})
    ddb = _stub("dynamodb", "eu-west-1", stubs)
    ddb.add_response("list_tables", {"TableNames": ["orders"]})
    arn = f"arn:aws:dynamodb:eu-west-1:{ACCOUNT}:table/orders"
    ddb.add_response(
        "describe_table",
        {
            "Table": {
                "TableName": "orders",
                "TableArn": arn,
                "Replicas": [{"RegionName": "eu-central-1"}, {"RegionName": "us-west-2"}],
            }
        },
        {"TableName": "orders"},
    )
    _activate(stubs)
    result = run_scan("aws", "eu", session=_stubbed_session(stubs), services=["dynamodb"])
    (table,) = result.findings
    assert table.status == "violation"
    assert [loc.code for loc in table.locations] == ["eu-west-1", "eu-central-1", "us-west-2"]
    assert table.roles == ("table", "global table replica", "global table replica")
    assert "us-west-2" in table.reason


def test_access_denied_is_unknown_never_skipped_or_compliant() -> None:
    """Stubber: moto does not enforce IAM, so AccessDenied answers are stubbed."""
    stubs: dict[tuple[str, str], Stubber] = {}
    _preamble(stubs, ["eu-west-1"])
    _stub("s3", "us-east-1", stubs).add_client_error(
        "list_buckets",
        service_error_code="AccessDenied",
        service_message="no s3:ListAllMyBuckets",
        http_status_code=403,
    )
    _stub("resourcegroupstaggingapi", "eu-west-1", stubs).add_response("get_resources", {"ResourceTagMappingList": []})
    _stub("dynamodb", "eu-west-1", stubs).add_client_error(
        "list_tables", service_error_code="AccessDeniedException", http_status_code=400
    )
    _activate(stubs)
    result = run_scan("aws", "eu", session=_stubbed_session(stubs), services=["s3", "dynamodb"])
    assert sorted(f.status for f in result.findings) == ["unknown", "unknown"]
    assert {f.service for f in result.findings} == {"s3", "dynamodb"}
    assert all("AccessDenied" in (f.error or "") for f in result.findings)
    assert len(result.gaps) == 2
    assert "AccessDenied on ListBuckets" in " ".join(result.gaps)
    assert result.exit_code() == 3  # could not look: never a pass by default
    assert result.exit_code(allow_unknown=True) == 0
    assert result.exit_code(fail_on_unknown=True) == 3  # the deprecated flag changes nothing


def test_disabled_opt_in_region_is_unknown(reset_moto_server: str) -> None:
    result = run_scan("aws", "eu", regions=["ap-east-1", "eu-west-1"], endpoint_url=reset_moto_server, services=["s3"])
    (gap,) = [f for f in result.findings if f.status == "unknown"]
    assert gap.region == "ap-east-1"
    assert "opt-in region not enabled" in (gap.error or "")


def test_waivers_and_data_classes_apply(reset_moto_server: str) -> None:
    url = reset_moto_server
    _bucket(url, "legacy-us", "us-east-1")
    _bucket(url, "public-assets", "us-east-1")
    _bucket(url, "health-fr", "eu-west-3")
    s3 = _client(url, "s3", "us-east-1")
    s3.put_bucket_tagging(Bucket="public-assets", Tagging={"TagSet": [{"Key": "data-class", "Value": "public"}]})
    s3.put_bucket_tagging(Bucket="health-fr", Tagging={"TagSet": [{"Key": "data-class", "Value": "health"}]})
    policy = parse_policy(
        {
            "name": "team",
            "allow": "EU",
            "data_classes": {"classes": {"public": {"allow": "any"}, "health": {"allow": ["DE"]}}},
            "waivers": [
                {
                    "id": "legacy",
                    "justification": "migration DPO-42",
                    "expires": "2099-01-31",
                    "resource": "arn:aws:s3:::legacy-*",
                }
            ],
        }
    )
    result = run_scan(
        "aws", policy, regions=["us-east-1", "eu-west-3"], endpoint_url=url, services=["s3"], today=dt.date(2026, 1, 1)
    )
    by_id = _by_id(result.findings)
    legacy = by_id["arn:aws:s3:::legacy-us"]
    assert (legacy.status, legacy.waiver, legacy.expires) == ("waived", "legacy", dt.date(2099, 1, 31))
    assert by_id["arn:aws:s3:::public-assets"].status == "compliant"
    health = by_id["arn:aws:s3:::health-fr"]
    assert health.status == "violation"
    assert health.rule.startswith("data-class 'health'")
    assert dict(health.tags) == {"data-class": "health"}


def test_accounts_by_assuming_a_role(reset_moto_server: str) -> None:
    url = reset_moto_server
    sts = _client(url, "sts", "eu-central-1")
    creds = sts.assume_role(
        RoleArn="arn:aws:iam::111111111111:role/OrganizationAccountAccessRole", RoleSessionName="seed"
    )["Credentials"]
    member = boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )
    _bucket(url, "member-us", "us-east-1", member)
    _bucket(url, "mgmt-eu", "eu-west-1")
    result = run_scan(
        "aws",
        "eu",
        regions=["us-east-1", "eu-west-1"],
        endpoint_url=url,
        services=["s3"],
        accounts=["111111111111", ACCOUNT],
    )
    found = {(f.account, f.resource_id, f.status) for f in result.findings}
    assert found == {
        ("111111111111", "arn:aws:s3:::member-us", "violation"),
        (ACCOUNT, "arn:aws:s3:::mgmt-eu", "compliant"),
    }
    assert result.scope.accounts == ("111111111111", ACCOUNT)


def test_unknown_service_and_no_credentials_are_provider_errors(
    reset_moto_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ProviderError, match="unknown AWS service"):
        run_scan("aws", "eu", endpoint_url=reset_moto_server, services=["s4"])
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(var)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(ProviderError, match="no AWS credentials"):
        run_scan("aws", "eu", endpoint_url=reset_moto_server)


def test_endpoint_from_environment(reset_moto_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _bucket(reset_moto_server, "env-endpoint", "eu-west-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", reset_moto_server)
    result = run_scan("aws", "eu", regions=["eu-west-1"], services=["s3"])
    assert [f.resource_id for f in result.findings] == ["arn:aws:s3:::env-endpoint"]
    assert not re.search("multi-region access points not checked", " ".join(result.notes))


def _loopback_host(request: Any, **_: Any) -> None:
    parts = urllib.parse.urlsplit(request.url)
    request.url = urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.removeprefix(f"{ACCOUNT}.")))


def test_multi_region_access_point_on_moto(reset_moto_server: str) -> None:
    """S3 Control's account-prefixed host (``123456789012.127.0.0.1``) is mapped back to the loopback
    endpoint; the access point's data lands where its buckets are (moto reports us-east-1 for every
    bucket of an MRAP, so the scan trusts the bucket regions it found itself)."""
    url = reset_moto_server
    _bucket(url, "mrap-eu", "eu-west-1")
    _bucket(url, "mrap-us", "us-east-1")
    control = boto3.Session().client("s3control", region_name="us-west-2", endpoint_url=url)
    control.meta.events.register("before-sign.s3-control", _loopback_host)
    control.create_multi_region_access_point(
        AccountId=ACCOUNT,
        ClientToken="t",
        Details={"Name": "global", "Regions": [{"Bucket": "mrap-eu"}, {"Bucket": "mrap-us"}]},
    )
    result = run_scan("aws", "eu", regions=["eu-west-1", "us-east-1"], endpoint_url=url, services=["s3"])
    (mrap,) = [f for f in result.findings if f.resource_type == "multi-region-access-point"]
    assert mrap.status == "violation"
    assert [loc.code for loc in mrap.locations] == ["eu-west-1", "us-east-1"]
    assert mrap.roles == ("multi-region access point bucket mrap-eu", "multi-region access point bucket mrap-us")
    assert mrap.resource_id.startswith(f"arn:aws:s3::{ACCOUNT}:accesspoint/global-")
    assert result.gaps == []


def test_org_scans_every_active_member(reset_moto_server: str) -> None:
    url = reset_moto_server
    org = _client(url, "organizations", "us-east-1")
    org.create_organization(FeatureSet="ALL")
    status = org.create_account(Email="member@example.com", AccountName="member")["CreateAccountStatus"]
    member_id = org.describe_create_account_status(CreateAccountRequestId=status["Id"])["CreateAccountStatus"][
        "AccountId"
    ]
    result = run_scan(
        "aws", "eu", regions=["eu-west-1"], endpoint_url=url, services=["s3"], org=True, role_name="Auditor"
    )
    assert set(result.scope.accounts) == {ACCOUNT, member_id}
    assert result.gaps == []


def test_unreadable_tags_never_make_a_data_class_resource_compliant() -> None:
    """Stubber: the tagging API answers AccessDenied; a policy with data classes cannot be applied."""
    stubs: dict[tuple[str, str], Stubber] = {}
    _preamble(stubs, ["eu-west-1"])
    _stub("resourcegroupstaggingapi", "eu-west-1", stubs).add_client_error(
        "get_resources", service_error_code="AccessDeniedException", http_status_code=400
    )
    ddb = _stub("dynamodb", "eu-west-1", stubs)
    ddb.add_response("list_tables", {"TableNames": ["patients"]})
    ddb.add_response(
        "describe_table",
        {"Table": {"TableName": "patients", "TableArn": f"arn:aws:dynamodb:eu-west-1:{ACCOUNT}:table/patients"}},
    )
    _activate(stubs)
    policy = parse_policy({"allow": "EU", "data_classes": {"classes": {"health": {"allow": ["DE"]}}}})
    result = run_scan("aws", policy, session=_stubbed_session(stubs), services=["dynamodb"])
    (table,) = result.findings
    assert table.status == "unknown"
    assert "tags needed by the policy's data classes" in (table.error or "")


# ---------------------------------------------------------------------- added in the audit of issue 4


def test_tagging_sweep_every_other_resource_once_with_its_type(reset_moto_server: str) -> None:
    """Snapshots and AMIs have two ARN spellings (describe: no account; tagging API: with account):
    one finding each. Bare ARNs (SQS, SNS) get a type and a name; EC2 instances are listed."""
    url = reset_moto_server
    ec2 = _client(url, "ec2", "us-east-1")
    tag = [{"Key": "team", "Value": "ops"}]
    vol = ec2.create_volume(
        AvailabilityZone="us-east-1a", Size=1, TagSpecifications=[{"ResourceType": "volume", "Tags": tag}]
    )
    snap = ec2.create_snapshot(VolumeId=vol["VolumeId"], TagSpecifications=[{"ResourceType": "snapshot", "Tags": tag}])
    inst = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)["Instances"][0]
    ami = ec2.create_image(
        InstanceId=inst["InstanceId"], Name="golden", TagSpecifications=[{"ResourceType": "image", "Tags": tag}]
    )
    _client(url, "sqs", "us-east-1").create_queue(QueueName="jobs", tags={"team": "ops"})
    result = run_scan("aws", "eu", regions=["us-east-1"], endpoint_url=url, services=["ec2", "tagging"])
    ids = [f.resource_id for f in result.findings]
    assert len(ids) == len(set(ids))
    by_key = collections.Counter(re.sub(r"^(arn:aws:ec2:[^:]+:)\d*:", r"\1:", i) for i in ids)
    assert max(by_key.values()) == 1, by_key
    assert f"arn:aws:ec2:us-east-1::snapshot/{snap['SnapshotId']}" in ids
    assert f"arn:aws:ec2:us-east-1::image/{ami['ImageId']}" in ids
    instance = _by_id(result.findings)[f"arn:aws:ec2:us-east-1:{ACCOUNT}:instance/{inst['InstanceId']}"]
    assert (instance.resource_type, instance.status) == ("instance", "violation")
    queue = _by_id(result.findings)[f"arn:aws:sqs:us-east-1:{ACCOUNT}:jobs"]
    assert (queue.service, queue.resource_type, queue.name, queue.status) == ("sqs", "queue", "jobs", "violation")
    assert any("tagging API" in n for n in result.notes)


def test_data_class_tag_is_checked_in_allowed_regions_too(reset_moto_server: str) -> None:
    """eu-west-1 is inside the EU, but data tagged ``data-class=health`` may only live in DE: the sweep
    finds the tagged SNS topic in Ireland; an untagged topic there is not a finding."""
    url = reset_moto_server
    sns = _client(url, "sns", "eu-west-1")
    sns.create_topic(Name="patients", Tags=[{"Key": "data-class", "Value": "health"}])
    sns.create_topic(Name="plain", Tags=[{"Key": "team", "Value": "ops"}])
    policy = parse_policy({"allow": "EU", "data_classes": {"classes": {"health": {"allow": ["DE"]}}}})
    result = run_scan("aws", policy, regions=["eu-west-1"], endpoint_url=url, services=["tagging"])
    (topic,) = result.findings
    assert (topic.resource_id, topic.status) == (f"arn:aws:sns:eu-west-1:{ACCOUNT}:patients", "violation")
    assert topic.rule.startswith("data-class 'health'")


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"regions": ["eu-wets-1"]}, "unknown AWS region 'eu-wets-1' (did you mean 'eu-west-1'?)"),
        ({"regions": ["eu-west-1a"]}, "'eu-west-1a' is not an AWS region code (did you mean 'eu-west-1'?)"),
        ({"regions": ["xx-north-9"]}, "unknown AWS region 'xx-north-9'"),
        ({"regions": ["mars-north-1"]}, "'mars-north-1' is not an AWS region code"),
        ({"regions": [" "]}, "no region given"),
        ({"accounts": ["12345"]}, "'12345' is not an AWS account id"),
        ({"endpoint_url": "localhost:5000"}, "is not an http(s) URL"),
        ({"role_name": "bad role"}, "is not an IAM role name"),
    ],
)
def test_bad_input_is_a_provider_error_before_any_scan(
    reset_moto_server: str, kw: dict[str, Any], message: str
) -> None:
    kw.setdefault("endpoint_url", reset_moto_server)
    with pytest.raises(ProviderError) as err:
        run_scan("aws", "eu", services=["s3"], **kw)
    assert message in str(err.value)


@pytest.mark.parametrize("region", ["eusc-de-east-1", "us-gov-west-1", "us-isof-south-1", "cn-north-1"])
def test_every_partitions_region_codes_are_accepted(region: str) -> None:
    """The shape check is the guard's: the European Sovereign Cloud's eusc-de-east-1 is a region code."""
    from residency.providers.aws._scan import check_request

    from residency._scan import make_context

    ctx = make_context("aws", "eu", regions=[region.upper()])
    check_request(ctx)
    assert ctx.regions == (region,)


def test_region_codes_are_normalised(reset_moto_server: str) -> None:
    _bucket(reset_moto_server, "upper-case", "eu-west-1")
    result = run_scan("aws", "eu", regions=["EU-West-1 ", "eu-west-1"], endpoint_url=reset_moto_server, services=["s3"])
    assert result.scope.regions == ("eu-west-1",)
    assert [f.name for f in result.findings] == ["upper-case"]


def test_access_denied_at_the_wire_is_unknown(wire: _Wire) -> None:
    """Real HTTP error answers: a service denied in one region is one unknown for that region; a table
    whose DescribeTable is denied is unknown on its own while its neighbour is still judged."""
    url = wire.url
    ddb = _client(url, "dynamodb", "eu-west-1")
    for name in ("open-table", "secret-table"):
        ddb.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    wire.fail("dynamodb", "DescribeTable", "AccessDeniedException", body="secret-table")
    wire.fail("dynamodb", "ListTables", "AccessDeniedException", region="eu-central-1")
    result = run_scan("aws", "eu", regions=["eu-west-1", "eu-central-1"], endpoint_url=url, services=["dynamodb"])
    by_id = _by_id(result.findings)
    assert by_id[f"arn:aws:dynamodb:eu-west-1:{ACCOUNT}:table/open-table"].status == "compliant"
    secret = by_id[f"arn:aws:dynamodb:eu-west-1:{ACCOUNT}:table/secret-table"]
    assert secret.status == "unknown"
    assert "AccessDeniedException on DescribeTable" in (secret.error or "")
    region_gap = by_id[f"arn:aws:dynamodb:eu-central-1:{ACCOUNT}:*"]
    assert region_gap.status == "unknown"
    assert region_gap.region == "eu-central-1"
    assert "AccessDeniedException on ListTables" in (region_gap.error or "")
    assert len(result.gaps) == 2


def test_unlistable_regions_are_unknown(wire: _Wire) -> None:
    wire.fail("ec2", "DescribeRegions", "UnauthorizedOperation", status=403)
    result = run_scan("aws", "eu", endpoint_url=wire.url, services=["dynamodb"])
    (gap,) = result.findings
    assert (gap.status, gap.resource_type) == ("unknown", "regions")
    assert "UnauthorizedOperation on DescribeRegions" in (gap.error or "")
    assert result.exit_code() == 3


def test_throttling_is_retried_in_standard_mode_then_reported(wire: _Wire) -> None:
    """SlowDown answers are absorbed by botocore's standard retry mode (here 3 attempts in all, to keep the
    back-off short; 5 by default); a ListBuckets that never succeeds makes the buckets one ``unknown``
    finding with the reason."""
    _bucket(wire.url, "throttled-eu", "eu-west-1")
    wire.fail("s3", "ListBuckets", "SlowDown", status=503, times=2)
    kw: dict[str, Any] = {"regions": ["eu-west-1"], "endpoint_url": wire.url, "services": ["s3"], "max_attempts": 3}
    result = run_scan("aws", "eu", **kw)
    assert [f.name for f in result.findings] == ["throttled-eu"]
    assert wire.ops["s3:ListBuckets"] == 3
    wire.fail("s3", "ListBuckets", "SlowDown", status=503)
    wire.reset_counts()
    result = run_scan("aws", "eu", **kw)
    assert wire.ops["s3:ListBuckets"] == 3
    (gap,) = result.findings
    assert gap.status == "unknown"
    assert "SlowDown on ListBuckets" in (gap.error or "")


def test_concurrency_is_bounded_and_retries_are_standard(wire: _Wire) -> None:
    from residency.providers.aws import _scan as aws_scan

    for i in range(30):
        _bucket(wire.url, f"par-{i}", ("eu-west-1", "eu-central-1", "us-east-1")[i % 3])
    regions = ["eu-west-1", "eu-central-1", "us-east-1", "eu-north-1", "eu-west-3", "us-west-2"]
    services = ["s3", "dynamodb", "kms", "tagging"]
    for concurrency in (1, 3):
        wire.reset_counts()
        result = run_scan(
            "aws", "eu", regions=regions, endpoint_url=wire.url, concurrency=concurrency, services=services
        )
        assert len([f for f in result.findings if f.service == "s3"]) == 30
        # the unit pool and the shared per-bucket pool: never more than twice the bound in flight
        assert 1 <= wire.peak <= 2 * concurrency, (concurrency, wire.peak)
    scanner = aws_scan._Scanner(make_context("aws", "eu", endpoint_url=wire.url, concurrency=3))
    try:
        (acct,) = scanner.accounts()
        retries = acct.client("s3", "eu-west-1").meta.config.retries
        assert retries == {"mode": "standard", "total_max_attempts": 5}
    finally:
        scanner.bucket_pool.shutdown()


def test_failed_assume_role_is_unknown_and_history_scope_is_what_was_asked(wire: _Wire) -> None:
    _bucket(wire.url, "mgmt-eu-2", "eu-west-1")
    wire.fail("sts", "AssumeRole", "AccessDenied", status=403, body="222222222222")
    result = run_scan(
        "aws", "eu", regions=["eu-west-1"], endpoint_url=wire.url, services=["s3"], accounts=["222222222222", ACCOUNT]
    )
    gap = next(f for f in result.findings if f.account == "222222222222")
    assert (gap.status, gap.resource_type) == ("unknown", "account")
    assert "cannot assume arn:aws:iam::222222222222:role/OrganizationAccountAccessRole" in (gap.error or "")
    assert "AccessDenied on AssumeRole" in (gap.error or "")
    assert result.scope.accounts == (ACCOUNT,)
    assert "accounts=123456789012,222222222222|" in result.scope.key  # the same history as when it works


def test_assumed_role_credentials_refresh_themselves(reset_moto_server: str) -> None:
    from residency.providers.aws import _scan as aws_scan

    scanner = aws_scan._Scanner(
        make_context("aws", "eu", endpoint_url=reset_moto_server, accounts=["333333333333"], services=["s3"])
    )
    try:
        (member,) = scanner.accounts()
        assert scanner.assume(member) is None
        creds = member.session.get_credentials()
        first = creds.get_frozen_credentials().access_key
        creds._expiry_time = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=1)  # as if an hour had passed
        assert creds.get_frozen_credentials().access_key != first
    finally:
        scanner.bucket_pool.shutdown()


def test_org_notes_accounts_that_are_not_active(reset_moto_server: str) -> None:
    url = reset_moto_server
    org = _client(url, "organizations", "us-east-1")
    org.create_organization(FeatureSet="ALL")
    status = org.create_account(Email="gone@example.com", AccountName="gone")["CreateAccountStatus"]
    gone = org.describe_create_account_status(CreateAccountRequestId=status["Id"])["CreateAccountStatus"]["AccountId"]
    org.close_account(AccountId=gone)
    result = run_scan("aws", "eu", regions=["eu-west-1"], endpoint_url=url, services=["s3"], org=True)
    assert result.scope.accounts == (ACCOUNT,)
    assert result.scope.key.startswith("aws|policy=eu|accounts=org|")
    assert any(gone in n and "SUSPENDED" in n for n in result.notes), result.notes


def test_aurora_global_database_members_are_locations(reset_moto_server: str) -> None:
    url = reset_moto_server
    eu = _client(url, "rds", "eu-west-1")
    eu.create_global_cluster(GlobalClusterIdentifier="orders", Engine="aurora-postgresql")
    eu.create_db_cluster(
        DBClusterIdentifier="orders-eu",
        Engine="aurora-postgresql",
        MasterUsername="u",
        MasterUserPassword="password123",
        GlobalClusterIdentifier="orders",
    )
    _client(url, "rds", "us-east-1").create_db_cluster(
        DBClusterIdentifier="orders-us", Engine="aurora-postgresql", GlobalClusterIdentifier="orders"
    )
    result = run_scan("aws", "eu", regions=["eu-west-1"], endpoint_url=url, services=["rds"])
    (cluster,) = result.findings
    assert cluster.status == "violation"
    assert [loc.code for loc in cluster.locations] == ["eu-west-1", "us-east-1"]
    assert cluster.roles[1] == f"global database orders member arn:aws:rds:us-east-1:{ACCOUNT}:cluster:orders-us"


def test_legacy_global_table_and_rds_backup_replication_with_stubber() -> None:
    """Stubber: moto implements neither DescribeGlobalTable (global tables version 2017.11.29) nor
    RDS automated-backup replication."""
    stubs: dict[tuple[str, str], Stubber] = {}
    _preamble(stubs, ["eu-west-1"])
    tagging = _stub("resourcegroupstaggingapi", "eu-west-1", stubs)
    tagging.add_response("get_resources", {"ResourceTagMappingList": []})
    tagging.add_response("get_resources", {"ResourceTagMappingList": []})
    ddb = _stub("dynamodb", "eu-west-1", stubs)
    ddb.add_response("list_tables", {"TableNames": ["legacy"]})
    arn = f"arn:aws:dynamodb:eu-west-1:{ACCOUNT}:table/legacy"
    ddb.add_response(
        "describe_table", {"Table": {"TableName": "legacy", "TableArn": arn, "GlobalTableVersion": "2017.11.29"}}
    )
    ddb.add_response(
        "describe_global_table",
        {"GlobalTableDescription": {"ReplicationGroup": [{"RegionName": "eu-west-1"}, {"RegionName": "us-east-2"}]}},
        {"GlobalTableName": "legacy"},
    )
    rds = _stub("rds", "eu-west-1", stubs)
    rds.add_response(
        "describe_db_instances",
        {
            "DBInstances": [
                {
                    "DBInstanceIdentifier": "db",
                    "DBInstanceArn": f"arn:aws:rds:eu-west-1:{ACCOUNT}:db:db",
                    "DBInstanceAutomatedBackupsReplications": [
                        {"DBInstanceAutomatedBackupsArn": f"arn:aws:rds:us-west-2:{ACCOUNT}:auto-backup:ab-1"}
                    ],
                }
            ]
        },
    )
    rds.add_response("describe_db_clusters", {"DBClusters": []})
    _activate(stubs)
    session = _stubbed_session(stubs)
    (table,) = run_scan("aws", "eu", session=session, services=["dynamodb"]).findings
    assert table.status == "violation"
    assert [loc.code for loc in table.locations] == ["eu-west-1", "us-east-2"]
    assert table.roles == (
        "table + global table replica (version 2017.11.29)",
        "global table replica (version 2017.11.29)",
    )
    _preamble(stubs, ["eu-west-1"])
    stubs[("sts", "eu-central-1")].activate()
    stubs[("ec2", "eu-central-1")].activate()
    (db,) = run_scan("aws", "eu", session=session, services=["rds"]).findings
    assert db.status == "violation"
    assert [loc.code for loc in db.locations] == ["eu-west-1", "us-west-2"]
    assert db.roles[1] == "automated-backup replication"
