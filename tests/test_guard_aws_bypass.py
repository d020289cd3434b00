"""Bypass attempts against the AWS storage guard (moto in-process).

Each test is one way a caller might get an out-of-geography write past the
guard, or a way the guard might misbehave under the public contract. Blocked
writes are followed by a read showing nothing was stored; where a real AWS host
is named, a ``before-send`` recorder proves nothing was sent there.
"""

from __future__ import annotations

import io
import logging
import pickle
import threading
from collections.abc import Iterator
from typing import Any

import boto3
import botocore.session
import pytest
from boto3.s3.transfer import S3Transfer, TransferConfig
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from moto import mock_aws
from residency.providers.aws import _guard as aws_guard
from residency.providers.aws._regions import REGION

import residency
from residency import ResidencyViolation

EU = "eu-west-1"
US = "us-east-1"
UK = "eu-west-2"
ZURICH = "eu-central-2"

TABLE = {
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
    "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
    "BillingMode": "PAY_PER_REQUEST",
}


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


@pytest.fixture
def buckets(aws: None) -> dict[str, str]:
    """Buckets in eu-west-1, us-east-1, eu-west-2 (London) and eu-central-2 (Zurich), created unguarded."""
    for name, region in (("eu-bkt", EU), ("us-bkt", US), ("uk-bkt", UK), ("ch-bkt", ZURICH), ("d.eu.bkt", EU)):
        config = {} if region == US else {"CreateBucketConfiguration": {"LocationConstraint": region}}
        boto3.client("s3", region_name=region).create_bucket(Bucket=name, **config)
    return {"eu": "eu-bkt", "us": "us-bkt", "uk": "uk-bkt", "ch": "ch-bkt"}


def keys(bucket: str) -> list[str]:
    s3 = boto3.client("s3", region_name=EU)
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", []))


def record_sends(client: Any) -> list[str]:
    """Every URL the client is about to send (moto still answers)."""
    sent: list[str] = []
    client.meta.events.register_first("before-send", lambda request, **kw: sent.append(request.url))
    return sent


