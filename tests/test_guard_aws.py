"""The AWS storage guard against moto in-process (``moto.mock_aws``).

Every blocked write is followed by a read that shows nothing was stored. Where
moto lacks a behaviour (403 without ``x-amz-bucket-region``, 301 redirects,
timeouts) the response is injected with a ``before-send`` handler on that one
client, and the test says so.
"""

from __future__ import annotations

import io
import logging
import pickle
import threading
import time
from collections.abc import Iterator
from typing import Any

import boto3
import botocore.handlers
import botocore.session
import pytest
from boto3.s3.transfer import TransferConfig
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from botocore.exceptions import ClientError, ReadTimeoutError
from botocore.stub import Stubber
from moto import mock_aws
from residency.providers.aws import _guard as aws_guard

import residency
from residency import ResidencyViolation
from residency._net import is_loopback

EU = "eu-west-1"
US = "us-east-1"
UK = "eu-west-2"


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


@pytest.fixture
def buckets(aws: None) -> dict[str, str]:
    """An EU, a US and a UK bucket, created unguarded."""
    for name, region in (("eu-bkt", EU), ("us-bkt", US), ("uk-bkt", UK)):
        config = {} if region == US else {"CreateBucketConfiguration": {"LocationConstraint": region}}
        boto3.client("s3", region_name=region).create_bucket(Bucket=name, **config)
    return {"eu": "eu-bkt", "us": "us-bkt", "uk": "uk-bkt"}


def keys(bucket: str) -> list[str]:
    s3 = boto3.client("s3", region_name=EU)
    return [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]


def record_hosts(client: Any) -> list[str]:
    """Every URL the client sends (moto still answers)."""
    sent: list[str] = []

    def on_send(request: Any, **kw: Any) -> None:
        sent.append(request.url)

    client.meta.events.register_first("before-send", on_send)
    return sent


def canned(status: int, headers: dict[str, str], body: bytes = b"") -> AWSResponse:
    raw = type("Raw", (), {"stream": lambda self, **kw: iter([body])})()
    return AWSResponse("https://injected", status, headers, raw)


def residency_handlers(client: Any) -> list[Any]:
    found = []
    for event in ("provide-client-params.s3.PutObject", "before-sign.s3.PutObject", "before-call.s3.PutObject"):
        for h in client.meta.events._emitter._handlers.prefix_search(event):
            if getattr(h, "__self__", None).__class__.__name__ == "_ClientHooks":
                found.append(h)
    return found


# --------------------------------------------------------------------------- violation


def test_violation_message_attributes_and_pickling(buckets: dict[str, str]) -> None:
    s3 = boto3.client("s3", region_name=EU)
    with residency.guard(policy="eu"), pytest.raises(ResidencyViolation) as info:
        s3.put_object(Bucket="uk-bkt", Key="k", Body=b"secret")
    v = info.value
    assert str(v) == "PutObject to s3://uk-bkt: eu-west-2 (Europe (London)) stores data in GB, outside EU (policy 'eu')"
    assert (v.provider, v.operation, v.target, v.location, v.countries, v.policy) == (
        "aws",
        "PutObject",
        "s3://uk-bkt",
        UK,
        ("GB",),
        "eu",
    )
    assert isinstance(v, residency.ResidencyError)
    back = pickle.loads(pickle.dumps(v))
    assert (str(back), back.countries, back.location) == (str(v), ("GB",), UK)
    assert keys("uk-bkt") == []


# --------------------------------------------------------------------------- clients


def test_every_kind_of_client_is_guarded(buckets: dict[str, str]) -> None:
    before = boto3.client("s3", region_name=EU)
    plain_session = botocore.session.get_session()
    new_session = boto3.Session()
    with residency.guard(policy="eu"):
        after = boto3.client("s3", region_name=EU)
        clients = [
            before,
            after,
            new_session.client("s3", region_name=EU),
            boto3.Session().client("s3", region_name=EU),
            plain_session.create_client("s3", region_name=EU),
            botocore.session.get_session().create_client("s3", region_name=EU),
        ]
        for i, client in enumerate(clients):
            with pytest.raises(ResidencyViolation):
                client.put_object(Bucket="us-bkt", Key=f"k{i}", Body=b"x")
        with pytest.raises(ResidencyViolation):
            boto3.resource("s3", region_name=EU).Object("us-bkt", "r").put(Body=b"x")
        with pytest.raises(ResidencyViolation):
            new_session.resource("s3", region_name=EU).Bucket("us-bkt").put_object(Key="r2", Body=b"x")
    assert keys("us-bkt") == []
    for client in clients:
        assert residency_handlers(client) == []
        client.put_object(Bucket="us-bkt", Key="free", Body=b"x")  # uninstalled: passes again
    assert aws_guard._BUILTIN not in botocore.handlers.BUILTIN_HANDLERS


def test_install_twice_is_harmless_and_uninstall_restores(buckets: dict[str, str]) -> None:
    s3 = boto3.client("s3", region_name=EU)
    g = residency.guard(policy="eu")
    assert g.install() is g
    g.install()
    assert len(residency_handlers(s3)) == 2
    assert residency.active_guards() == (g,)
    g.uninstall()
    g.uninstall()
    assert residency_handlers(s3) == []
    assert residency.active_guards() == ()
    s3.put_object(Bucket="us-bkt", Key="k", Body=b"x")


