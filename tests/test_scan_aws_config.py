"""``residency scan aws --source config``: an organisation read from one AWS Config aggregator.

moto implements configuration aggregators but not the advanced query
(``SelectAggregateResourceConfig``), so these tests drive the real boto3 Config
client against :class:`FakeConfig`, a loopback fake that answers the documented
AWS JSON 1.1 shapes (rows as JSON strings, ``NextToken`` paging); one test checks
that its aggregator description has the shape moto gives for the same aggregator.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from residency.providers.aws._fake_config import FakeConfig, seed_org

from residency._cli import main
from residency._errors import ProviderError
from residency._findings import Finding
from residency._scan import run_scan

A, B, C = "111111111111", "222222222222", "333333333333"


@pytest.fixture
def fake() -> Iterator[FakeConfig]:
    with FakeConfig() as f:
        yield f


def scan(fake: FakeConfig, **kw: Any) -> tuple[dict[str, Finding], list[Finding], Any]:
    kw.setdefault("aggregator", "org")
    kw.setdefault("source", "config")
    result = run_scan("aws", kw.pop("policy", "eu"), endpoint_url=fake.url, **kw)
    by_id = {f.resource_id: f for f in result.findings if not f.scope_gap}
    return by_id, [f for f in result.findings if f.scope_gap], result


def replication(*dest: str) -> dict[str, Any]:
    """The documented Config shape: ``rules`` is a map from rule id to rule."""
    return {
        "BucketReplicationConfiguration": {
            "roleARN": f"arn:aws:iam::{A}:role/replication",
            "rules": {
                f"rule-{i}": {
                    "destinationConfig": {"bucketARN": f"arn:aws:s3:::{d}"},
                    "prefix": "",
                    "status": "Enabled",
                }
                for i, d in enumerate(dest)
            },
        }
    }


def seed_estate(fake: FakeConfig) -> None:
    fake.add_aggregator("org", accounts=[A, B], all_regions=True)
    for acct in (A, B):
        fake.add_org_account(acct)
    bucket = "AWS::S3::Bucket"
    fake.add_item(
        A, "eu-central-1", bucket, "eu-to-us", arn="arn:aws:s3:::eu-to-us", supplementary=replication("us-copy")
    )
    fake.add_item(A, "us-east-1", bucket, "us-copy", arn="arn:aws:s3:::us-copy")
    fake.add_item(A, "eu-west-2", bucket, "london", arn="arn:aws:s3:::london")
    fake.add_item(A, "eu-west-1", bucket, "eu-ok", arn="arn:aws:s3:::eu-ok", tags={"team": "data"})
    fake.add_item(
        A, "eu-west-1", bucket, "eu-to-eu", arn="arn:aws:s3:::eu-to-eu", supplementary=replication("b-eu-copy")
    )
    fake.add_item(B, "eu-north-1", bucket, "b-eu-copy", arn="arn:aws:s3:::b-eu-copy")
    fake.add_item(
        A, "eu-west-1", bucket, "eu-to-nowhere", arn="arn:aws:s3:::eu-to-nowhere", supplementary=replication("partner")
    )
    fake.add_item(
        A,
        "eu-central-1",
        "AWS::DynamoDB::Table",
        "orders",
        arn=f"arn:aws:dynamodb:eu-central-1:{A}:table/orders",
        configuration={"replicas": [{"regionName": "eu-central-1"}, {"regionName": "us-west-2"}]},
    )
    fake.add_item(
        A,
        "eu-west-1",
        "AWS::RDS::DBInstance",
        "db-ABC",
        name="main",
        arn=f"arn:aws:rds:eu-west-1:{A}:db:main",
        configuration={"readReplicaDBInstanceIdentifiers": [f"arn:aws:rds:us-east-1:{A}:db:main-us"]},
    )
    fake.add_item(
        A,
        "eu-west-1",
        "AWS::KMS::Key",
        "k-mrk",
        arn=f"arn:aws:kms:eu-west-1:{A}:key/k-mrk",
        configuration={
            "keyManager": "CUSTOMER",
            "multiRegionConfiguration": {
                "primaryKey": {"region": "eu-west-1"},
                "replicaKeys": [{"region": "us-east-1"}],
            },
        },
    )
    fake.add_item(A, "eu-west-1", "AWS::KMS::Key", "k-aws", configuration={"keyManager": "AWS"})
    fake.add_item(
        A,
        "eu-west-1",
        "AWS::Backup::BackupPlan",
        "plan-1",
        name="daily",
        arn=f"arn:aws:backup:eu-west-1:{A}:backup-plan:plan-1",
        configuration={
            "BackupPlan": {
                "BackupPlanRule": [
                    {"CopyActions": [{"DestinationBackupVaultArn": f"arn:aws:backup:us-west-2:{A}:backup-vault:dr"}]}
                ]
            }
        },
    )
    fake.add_item(
        A,
        "eu-north-1",
        "AWS::EC2::Volume",
        "vol-1",
        arn=f"arn:aws:ec2:eu-north-1:{A}:volume/vol-1",
        configuration={"availabilityZone": "eu-north-1a"},
        availability_zone="eu-north-1a",
    )
    fake.add_item(
        A, "eu-west-3", "AWS::SecretsManager::Secret", "s1", arn=f"arn:aws:secretsmanager:eu-west-3:{A}:secret:s1"
    )
    fake.add_item(B, "eu-central-1", "AWS::ECR::Repository", "app", arn=f"arn:aws:ecr:eu-central-1:{B}:repository/app")
    fake.add_item(A, "us-east-1", "AWS::SNS::Topic", "alerts", arn=f"arn:aws:sns:us-east-1:{A}:alerts")
    fake.add_item(A, "eu-west-1", "AWS::SNS::Topic", "eu-alerts", arn=f"arn:aws:sns:eu-west-1:{A}:eu-alerts")


def test_findings_equal_the_truth(fake: FakeConfig) -> None:
    seed_estate(fake)
    found, gaps, result = scan(fake, org=True)
    assert gaps == []
    status = {k.rsplit(":", 1)[-1].rsplit("/", 1)[-1]: f.status for k, f in found.items()}
    assert status == {
        "eu-to-us": "violation",  # replicates to us-east-1
        "us-copy": "violation",
        "london": "violation",  # eu-west-2 is in GB
        "eu-ok": "compliant",
        "eu-to-eu": "compliant",  # its destination (another account, eu-north-1) placed from the same results
        "b-eu-copy": "compliant",
        "eu-to-nowhere": "unknown",  # destination not in the aggregator: never compliant
        "orders": "violation",  # global table replica in us-west-2
        "main": "violation",  # cross-region read replica
        "k-mrk": "violation",  # multi-region replica key
        "plan-1": "violation",  # copy action to us-west-2
        "vol-1": "compliant",
        "s1": "compliant",
        "app": "compliant",
        "alerts": "violation",  # any other type in a region the policy does not allow
    }
    bucket = found["arn:aws:s3:::eu-to-us"]
    assert [loc.code for loc in bucket.locations] == ["eu-central-1", "us-east-1"]
    assert bucket.roles == ("bucket", "replication destination arn:aws:s3:::us-copy")
    assert bucket.account == A
    assert bucket.service == "s3"
    assert bucket.resource_type == "bucket"
    assert found["arn:aws:s3:::eu-ok"].tags == {"team": "data"}
    assert "partner" in (found["arn:aws:s3:::eu-to-nowhere"].error or "")
    table = found[f"arn:aws:dynamodb:eu-central-1:{A}:table/orders"]
    assert table.roles == ("table + global table replica", "global table replica")  # as the API path merges them
    assert found[f"arn:aws:ec2:eu-north-1:{A}:volume/vol-1"].roles == ("volume in eu-north-1a",)
    assert found[f"arn:aws:rds:eu-west-1:{A}:db:main"].name == "main"
    assert found[f"arn:aws:sns:us-east-1:{A}:alerts"].resource_type == "topic"
    assert result.scope.accounts == (A, B)
    assert result.scope.target == "org"
    assert result.exit_code() == 1
    # the data query, the one destination it did not return looked up by name ('partner': not found),
    # and resources of other types in the regions the policy does not allow
    assert fake.requests["SelectAggregateResourceConfig"] == 3
    assert "resourceName IN ('partner')" in fake.expressions[1]
    assert "NOT resourceType IN" in fake.expressions[2]
    assert "'us-east-1'" in fake.expressions[2]


def test_destination_outside_the_scanned_regions_is_looked_up_by_name(fake: FakeConfig) -> None:
    seed_estate(fake)
    found, _, _ = scan(fake, regions=["eu-central-1", "eu-west-1"])
    # b-eu-copy (eu-north-1) is outside --regions: one more query by name places it
    assert found["arn:aws:s3:::eu-to-eu"].status == "compliant"
    assert [loc.code for loc in found["arn:aws:s3:::eu-to-eu"].locations] == ["eu-west-1", "eu-north-1"]
    assert "arn:aws:s3:::b-eu-copy" not in found
    assert any("resourceName IN ('b-eu-copy', 'partner'" in e for e in fake.expressions)
    assert all("awsRegion IN ('eu-central-1', 'eu-west-1')" in e for e in fake.expressions[:1])


def test_one_request_per_page_of_100(fake: FakeConfig) -> None:
    truth = seed_org(fake, accounts=2, resources=125)  # 250 resources: pages of 100, 100, 50
    found, gaps, _ = scan(fake, services=["s3", "dynamodb", "ec2", "kms", "secretsmanager", "ecr", "rds"])
    assert gaps == []
    assert {k: f.status for k, f in found.items()} == truth
    assert fake.requests["SelectAggregateResourceConfig"] == 3


def test_services_limit_the_types(fake: FakeConfig) -> None:
    seed_estate(fake)
    found, _, _ = scan(fake, services=["dynamodb"])
    assert list(found) == [f"arn:aws:dynamodb:eu-central-1:{A}:table/orders"]
    assert fake.expressions == [fake.expressions[0]]
    assert "'AWS::DynamoDB::Table'" in fake.expressions[0]


def test_uncovered_accounts_regions_types_and_failed_sources_are_gaps(fake: FakeConfig) -> None:
    fake.add_aggregator(
        "org",
        accounts=[A],
        regions=["eu-central-1", "eu-west-1"],
        resource_types=["AWS::S3::Bucket", "AWS::DynamoDB::Table"],
    )
    for acct in (A, B):
        fake.add_org_account(acct)
    fake.add_org_account(C, status="SUSPENDED")
    fake.set_status("org", A, "eu-central-1", "FAILED", code="AccessDeniedException", message="recorder role")
    fake.set_status("org", A, "eu-west-1", "SUCCEEDED")
    fake.add_item(A, "eu-central-1", "AWS::S3::Bucket", "a-eu", arn="arn:aws:s3:::a-eu")
    fake.add_item(B, "eu-central-1", "AWS::S3::Bucket", "b-eu", arn="arn:aws:s3:::b-eu")  # not aggregated
    found, gaps, result = scan(fake, org=True, regions=["eu-central-1", "us-east-1"], services=["s3", "kms"])
    assert list(found) == ["arn:aws:s3:::a-eu"]  # still judged: stale data is data
    assert all(g.status == "unknown" for g in gaps)
    why = {g.resource_id.rsplit("/", 2)[-2] + "/" + g.resource_id.rsplit("/", 1)[-1]: g.error for g in gaps}
    assert any(g.account == B and "not aggregated" in (g.error or "") for g in gaps)
    assert not any(g.account == C for g in gaps)  # suspended: nothing to read
    assert "does not aggregate us-east-1" in why["region/us-east-1"]
    assert "leaves out AWS::KMS::Key" in why["type/AWS::KMS::Key"]
    assert "FAILED (AccessDeniedException: recorder role)" in why[f"{A}/eu-central-1"]
    assert [g.region for g in gaps if "region/" in g.resource_id] == ["us-east-1"]
    assert result.scope.accounts == (A,)
    assert result.exit_code() == 3  # no violation, but gaps: a scan that could not look does not pass
    assert result.exit_code(allow_unknown=True) == 0
    assert result.counts["unknown"] == len(gaps)


def test_whole_region_list_when_no_regions_given(fake: FakeConfig) -> None:
    fake.add_aggregator("org", accounts=[A], regions=["eu-central-1"])
    _, gaps, _ = scan(fake)
    regions = {g.region for g in gaps}
    assert "us-east-1" in regions
    assert "eu-west-2" in regions
    assert "eu-central-1" not in regions


@pytest.mark.parametrize("code", ["AccessDeniedException", "ThrottlingException"])
def test_a_failing_query_is_unknown_and_keeps_what_was_read(fake: FakeConfig, code: str) -> None:
    seed_org(fake, accounts=1, resources=500)  # 143 buckets and repositories: two pages
    fake.fail("SelectAggregateResourceConfig", code, from_page=1)
    found, gaps, _ = scan(fake, services=["s3", "ecr"], max_attempts=2)
    assert len(found) == 100  # the first page
    [gap] = gaps
    assert gap.status == "unknown"
    assert f"{code} on SelectAggregateResourceConfig" in (gap.error or "")
    assert "after 100 rows" in (gap.error or "")
    if code == "ThrottlingException":  # botocore retried it (standard mode) before giving up
        assert fake.requests["SelectAggregateResourceConfig"] == 3


def test_a_malformed_row_is_unknown(fake: FakeConfig) -> None:
    seed_estate(fake)
    fake.malformed("london")
    found, gaps, _ = scan(fake)
    assert "arn:aws:s3:::london" not in found
    [gap] = gaps
    assert gap.status == "unknown"
    assert "not a configuration item" in (gap.error or "")


def test_an_unreadable_aggregator_description_is_a_gap_and_the_query_still_runs(fake: FakeConfig) -> None:
    seed_estate(fake)
    fake.fail("DescribeConfigurationAggregators", "AccessDeniedException")
    found, gaps, _ = scan(fake)
    assert "arn:aws:s3:::london" in found
    assert [g.name for g in gaps] == ["aggregator coverage"]
    assert "AccessDeniedException" in (gaps[0].error or "")


def test_configuration_errors(fake: FakeConfig) -> None:
    seed_estate(fake)
    with pytest.raises(ProviderError, match="no aggregator given"):
        scan(fake, aggregator=None)
    with pytest.raises(ProviderError, match="no AWS Config aggregator 'nope' in eu-central-1"):
        scan(fake, aggregator="nope")
    with pytest.raises(ProviderError, match="is not an AWS Config aggregator name"):
        scan(fake, aggregator="a b")
    with pytest.raises(ProviderError, match="unknown aws source"):
        scan(fake, source="graph")


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    buf = io.StringIO()
    code = main(argv, stdout=buf)
    return code, buf.getvalue(), capsys.readouterr().err


def test_cli_scan_aws_source_config(fake: FakeConfig, capsys: pytest.CaptureFixture[str]) -> None:
    seed_estate(fake)
    argv = ["scan", "aws", "--source", "config", "--aggregator", "org", "--endpoint-url", fake.url]
    code, out, err = run_cli([*argv, "--org", "--no-history", "--format", "json"], capsys)
    assert code == 1, err
    status = {f["name"]: f["status"] for f in json.loads(out)["findings"]}
    assert status["eu-to-us"] == "violation"
    assert status["eu-ok"] == "compliant"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--source", "config"], "ProviderError: --source config: no aggregator given (add --aggregator NAME"),
        (["--aggregator", "org"], "ProviderError: --aggregator is for --source config"),
        (["--source", "config", "--aggregator", "nope"], "no AWS Config aggregator 'nope'"),
    ],
)
def test_cli_errors_are_one_line(
    fake: FakeConfig, argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    seed_estate(fake)
    code, _, err = run_cli(["scan", "aws", *argv, "--endpoint-url", fake.url, "--no-history"], capsys)
    assert code == 2
    assert message in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_aggregator_description_has_the_shape_moto_gives() -> None:
    """moto implements the aggregator calls (not the advanced query): the fake's answer must match them."""
    from moto import mock_aws

    with mock_aws():
        client = boto3.client("config", region_name="eu-central-1")
        client.put_configuration_aggregator(
            ConfigurationAggregatorName="org",
            AccountAggregationSources=[{"AccountIds": [A], "AwsRegions": ["eu-west-1"]}],
        )
        moto_agg = client.describe_configuration_aggregators(ConfigurationAggregatorNames=["org"])
    with FakeConfig() as fake:
        fake.add_aggregator("org", accounts=[A], regions=["eu-west-1"])
        client = boto3.client("config", region_name="eu-central-1", endpoint_url=fake.url)
        fake_agg = client.describe_configuration_aggregators(ConfigurationAggregatorNames=["org"])
    [m], [f] = moto_agg["ConfigurationAggregators"], fake_agg["ConfigurationAggregators"]
    assert set(f) >= {k for k in m if k != "CreatedBy"}
    assert f["AccountAggregationSources"] == m["AccountAggregationSources"]
    assert f["ConfigurationAggregatorArn"].startswith("arn:aws:config:eu-central-1:")