class _Raw:
    """The raw body of a canned botocore response (for services moto does not serve in that partition)."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **kw: Any) -> Iterator[bytes]:
        yield self.body


# --------------------------------------------------------------------------- which clients


def test_clients_created_in_other_threads(buckets: dict[str, str]) -> None:
    made: dict[str, Any] = {}
    t = threading.Thread(target=lambda: made.setdefault("before", boto3.Session().client("s3", region_name=EU)))
    t.start()
    t.join()
    with residency.guard(policy="eu"):
        t = threading.Thread(target=lambda: made.setdefault("after", boto3.client("s3", region_name=EU)))
        t.start()
        t.join()
        errors: list[BaseException] = []

        def write(client: Any, key: str) -> None:
            try:
                client.put_object(Bucket="us-bkt", Key=key, Body=b"x")
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=write, args=(c, n)) for n, c in made.items()]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert [type(e) for e in errors] == [ResidencyViolation, ResidencyViolation]
    assert keys("us-bkt") == []


def test_session_made_before_install_client_made_after(buckets: dict[str, str]) -> None:
    session = boto3.Session(region_name=EU)
    plain = botocore.session.Session()
    resource = boto3.resource("s3", region_name=EU)
    with residency.guard(policy="eu"):
        for client in (session.client("s3"), plain.create_client("s3", region_name=EU), resource.meta.client):
            with pytest.raises(ResidencyViolation):
                client.put_object(Bucket="us-bkt", Key="k", Body=b"x")
        with pytest.raises(ResidencyViolation):
            resource.Bucket("us-bkt").put_object(Key="k", Body=b"x")
        with pytest.raises(ResidencyViolation):
            session.resource("s3").Object("us-bkt", "k").upload_fileobj(io.BytesIO(b"x"))
    assert keys("us-bkt") == []


def test_region_from_config_and_environment(buckets: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    with residency.guard(policy="eu"):
        ddb = boto3.client("dynamodb", config=Config(region_name=US))
        with pytest.raises(ResidencyViolation, match="us-east-1"):
            ddb.create_table(TableName="t", **TABLE)
        monkeypatch.setenv("AWS_DEFAULT_REGION", US)
        with pytest.raises(ResidencyViolation, match="us-east-1"):
            boto3.Session().client("sqs").create_queue(QueueName="q")
    assert boto3.client("dynamodb", region_name=US).list_tables()["TableNames"] == []
    assert "QueueUrls" not in boto3.client("sqs", region_name=US).list_queues()


def test_mock_started_after_and_before_install(aws: None) -> None:
    g = residency.guard(policy="eu")
    g.install()
    try:
        with mock_aws():  # a second mock: a fresh default session, created under the guard
            with pytest.raises(ResidencyViolation):
                boto3.client("s3", region_name=US).create_bucket(Bucket="nolc")
            assert boto3.client("s3", region_name=EU).list_buckets()["Buckets"] == []
    finally:
        g.uninstall()
    with mock_aws():
        boto3.client("s3", region_name=US).create_bucket(Bucket="us-b")
        with residency.guard(policy="eu"), pytest.raises(ResidencyViolation):
            boto3.client("s3", region_name=EU).put_object(Bucket="us-b", Key="k", Body=b"x")
        assert boto3.client("s3").list_objects_v2(Bucket="us-b").get("Contents") is None


# --------------------------------------------------------------------------- endpoints


@pytest.mark.parametrize(
    ("service", "url"),
    [
        ("dynamodb", "https://dynamodb.us-east-1.amazonaws.com"),
        ("dynamodb", "https://DynamoDB.US-EAST-1.amazonaws.com:443"),
        ("sqs", "https://sqs.us-east-1.amazonaws.com"),
        ("dynamodb", "https://vpce-0123-abcd.dynamodb.us-east-1.vpce.amazonaws.com"),
        # other partitions' DNS suffixes, read from botocore's partitions data
        ("dynamodb", "https://dynamodb.us-isof-east-1.csp.hci.ic.gov"),
        ("sqs", "https://sqs.eu-isoe-west-1.cloud.adc-e.uk"),
    ],
)
def test_endpoint_url_naming_an_outside_region(aws: None, service: str, url: str) -> None:
    """An EU-configured client whose endpoint_url is a host outside (or of unknown country): nothing is sent."""
    client = boto3.client(service, region_name=EU, endpoint_url=url)
    sent = record_sends(client)

    def write() -> None:
        if service == "dynamodb":
            client.create_table(TableName="t", **TABLE)
        else:
            client.create_queue(QueueName="q")

    region = url.split(".")[1].lower()
    with residency.guard(policy="eu"), pytest.raises(ResidencyViolation, match=region):
        write()
    assert sent == []


def test_the_european_sovereign_cloud_is_inside_the_eu(aws: None) -> None:
    """eusc-de-east-1 (Brandenburg, DE) on its own DNS suffix passes the EU policy."""
    client = boto3.client("dynamodb", region_name="eusc-de-east-1")
    sent = record_sends(client)
    client.meta.events.register_first(
        "before-send", lambda request, **kw: AWSResponse(request.url, 200, {}, _Raw(b"{}"))
    )
    with residency.guard(policy="eu"):
        client.put_item(TableName="t", Item={"k": {"S": "v"}})
    assert [u.split("/")[2] for u in sent] == ["dynamodb.eusc-de-east-1.amazonaws.eu"]
    assert aws_guard._host_region("s3.eusc-de-east-1.amazonaws.eu")[:2] == (True, "eusc-de-east-1")


def test_s3_endpoint_url_on_the_us_host_for_an_eu_bucket(buckets: dict[str, str]) -> None:
    for style in ("path", "virtual"):
        s3 = boto3.client(
            "s3",
            region_name=EU,
            endpoint_url="https://s3.us-east-1.amazonaws.com",
            config=Config(s3={"addressing_style": style}),
        )
        sent = record_sends(s3)
        with residency.guard(policy="eu"), pytest.raises(ResidencyViolation, match="us-east-1"):
            s3.put_object(Bucket="eu-bkt", Key="k", Body=b"x")
        assert not [u for u in sent if "/k" in u]
    assert keys("eu-bkt") == []


def test_bucket_named_like_a_region_on_the_global_endpoint(aws: None) -> None:
    """Virtual-hosted ``eu.eu-west-1.s3.amazonaws.com`` goes to the US global endpoint, not eu-west-1."""
    assert aws_guard._host_region("eu.eu-west-1.s3.amazonaws.com")[1] == US
    assert aws_guard._host_region("x.eu-west-1.s3-accelerate.amazonaws.com")[1] is None
    assert aws_guard._host_region("b.s3.eu-west-1.amazonaws.com")[1] == EU
    assert aws_guard._host_region("ap-1.s3-accesspoint.eu-west-1.amazonaws.com")[1] == EU
    assert aws_guard._host_region("b.s3.dualstack.eu-west-1.amazonaws.com")[1] == EU


def test_addressing_styles_and_dotted_bucket(buckets: dict[str, str]) -> None:
    with residency.guard(policy="eu"):
        for style in ("path", "virtual", "auto"):
            s3 = boto3.client("s3", region_name=US, config=Config(s3={"addressing_style": style}))
            sent = record_sends(s3)
            s3.put_object(Bucket="d.eu.bkt", Key=f"k-{style}", Body=b"x")
            writes = [u for u in sent if "/k-" in u]
            assert writes
            assert all(".eu-west-1.amazonaws.com" in u for u in writes), sent
            with pytest.raises(ResidencyViolation):
                s3.put_object(Bucket="us-bkt", Key=f"k-{style}", Body=b"x")
    assert keys("d.eu.bkt") == ["k-auto", "k-path", "k-virtual"]
    assert keys("us-bkt") == []


def test_legacy_sqs_queue_url_names_its_region() -> None:
    assert aws_guard._resource_region("https://us-west-2.queue.amazonaws.com/123456789012/q") == "us-west-2"
    assert aws_guard._resource_region("https://queue.amazonaws.com/123456789012/q") == US


# --------------------------------------------------------------------------- S3 write paths


def test_transfer_paths(buckets: dict[str, str], tmp_path: Any) -> None:
    s3 = boto3.client("s3", region_name=EU)
    s3.put_object(Bucket="eu-bkt", Key="x", Body=b"x")
    small = tmp_path / "small"
    small.write_bytes(b"x" * 10)
    config = TransferConfig(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024)
    big = b"y" * (5 * 1024 * 1024 + 1)
    with residency.guard(policy="eu"):
        with pytest.raises(ResidencyViolation):
            S3Transfer(s3).upload_file(str(small), "us-bkt", "s3transfer")
        with pytest.raises(ResidencyViolation):
            S3Transfer(s3, config=config).upload_file(str(small), "uk-bkt", "s3transfer")
        with pytest.raises(ResidencyViolation):
            s3.upload_fileobj(io.BytesIO(b"x"), "us-bkt", "extra", ExtraArgs={"ContentType": "text/plain"})
        with pytest.raises(ResidencyViolation):
            s3.upload_fileobj(io.BytesIO(big), "us-bkt", "big-extra", ExtraArgs={"Metadata": {"a": "b"}}, Config=config)
        with pytest.raises(ResidencyViolation):
            boto3.resource("s3", region_name=EU).Bucket("us-bkt").upload_file(str(small), "res")
        with pytest.raises(ResidencyViolation):
            boto3.resource("s3", region_name=EU).Object("us-bkt", "res2").upload_file(str(small))
        with pytest.raises(ResidencyViolation):
            boto3.resource("s3", region_name=EU).Bucket("us-bkt").copy({"Bucket": "eu-bkt", "Key": "x"}, "c")
        with pytest.raises(ResidencyViolation):
            boto3.resource("s3", region_name=EU).Bucket("newb").create()
        with pytest.raises(ResidencyViolation):
            s3.put_object(Bucket="arn:aws:s3:::us-bkt", Key="arn", Body=b"x")
    assert keys("us-bkt") == []
    assert keys("uk-bkt") == []
    assert s3.list_multipart_uploads(Bucket="us-bkt").get("Uploads", []) == []


def test_managed_copy_to_outside_destination(buckets: dict[str, str]) -> None:
    s3 = boto3.client("s3", region_name=EU)
    s3.put_object(Bucket="eu-bkt", Key="src", Body=b"x" * 100)
    config = TransferConfig(multipart_threshold=5 * 1024 * 1024)
    with residency.guard(policy="eu"):
        with pytest.raises(ResidencyViolation, match="to s3://us-bkt"):
            s3.copy({"Bucket": "eu-bkt", "Key": "src"}, "us-bkt", "c", Config=config)
        up = boto3.client("s3", region_name=US)
        with pytest.raises(ResidencyViolation, match="UploadPartCopy"):
            up.upload_part_copy(
                Bucket="us-bkt", Key="c2", UploadId="u", PartNumber=1, CopySource={"Bucket": "eu-bkt", "Key": "src"}
            )
        # A US client copying into the EU bucket is routed there.
        us = boto3.client("s3", region_name=US)
        sent = record_sends(us)
        us.copy({"Bucket": "eu-bkt", "Key": "src"}, "eu-bkt", "copied")
        assert all("eu-west-1" in u for u in sent if "copied" in u), sent
    assert keys("us-bkt") == []


def test_presigned_urls_from_clients_in_other_regions(buckets: dict[str, str]) -> None:
    with residency.guard(policy="eu"):
        for region in (EU, US, UK):
            s3 = boto3.client("s3", region_name=region)
            with pytest.raises(ResidencyViolation, match="presigned"):
                s3.generate_presigned_url("put_object", Params={"Bucket": "us-bkt", "Key": "k"})
            with pytest.raises(ResidencyViolation, match="presigned"):
                s3.generate_presigned_url(
                    "upload_part", Params={"Bucket": "uk-bkt", "Key": "k", "UploadId": "u", "PartNumber": 1}
                )
            with pytest.raises(ResidencyViolation, match="presigned POST"):
                s3.generate_presigned_post("us-bkt", "k", Fields={"acl": "private"}, Conditions=[{"acl": "private"}])
            url = s3.generate_presigned_url("put_object", Params={"Bucket": "eu-bkt", "Key": "k"})
            assert ".eu-west-1." in url or "eu-bkt.s3.eu-west-1" in url, url
            post = s3.generate_presigned_post("eu-bkt", "k")
            assert "eu-west-1" in post["url"], post
            s3.generate_presigned_url("get_object", Params={"Bucket": "us-bkt", "Key": "k"})


def test_create_bucket_location_constraints(aws: None) -> None:
    s3 = boto3.client("s3", region_name=EU)
    with residency.guard(policy="eu"):
        s3.create_bucket(Bucket="legacy-eu", CreateBucketConfiguration={"LocationConstraint": "EU"})
        with pytest.raises(ResidencyViolation, match="eu-west-2"):
            s3.create_bucket(Bucket="london", CreateBucketConfiguration={"LocationConstraint": UK})
    with residency.guard(policy="eea-ch"), pytest.raises(ResidencyViolation, match="GB"):
        s3.create_bucket(Bucket="london", CreateBucketConfiguration={"LocationConstraint": UK})
    with residency.guard(policy="eea-ch"):
        boto3.client("s3", region_name=ZURICH).create_bucket(
            Bucket="zurich", CreateBucketConfiguration={"LocationConstraint": ZURICH}
        )
    with residency.guard(policy="eea"), pytest.raises(ResidencyViolation, match="CH"):
        boto3.client("s3", region_name=ZURICH).create_bucket(
            Bucket="zurich2", CreateBucketConfiguration={"LocationConstraint": ZURICH}
        )
    names = sorted(b["Name"] for b in s3.list_buckets()["Buckets"])
    assert names == ["legacy-eu", "zurich"]


def test_legacy_eu_constraint_from_a_us_client_is_not_sent_to_the_us(aws: None) -> None:
    s3 = boto3.client("s3", region_name=US)
    sent = record_sends(s3)
    with residency.guard(policy="eu"):
        s3.create_bucket(Bucket="legacy-eu", CreateBucketConfiguration={"LocationConstraint": "EU"})
    assert sent
    assert all("eu-west-1" in u for u in sent), sent


def test_policies_eea_ch_and_eea(buckets: dict[str, str]) -> None:
    s3 = boto3.client("s3", region_name=EU)
    with residency.guard(policy="eea-ch"):
        s3.put_object(Bucket="ch-bkt", Key="k", Body=b"x")
        with pytest.raises(ResidencyViolation, match="GB"):
            s3.put_object(Bucket="uk-bkt", Key="k", Body=b"x")
    with residency.guard(policy="eea"), pytest.raises(ResidencyViolation, match="CH"):
        s3.put_object(Bucket="ch-bkt", Key="k2", Body=b"x")
    assert keys("ch-bkt") == ["k"]


def test_replication_to_london(buckets: dict[str, str]) -> None:
    s3 = boto3.client("s3", region_name=EU)
    for b in ("eu-bkt", "uk-bkt"):
        s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Enabled"})
    rule = {
        "Role": "arn:aws:iam::123456789012:role/r",
        "Rules": [
            {
                "ID": "r",
                "Priority": 1,
                "Filter": {"Prefix": ""},
                "Status": "Enabled",
                "DeleteMarkerReplication": {"Status": "Disabled"},
                "Destination": {"Bucket": "arn:aws:s3:::uk-bkt"},
            }
        ],
    }
    with residency.guard(policy="eu"), pytest.raises(ResidencyViolation, match="eu-west-2"):
        s3.put_bucket_replication(Bucket="eu-bkt", ReplicationConfiguration=rule)
    with pytest.raises(s3.exceptions.ClientError):
        s3.get_bucket_replication(Bucket="eu-bkt")


def test_directory_bucket_in_an_unknown_zone_fails_closed(aws: None) -> None:
    with residency.guard(policy="eu"), pytest.raises(ResidencyViolation):
        boto3.client("s3", region_name=EU).put_object(Bucket="b--usw2-lax1-az1--x-s3", Key="k", Body=b"x")


# --------------------------------------------------------------------------- other services


def test_dynamodb_resource_and_batch_writer(aws: None) -> None:
    us = boto3.client("dynamodb", region_name=US)
    us.create_table(TableName="t", **TABLE)
    table = boto3.resource("dynamodb", region_name=US).Table("t")
    with residency.guard(policy="eu"):
        with pytest.raises(ResidencyViolation, match="BatchWriteItem"):
            with table.batch_writer() as batch:
                batch.put_item(Item={"pk": "a"})
        with pytest.raises(ResidencyViolation, match="UpdateItem"):
            table.update_item(Key={"pk": "a"}, UpdateExpression="SET v = :v", ExpressionAttributeValues={":v": 1})
        with pytest.raises(ResidencyViolation, match="TransactWriteItems"):
            us.transact_write_items(TransactItems=[{"Put": {"TableName": "t", "Item": {"pk": {"S": "b"}}}}])
        with pytest.raises(ResidencyViolation, match="ExecuteStatement"):
            us.execute_statement(Statement="INSERT INTO t VALUE {'pk': 'c'}")
        # A table ARN in the US through an EU client.
        eu = boto3.client("dynamodb", region_name=EU)
        arn = us.describe_table(TableName="t")["Table"]["TableArn"]
        with pytest.raises(ResidencyViolation, match="us-east-1"):
            eu.put_item(TableName=arn, Item={"pk": {"S": "d"}})
    assert us.scan(TableName="t")["Count"] == 0


def test_messages_to_resources_named_in_another_region(aws: None) -> None:
    url = boto3.client("sqs", region_name=US).create_queue(QueueName="q")["QueueUrl"]
    topic = boto3.client("sns", region_name=US).create_topic(Name="t")["TopicArn"]
    sqs, sns = boto3.client("sqs", region_name=EU), boto3.client("sns", region_name=EU)
    with residency.guard(policy="eu"):
        with pytest.raises(ResidencyViolation):
            sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "1", "MessageBody": "x"}])
        with pytest.raises(ResidencyViolation):
            sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=[{"Id": "1", "Message": "x"}])
        with pytest.raises(ResidencyViolation):
            boto3.client("lambda", region_name=EU).invoke(
                FunctionName="arn:aws:lambda:us-east-1:123456789012:function:fn", Payload=b"{}"
            )
        with pytest.raises(ResidencyViolation):
            boto3.client("kinesis", region_name=EU).put_records(
                StreamARN="arn:aws:kinesis:us-east-1:123456789012:stream/s",
                Records=[{"Data": b"x", "PartitionKey": "p"}],
            )
        with pytest.raises(ResidencyViolation):
            boto3.client("stepfunctions", region_name=EU).start_execution(
                stateMachineArn="arn:aws:states:us-east-1:123456789012:stateMachine:sm"
            )
        with pytest.raises(ResidencyViolation):
            boto3.client("events", region_name=EU).put_events(
                Entries=[
                    {
                        "EventBusName": "arn:aws:events:us-east-1:123456789012:event-bus/b",
                        "Source": "s",
                        "DetailType": "d",
                        "Detail": "{}",
                    }
                ]
            )
        with pytest.raises(ResidencyViolation):
            # EU topic delivering to a US queue: an export route.
            sns.subscribe(
                TopicArn=sns.create_topic(Name="eu")["TopicArn"],
                Protocol="sqs",
                Endpoint="arn:aws:sqs:us-east-1:123456789012:q",
            )
    assert "Messages" not in boto3.client("sqs", region_name=US).receive_message(QueueUrl=url)


def test_us_region_clients_of_every_listed_service(aws: None) -> None:
    with residency.guard(policy="eu"):
        calls = [
            lambda: boto3.client("firehose", region_name=US).put_record(DeliveryStreamName="s", Record={"Data": b"x"}),
            lambda: boto3.client("kinesis", region_name=US).put_records(
                StreamName="s", Records=[{"Data": b"x", "PartitionKey": "p"}]
            ),
            lambda: boto3.client("events", region_name=US).put_events(
                Entries=[{"Source": "s", "DetailType": "d", "Detail": "{}"}]
            ),
            lambda: boto3.client("stepfunctions", region_name=US).start_execution(
                stateMachineArn="arn:aws:states:us-east-1:123456789012:stateMachine:sm"
            ),
            lambda: boto3.client("sns", region_name=US).publish(PhoneNumber="+15555550100", Message="x"),
            lambda: boto3.client("logs", region_name=US).put_log_events(
                logGroupName="g", logStreamName="s", logEvents=[{"timestamp": 1, "message": "m"}]
            ),
        ]
        for call in calls:
            with pytest.raises(ResidencyViolation, match="us-east-1"):
                call()


def test_cross_region_copies(aws: None) -> None:
    """The client's region is the destination of EC2/RDS copies; SourceRegion is what is read."""
    with residency.guard(policy="eu"):
        with pytest.raises(ResidencyViolation, match="us-east-1"):
            boto3.client("ec2", region_name=US).copy_snapshot(SourceRegion=EU, SourceSnapshotId="snap-1")
        with pytest.raises(ResidencyViolation, match="us-east-1"):
            boto3.client("ec2", region_name=US).copy_image(SourceRegion=EU, SourceImageId="ami-1", Name="n")
        with pytest.raises(ResidencyViolation, match="DestinationRegion"):
            boto3.client("ec2", region_name=EU).copy_snapshot(
                SourceRegion=EU, SourceSnapshotId="snap-1", DestinationRegion=US
            )
        with pytest.raises(ResidencyViolation, match="us-east-1"):
            boto3.client("rds", region_name=US).create_db_instance_read_replica(
                DBInstanceIdentifier="r",
                SourceDBInstanceIdentifier="arn:aws:rds:eu-west-1:123456789012:db:src",
                SourceRegion=EU,
            )
        with pytest.raises(ResidencyViolation, match="ReplicaRegion"):
            boto3.client("kms", region_name=EU).replicate_key(
                KeyId="arn:aws:kms:eu-west-1:123456789012:key/mrk-1", ReplicaRegion=US
            )
        with pytest.raises(ResidencyViolation, match="AddReplicaRegions"):
            boto3.client("secretsmanager", region_name=EU).replicate_secret_to_regions(
                SecretId="s", AddReplicaRegions=[{"Region": US}]
            )


