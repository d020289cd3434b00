"""``residency guardrails aws``: SCP/RCP semantics against moto's Organizations (SCPs and RCPs).

moto stores policy documents as given and does not evaluate them: the
evaluation is ours, the hierarchy, attachments and pagination are moto's.
The AccessDenied case uses botocore's Stubber (moto's Organizations has no
permission model for a caller inside the organisation).
"""

from __future__ import annotations

import collections
import io
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws
from residency.providers.aws._guardrails import (
    GLOBAL_ACTIONS,
    SCP_MAX_CHARS,
    Chain,
    evaluate_chain,
    parse_policy,
)

from residency import check_guardrails, emit_guardrails, load_policy
from residency._cli import main

EU_REGIONS = ["eu-central-1", "eu-north-1", "eu-south-1", "eu-south-2", "eu-west-1", "eu-west-3"]
# an unknown-findings exit: 1 on this branch (fail closed), 3 once the shared exit code has it
UNKNOWN_EXITS = (1, 3)


def _doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def _region_deny(regions: list[str], *, not_action: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    cond: dict[str, Any] = {"StringNotEquals": {"aws:RequestedRegion": regions}}
    cond.update(extra)
    return {
        "Sid": "DenyOutside",
        "Effect": "Deny",
        "NotAction": not_action if not_action is not None else list(GLOBAL_ACTIONS),
        "Resource": "*",
        "Condition": cond,
    }


def _replica_denies(regions: list[str]) -> list[dict[str, Any]]:
    """KMS and Secrets Manager replicas: the replica's region is a request parameter, not the endpoint."""
    return [
        {
            "Effect": "Deny",
            "Action": "kms:ReplicateKey",
            "Resource": "*",
            "Condition": {"StringNotEquals": {"kms:ReplicaRegion": regions}},
        },
        {
            "Effect": "Deny",
            "Action": ["secretsmanager:CreateSecret", "secretsmanager:ReplicateSecretToRegions"],
            "Resource": "*",
            "Condition": {"ForAnyValue:StringNotEquals": {"secretsmanager:AddReplicaRegions": regions}},
        },
    ]


REPLICA_ACTIONS = {"kms:ReplicateKey", "secretsmanager:CreateSecret", "secretsmanager:ReplicateSecretToRegions"}


class Org:
    """An organisation in moto: root → OU 'Workloads' → one member account."""

    def __init__(self) -> None:
        self.client = boto3.client("organizations", region_name="us-east-1")
        self.client.create_organization(FeatureSet="ALL")
        self.root = self.client.list_roots()["Roots"][0]["Id"]
        self.management = self.client.describe_organization()["Organization"]["MasterAccountId"]
        self.ou = self.ou_under(self.root, "Workloads")
        self.account = self.account_in(self.ou, "member")

    def ou_under(self, parent: str, name: str) -> str:
        ou: str = self.client.create_organizational_unit(ParentId=parent, Name=name)["OrganizationalUnit"]["Id"]
        return ou

    def account_in(self, parent: str, name: str) -> str:
        acct: str = self.client.create_account(AccountName=name, Email=f"{name}@example.com")["CreateAccountStatus"][
            "AccountId"
        ]
        self.client.move_account(AccountId=acct, SourceParentId=self.root, DestinationParentId=parent)
        return acct

    def attach(self, target: str, content: str, *, name: str = "p", kind: str = "SERVICE_CONTROL_POLICY") -> str:
        pid: str = self.client.create_policy(Name=name, Type=kind, Description=name, Content=content)["Policy"][
            "PolicySummary"
        ]["Id"]
        self.client.attach_policy(PolicyId=pid, TargetId=target)
        return pid


@pytest.fixture
def org() -> Iterator[Org]:
    with mock_aws():
        yield Org()


def _member(org: Org, policy: str = "eu") -> Any:
    result = check_guardrails("aws", policy)
    by = {f.account: f for f in result.findings}
    assert all(f.kind == "guardrail" for f in result.findings)
    return by[org.account], by


def _codes(finding: Any) -> list[str]:
    return sorted(loc.code for loc in finding.locations)


# --------------------------------------------------------------------------- traps


def test_only_full_aws_access_lets_data_go_anywhere(org: Org) -> None:
    f, by = _member(org)
    assert f.status == "violation"
    assert {"us-east-1", "eu-west-2", "eu-central-2", "ap-south-1"} <= set(_codes(f))
    assert set(EU_REGIONS) <= set(f.details["writable"])
    assert "FullAWSAccess" in f.details["chain"][0]
    # the management account: SCPs do not apply, said so
    m = by[org.management]
    assert m.status == "violation"
    assert m.details["writable"] is None
    assert "management account" in m.reason
    assert "do not apply" in m.reason


def test_deny_string_not_equals_listing_london_is_a_violation_under_eu(org: Org) -> None:
    europe = [*EU_REGIONS, "eu-west-2"]
    org.attach(org.root, _doc(_region_deny(europe), *_replica_denies(europe)), name="DenyOutsideEurope")
    f, _ = _member(org)
    assert f.status == "violation"
    assert _codes(f) == ["eu-west-2"]
    assert f.details["outside_by_action"]["dynamodb:CreateTable"] == ["eu-west-2"]
    assert "eu-west-2" in f.reason
    assert "DenyOutsideEurope" in f.reason


def test_requested_region_alone_leaves_key_and_secret_replicas_open(org: Org) -> None:
    org.attach(org.root, _doc(_region_deny(EU_REGIONS)), name="RegionOnly")
    f, _ = _member(org)
    assert f.status == "violation"
    assert set(f.details["outside_by_action"]) == REPLICA_ACTIONS
    assert "us-east-1" in f.details["outside_by_action"]["kms:ReplicateKey"]


def test_not_action_exempting_s3_leaves_buckets_anywhere(org: Org) -> None:
    org.attach(org.root, _doc(_region_deny(EU_REGIONS, not_action=[*GLOBAL_ACTIONS, "s3:*"])))
    f, _ = _member(org)
    assert f.status == "violation"
    assert "us-east-1" in _codes(f)
    assert "ap-south-1" in _codes(f)
    assert set(f.details["outside_by_action"]) - REPLICA_ACTIONS == {
        "s3:CreateBucket",
        "s3:PutObject",
        "s3:PutReplicationConfiguration",
    }
    assert "LocationConstraint" in f.details["s3_location"]


def test_exempt_admin_role_can_write_anywhere(org: Org) -> None:
    admin = "arn:aws:iam::*:role/Admin"
    org.attach(
        org.root, _doc(_region_deny(EU_REGIONS, ArnNotLike={"aws:PrincipalARN": [admin]}), *_replica_denies(EU_REGIONS))
    )
    f, _ = _member(org)
    assert f.status == "violation"
    assert f.details["exempt"] == [f"{admin} can write anywhere"]
    assert f.details["writable"] == EU_REGIONS  # everyone else is confined
    assert "exempt: arn:aws:iam::*:role/Admin can write anywhere" in f.reason


def test_unknown_operator_is_unknown_never_compliant(org: Org) -> None:
    deny = _region_deny(EU_REGIONS)
    deny["Condition"] = {"StringFuzzy": {"aws:RequestedRegion": EU_REGIONS}}
    org.attach(org.ou, _doc(deny), name="Fuzzy")
    f, _ = _member(org)
    assert f.status == "unknown"
    assert "unknown condition operator 'StringFuzzy'" in (f.error or "")
    assert "Fuzzy" in (f.error or "")


def test_policy_that_does_not_parse_is_unknown(org: Org) -> None:
    org.attach(org.account, "{not json", name="Broken")
    f, _ = _member(org)
    assert f.status == "unknown"
    assert "Broken" in (f.error or "")
    assert "not JSON" in (f.error or "")


def test_access_denied_on_organizations_is_unknown() -> None:
    client = boto3.client("organizations", region_name="us-east-1")
    stub = Stubber(client)
    stub.add_client_error("describe_organization", "AccessDeniedException", "not allowed", 400)
    stub.activate()

    class Session:
        def client(self, service: str, **kw: Any) -> Any:
            assert service == "organizations"
            return client

    result = check_guardrails("aws", "eu", session=Session())
    [f] = result.findings
    assert f.status == "unknown"
    assert f.kind == "guardrail"
    assert "AccessDeniedException" in (f.error or "")
    assert result.exit_code(fail_on_unknown=True) != 0


def test_ou_level_allow_missing_blocks_everything_below(org: Org) -> None:
    # an OU whose only SCP allows nothing but IAM: data writes are not allowed at that level at all
    org.client.detach_policy(PolicyId="p-FullAWSAccess", TargetId=org.ou)
    org.attach(org.ou, _doc({"Effect": "Allow", "Action": "iam:*", "Resource": "*"}), name="IamOnly")
    f, _ = _member(org)
    assert f.status == "compliant"
    assert f.details["writable"] == []


def test_rcp_deny_closes_the_s3_hole_of_an_scp(org: Org) -> None:
    org.attach(
        org.root,
        _doc(_region_deny(EU_REGIONS, not_action=[*GLOBAL_ACTIONS, "s3:*"]), *_replica_denies(EU_REGIONS)),
        name="ScpHole",
    )
    rcp = {
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": "*",
        "Condition": {
            "StringNotEquals": {"aws:RequestedRegion": EU_REGIONS},
        },
    }
    rcp_bucket = {
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:CreateBucket",
        "Resource": "*",
        "Condition": {"StringNotEquals": {"s3:LocationConstraint": EU_REGIONS}},
    }
    org.attach(org.root, _doc(rcp, rcp_bucket), name="RcpS3", kind="RESOURCE_CONTROL_POLICY")
    f, _ = _member(org)
    assert f.status == "compliant", f.reason
    assert any("RCP RCPFullAWSAccess, RcpS3" in c for c in f.details["chain"])


def test_accounts_filter_and_an_account_outside_the_org(org: Org) -> None:
    result = check_guardrails("aws", "eu", accounts=[org.account, "999999999999"])
    by = {f.account: f for f in result.findings}
    assert set(by) == {org.account, "999999999999"}
    assert by["999999999999"].status == "unknown"


# --------------------------------------------------------------------------- condition semantics (pure)


def _writable(*deny: dict[str, Any], replicas: bool = True) -> tuple[tuple[str, ...], list[str], dict[str, Any]]:
    """Root and account with FullAWSAccess, the account also with ``deny`` (and the replica denies)."""
    full = parse_policy("FullAWSAccess", _doc({"Effect": "Allow", "Action": "*", "Resource": "*"}))
    extra = _replica_denies(EU_REGIONS) if replicas else []
    chain = Chain((full, full + parse_policy("Deny", _doc(*deny, *extra))), ())
    return evaluate_chain(chain, "111111111111", load_policy("eu"))


def test_if_exists_null_and_set_operators() -> None:
    writable, _, _ = _writable(
        _region_deny(EU_REGIONS) | {"Condition": {"StringNotEqualsIfExists": {"aws:RequestedRegion": EU_REGIONS}}}
    )
    assert list(writable) == EU_REGIONS
    # Null "false" on a key every request carries: the deny applies
    writable, _, _ = _writable(
        _region_deny(EU_REGIONS, Null={"aws:RequestedRegion": "false"}),
    )
    assert list(writable) == EU_REGIONS
    # Null "true" on it: never applies → nothing confined
    writable, _, _ = _writable(_region_deny(EU_REGIONS) | {"Condition": {"Null": {"aws:RequestedRegion": "true"}}})
    assert "us-east-1" in writable
    # StringLike wildcards: eu-* also lets London and Zurich in
    writable, _, _ = _writable(
        _region_deny(EU_REGIONS) | {"Condition": {"StringNotLike": {"aws:RequestedRegion": ["eu-*"]}}}
    )
    assert "eu-west-2" in writable
    assert "eu-central-2" in writable
    assert "us-east-1" not in writable
    # secrets replicas: ForAnyValue over the replica regions bounds them
    secret = {
        "Effect": "Deny",
        "Action": ["secretsmanager:CreateSecret", "secretsmanager:ReplicateSecretToRegions"],
        "Resource": "*",
        "Condition": {"ForAnyValue:StringNotEquals": {"secretsmanager:AddReplicaRegions": EU_REGIONS}},
    }
    _, _, open_details = _writable(_region_deny(EU_REGIONS), replicas=False)
    assert "secretsmanager:ReplicateSecretToRegions" in open_details["outside_by_action"]
    assert "kms:ReplicateKey" in open_details["outside_by_action"]
    _, _, details = _writable(_region_deny(EU_REGIONS), secret, replicas=False)
    assert "secretsmanager:ReplicateSecretToRegions" not in details["outside_by_action"]
    assert "secretsmanager:CreateSecret" not in details["outside_by_action"]


def test_requested_region_alone_bounds_buckets_only_while_us_east_1_is_denied() -> None:
    _, _, details = _writable(_region_deny([*EU_REGIONS, "us-east-1"]))
    assert set(details["outside_by_action"]["s3:CreateBucket"]) > {"us-east-1", "ap-south-1", "eu-west-2"}
    assert details["outside_by_action"]["dynamodb:CreateTable"] == ["us-east-1"]
    bucket = {
        "Effect": "Deny",
        "Action": "s3:CreateBucket",
        "Resource": "*",
        "Condition": {"StringNotEquals": {"s3:LocationConstraint": EU_REGIONS}},
    }
    _, _, details = _writable(_region_deny([*EU_REGIONS, "us-east-1"]), bucket)
    assert "s3:CreateBucket" not in details["outside_by_action"]


def test_condition_on_a_key_not_modelled_is_not_trusted_to_deny() -> None:
    writable, _, details = _writable(
        _region_deny(EU_REGIONS, StringEquals={"aws:PrincipalTag/team": "data"}),
    )
    assert "us-east-1" in writable
    assert details["undecided_keys"] == ["aws:principaltag/team"]


def test_deny_on_some_resources_only_does_not_confine() -> None:
    writable, _, _ = _writable(_region_deny(EU_REGIONS) | {"Resource": "arn:aws:s3:::prod-*"})
    assert "us-east-1" in writable


# --------------------------------------------------------------------------- emit round trip


@pytest.mark.parametrize("name", ["eu", "eea", "eea-ch"])
def test_emit_round_trip_for_every_builtin_policy(name: str) -> None:
    doc = emit_guardrails("aws", name)
    assert all(len(p["Content"]) <= SCP_MAX_CHARS for p in doc["policies"])
    policy = load_policy(name)
    assert all(policy.check("aws", r).allowed for r in doc["allowed_regions"])
    assert ("eu-central-2" in doc["allowed_regions"]) == (name == "eea-ch")
    assert "eu-west-2" not in doc["allowed_regions"]
    with mock_aws():
        org = Org()
        pids = [org.attach(org.root, p["Content"], name=p["Name"]) for p in doc["policies"]]
        f, _ = _member(org, name)
        assert f.status == "compliant", f.reason
        assert f.details["writable"] == doc["allowed_regions"]
        # one region too many in the emitted allow list: a violation naming it
        content = json.loads(doc["policies"][0]["Content"])
        for st in content["Statement"]:
            for test in st["Condition"].values():
                for key in test:
                    test[key] = [*test[key], "us-east-2"]
        org.client.update_policy(PolicyId=pids[0], Content=json.dumps(content))
        f, _ = _member(org, name)
        assert f.status == "violation"
        assert _codes(f) == ["us-east-2"]


def test_emit_splits_to_stay_under_the_scp_size_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    import residency.providers.aws._guardrails as g

    monkeypatch.setattr(g, "SCP_MAX_CHARS", 1_000)
    doc = g.emit(load_policy("eu"))
    assert len(doc["policies"]) > 1
    assert all(len(p["Content"]) <= 1_000 for p in doc["policies"])
    assert any("split into" in n for n in doc["notes"])


# --------------------------------------------------------------------------- scale: pagination, fetched once


def test_each_policy_fetched_once_and_pages_followed(org: Org) -> None:
    org.attach(org.root, _doc(_region_deny(EU_REGIONS), *_replica_denies(EU_REGIONS)), name="Deny")
    ous = [org.ou_under(org.root, f"ou{i}") for i in range(3)]
    shared = org.attach(ous[0], _doc({"Effect": "Deny", "Action": "ecr:*", "Resource": "*"}), name="NoEcr")
    for ou in ous[1:]:
        org.client.attach_policy(PolicyId=shared, TargetId=ou)
    members = [org.account_in(ous[i % 3], f"m{i}") for i in range(25)]  # > one page (moto: 20) in an OU
    calls: collections.Counter[str] = collections.Counter()
    session = boto3.Session(region_name="us-east-1")
    session.events.register("before-call.organizations.*", lambda model, **_: calls.update([model.name]))
    result = check_guardrails("aws", "eu", session=session)
    assert {f.account for f in result.findings} >= set(members)
    assert calls["DescribePolicy"] == 4  # FullAWSAccess, RCPFullAWSAccess, Deny, NoEcr
    assert all(f.status == "compliant" for f in result.findings if f.account in members)
    assert any("policies each fetched once" in n for n in result.notes)
    # whole organisation: attachments per policy, not per account
    assert calls["ListPoliciesForTarget"] == 0
    assert calls["ListTargetsForPolicy"] == 4
    # named accounts: attachments per target on their paths, each policy still described once
    calls.clear()
    named = check_guardrails("aws", "eu", session=session, accounts=members[:5])
    assert {f.account for f in named.findings} == set(members[:5])
    assert all(f.status == "compliant" for f in named.findings)
    assert calls["DescribePolicy"] == 4
    assert calls["ListPoliciesForTarget"] == 2 * (1 + 3 + 5)  # root, the 3 OUs, 5 accounts; SCPs and RCPs


# --------------------------------------------------------------------------- CLI (moto_server)


def test_cli_guardrails_against_moto_server(reset_moto_server: str, tmp_path: Any) -> None:
    client = boto3.client("organizations", region_name="us-east-1", endpoint_url=reset_moto_server)
    client.create_organization(FeatureSet="ALL")
    root = client.list_roots()["Roots"][0]["Id"]
    client.create_account(AccountName="m", Email="m@example.com")
    out = io.StringIO()
    rc = main(
        ["guardrails", "aws", "--endpoint-url", reset_moto_server, "--no-history", "--format", "json"], stdout=out
    )
    assert rc == 1
    report = json.loads(out.getvalue())
    assert {f["kind"] for f in report["findings"]} == {"guardrail"}
    assert all("chain" in f["details"] for f in report["findings"])

    scp = tmp_path / "scp.json"
    assert main(["guardrails", "emit", "aws", "--policy", "eu", "-o", str(scp)], stdout=io.StringIO()) == 0
    doc = json.loads(scp.read_text())
    for p in doc["policies"]:
        pid = client.create_policy(Name=p["Name"], Type=p["Type"], Description="d", Content=p["Content"])
        client.attach_policy(PolicyId=pid["Policy"]["PolicySummary"]["Id"], TargetId=root)
    out = io.StringIO()
    rc = main(["guardrails", "aws", "--endpoint-url", reset_moto_server, "--no-history"], stdout=out)
    # the management account stays a violation (SCPs do not apply to it); the member is compliant
    assert rc == 1
    text = out.getvalue()
    assert "management account" in text
    assert "compliant" in text.lower()
    reports = {}
    for fmt in ("sarif", "junit", "html"):
        out = io.StringIO()
        main(["guardrails", "aws", "--endpoint-url", reset_moto_server, "--no-history", "--format", fmt], stdout=out)
        reports[fmt] = out.getvalue()
    results = json.loads(reports["sarif"])["runs"][0]["results"]
    assert {r["properties"]["kind"] for r in results} == {"guardrail"}
    assert all("chain" in r["properties"]["details"] for r in results)
    assert "chain: management account" in reports["junit"]
    assert "<li>chain: management account" in reports["html"]


def test_cli_errors_are_one_line_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["guardrails", "emit"]) == 2
    assert main(["guardrails", "aws", "--projects", "p"]) == 2
    assert main(["guardrails", "aws", "--policy", "no-such-policy"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 3


def test_scan_with_guardrails_reports_both(org: Org) -> None:
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="outside")
    out = io.StringIO()
    rc = main(
        [
            "scan",
            "aws",
            "--regions",
            "us-east-1,eu-central-1",
            "--services",
            "s3",
            "--guardrails",
            "--no-history",
            "--format",
            "json",
        ],
        stdout=out,
    )
    assert rc == 1
    kinds = {f["kind"] for f in json.loads(out.getvalue())["findings"]}
    assert kinds == {"resource", "guardrail"}


def test_unknown_exit_code_fails_closed() -> None:
    with mock_aws():
        out = io.StringIO()
        rc = main(["guardrails", "aws", "--no-history"], stdout=out)  # no organisation at all
        assert rc in UNKNOWN_EXITS
        assert main(["guardrails", "aws", "--no-history", "--allow-unknown"], stdout=io.StringIO()) == 0
