"""The simulated AWS estate of ``residency demo``: a moto server on 127.0.0.1, seeded (resources and an organisation).

Only used by the demo and the tests; needs ``moto[server]`` (``pip install 'eu-residency[demo]'``).
"""

from __future__ import annotations

import json
import logging
import os
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import boto3

from residency._errors import ProviderNotInstalledError

__all__ = ["DEMO_BUCKETS", "DEMO_REGIONS", "LONDON_SCP", "demo_environment", "seed_estate", "seed_organisation"]

#: bucket name -> region, as seeded
DEMO_BUCKETS: Mapping[str, str] = {
    "acme-eu-customers": "eu-central-1",
    "acme-eu-invoices": "eu-west-1",
    "acme-eu-logs": "eu-west-3",
    "acme-eu-orders": "eu-central-1",
    "acme-us-analytics": "us-east-1",
    "acme-uk-reports": "eu-west-2",
    "acme-us-orders-replica": "us-east-1",
}
DEMO_TABLE = ("acme-sessions", "eu-west-1")
DEMO_REGIONS = ("eu-central-1", "eu-west-1", "eu-west-2", "eu-west-3", "us-east-1")

_LONDON_TOO = ["eu-central-1", "eu-west-1", "eu-west-2"]

#: a hand-written SCP of the usual "deny outside these regions" shape, London included
LONDON_SCP: Mapping[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "DenyOutsideEuropeAndLondon",
            "Effect": "Deny",
            "NotAction": ["iam:*", "organizations:*", "sts:*", "support:*", "cloudfront:*", "route53:*"],
            "Resource": "*",
            "Condition": {"StringNotEquals": {"aws:RequestedRegion": _LONDON_TOO}},
        },
        {
            "Sid": "DenyKeyReplicasElsewhere",
            "Effect": "Deny",
            "Action": "kms:ReplicateKey",
            "Resource": "*",
            "Condition": {"StringNotEquals": {"kms:ReplicaRegion": _LONDON_TOO}},
        },
        {
            "Sid": "DenySecretReplicasElsewhere",
            "Effect": "Deny",
            "Action": ["secretsmanager:CreateSecret", "secretsmanager:ReplicateSecretToRegions"],
            "Resource": "*",
            "Condition": {"ForAnyValue:StringNotEquals": {"secretsmanager:AddReplicaRegions": _LONDON_TOO}},
        },
    ],
}

_ENV = {
    "AWS_ACCESS_KEY_ID": "demo",
    "AWS_SECRET_ACCESS_KEY": "demo",
    "AWS_SESSION_TOKEN": "demo",
    "AWS_DEFAULT_REGION": "eu-central-1",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}


@contextmanager
def demo_environment() -> Iterator[str]:
    """Start a moto server on 127.0.0.1 with fake credentials; yield its URL; restore everything.

    While it runs, ``AWS_ENDPOINT_URL`` points every boto3 client at it, so nothing
    can reach a real cloud.
    """
    try:
        from moto.server import ThreadedMotoServer
    except ImportError as exc:
        raise ProviderNotInstalledError("demo", "moto[server]") from exc
    saved = {k: os.environ.get(k) for k in (*_ENV, "AWS_PROFILE", "AWS_ENDPOINT_URL")}
    quiet = logging.getLogger("werkzeug")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # the server's access log would drown the demo
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        url = f"http://{host}:{port}"
        # moto keeps its state per process: start the estate from nothing, even on a second run
        urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST")).close()
        os.environ.update(_ENV)
        os.environ.pop("AWS_PROFILE", None)
        os.environ["AWS_ENDPOINT_URL"] = url
        yield url
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        server.stop()
        quiet.setLevel(level)


def seed_estate(endpoint_url: str, session: Any = None) -> dict[str, Any]:
    """Create the demo estate: EU buckets, a US bucket, a London bucket, an EU bucket
    replicating to the US, and a DynamoDB table in Ireland. Returns what was made."""
    session = session or boto3.Session()

    def client(service: str, region: str) -> Any:
        return session.client(service, region_name=region, endpoint_url=endpoint_url)

    for name, region in DEMO_BUCKETS.items():
        s3 = client("s3", region)
        kw: dict[str, Any] = {}
        if region != "us-east-1":
            kw["CreateBucketConfiguration"] = {"LocationConstraint": region}
        s3.create_bucket(Bucket=name, **kw)
    client("s3", "eu-central-1").put_bucket_tagging(
        Bucket="acme-eu-customers", Tagging={"TagSet": [{"Key": "data-class", "Value": "personal"}]}
    )
    for name in ("acme-eu-orders", "acme-us-orders-replica"):
        client("s3", DEMO_BUCKETS[name]).put_bucket_versioning(
            Bucket=name, VersioningConfiguration={"Status": "Enabled"}
        )
    client("s3", "eu-central-1").put_bucket_replication(
        Bucket="acme-eu-orders",
        ReplicationConfiguration={
            "Role": "arn:aws:iam::123456789012:role/acme-replication",
            "Rules": [
                {
                    "ID": "to-us",
                    "Status": "Enabled",
                    "Priority": 1,
                    "Filter": {"Prefix": ""},
                    "DeleteMarkerReplication": {"Status": "Disabled"},
                    "Destination": {"Bucket": "arn:aws:s3:::acme-us-orders-replica"},
                }
            ],
        },
    )
    table, region = DEMO_TABLE
    client("dynamodb", region).create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        Tags=[{"Key": "data-class", "Value": "personal"}],
    )
    return {"buckets": dict(DEMO_BUCKETS), "table": DEMO_TABLE}


def seed_organisation(endpoint_url: str, eu_scp: Mapping[str, Any], session: Any = None) -> dict[str, Any]:
    """Create an organisation: OU ``eu-workloads`` under ``eu_scp`` (what ``residency guardrails emit aws``
    writes), OU ``uk-workloads`` under :data:`LONDON_SCP`, one member account in each.

    Returns the management account and ``{"members": {ou name: member account id}}``.
    """
    org = (session or boto3.Session()).client("organizations", region_name="us-east-1", endpoint_url=endpoint_url)
    org.create_organization(FeatureSet="ALL")
    root = org.list_roots()["Roots"][0]["Id"]
    management = org.describe_organization()["Organization"]["MasterAccountId"]
    london = {
        "Name": "acme-eu-and-london",
        "Type": "SERVICE_CONTROL_POLICY",
        "Description": "hand-written: EU regions and London",
        "Content": json.dumps(LONDON_SCP),
    }
    policies = {"eu-workloads": list(eu_scp["policies"]), "uk-workloads": [london]}
    members: dict[str, str] = {}
    for ou_name, scps in policies.items():
        ou = org.create_organizational_unit(ParentId=root, Name=ou_name)["OrganizationalUnit"]["Id"]
        member = org.create_account(AccountName=f"acme-{ou_name}", Email=f"{ou_name}@example.com")
        account = member["CreateAccountStatus"]["AccountId"]
        org.move_account(AccountId=account, SourceParentId=root, DestinationParentId=ou)
        for p in scps:
            made = org.create_policy(Name=p["Name"], Type=p["Type"], Description=p["Description"], Content=p["Content"])
            org.attach_policy(PolicyId=made["Policy"]["PolicySummary"]["Id"], TargetId=ou)
        members[ou_name] = account
    return {"management": management, "members": members}