def test_copies_into_the_geography_pass(aws: None) -> None:
    """An EU client copying a US snapshot into the EU is an import (the presigned source URL is not a write)."""
    ec2_us = boto3.client("ec2", region_name=US)
    volume = ec2_us.create_volume(AvailabilityZone="us-east-1a", Size=1)["VolumeId"]
    snap = ec2_us.create_snapshot(VolumeId=volume)["SnapshotId"]
    rds_us = boto3.client("rds", region_name=US)
    source = rds_us.create_db_instance(
        DBInstanceIdentifier="src", DBInstanceClass="db.t3.micro", Engine="postgres", AllocatedStorage=20
    )["DBInstance"]["DBInstanceArn"]
    with residency.guard(policy="eu"):
        copied = boto3.client("ec2", region_name=EU).copy_snapshot(SourceRegion=US, SourceSnapshotId=snap)
        try:
            boto3.client("rds", region_name=EU).create_db_instance_read_replica(
                DBInstanceIdentifier="replica", SourceDBInstanceIdentifier=source, SourceRegion=US
            )
        except boto3.client("rds", region_name=EU).exceptions.ClientError:
            pass  # moto's own limits; the guard let it through
    assert copied["SnapshotId"]


def test_global_services_with_deny_and_default(aws: None) -> None:
    with residency.guard(policy="eu"):
        boto3.client("iam").create_role(RoleName="r", AssumeRolePolicyDocument="{}")
        boto3.client("organizations", region_name=US).create_organization(FeatureSet="ALL")
        boto3.client("sts", region_name=US).get_caller_identity()
    deny = residency.parse_policy({"allow": "EU", "global_services": "deny"}, default_name="strict")
    with residency.guard(policy=deny):
        with pytest.raises(ResidencyViolation, match="global"):
            boto3.client("iam", region_name=EU).create_user(UserName="u")
        with pytest.raises(ResidencyViolation, match="global"):
            boto3.client("sts", region_name=EU).assume_role(
                RoleArn="arn:aws:iam::123456789012:role/r", RoleSessionName="s"
            )