def test_reads_pass(buckets: dict[str, str]) -> None:
    s3 = boto3.client("s3", region_name=EU)
    boto3.client("s3", region_name=US).put_object(Bucket="us-bkt", Key="k", Body=b"x")
    with residency.guard(policy="eu"):
        assert s3.get_object(Bucket="us-bkt", Key="k")["Body"].read() == b"x"
        s3.head_object(Bucket="us-bkt", Key="k")
        s3.list_objects_v2(Bucket="us-bkt")
        s3.generate_presigned_url("get_object", Params={"Bucket": "us-bkt", "Key": "k"})
        ddb = boto3.client("dynamodb", region_name=US)
        ddb.list_tables()


# --------------------------------------------------------------------------- S3


def test_bucket_region_decides_not_the_client_region(buckets: dict[str, str]) -> None:
    with residency.guard(policy="eu"):
        with pytest.raises(ResidencyViolation, match="us-east-1"):
            boto3.client("s3", region_name=EU).put_object(Bucket="us-bkt", Key="k", Body=b"x")
        boto3.client("s3", region_name=EU).put_object(Bucket="eu-bkt", Key="k", Body=b"x")
    assert keys("us-bkt") == []
    assert keys("eu-bkt") == ["k"]


def test_us_client_writing_to_eu_bucket_is_routed_to_the_bucket_region(buckets: dict[str, str]) -> None:
    """A us-east-1 client (the common default): the body goes to eu-west-1 only."""
    s3 = boto3.client("s3", region_name=US)
    sent = record_hosts(s3)
    with residency.guard(policy="eu"):
        s3.put_object(Bucket="eu-bkt", Key="k", Body=b"x")
        s3.upload_fileobj(io.BytesIO(b"y"), "eu-bkt", "k2")
    writes = [u for u in sent if "/k" in u]
    assert writes, sent
    assert all(".eu-west-1.amazonaws.com" in u for u in writes), sent
    assert sorted(keys("eu-bkt")) == ["k", "k2"]


def test_upload_file_small_and_multipart(buckets: dict[str, str], tmp_path: Any) -> None:
    s3 = boto3.client("s3", region_name=EU)
    small = tmp_path / "small"
    small.write_bytes(b"x" * 10)
    config = TransferConfig(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024)
    big = io.BytesIO(b"x" * (5 * 1024 * 1024 + 1))
    with residency.guard(policy="eu"):
        with pytest.raises(ResidencyViolation):
            s3.upload_file(str(small), "us-bkt", "small")
        with pytest.raises(ResidencyViolation, match="CreateMultipartUpload"):
            s3.upload_fileobj(big, "us-bkt", "big", Config=config)
        with pytest.raises(ResidencyViolation, match="CreateMultipartUpload"):
            s3.create_multipart_upload(Bucket="us-bkt", Key="m")
        big.seek(0)
        s3.upload_fileobj(big, "eu-bkt", "big", Config=config)
    assert keys("us-bkt") == []
    assert s3.list_multipart_uploads(Bucket="us-bkt").get("Uploads", []) == []
    assert keys("eu-bkt") == ["big"]


def test_upload_part_to_outside_bucket(buckets: dict[str, str]) -> None:
    s3 = boto3.client("s3", region_name=EU)
    upload = s3.create_multipart_upload(Bucket="us-bkt", Key="m")["UploadId"]
    with residency.guard(policy="eu"), pytest.raises(ResidencyViolation, match="UploadPart"):
        s3.upload_part(Bucket="us-bkt", Key="m", UploadId=upload, PartNumber=1, Body=b"x")
    parts = s3.list_parts(Bucket="us-bkt", Key="m", UploadId=upload).get("Parts", [])
    assert parts == []


def test_copy_destination_decides(buckets: dict[str, str]) -> None:
    s3 = boto3.client("s3", region_name=EU)
    s3.put_object(Bucket="us-bkt", Key="src", Body=b"us")
    s3.put_object(Bucket="eu-bkt", Key="src", Body=b"eu")
    with residency.guard(policy="eu"):
        s3.copy_object(Bucket="eu-bkt", Key="from-us", CopySource={"Bucket": "us-bkt", "Key": "src"})
        s3.copy({"Bucket": "us-bkt", "Key": "src"}, "eu-bkt", "managed")
        with pytest.raises(ResidencyViolation, match="CopyObject to s3://us-bkt"):
            s3.copy_object(Bucket="us-bkt", Key="to-us", CopySource={"Bucket": "eu-bkt", "Key": "src"})
        with pytest.raises(ResidencyViolation):
            s3.copy({"Bucket": "eu-bkt", "Key": "src"}, "us-bkt", "managed")
        with pytest.raises(ResidencyViolation):
            boto3.resource("s3", region_name=EU).Object("us-bkt", "res").copy_from(
                CopySource={"Bucket": "eu-bkt", "Key": "src"}
            )
    assert keys("us-bkt") == ["src"]
    assert sorted(keys("eu-bkt")) == ["from-us", "managed", "src"]


