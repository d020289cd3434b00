"""The AWS guard against a real ``moto_server`` on 127.0.0.1 (HTTP on loopback).

A loopback ``endpoint_url`` is not a location: for S3 the bucket's reported
region (``HeadBucket``'s ``x-amz-bucket-region``, which moto server sends)
decides; for other services the signing region does.
"""

from __future__ import annotations

import io
import urllib.request
import uuid
from typing import Any

import boto3
import pytest
from boto3.s3.transfer import TransferConfig

import residency
from residency import ResidencyViolation

EU = "eu-west-1"
US = "us-east-1"


def client(server: str, service: str, region: str) -> Any:
    return boto3.client(service, region_name=region, endpoint_url=server)


def make_bucket(server: str, region: str) -> str:
    name = f"bkt-{region}-{uuid.uuid4().hex[:8]}"
    config = {} if region == US else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    client(server, "s3", region).create_bucket(Bucket=name, **config)
    return name


def keys(server: str, bucket: str) -> list[str]:
    listing = client(server, "s3", EU).list_objects_v2(Bucket=bucket)
    return [o["Key"] for o in listing.get("Contents", [])]


def test_bucket_region_decides_behind_a_loopback_endpoint(moto_server: str) -> None:
    eu, us = make_bucket(moto_server, EU), make_bucket(moto_server, US)
    with residency.guard(policy="eu"):
        # The client's region (us-east-1, a common default) is irrelevant on loopback.
        client(moto_server, "s3", US).put_object(Bucket=eu, Key="k", Body=b"x")
        with pytest.raises(ResidencyViolation, match=f"PutObject to s3://{us}: us-east-1"):
            client(moto_server, "s3", EU).put_object(Bucket=us, Key="k", Body=b"x")
        with pytest.raises(ResidencyViolation):
            client(moto_server, "s3", EU).upload_fileobj(io.BytesIO(b"x" * 100), us, "up")
    assert keys(moto_server, eu) == ["k"]
    assert keys(moto_server, us) == []


def test_multipart_and_copy_over_http(moto_server: str) -> None:
    eu, us = make_bucket(moto_server, EU), make_bucket(moto_server, US)
    s3 = client(moto_server, "s3", EU)
    s3.put_object(Bucket=us, Key="src", Body=b"us data")
    config = TransferConfig(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024)
    with residency.guard(policy="eu"):
        s3.upload_fileobj(io.BytesIO(b"x" * (5 * 1024 * 1024 + 1)), eu, "big", Config=config)
        with pytest.raises(ResidencyViolation, match="CreateMultipartUpload"):
            s3.upload_fileobj(io.BytesIO(b"x" * (5 * 1024 * 1024 + 1)), us, "big", Config=config)
        s3.copy({"Bucket": us, "Key": "src"}, eu, "copied")
        with pytest.raises(ResidencyViolation):
            s3.copy_object(Bucket=us, Key="back", CopySource={"Bucket": eu, "Key": "copied"})
    assert sorted(keys(moto_server, eu)) == ["big", "copied"]
    assert keys(moto_server, us) == ["src"]


def test_presigned_put_url_over_http(moto_server: str) -> None:
    eu, us = make_bucket(moto_server, EU), make_bucket(moto_server, US)
    s3 = client(moto_server, "s3", EU)
    with residency.guard(policy="eu"):
        url = s3.generate_presigned_url("put_object", Params={"Bucket": eu, "Key": "p"})
        with pytest.raises(ResidencyViolation):
            s3.generate_presigned_url("put_object", Params={"Bucket": us, "Key": "p"})
        with pytest.raises(ResidencyViolation):
            s3.generate_presigned_post(us, "p")
    assert url.startswith(moto_server)
    urllib.request.urlopen(urllib.request.Request(url, data=b"via url", method="PUT")).close()
    assert keys(moto_server, eu) == ["p"]


def test_regional_services_use_the_signing_region(moto_server: str) -> None:
    table = {
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
        "BillingMode": "PAY_PER_REQUEST",
    }
    name = f"t-{uuid.uuid4().hex[:8]}"
    us, eu = client(moto_server, "dynamodb", US), client(moto_server, "dynamodb", EU)
    with residency.guard(policy="eu"):
        with pytest.raises(ResidencyViolation, match="CreateTable"):
            us.create_table(TableName=name, **table)
        eu.create_table(TableName=name, **table)
        eu.put_item(TableName=name, Item={"pk": {"S": "a"}})
        sqs = client(moto_server, "sqs", US)
        with pytest.raises(ResidencyViolation, match="CreateQueue"):
            sqs.create_queue(QueueName=name)
    assert name not in us.list_tables()["TableNames"]
    assert eu.scan(TableName=name)["Count"] == 1


def test_audit_mode_over_http(moto_server: str) -> None:
    us = make_bucket(moto_server, US)
    seen: list[ResidencyViolation] = []
    with residency.guard(policy="eu", mode="audit", on_violation=seen.append):
        client(moto_server, "s3", EU).put_object(Bucket=us, Key="k", Body=b"x")
    assert keys(moto_server, us) == ["k"]
    assert [(v.target, v.location) for v in seen] == [(f"s3://{us}", US)]