# --------------------------------------------------------------------------- lifecycle


def test_install_twice_uninstall_once_and_nested_guards(buckets: dict[str, str]) -> None:
    s3 = boto3.client("s3", region_name=EU)
    g = residency.guard(policy="eu")
    g.install()
    g.install()
    g.uninstall()
    assert not g.installed
    s3.put_object(Bucket="us-bkt", Key="free", Body=b"x")
    with residency.guard(policy="eea-ch") as outer:
        s3.put_object(Bucket="ch-bkt", Key="k", Body=b"x")
        with residency.guard(policy="eu"):
            with pytest.raises(ResidencyViolation, match="policy 'eu'"):
                s3.put_object(Bucket="ch-bkt", Key="k2", Body=b"x")
        assert outer.installed
        s3.put_object(Bucket="ch-bkt", Key="k3", Body=b"x")
        with pytest.raises(ResidencyViolation, match="policy 'eea-ch'"):
            s3.put_object(Bucket="us-bkt", Key="k", Body=b"x")
    s3.put_object(Bucket="us-bkt", Key="after", Body=b"x")
    assert keys("us-bkt") == ["after", "free"]
    assert keys("ch-bkt") == ["k", "k3"]


def test_guard_reinstalled_after_uninstall(buckets: dict[str, str]) -> None:
    s3 = boto3.client("s3", region_name=EU)
    g = residency.guard(policy="eu")
    with g:
        pass
    made_between = boto3.client("s3", region_name=EU)
    with g, pytest.raises(ResidencyViolation):
        made_between.put_object(Bucket="us-bkt", Key="k", Body=b"x")
    with g, pytest.raises(ResidencyViolation):
        s3.put_object(Bucket="us-bkt", Key="k", Body=b"x")
    assert keys("us-bkt") == []