def test_presigned_put_and_post_are_write_capabilities(buckets: dict[str, str]) -> None:
    s3 = boto3.client("s3", region_name=EU)
    with residency.guard(policy="eu"):
        with pytest.raises(ResidencyViolation, match="presigned URL"):
            s3.generate_presigned_url("put_object", Params={"Bucket": "us-bkt", "Key": "k"})
        with pytest.raises(ResidencyViolation, match="presigned POST to s3://us-bkt"):
            s3.generate_presigned_post("us-bkt", "k")
        assert "us-bkt" in s3.generate_presigned_url("get_object", Params={"Bucket": "us-bkt", "Key": "k"})
        # A us-east-1 client hands out EU URLs for an EU bucket.
        us = boto3.client("s3", region_name=US)
        assert ".eu-west-1.amazonaws.com" in us.generate_presigned_post("eu-bkt", "k")["url"]
        url = us.generate_presigned_url("put_object", Params={"Bucket": "eu-bkt", "Key": "k"})
        assert ".eu-west-1.amazonaws.com" in url


def test_create_bucket_location(aws: None) -> None:
    s3 = boto3.client("s3", region_name=EU)
    with residency.guard(policy="eu"):
        with pytest.raises(ResidencyViolation, match="CreateBucket to s3://nolc: us-east-1"):
            boto3.client("s3", region_name=US).create_bucket(Bucket="nolc")
        with pytest.raises(ResidencyViolation, match="us-west-2"):
            s3.create_bucket(Bucket="usw", CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
        s3.create_bucket(Bucket="fine", CreateBucketConfiguration={"LocationConstraint": EU})
        # A us-east-1 client creating an EU bucket is routed to eu-west-1.
        boto3.client("s3", region_name=US).create_bucket(
            Bucket="fine2", CreateBucketConfiguration={"LocationConstraint": "eu-central-1"}
        )
    names = sorted(b["Name"] for b in s3.list_buckets()["Buckets"])
    assert names == ["fine", "fine2"]


def test_replication_and_logging_destinations(buckets: dict[str, str]) -> None:
    s3 = boto3.client("s3", region_name=EU)
    for b in ("eu-bkt", "us-bkt"):
        s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Enabled"})
    rule = {
        "Role": "arn:aws:iam::123456789012:role/replication",
        "Rules": [{"ID": "r", "Status": "Enabled", "Prefix": "", "Destination": {"Bucket": "arn:aws:s3:::us-bkt"}}],
    }
    with residency.guard(policy="eu"):
        with pytest.raises(ResidencyViolation, match=r"s3://us-bkt \(ReplicationConfiguration.Rules\[0\]"):
            s3.put_bucket_replication(Bucket="eu-bkt", ReplicationConfiguration=rule)
        with pytest.raises(ResidencyViolation, match="TargetBucket"):
            s3.put_bucket_logging(
                Bucket="eu-bkt",
                BucketLoggingStatus={"LoggingEnabled": {"TargetBucket": "us-bkt", "TargetPrefix": "l/"}},
            )
    with pytest.raises(ClientError):
        s3.get_bucket_replication(Bucket="eu-bkt")
    assert "LoggingEnabled" not in s3.get_bucket_logging(Bucket="eu-bkt")


def test_access_point_arns_and_mrap(aws: None) -> None:
    """Access-point ARNs carry their region; an MRAP whose regions cannot be listed fails closed.

    moto has no S3 access-point data plane: the guard raises before anything is sent.
    """
    s3 = boto3.client("s3", region_name=EU)
    with residency.guard(policy="eu"):
        with pytest.raises(ResidencyViolation, match="us-west-2"):
            s3.put_object(Bucket="arn:aws:s3:us-west-2:123456789012:accesspoint/ap", Key="k", Body=b"x")
        with pytest.raises(ResidencyViolation, match="cannot establish where"):
            s3.put_object(Bucket="arn:aws:s3::123456789012:accesspoint/mfzwi23gnjvgw.mrap", Key="k", Body=b"x")
        with pytest.raises(ResidencyViolation, match="Outposts"):
            s3.put_object(
                Bucket="arn:aws:s3-outposts:eu-west-1:123456789012:outpost/op-01/accesspoint/ap",
                Key="k",
                Body=b"x",
            )


def test_mrap_with_all_regions_known_and_allowed(aws: None) -> None:
    """MRAP regions come from S3 Control (stubbed: moto lacks MRAP listing)."""
    s3 = boto3.client("s3", region_name=EU)
    control = boto3.client("s3control", region_name="us-west-2")
    aws_guard._mrap_clients[s3] = control
    arn = "arn:aws:s3::123456789012:accesspoint/mfzwi23gnjvgw.mrap"
    with Stubber(control) as stub, residency.guard(policy="eu"):
        regions = [{"Bucket": "bkt-a", "Region": EU}, {"Bucket": "bkt-b", "Region": "us-east-1"}]
        stub.add_response(
            "list_multi_region_access_points",
            {"AccessPoints": [{"Name": "m", "Alias": "mfzwi23gnjvgw.mrap", "Regions": regions}]},
            {"AccountId": "123456789012"},
        )
        with pytest.raises(ResidencyViolation, match="us-east-1"):
            s3.put_object(Bucket=arn, Key="k", Body=b"x")
        stub.add_response(
            "list_multi_region_access_points",
            {"AccessPoints": [{"Name": "m", "Alias": "mfzwi23gnjvgw.mrap", "Regions": regions[:1]}]},
            {"AccountId": "123456789012"},
        )
        aws_guard.region_cache.clear()
        assert aws_guard.bucket_location(s3, arn) == ([EU], None)
        assert aws_guard.bucket_location(s3, arn) == ([EU], None)  # cached: no second response queued


def test_mrap_regions_from_moto(aws: None) -> None:
    """An MRAP created in moto: its member buckets' own regions decide.

    Writes through an MRAP need SigV4A (awscrt, not installed), so the lookup is
    tested directly; moto lists every member region as us-east-1, the member
    buckets' HeadBucket answers are used instead.
    """
    account = boto3.client("sts", region_name=EU).get_caller_identity()["Account"]
    for name, region in (("mrap-eu", EU), ("mrap-de", "eu-central-1"), ("mrap-us", US)):
        config = {} if region == US else {"CreateBucketConfiguration": {"LocationConstraint": region}}
        boto3.client("s3", region_name=region).create_bucket(Bucket=name, **config)
    control = boto3.client("s3control", region_name="us-west-2")
    for name, members in (("eu", ["mrap-eu", "mrap-de"]), ("mixed", ["mrap-eu", "mrap-us"])):
        control.create_multi_region_access_point(
            AccountId=account, ClientToken=name, Details={"Name": name, "Regions": [{"Bucket": b} for b in members]}
        )
    aliases = {
        ap["Name"]: ap["Alias"] for ap in control.list_multi_region_access_points(AccountId=account)["AccessPoints"]
    }
    s3 = boto3.client("s3", region_name=EU)
    with residency.guard(policy="eu"):
        eu = aws_guard.bucket_location(s3, f"arn:aws:s3::{account}:accesspoint/{aliases['eu']}")
        mixed = aws_guard.bucket_location(s3, f"arn:aws:s3::{account}:accesspoint/{aliases['mixed']}")
        unknown = aws_guard.bucket_location(s3, f"arn:aws:s3::{account}:accesspoint/nope.mrap")
    assert eu == ([EU, "eu-central-1"], None)
    assert mixed == ([EU, US], None)
    assert unknown[0] == []
    assert "not found" in str(unknown[1])


def test_s3_express_directory_bucket_zone_decides(aws: None) -> None:
    s3 = boto3.client("s3", region_name=EU)
    with residency.guard(policy="eu"):
        with pytest.raises(ResidencyViolation, match="use1-az4"):
            s3.put_object(Bucket="data--use1-az4--x-s3", Key="k", Body=b"x")
        with pytest.raises(ResidencyViolation, match="use1-az4"):
            s3.create_bucket(
                Bucket="data--use1-az4--x-s3",
                CreateBucketConfiguration={
                    "Location": {"Type": "AvailabilityZone", "Name": "use1-az4"},
                    "Bucket": {"Type": "Directory", "DataRedundancy": "SingleAvailabilityZone"},
                },
            )
    assert aws_guard.bucket_location(s3, "data--euw1-az1--x-s3") == (["euw1-az1"], None)
    assert residency.load_policy("eu").check("aws", "euw1-az1").allowed


def test_redirect_to_an_outside_region_is_stopped_before_the_body_is_resent(buckets: dict[str, str]) -> None:
    """moto never redirects: a 301 PermanentRedirect naming us-east-1 is injected for the first attempt."""
    s3 = boto3.client("s3", region_name=EU)
    sent = record_hosts(s3)
    attempts: list[str] = []

    def redirect(request: Any, **kw: Any) -> AWSResponse | None:
        if request.method == "PUT" and "/k" in request.url and not attempts:
            attempts.append(request.url)
            body = b"<Error><Code>PermanentRedirect</Code><Message>m</Message></Error>"
            return canned(301, {"x-amz-bucket-region": US}, body)
        return None

    s3.meta.events.register_first("before-send.s3.PutObject", redirect)
    with residency.guard(policy="eu"):
        with pytest.raises(ResidencyViolation, match="PutObject to s3://eu-bkt: us-east-1"):
            s3.put_object(Bucket="eu-bkt", Key="k", Body=b"x")
        assert aws_guard.region_cache.get((aws_guard._scope(s3), "eu-bkt")) is None
    # The only attempt went to eu-west-1 (moto, which sees every request
    # even when a handler answers it, stored it there); nothing went to us-east-1.
    assert len(attempts) == 1
    assert not any("us-east-1" in u or "//s3.amazonaws.com" in u for u in sent), sent


def test_redirect_inside_the_geography_is_followed(buckets: dict[str, str]) -> None:
    """A 301 naming another EU region (injected) is followed there."""
    s3 = boto3.client("s3", region_name=EU)
    sent = record_hosts(s3)
    attempts: list[str] = []

    def redirect(request: Any, **kw: Any) -> AWSResponse | None:
        if request.method == "PUT" and not attempts:
            attempts.append(request.url)
            return canned(
                301, {"x-amz-bucket-region": "eu-central-1"}, b"<Error><Code>PermanentRedirect</Code></Error>"
            )
        return None

    s3.meta.events.register_first("before-send.s3.PutObject", redirect)
    with residency.guard(policy="eu"):
        s3.put_object(Bucket="eu-bkt", Key="k", Body=b"x")
    assert ".eu-central-1.amazonaws.com/k" in sent[-1]


def test_every_attempt_is_checked(buckets: dict[str, str]) -> None:
    """A retry whose URL was changed to a US endpoint (by any handler) is stopped at before-sign."""
    s3 = boto3.client("s3", region_name=EU, config=Config(retries={"max_attempts": 3, "mode": "standard"}))
    sent = record_hosts(s3)
    attempts: list[int] = []

    def fail_first(request: Any, **kw: Any) -> AWSResponse | None:
        attempts.append(1)
        return canned(500, {}, b"<Error><Code>InternalError</Code></Error>") if len(attempts) == 1 else None

    def move(request: Any, **kw: Any) -> None:
        if attempts:
            request.url = request.url.replace(".eu-west-1.", ".us-east-1.")

    s3.meta.events.register_first("before-send.s3.PutObject", fail_first)
    s3.meta.events.register_first("before-sign.s3.PutObject", move)
    with residency.guard(policy="eu"), pytest.raises(ResidencyViolation, match="us-east-1"):
        s3.put_object(Bucket="eu-bkt", Key="k", Body=b"x")
    assert len(attempts) == 1
    assert not any("us-east-1" in u for u in sent)


def test_endpoint_url_outside_is_blocked_with_a_fix(buckets: dict[str, str]) -> None:
    s3 = boto3.client("s3", region_name=US, endpoint_url="https://s3.us-east-1.amazonaws.com")
    with (
        residency.guard(policy="eu"),
        pytest.raises(ResidencyViolation, match="create the client with region_name='eu-west-1'"),
    ):
        s3.put_object(Bucket="eu-bkt", Key="k", Body=b"x")
    assert keys("eu-bkt") == []


def test_transfer_acceleration_fails_closed(buckets: dict[str, str]) -> None:
    s3 = boto3.client("s3", region_name=EU, config=Config(s3={"use_accelerate_endpoint": True}))
    with residency.guard(policy="eu"), pytest.raises(ResidencyViolation, match="Transfer Acceleration"):
        s3.put_object(Bucket="eu-bkt", Key="k", Body=b"x")


# --------------------------------------------------------------------------- fail closed


def test_access_denied_without_region_header_fails_closed(buckets: dict[str, str]) -> None:
    """moto omits x-amz-bucket-region on 403: a bare 403 for HeadBucket is injected."""
    s3 = boto3.client("s3", region_name=EU)
    s3.meta.events.register_first("before-send.s3.HeadBucket", lambda **kw: canned(403, {}))
    with residency.guard(policy="eu"), pytest.raises(ResidencyViolation) as info:
        s3.put_object(Bucket="eu-bkt", Key="k", Body=b"x")
    assert "cannot establish where s3://eu-bkt stores data" in str(info.value)
    assert "HeadBucket answered 403" in str(info.value)
    assert info.value.location is None
    assert keys("eu-bkt") == []


def test_access_denied_with_region_header_is_enough(buckets: dict[str, str]) -> None:
    """A 403 that carries x-amz-bucket-region (as S3 sends) still tells the region (injected)."""
    s3 = boto3.client("s3", region_name=EU)
    s3.meta.events.register_first("before-send.s3.HeadBucket", lambda **kw: canned(403, {"x-amz-bucket-region": EU}))
    with residency.guard(policy="eu"):
        s3.put_object(Bucket="eu-bkt", Key="k", Body=b"x")


def test_timeout_fails_closed_and_is_not_cached(buckets: dict[str, str]) -> None:
    """A HeadBucket timeout (injected) blocks; the next write looks up again."""
    s3 = boto3.client("s3", region_name=EU, config=Config(retries={"max_attempts": 1}))
    fail = [True]

    def timeout(request: Any, **kw: Any) -> None:
        if fail[0]:
            raise ReadTimeoutError(endpoint_url=request.url)

    s3.meta.events.register_first("before-send.s3.HeadBucket", timeout)
    with residency.guard(policy="eu"):
        with pytest.raises(ResidencyViolation, match="HeadBucket failed"):
            s3.put_object(Bucket="eu-bkt", Key="k", Body=b"x")
        fail[0] = False
        s3.put_object(Bucket="eu-bkt", Key="k", Body=b"x")
        assert aws_guard.region_cache.lookups == 2
    assert keys("eu-bkt") == ["k"]


def test_missing_bucket_fails_closed(aws: None) -> None:
    with residency.guard(policy="eu"), pytest.raises(ResidencyViolation, match="404"):
        boto3.client("s3", region_name=EU).put_object(Bucket="nope", Key="k", Body=b"x")


# --------------------------------------------------------------------------- cache


def test_one_lookup_per_bucket_per_ttl(buckets: dict[str, str]) -> None:
    s3 = boto3.client("s3", region_name=EU)
    # a TTL well above the time five writes take on a loaded CI machine (0.2 s was not)
    with residency.guard(policy="eu", cache_ttl=2.0):
        for i in range(5):
            s3.put_object(Bucket="eu-bkt", Key=f"k{i}", Body=b"x")
        assert aws_guard.region_cache.lookups == 1
        time.sleep(2.05)
        s3.put_object(Bucket="eu-bkt", Key="again", Body=b"x")
        assert aws_guard.region_cache.lookups == 2


def test_lookups_are_thread_safe_and_single_flight(buckets: dict[str, str]) -> None:
    s3 = boto3.client("s3", region_name=EU)
    errors: list[BaseException] = []
    blocked: list[ResidencyViolation] = []

    def write(i: int) -> None:
        try:
            s3.put_object(Bucket="eu-bkt", Key=f"t{i}", Body=b"x")
            s3.put_object(Bucket="us-bkt", Key=f"t{i}", Body=b"x")
        except ResidencyViolation as exc:
            blocked.append(exc)
        except BaseException as exc:
            errors.append(exc)

    with residency.guard(policy="eu"):
        threads = [threading.Thread(target=write, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert aws_guard.region_cache.lookups == 2
    assert errors == []
    assert len(blocked) == 8
    assert len(keys("eu-bkt")) == 8
    assert keys("us-bkt") == []


def test_lookup_goes_through_the_callers_client(buckets: dict[str, str]) -> None:
    """A Stubber on the caller's client sees the HeadBucket: the caller's credentials and endpoint."""
    s3 = boto3.client("s3", region_name=EU)
    with Stubber(s3) as stub, residency.guard(policy="eu"):
        stub.add_response(
            "head_bucket", {"ResponseMetadata": {"HTTPHeaders": {"x-amz-bucket-region": US}}}, {"Bucket": "x"}
        )
        with pytest.raises(ResidencyViolation, match="us-east-1"):
            s3.put_object(Bucket="x", Key="k", Body=b"x")
        stub.add_response("put_object", {}, {"Bucket": "y", "Key": "k", "Body": b"x"})
        s3.meta.events.register_first("before-send.s3.HeadBucket", lambda **kw: pytest.fail("cache miss"))
        aws_guard.region_cache.put((aws_guard._scope(s3), "y"), EU, 60)
        s3.put_object(Bucket="y", Key="k", Body=b"x")
        stub.assert_no_pending_responses()


# --------------------------------------------------------------------------- audit mode


def test_audit_mode_logs_and_lets_through(buckets: dict[str, str], caplog: pytest.LogCaptureFixture) -> None:
    s3 = boto3.client("s3", region_name=EU)
    seen: list[ResidencyViolation] = []
    g = residency.guard(policy="eea-ch", mode="audit", on_violation=seen.append)
    g.install()
    try:
        with caplog.at_level(logging.WARNING, logger="residency"):
            s3.put_object(Bucket="us-bkt", Key="k", Body=b"x")
    finally:
        g.uninstall()
    assert keys("us-bkt") == ["k"]
    assert len(seen) == 1
    assert seen[0].policy == "eea-ch"
    (record,) = [r for r in caplog.records if r.name == "residency"]
    assert record.levelno == logging.WARNING
    assert "PutObject to s3://us-bkt: us-east-1" in record.getMessage()
    assert record.residency_countries == ("US",)  # type: ignore[attr-defined]


def test_on_violation_in_enforce_mode(buckets: dict[str, str]) -> None:
    seen: list[ResidencyViolation] = []
    with residency.guard(policy="eu", on_violation=seen.append), pytest.raises(ResidencyViolation):
        boto3.client("s3", region_name=EU).put_object(Bucket="us-bkt", Key="k", Body=b"x")
    assert [v.target for v in seen] == ["s3://us-bkt"]


def test_two_guards_each_decide(buckets: dict[str, str]) -> None:
    """An audit guard records even when an enforce guard blocks."""
    seen: list[ResidencyViolation] = []
    with residency.guard(policy="eea", mode="audit", on_violation=seen.append), residency.guard(policy="eu"):
        with pytest.raises(ResidencyViolation):
            boto3.client("s3", region_name=EU).put_object(Bucket="uk-bkt", Key="k", Body=b"x")
    assert [v.policy for v in seen] == ["eea"]


# --------------------------------------------------------------------------- other services


TABLE = {
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
    "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
    "BillingMode": "PAY_PER_REQUEST",
}


def test_dynamodb(aws: None) -> None:
    us = boto3.client("dynamodb", region_name=US)
    eu = boto3.client("dynamodb", region_name=EU)
    us.create_table(TableName="t", **TABLE)
    with residency.guard(policy="eu"):
        with pytest.raises(ResidencyViolation, match="PutItem to dynamodb:t: us-east-1"):
            us.put_item(TableName="t", Item={"pk": {"S": "a"}})
        with pytest.raises(ResidencyViolation, match="CreateTable"):
            us.create_table(TableName="t2", **TABLE)
        us.describe_table(TableName="t")
        us.scan(TableName="t")
        eu.create_table(TableName="e", **TABLE)
        eu.put_item(TableName="e", Item={"pk": {"S": "a"}})
        boto3.resource("dynamodb", region_name=EU).Table("e").put_item(Item={"pk": "b"})
        with pytest.raises(ResidencyViolation):
            boto3.resource("dynamodb", region_name=US).Table("t").put_item(Item={"pk": "b"})
        with pytest.raises(ResidencyViolation, match=r"ReplicaUpdates\[0\].Create.RegionName"):
            eu.update_table(TableName="e", ReplicaUpdates=[{"Create": {"RegionName": US}}])
    assert us.scan(TableName="t")["Count"] == 0
    assert us.list_tables()["TableNames"] == ["t"]
    assert "Replicas" not in eu.describe_table(TableName="e")["Table"]


def test_replica_delete_is_not_an_export(aws: None) -> None:
    """Removing an outside replica is allowed (stubbed: moto has no global-table replicas)."""
    eu = boto3.client("dynamodb", region_name=EU)
    with Stubber(eu) as stub, residency.guard(policy="eu"):
        stub.add_response("update_table", {}, {"TableName": "e", "ReplicaUpdates": [{"Delete": {"RegionName": US}}]})
        eu.update_table(TableName="e", ReplicaUpdates=[{"Delete": {"RegionName": US}}])
        with pytest.raises(ResidencyViolation, match=r"ReplicationGroup\[1\].RegionName"):
            eu.create_global_table(
                GlobalTableName="g", ReplicationGroup=[{"RegionName": EU}, {"RegionName": "us-west-2"}]
            )


def test_queues_topics_streams_functions(aws: None) -> None:
    sqs_us = boto3.client("sqs", region_name=US)
    url = sqs_us.create_queue(QueueName="q")["QueueUrl"]
    sns_us = boto3.client("sns", region_name=US)
    topic = sns_us.create_topic(Name="t")["TopicArn"]
    kin = boto3.client("kinesis", region_name=US)
    kin.create_stream(StreamName="s", ShardCount=1)
    with residency.guard(policy="eu"):
        with pytest.raises(ResidencyViolation, match="SendMessage"):
            sqs_us.send_message(QueueUrl=url, MessageBody="hi")
        with pytest.raises(ResidencyViolation, match="Publish"):
            sns_us.publish(TopicArn=topic, Message="hi")
        with pytest.raises(ResidencyViolation, match="PutRecord"):
            kin.put_record(StreamName="s", Data=b"x", PartitionKey="p")
        with pytest.raises(ResidencyViolation, match="Invoke to lambda:fn: us-east-1"):
            boto3.client("lambda", region_name=US).invoke(FunctionName="fn", Payload=b"{}")
        sqs_us.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])
        sqs_us.receive_message(QueueUrl=url)
        eu_q = boto3.client("sqs", region_name=EU)
        eu_q.send_message(QueueUrl=eu_q.create_queue(QueueName="q")["QueueUrl"], MessageBody="hi")
        with pytest.raises(ResidencyViolation, match="AddReplicaRegions"):
            boto3.client("secretsmanager", region_name=EU).create_secret(
                Name="s", SecretString="x", AddReplicaRegions=[{"Region": US}]
            )
    assert "Messages" not in sqs_us.receive_message(QueueUrl=url)
    assert boto3.client("secretsmanager", region_name=EU).list_secrets()["SecretList"] == []


def test_global_services_pass_unless_denied(aws: None) -> None:
    with residency.guard(policy="eu"):
        boto3.client("sts", region_name=US).get_caller_identity()
        boto3.client("iam", region_name=US).create_user(UserName="u")
    deny = residency.parse_policy({"allow": "EU", "global_services": "deny"}, default_name="strict")
    with residency.guard(policy=deny), pytest.raises(ResidencyViolation, match="global service") as info:
        boto3.client("iam").create_user(UserName="v")
    assert info.value.location == "global"
    assert [u["UserName"] for u in boto3.client("iam").list_users()["Users"]] == ["u"]


def test_waiver_for_an_outside_bucket(buckets: dict[str, str]) -> None:
    policy = residency.parse_policy(
        {
            "allow": "EU",
            "waivers": [
                {"id": "legacy", "justification": "DPO-42", "expires": "2099-01-01", "resource": "s3://us-bkt"}
            ],
        }
    )
    with residency.guard(policy=policy):
        boto3.client("s3", region_name=EU).put_object(Bucket="us-bkt", Key="k", Body=b"x")
    assert keys("us-bkt") == ["k"]


def test_host_parsing() -> None:
    h = aws_guard._host_region
    assert h("s3.amazonaws.com") == (True, US, None)
    assert h("eu-west-1.s3.amazonaws.com") == (True, US, None)  # a bucket named like a region
    assert h("b.s3.eu-west-1.amazonaws.com") == (True, EU, None)
    assert h("s3-eu-west-1.amazonaws.com") == (True, EU, None)
    assert h("dynamodb.eu-central-1.api.aws")[1] == "eu-central-1"
    assert h("b.s3-accelerate.amazonaws.com")[1:] == (
        None,
        "S3 Transfer Acceleration sends the body through edge locations worldwide",
    )
    assert h("127.0.0.1") == (False, None, None)
    assert is_loopback("127.0.0.1")
    assert is_loopback("localhost")


def test_presigned_read_with_a_write_method_is_a_write(buckets: dict[str, str]) -> None:
    s3 = boto3.client("s3", region_name=EU)
    with residency.guard(policy="eu"):
        with pytest.raises(ResidencyViolation, match=r"GetObject \(presigned PUT URL\) to s3://us-bkt"):
            s3.generate_presigned_url("get_object", Params={"Bucket": "us-bkt", "Key": "k"}, HttpMethod="PUT")
        s3.generate_presigned_url("get_object", Params={"Bucket": "eu-bkt", "Key": "k"}, HttpMethod="PUT")


def test_resource_named_in_another_region_than_the_client(aws: None) -> None:
    """A topic ARN or queue URL in us-east-1, called through an EU client."""
    topic = boto3.client("sns", region_name=US).create_topic(Name="t")["TopicArn"]
    url = boto3.client("sqs", region_name=US).create_queue(QueueName="q")["QueueUrl"]
    with residency.guard(policy="eu"):
        with pytest.raises(ResidencyViolation, match=f"Publish to {topic}: us-east-1"):
            boto3.client("sns", region_name=EU).publish(TopicArn=topic, Message="hi")
        with pytest.raises(ResidencyViolation, match="SendMessage"):
            boto3.client("sqs", region_name=EU).send_message(QueueUrl=url, MessageBody="hi")


def test_destination_buckets_named_by_other_services(buckets: dict[str, str]) -> None:
    """Firehose delivery to a US bucket, DynamoDB export and Athena output (s3:// URI) to it."""
    with residency.guard(policy="eu"):
        with pytest.raises(ResidencyViolation, match=r"s3://us-bkt \(ExtendedS3DestinationConfiguration.BucketARN\)"):
            boto3.client("firehose", region_name=EU).create_delivery_stream(
                DeliveryStreamName="s",
                ExtendedS3DestinationConfiguration={
                    "RoleARN": "arn:aws:iam::123456789012:role/firehose",
                    "BucketARN": "arn:aws:s3:::us-bkt",
                },
            )
        with pytest.raises(ResidencyViolation, match=r"s3://us-bkt \(S3Bucket\)"):
            boto3.client("dynamodb", region_name=EU).export_table_to_point_in_time(
                TableArn="arn:aws:dynamodb:eu-west-1:123456789012:table/t", S3Bucket="us-bkt"
            )
        with pytest.raises(ResidencyViolation, match=r"ResultConfiguration\.OutputLocation"):
            boto3.client("athena", region_name=EU).start_query_execution(
                QueryString="select 1", ResultConfiguration={"OutputLocation": "s3://us-bkt/results/"}
            )
        # Reading from a US bucket into an EU service is not an export.
        boto3.client("firehose", region_name=EU).create_delivery_stream(
            DeliveryStreamName="ok",
            ExtendedS3DestinationConfiguration={
                "RoleARN": "arn:aws:iam::123456789012:role/firehose",
                "BucketARN": "arn:aws:s3:::eu-bkt",
            },
        )
    assert boto3.client("firehose", region_name=EU).list_delivery_streams()["DeliveryStreamNames"] == ["ok"]


def test_user_maps_are_not_destinations(aws: None) -> None:
    """Tags, items and attributes are the caller's data: a value 'us-east-1' there is not a region."""
    with residency.guard(policy="eu"):
        sqs = boto3.client("sqs", region_name=EU)
        sqs.create_queue(QueueName="q", tags={"Region": "us-east-1"})
        ddb = boto3.client("dynamodb", region_name=EU)
        ddb.create_table(TableName="t", **TABLE)
        ddb.put_item(TableName="t", Item={"pk": {"S": "a"}, "region": {"S": "us-east-1"}})


def test_lowercase_region_keys(aws: None) -> None:
    """ECR replication rules spell it 'region'."""
    config = {"rules": [{"destinations": [{"region": US, "registryId": "123456789012"}]}]}
    with residency.guard(policy="eu"), pytest.raises(ResidencyViolation, match="destinations"):
        boto3.client("ecr", region_name=EU).put_replication_configuration(replicationConfiguration=config)


def test_waiver_by_bucket_arn(buckets: dict[str, str]) -> None:
    """Waivers written with ARNs (as scan findings name buckets) apply to the guard too."""
    policy = residency.parse_policy(
        {
            "allow": "EU",
            "waivers": [
                {"id": "legacy", "justification": "DPO-42", "expires": "2099-01-01", "resource": "arn:aws:s3:::us-*"}
            ],
        }
    )
    with residency.guard(policy=policy):
        boto3.client("s3", region_name=EU).put_object(Bucket="us-bkt", Key="k", Body=b"x")
        with pytest.raises(ResidencyViolation):
            boto3.client("s3", region_name=EU).put_object(Bucket="uk-bkt", Key="k", Body=b"x")
    assert keys("us-bkt") == ["k"]