def test_waivers_and_data_classes_apply(fake: FakeConfig) -> None:
    from residency import parse_policy

    fake.add_aggregator("org", accounts=[A], all_regions=True)
    fake.add_item(A, "us-east-1", "AWS::S3::Bucket", "legacy-us", arn="arn:aws:s3:::legacy-us")
    fake.add_item(
        A, "eu-west-3", "AWS::S3::Bucket", "health-fr", arn="arn:aws:s3:::health-fr", tags={"data-class": "health"}
    )
    fake.add_item(
        A, "eu-central-1", "AWS::S3::Bucket", "health-de", arn="arn:aws:s3:::health-de", tags={"data-class": "health"}
    )
    topic = f"arn:aws:sns:eu-west-3:{A}:health-alerts"
    fake.add_item(A, "eu-west-3", "AWS::SNS::Topic", "health-alerts", arn=topic, tags={"data-class": "health"})
    fake.add_item(A, "eu-west-3", "AWS::SNS::Topic", "plain", arn=f"arn:aws:sns:eu-west-3:{A}:plain")
    policy = parse_policy(
        {
            "name": "team",
            "allow": "EU",
            "data_classes": {"classes": {"health": {"allow": ["DE"]}}},
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
    found, _, _ = scan(fake, policy=policy)
    assert found["arn:aws:s3:::legacy-us"].status == "waived"
    assert found["arn:aws:s3:::health-fr"].status == "violation"
    assert found["arn:aws:s3:::health-de"].status == "compliant"
    assert found[topic].status == "violation"  # another type, found anywhere by its data-class tag
    assert f"arn:aws:sns:eu-west-3:{A}:plain" not in found