def test_exception_inside_the_guarded_block_still_uninstalls(buckets: dict[str, str]) -> None:
    with pytest.raises(KeyError), residency.guard(policy="eu"):
        raise KeyError("boom")
    assert residency.active_guards() == ()
    boto3.client("s3", region_name=EU).put_object(Bucket="us-bkt", Key="k", Body=b"x")


# --------------------------------------------------------------------------- callbacks and audit


def test_callback_that_raises_does_not_unblock_or_break_audit(
    buckets: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    def broken(v: ResidencyViolation) -> None:
        raise RuntimeError("alerting is down")

    s3 = boto3.client("s3", region_name=EU)
    with residency.guard(policy="eu", on_violation=broken), pytest.raises(ResidencyViolation):
        s3.put_object(Bucket="us-bkt", Key="enforce", Body=b"x")
    with caplog.at_level(logging.WARNING, logger="residency"):
        with residency.guard(policy="eu", mode="audit", on_violation=broken):
            s3.put_object(Bucket="us-bkt", Key="audit", Body=b"x")
    assert keys("us-bkt") == ["audit"]
    assert any(r.levelno == logging.WARNING and "PutObject to s3://us-bkt" in r.getMessage() for r in caplog.records)
    assert any("alerting is down" in (r.exc_text or "") or r.exc_info for r in caplog.records if r.levelno >= 40)


def test_callback_writing_outside_does_not_recurse(buckets: dict[str, str]) -> None:
    """An alert sent to a US topic from the callback is itself blocked, not re-reported forever."""
    topic = boto3.client("sns", region_name=US).create_topic(Name="alerts")["TopicArn"]
    seen: list[ResidencyViolation] = []

    def alert(v: ResidencyViolation) -> None:
        seen.append(v)
        boto3.client("sns", region_name=US).publish(TopicArn=topic, Message=str(v))

    with residency.guard(policy="eu", on_violation=alert), pytest.raises(ResidencyViolation, match="PutObject"):
        boto3.client("s3", region_name=EU).put_object(Bucket="us-bkt", Key="k", Body=b"x")
    assert [v.operation for v in seen] == ["PutObject"]


def test_audit_reports_each_write_once_and_pickles(buckets: dict[str, str], caplog: pytest.LogCaptureFixture) -> None:
    seen: list[ResidencyViolation] = []
    us = boto3.client("s3", region_name=US)
    with caplog.at_level(logging.WARNING, logger="residency"):
        with residency.guard(policy="eu", mode="audit", on_violation=seen.append):
            boto3.client("s3", region_name=EU).put_object(Bucket="uk-bkt", Key="k", Body=b"x")
            us.create_bucket(Bucket="new-us")
    assert [(v.operation, v.target, v.location) for v in seen] == [
        ("PutObject", "s3://uk-bkt", UK),
        ("CreateBucket", "s3://new-us", US),
    ]
    warnings = [r for r in caplog.records if r.name == "residency" and r.levelno == logging.WARNING]
    assert len(warnings) == 2
    back = pickle.loads(pickle.dumps(seen[0]))
    assert (back.provider, back.operation, back.target, back.location, back.countries, back.policy) == (
        "aws",
        "PutObject",
        "s3://uk-bkt",
        UK,
        ("GB",),
        "eu",
    )
    assert str(back) == (
        "PutObject to s3://uk-bkt: eu-west-2 (Europe (London)) stores data in GB, outside EU (policy 'eu')"
    )
    assert keys("uk-bkt") == ["k"]


# --------------------------------------------------------------------------- plugin


pytest_plugins = ["pytester"]


def test_plugin_fixture_teardown_restores_hooks(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import boto3, pytest, residency
        from moto import mock_aws

        @pytest.fixture
        def s3():
            with mock_aws():
                c = boto3.client("s3", region_name="us-east-1")
                c.create_bucket(Bucket="us-bkt")
                yield c

        def test_guarded(s3, residency_guard):
            assert residency_guard.installed
            with pytest.raises(residency.ResidencyViolation):
                s3.put_object(Bucket="us-bkt", Key="k", Body=b"x")
            raise AssertionError("fails on purpose")

        def test_after(s3):
            assert residency.active_guards() == ()
            s3.put_object(Bucket="us-bkt", Key="k", Body=b"x")
        """
    )
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)


# --------------------------------------------------------------------------- later handlers, odd names


def test_bucket_swapped_by_a_later_handler(buckets: dict[str, str]) -> None:
    """A handler after the guard's (returning new params, or editing them) cannot redirect a checked write."""
    s3 = boto3.client("s3", region_name=EU)
    swap = boto3.client("s3", region_name=EU)

    def returns_new(params: dict[str, Any], **kw: Any) -> dict[str, Any]:
        return {**params, "Bucket": "us-bkt"}

    def edits(params: dict[str, Any], **kw: Any) -> None:
        params["Bucket"] = "uk-bkt"

    with residency.guard(policy="eu"):
        s3.meta.events.register_last("provide-client-params.s3.PutObject", returns_new)
        swap.meta.events.register_last("before-parameter-build.s3.PutObject", edits)
        with pytest.raises(ResidencyViolation, match="s3://us-bkt: us-east-1"):
            s3.put_object(Bucket="eu-bkt", Key="k", Body=b"x")
        with pytest.raises(ResidencyViolation, match="s3://uk-bkt: eu-west-2"):
            swap.put_object(Bucket="eu-bkt", Key="k", Body=b"x")
        with pytest.raises(ResidencyViolation, match="presigned"):
            s3.generate_presigned_url("put_object", Params={"Bucket": "eu-bkt", "Key": "k"})
    assert keys("us-bkt") == keys("uk-bkt") == keys("eu-bkt") == []


def test_directory_bucket_location_in_the_configuration(aws: None) -> None:
    with residency.guard(policy="eu"), pytest.raises(ResidencyViolation, match="use1-az4"):
        boto3.client("s3", region_name=EU).create_bucket(
            Bucket="data--euw1-az1--x-s3",
            CreateBucketConfiguration={
                "Location": {"Type": "AvailabilityZone", "Name": "use1-az4"},
                "Bucket": {"Type": "Directory", "DataRedundancy": "SingleAvailabilityZone"},
            },
        )


def test_batch_write_to_a_table_arn_in_another_region(aws: None) -> None:
    arn = boto3.client("dynamodb", region_name=US).create_table(TableName="t", **TABLE)["TableDescription"]["TableArn"]
    eu = boto3.client("dynamodb", region_name=EU)
    with residency.guard(policy="eu"):
        with pytest.raises(ResidencyViolation, match="us-east-1"):
            eu.batch_write_item(RequestItems={arn: [{"PutRequest": {"Item": {"pk": {"S": "a"}}}}]})
        with pytest.raises(ResidencyViolation, match="us-east-1"):
            eu.transact_write_items(TransactItems=[{"Put": {"TableName": arn, "Item": {"pk": {"S": "b"}}}}])
        eu.create_table(TableName="e", **TABLE)
        eu.batch_write_item(RequestItems={"e": [{"PutRequest": {"Item": {"pk": {"S": "a"}}}}]})


def test_eventbridge_global_endpoint_is_unknown() -> None:
    assert aws_guard._host_region("abc.xyz.endpoint.events.amazonaws.com")[1:] == (
        None,
        "an EventBridge global endpoint fails events over to its secondary region",
    )


def test_audit_mode_reports_a_named_resource_once(aws: None) -> None:
    """One call, one report: a topic ARN in the client's own region is not reported twice."""
    topic = boto3.client("sns", region_name=US).create_topic(Name="t")["TopicArn"]
    seen: list[ResidencyViolation] = []
    with residency.guard(policy="eu", mode="audit", on_violation=seen.append):
        boto3.client("sns", region_name=US).publish(TopicArn=topic, Message="x")
        boto3.client("stepfunctions", region_name=US).list_state_machines()
    assert [(v.operation, v.target) for v in seen] == [("Publish", topic)]


def test_log_export_to_an_outside_bucket(buckets: dict[str, str]) -> None:
    logs = boto3.client("logs", region_name=EU)
    logs.create_log_group(logGroupName="g")
    with residency.guard(policy="eu"), pytest.raises(ResidencyViolation, match=r"s3://us-bkt \(destination\)"):
        logs.create_export_task(logGroupName="g", fromTime=0, to=1, destination="us-bkt")
    assert keys("us-bkt") == []


@pytest.mark.parametrize(
    "config",
    [
        {"region_name": "eu-central-1"},
        {"region_name": "us-west-2", "config": Config(s3={"addressing_style": "virtual"})},
        {"region_name": US, "config": Config(use_dualstack_endpoint=True)},
        {"region_name": US, "config": Config(use_fips_endpoint=True)},
        {"region_name": "aws-global"},
    ],
)
def test_presigned_capabilities_for_an_eu_bucket_from_other_regions(
    buckets: dict[str, str], config: dict[str, Any]
) -> None:
    """Not a redirect: a presign from a client in another region is routed to the bucket's region."""
    s3 = boto3.client("s3", **config)
    with residency.guard(policy="eu"):
        post = s3.generate_presigned_post("eu-bkt", "k")
        url = s3.generate_presigned_url("put_object", Params={"Bucket": "eu-bkt", "Key": "k"})
        with pytest.raises(ResidencyViolation):
            s3.generate_presigned_post("us-bkt", "k")
    assert ".eu-west-1.amazonaws.com" in post["url"], post
    assert ".eu-west-1.amazonaws.com" in url, url


def test_redirect_to_the_clients_own_outside_region_is_stopped(buckets: dict[str, str]) -> None:
    """A us-east-1 client routed to eu-west-1; a 301 (injected) says us-east-1: stopped, cache forgotten."""
    s3 = boto3.client("s3", region_name=US)
    sent = record_sends(s3)
    attempts: list[str] = []

    def redirect(request: Any, **kw: Any) -> AWSResponse | None:
        if request.method == "PUT" and not attempts:
            attempts.append(request.url)
            body = b"<Error><Code>PermanentRedirect</Code><Message>m</Message></Error>"
            raw = type("Raw", (), {"stream": lambda self, **k: iter([body])})()
            return AWSResponse("https://injected", 301, {"x-amz-bucket-region": US}, raw)
        return None

    s3.meta.events.register_first("before-send.s3.PutObject", redirect)
    with residency.guard(policy="eu"):
        with pytest.raises(ResidencyViolation, match="PutObject to s3://eu-bkt: us-east-1"):
            s3.put_object(Bucket="eu-bkt", Key="k", Body=b"x")
        assert aws_guard.region_cache.get((aws_guard._scope(s3), "eu-bkt")) is None
    assert len(attempts) == 1
    assert ".eu-west-1." in attempts[0]
    assert not [u for u in sent if "/k" in u and ".eu-west-1." not in u], sent


def test_partiql_and_region_spelling(aws: None) -> None:
    us = boto3.client("dynamodb", region_name=US)
    us.create_table(TableName="t", **TABLE)
    eu = boto3.client("dynamodb", region_name=EU)
    eu.create_table(TableName="e", **TABLE)
    with residency.guard(policy="eu"):
        us.execute_statement(Statement="SELECT * FROM t")  # a read passes
        assert aws_guard._partiql_reads({"Statements": [{"Statement": "  select 1"}]})
        with pytest.raises(ResidencyViolation, match="BatchExecuteStatement"):
            us.batch_execute_statement(
                Statements=[{"Statement": "SELECT * FROM t"}, {"Statement": "INSERT INTO t VALUE {'pk': 'x'}"}]
            )
        with pytest.raises(ResidencyViolation, match="us-east-1"):
            eu.update_table(TableName="e", ReplicaUpdates=[{"Create": {"RegionName": "US-EAST-1"}}])
    assert us.scan(TableName="t")["Count"] == 0


# --------------------------------------------------------------------------- found by the second red-team pass

_OUR_EVENTS = (
    "creating-client-class.s3",
    "creating-client-class.dynamodb",
    "provide-client-params.s3.PutObject",
    "before-endpoint-resolution.s3",
    "before-sign.s3.PutObject",
    "after-call.s3.CreateBucket",
    "after-call.s3.DeleteBucket",
    "before-sign.dynamodb.PutItem",
)


def residency_handlers(events: Any) -> list[str]:
    """Every handler of this package on an emitter (a session's or a client's), by event."""
    emitter = getattr(events, "_emitter", events)
    found = [
        event
        for event in _OUR_EVENTS
        for handler in emitter._handlers.prefix_search(event)
        if "residency" in str(getattr(handler, "__module__", "") or getattr(handler, "__func__", handler).__module__)
    ]
    return found + [uid for uid in emitter._unique_id_handlers if uid.startswith(aws_guard._UID)]


def test_uninstall_leaves_no_handler_on_sessions_or_clients_made_while_installed(buckets: dict[str, str]) -> None:
    """Sessions created under the guard copy its builtin handler (no unique id), and their clients copy it again."""
    before_session = botocore.session.Session()
    before = before_session.create_client("s3", region_name=EU)
    with residency.guard(policy="eu"):
        during_session = botocore.session.Session()
        during_boto3 = boto3.Session()
        during = [
            during_session.create_client("s3", region_name=EU),
            during_boto3.client("dynamodb", region_name=EU),
            before_session.create_client("s3", region_name=EU),
        ]
        assert residency_handlers(before.meta.events)
        assert all(residency_handlers(c.meta.events) for c in during)
    after = [during_session.create_client("s3", region_name=EU), during_boto3.client("s3", region_name=EU)]
    for client in (before, *during, *after):
        assert residency_handlers(client.meta.events) == [], client
    for session in (before_session, during_session, during_boto3._session):
        assert residency_handlers(session.get_component("event_emitter")) == []
    for client in (before, during[0], *after):
        client.put_object(Bucket="us-bkt", Key="free", Body=b"x")
    assert keys("us-bkt") == ["free"]


def test_destination_buckets_under_any_spelling(buckets: dict[str, str]) -> None:
    """Bucket keys in camelCase or with a prefix (``bucketName``, ``OutputBucketName``) that name an output."""
    with residency.guard(policy="eu"):
        with pytest.raises(ResidencyViolation, match=r"s3://us-bkt \(OutputBucketName\)"):
            boto3.client("transcribe", region_name=EU).start_transcription_job(
                TranscriptionJobName="j",
                Media={"MediaFileUri": "s3://eu-bkt/a.wav"},
                MediaFormat="wav",
                LanguageCode="en-US",
                OutputBucketName="us-bkt",
            )
        with pytest.raises(ResidencyViolation, match="OutputS3BucketName"):
            boto3.client("polly", region_name=EU).start_speech_synthesis_task(
                OutputFormat="mp3", Text="x", VoiceId="Joanna", OutputS3BucketName="uk-bkt"
            )
        with pytest.raises(ResidencyViolation, match=r"exportConfig\.s3Destination\.bucket"):
            boto3.client("codebuild", region_name=EU).create_report_group(
                name="r", type="TEST", exportConfig={"exportConfigType": "S3", "s3Destination": {"bucket": "us-bkt"}}
            )
        with pytest.raises(ResidencyViolation, match=r"S3Action\.BucketName"):
            boto3.client("ses", region_name=EU).create_receipt_rule(
                RuleSetName="rs", Rule={"Name": "n", "Actions": [{"S3Action": {"BucketName": "us-bkt"}}]}
            )
        with pytest.raises(ResidencyViolation, match="CreateStoreImageTask"):
            boto3.client("ec2", region_name=EU).create_store_image_task(ImageId="ami-12345678", Bucket="us-bkt")
        with pytest.raises(ResidencyViolation, match=r"regionList\[1\]"):
            boto3.client("keyspaces", region_name=EU).create_keyspace(
                keyspaceName="k",
                replicationSpecification={"replicationStrategy": "MULTI_REGION", "regionList": [EU, US]},
            )
        # A bucket read from (an input) is not a destination.
        boto3.client("rekognition", region_name=EU).detect_labels(Image={"S3Object": {"Bucket": "us-bkt", "Name": "x"}})
    # The hot path stays flat: PutObject and PutItem never walk their parameters.
    model = boto3.client("dynamodb", region_name=EU).meta.service_model
    assert not aws_guard._may_name_destinations(model.operation_model("PutItem"))
    model = boto3.client("s3", region_name=EU).meta.service_model
    assert not aws_guard._may_name_destinations(model.operation_model("PutObject"))


def test_a_region_denied_by_name_covers_its_s3_express_zones(aws: None) -> None:
    """``locations.deny: [aws:eu-west-1]`` also stops a directory bucket in euw1-az1.

    Behind a loopback endpoint, where only the zone in the name tells the
    location. moto has no directory buckets: the write's answer is injected (a
    bare 200, nothing is sent) once the guard has let it through.
    """
    s3 = boto3.client(
        "s3",
        region_name=EU,
        endpoint_url="http://127.0.0.1:9",
        config=Config(s3={"disable_s3_express_session_auth": True, "addressing_style": "path"}),
    )
    raw = type("Raw", (), {"stream": lambda self, **k: iter([b""])})()
    s3.meta.events.register_first("before-send.s3", lambda request, **kw: AWSResponse(request.url, 200, {}, raw))
    no_dublin = residency.parse_policy({"allow": "EU", "locations": {"deny": ["aws:eu-west-1"]}}, default_name="x")
    with residency.guard(policy=no_dublin):
        with pytest.raises(ResidencyViolation, match=r"euw1-az1 .* is denied by name \(as part of eu-west-1\)"):
            s3.put_object(Bucket="b--euw1-az1--x-s3", Key="k", Body=b"x")
        s3.put_object(Bucket="b--euc1-az1--x-s3", Key="k", Body=b"x")
    with residency.guard(policy="eu"):
        s3.put_object(Bucket="b--euw1-az1--x-s3", Key="k", Body=b"x")


@pytest.mark.parametrize("resource", ["s3://us-bkt", "arn:aws:s3:::us-bkt", "us-bkt", "us-*"])
def test_a_bucket_waiver_under_any_of_its_names(buckets: dict[str, str], resource: str) -> None:
    policy = residency.parse_policy(
        {
            "allow": "EU",
            "waivers": [{"id": "w", "justification": "DPO-1", "expires": "2099-01-01", "resource": resource}],
        },
        default_name="waived",
    )
    s3 = boto3.client("s3", region_name=EU)
    with residency.guard(policy=policy):
        s3.put_object(Bucket="us-bkt", Key="k", Body=b"x")
        with pytest.raises(ResidencyViolation):
            s3.put_object(Bucket="uk-bkt", Key="k", Body=b"x")
    assert keys("us-bkt") == ["k"]
    assert keys("uk-bkt") == []


def test_boto3_default_session_is_guarded_after_gc_freeze(
    buckets: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    """gc.freeze() (done before forking workers) hides objects from the install-time walk."""
    import gc

    boto3.client("s3", region_name=EU)  # the default session exists
    gc.freeze()
    try:
        with caplog.at_level(logging.WARNING, logger="residency"), residency.guard(policy="eu"):
            with pytest.raises(ResidencyViolation):
                boto3.client("s3", region_name=EU).put_object(Bucket="us-bkt", Key="k", Body=b"x")
    finally:
        gc.unfreeze()
    assert keys("us-bkt") == []
    assert residency_handlers(boto3.DEFAULT_SESSION._session.get_component("event_emitter")) == []


def test_partiql_transactions_and_malformed_statement_lists(aws: None) -> None:
    us = boto3.client("dynamodb", region_name=US)
    us.create_table(TableName="t", **TABLE)
    with residency.guard(policy="eu"):
        us.execute_transaction(TransactStatements=[{"Statement": "SELECT * FROM t WHERE pk = 'a'"}])  # a read
        with pytest.raises(ResidencyViolation, match="ExecuteTransaction"):
            us.execute_transaction(
                TransactStatements=[
                    {"Statement": "SELECT * FROM t WHERE pk = 'a'"},
                    {"Statement": "INSERT INTO t VALUE {'pk': 'b'}"},
                ]
            )
    # An entry that is not a statement never makes a write look like a read.
    assert not aws_guard._partiql_reads({"Statements": [{"Statement": "SELECT 1"}, ("Statement", "INSERT")]})
    assert not aws_guard._partiql_reads({"Statements": [{"Statement": "SELECT 1"}, {"Statement": None}]})
    assert us.scan(TableName="t")["Count"] == 0


def test_every_region_in_botocores_data_is_read_as_a_region() -> None:
    """Host names and parameters are parsed with one region pattern; botocore's data decides what it must cover."""
    import botocore.loaders

    data = botocore.loaders.create_loader().load_data("partitions")
    regions = {r for p in data["partitions"] for r in p["regions"] if not r.endswith("-global")}
    assert "eusc-de-east-1" in regions
    assert sorted(r for r in regions if not REGION.match(r)) == []
    suffixes = {p["outputs"]["dnsSuffix"] for p in data["partitions"]}
    assert all(f".{s}" in aws_guard._AWS_DOMAINS for s in suffixes)
