"""``run_scan("aws")`` against a real moto server over HTTP, and botocore Stubber where moto lacks a feature.

Every test limits the regions it scans, so the suite stays fast.
"""

from __future__ import annotations

import collections
import datetime as dt
import re
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from residency import parse_policy
from residency._errors import ProviderError
from residency._findings import Finding
from residency._scan import run_scan

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


def test_bucket_locations_never_one_call_per_bucket(reset_moto_server: str) -> None:
    """moto returns no ``BucketRegion`` field but honours the filter: one filtered ListBuckets per
    region places every bucket, with no GetBucketLocation and no HeadBucket at all."""
    url = reset_moto_server
    layout = {"eu-central-1": 12, "eu-west-1": 9, "eu-west-2": 5, "us-east-1": 14}
    for region, n in layout.items():
        for i in range(n):
            _bucket(url, f"count-{region}-{i}", region)
    counter = _Counter()
    result = run_scan(
        "aws",
        "eu",
        regions=list(layout),
        endpoint_url=url,
        session=counter.session,
        services=["s3"],
        s3_replication="off",
    )
    assert len(result.findings) == sum(layout.values())
    assert collections.Counter(f.status for f in result.findings) == {"compliant": 21, "violation": 19}
    ops = counter.ops
    assert ops["GetBucketLocation"] == 0
    assert ops["HeadBucket"] == 0
    assert ops["GetBucketTagging"] == 0
    assert ops["ListBuckets"] + ops["ListBuckets(BucketRegion)"] <= 1 + len(layout)
    # everything else is per account, not per bucket
    assert counter.total <= 12, ops

    # replication is asked only where it can change the verdict: the 21 EU buckets
    needed = _Counter()
    run_scan("aws", "eu", regions=list(layout), endpoint_url=url, session=needed.session, services=["s3"])
    assert needed.ops["GetBucketReplication"] == 21
    every = _Counter()
    run_scan(
        "aws",
        "eu",
        regions=list(layout),
        endpoint_url=url,
        session=every.session,
        services=["s3"],
        s3_replication="all",
    )
    assert every.ops["GetBucketReplication"] == sum(layout.values())
    assert every.ops["GetBucketLocation"] == 0


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
    assert result.exit_code() == 0
    assert result.exit_code(fail_on_unknown=True) == 1


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
    assert re.search("multi-region access points not checked", " ".join(result.notes))


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
