"""``residency guardrails aws``: do the organisation's SCPs and RCPs keep data writes in the policy's regions?

Reached through ``load_provider("aws").guardrails(context)`` and
``.emit_guardrails(policy)``.

**Walk.** ``ListRoots`` → ``ListOrganizationalUnitsForParent`` /
``ListAccountsForParent`` down the tree. For the whole organisation, the
attachments come from ``ListPolicies`` (SCPs, RCPs) and ``ListTargetsForPolicy``
per policy — pages of attachments, not two requests per account; with
``--accounts`` (or when that listing is refused), from ``ListPoliciesForTarget``
for both types at every root, OU and account on their paths. ``DescribePolicy``
once per policy however many targets it is attached to. Every list call is
paginated.

**SCP semantics** (`SCP evaluation`_): an action is allowed in an account only
if, at *every* level from the root through each OU to the account itself, some
SCP attached *at that level* allows it; an explicit ``Deny`` attached anywhere
on the path wins. SCPs do not apply to the management account, nor to
service-linked roles. **RCPs** (`RCPs`_) bound requests to resources of S3, STS,
KMS, SQS and Secrets Manager in member accounts; ``Allow`` exists only in the
managed ``RCPFullAWSAccess``, so only their ``Deny`` statements decide.

**Question asked.** For every data-service write in :data:`DATA_ACTIONS` and
every commercial-partition region of the catalog: can an ordinary principal
still make the write land there? A region is *writable* if any listed action
can land data in it. Conditions are evaluated as IAM does (`condition
operators`_): ``String*``/``Arn*`` (``Like`` with ``*``/``?``), ``Bool``,
``Null``, the ``ForAnyValue:``/``ForAllValues:`` set prefixes and the
``…IfExists`` suffix; a negated operator on a missing key is true. Keys the
evaluator models: ``aws:RequestedRegion``, ``aws:PrincipalArn``,
``s3:LocationConstraint``, ``kms:ReplicaRegion``,
``secretsmanager:AddReplicaRegions``. A condition on any other key (or a
``Numeric``/``Date``/``IpAddress`` operator) cannot be decided here: an
``Allow`` is then assumed to apply and a ``Deny`` assumed not to (the
principal may satisfy or dodge it), so nothing is counted as blocked on a
guess — the keys are listed in the finding's details. An operator IAM does not
know makes the account ``unknown``.

**Where data lands, per action** (recorded in the finding's details):

* ``aws:RequestedRegion`` is the region of the endpoint called (`global
  condition keys`_). For most creates (DynamoDB, RDS, EBS, ECR, Backup, KMS
  CreateKey, Secrets Manager CreateSecret) the resource is created in that
  region, so the key bounds where data lands. ``ec2:CopySnapshot`` and RDS
  read replicas are requested in the *destination* region; DynamoDB replicas
  need ``dynamodb:CreateTableReplica`` in the replica's region (`DynamoDB
  global tables IAM`_).
* ``s3:CreateBucket``: the bucket lands in its ``LocationConstraint``. A regional
  endpoint refuses a constraint for another region
  (``IllegalLocationConstraintException``), but a request to the
  ``us-east-1`` (``s3.amazonaws.com``) endpoint may create a bucket in *any*
  region (`S3 CreateBucket`_). So ``aws:RequestedRegion`` alone bounds bucket
  locations only while ``us-east-1`` is denied; ``s3:LocationConstraint``
  (`S3 condition keys`_) bounds them whatever endpoint is used.
* ``kms:ReplicateKey`` and ``secretsmanager:ReplicateSecretToRegions`` (and
  ``CreateSecret`` with replicas) are requested in the primary's region; the
  replica's region is only bounded by ``kms:ReplicaRegion`` /
  ``secretsmanager:AddReplicaRegions``.
* ``s3:PutReplicationConfiguration``, ``ecr:PutReplicationConfiguration`` and
  ``backup:StartCopyJob`` send data to a destination that must already exist:
  inside the organisation it was created under these same guardrails;
  destinations in accounts outside the organisation are bounded by no
  condition key — the scan reads actual replication rules (noted, not judged).

Anything that cannot be read (``AccessDenied`` on Organizations, a policy that
does not parse, an unknown operator) makes the account — or, when the tree
itself cannot be read, the organisation — ``unknown`` with the reason.

.. _SCP evaluation: https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_scps_evaluation.html
.. _RCPs: https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_rcps.html
.. _condition operators: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html
.. _global condition keys: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-requestedregion
.. _DynamoDB global tables IAM: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/V2gt_IAM.html
.. _S3 CreateBucket: https://docs.aws.amazon.com/AmazonS3/latest/API/API_CreateBucket.html
.. _S3 condition keys: https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazons3.html
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import Any

import attrs
import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, ProfileNotFound

from residency._catalog import catalog
from residency._errors import ProviderError
from residency._findings import Finding
from residency._guardrails import Reach, judge
from residency._policy import Policy
from residency._scan import ScanContext

from ._scan import _why, check_request

__all__ = ["DATA_ACTIONS", "GLOBAL_ACTIONS", "SCP_MAX_CHARS", "emit", "evaluate_chain", "guardrails", "parse_policy"]

#: data-service writes and how their data's region is decided (see the module docstring)
DATA_ACTIONS: dict[str, str] = {
    "s3:CreateBucket": "s3-create",
    "s3:PutObject": "requested",
    "s3:PutReplicationConfiguration": "requested",
    "dynamodb:CreateTable": "requested",
    "dynamodb:UpdateTable": "requested",
    "dynamodb:CreateTableReplica": "requested",
    "dynamodb:PutItem": "requested",
    "rds:CreateDBInstance": "requested",
    "rds:CreateDBCluster": "requested",
    "rds:CreateDBInstanceReadReplica": "requested",
    "ec2:CreateVolume": "requested",
    "ec2:CopySnapshot": "requested",
    "ec2:CopyImage": "requested",
    "kms:CreateKey": "requested",
    "kms:ReplicateKey": "key:kms:replicaregion",
    "secretsmanager:CreateSecret": "key:secretsmanager:addreplicaregions",
    "secretsmanager:ReplicateSecretToRegions": "key:secretsmanager:addreplicaregions",
    "ecr:CreateRepository": "requested",
    "ecr:PutReplicationConfiguration": "requested",
    "backup:CreateBackupVault": "requested",
    "backup:StartCopyJob": "requested",
}

#: services whose resources RCPs cover (AWS Organizations user guide, "Resource control policies")
RCP_SERVICES = frozenset({"s3", "sts", "kms", "sqs", "secretsmanager"})

#: actions of global services (one endpoint, in us-east-1) that a region deny must leave out, after the
#: AWS example "Deny access to AWS based on the requested AWS Region"
#: (https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_scps_examples_general.html);
#: unlike the example, neither kms:* nor config:* nor acm:* is exempt (KMS keys are data the scan covers),
#: and no S3 write is.
GLOBAL_ACTIONS: tuple[str, ...] = (
    "account:*",
    "aws-portal:*",
    "budgets:*",
    "ce:*",
    "cloudfront:*",
    "cur:*",
    "directconnect:*",
    "ec2:DescribeRegions",
    "globalaccelerator:*",
    "health:*",
    "iam:*",
    "networkmanager:*",
    "organizations:*",
    "pricing:*",
    "route53:*",
    "route53domains:*",
    "s3:GetAccountPublic*",
    "s3:ListAllMyBuckets",
    "s3:ListMultiRegionAccessPoints",
    "s3:PutAccountPublic*",
    "shield:*",
    "sts:*",
    "support:*",
    "trustedadvisor:*",
    "waf:*",
    "wafv2:*",
)

#: AWS Organizations quota: characters in one SCP document
SCP_MAX_CHARS = 5_120

_PARTITION = "aws"
_KINDS = ("SERVICE_CONTROL_POLICY", "RESOURCE_CONTROL_POLICY")
_US_EAST_1 = "us-east-1"
_ACCOUNT_ID = re.compile(r"\b\d{12}\b")
_ORDINARY = "arn:aws:iam::{account}:role/residency-ordinary-principal"
_MODELLED = frozenset(
    {
        "aws:requestedregion",
        "aws:principalarn",
        "s3:locationconstraint",
        "kms:replicaregion",
        "secretsmanager:addreplicaregions",
    }
)
_EVALUATED = {
    "StringEquals",
    "StringNotEquals",
    "StringEqualsIgnoreCase",
    "StringNotEqualsIgnoreCase",
    "StringLike",
    "StringNotLike",
    "ArnEquals",
    "ArnNotEquals",
    "ArnLike",
    "ArnNotLike",
    "Bool",
    "Null",
}
_NOT_EVALUATED = {
    "NumericEquals",
    "NumericNotEquals",
    "NumericLessThan",
    "NumericLessThanEquals",
    "NumericGreaterThan",
    "NumericGreaterThanEquals",
    "DateEquals",
    "DateNotEquals",
    "DateLessThan",
    "DateLessThanEquals",
    "DateGreaterThan",
    "DateGreaterThanEquals",
    "IpAddress",
    "NotIpAddress",
    "BinaryEquals",
}
# the resource a write creates, for a Resource element to be checked against (any name)
_RESOURCE_SHAPES = {
    "s3": "arn:aws:s3:::residency-any",
    "dynamodb": "arn:aws:dynamodb:{region}:{account}:table/residency-any",
    "rds": "arn:aws:rds:{region}:{account}:db:residency-any",
    "ec2": "arn:aws:ec2:{region}:{account}:volume/residency-any",
    "kms": "arn:aws:kms:{region}:{account}:key/residency-any",
    "secretsmanager": "arn:aws:secretsmanager:{region}:{account}:secret:residency-any",
    "ecr": "arn:aws:ecr:{region}:{account}:repository/residency-any",
    "backup": "arn:aws:backup:{region}:{account}:backup-vault:residency-any",
}


class PolicyParseError(ValueError):
    """A policy document the evaluator cannot read (not JSON, bad shape, unknown operator)."""


@lru_cache(maxsize=4096)
def _glob(pattern: str, *, ignore_case: bool = False) -> re.Pattern[str]:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(f"^{body}$", re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def _list(value: Any, what: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    if isinstance(value, bool):
        return (str(value).lower(),)
    if isinstance(value, list) and all(isinstance(v, (str, bool, int)) for v in value):
        return tuple(str(v).lower() if isinstance(v, bool) else str(v) for v in value)
    raise PolicyParseError(f"{what} must be a string or a list of strings")


@attrs.frozen
class Condition:
    """One ``operator: {key: values}`` test."""

    operator: str
    key: str
    values: tuple[str, ...]
    #: the operator without set prefix and ``IfExists``
    base: str = attrs.field(
        init=False, default=attrs.Factory(lambda c: c.operator.split(":", 1)[-1].removesuffix("IfExists"), True)
    )
    #: whether this evaluator can decide it (a modelled key, an evaluated operator, no policy variable)
    decidable: bool = attrs.field(
        init=False,
        default=attrs.Factory(
            lambda c: c.key in _MODELLED and c.base in _EVALUATED and not any("${" in v for v in c.values), True
        ),
    )

    def test(self, ctx: Mapping[str, tuple[str, ...]]) -> bool | None:
        """True/False, or None when the key (or operator) is not modelled."""
        if not self.decidable:
            return None
        base = self.base
        got = ctx.get(self.key)
        if base == "Null":
            return any((got is None) == (v.lower() == "true") for v in self.values)
        prefix = self.operator.split(":", 1)[0] if ":" in self.operator else ""
        if got is None:
            if self.operator.endswith("IfExists") or prefix == "ForAllValues":
                return True
            if prefix == "ForAnyValue":
                return False
            return "Not" in base
        negated = "Not" in base
        ignore_case = base.endswith("IgnoreCase")
        like = base.endswith("Like") or base.startswith("Arn")

        def one(value: str) -> bool:
            if base == "Bool":
                return any(value.lower() == v.lower() for v in self.values)
            if like:
                hit = any(_glob(v).match(value) for v in self.values)
            elif ignore_case:
                hit = any(value.lower() == v.lower() for v in self.values)
            else:
                hit = value in self.values
            return not hit if negated else hit

        if prefix == "ForAllValues":
            return all(one(v) for v in got)
        return any(one(v) for v in got)


@attrs.frozen
class Statement:
    """One statement of an SCP or RCP."""

    policy: str
    effect: str
    actions: tuple[str, ...] | None
    not_actions: tuple[str, ...] | None
    resources: tuple[str, ...] | None
    not_resources: tuple[str, ...] | None
    conditions: tuple[Condition, ...]
    sid: str = ""

    def covers_action(self, action: str) -> bool:
        if self.actions is not None:
            return any(_glob(p, ignore_case=True).match(action) for p in self.actions)
        return not any(_glob(p, ignore_case=True).match(action) for p in self.not_actions or ())

    def applies(
        self, action: str, resource: str, ctx: Mapping[str, tuple[str, ...]], *, action_checked: bool = False
    ) -> bool | None:
        """Whether the statement applies to this request: True, False or None (undecidable here)."""
        if not action_checked and not self.covers_action(action):
            return False
        result: bool | None = True
        if self.resources is not None and not any(_glob(p).match(resource) for p in self.resources):
            result = None  # some resources, not every one
        if self.not_resources is not None:
            if any(_glob(p).match(resource) for p in self.not_resources):
                return False
            result = None
        for cond in self.conditions:
            t = cond.test(ctx)
            if t is False:
                return False
            if t is None:
                result = None
        return result

    @property
    def undecided_keys(self) -> list[str]:
        return [c.key for c in self.conditions if not c.decidable]


def parse_policy(name: str, content: str | Mapping[str, Any]) -> tuple[Statement, ...]:
    """Read an SCP/RCP document; :class:`PolicyParseError` when it cannot be evaluated.

    >>> [s.effect for s in parse_policy("FullAWSAccess", '{"Statement": {"Effect": "Allow", "Action": "*"}}')]
    ['Allow']
    >>> parse_policy("x", {"Statement": [{"Effect": "Deny", "Action": "*",
    ...     "Condition": {"StringFuzzy": {"aws:RequestedRegion": "eu-west-1"}}}]})
    Traceback (most recent call last):
    ...
    residency.providers.aws._guardrails.PolicyParseError: unknown condition operator 'StringFuzzy'
    """
    try:
        doc = json.loads(content) if isinstance(content, str) else content
    except ValueError as exc:
        raise PolicyParseError(f"not JSON: {exc}") from None
    if not isinstance(doc, Mapping) or "Statement" not in doc:
        raise PolicyParseError("no Statement")
    raw = doc["Statement"]
    raw = [raw] if isinstance(raw, Mapping) else raw
    if not isinstance(raw, list):
        raise PolicyParseError("Statement must be an object or a list")
    out: list[Statement] = []
    for i, st in enumerate(raw):
        if not isinstance(st, Mapping):
            raise PolicyParseError(f"statement {i} is not an object")
        effect = st.get("Effect")
        if effect not in ("Allow", "Deny"):
            raise PolicyParseError(f"statement {i}: Effect must be Allow or Deny, got {effect!r}")
        if ("Action" in st) == ("NotAction" in st):
            raise PolicyParseError(f"statement {i}: exactly one of Action and NotAction")
        conds: list[Condition] = []
        block = st.get("Condition", {})
        if not isinstance(block, Mapping):
            raise PolicyParseError(f"statement {i}: Condition must be an object")
        for op, tests in block.items():
            prefix, _, rest = op.rpartition(":")
            base = rest.removesuffix("IfExists")
            if prefix not in ("", "ForAnyValue", "ForAllValues") or base not in _EVALUATED | _NOT_EVALUATED:
                raise PolicyParseError(f"unknown condition operator {op!r}")
            if not isinstance(tests, Mapping):
                raise PolicyParseError(f"statement {i}: {op} must map keys to values")
            for key, values in tests.items():
                conds.append(Condition(op, str(key).lower(), _list(values, f"statement {i}: {op} {key}")))
        out.append(
            Statement(
                policy=name,
                effect=effect,
                actions=_list(st["Action"], "Action") if "Action" in st else None,
                not_actions=_list(st["NotAction"], "NotAction") if "NotAction" in st else None,
                resources=_list(st["Resource"], "Resource") if "Resource" in st else None,
                not_resources=_list(st["NotResource"], "NotResource") if "NotResource" in st else None,
                conditions=tuple(conds),
                sid=str(st.get("Sid", "")),
            )
        )
    return tuple(out)


def _regions() -> tuple[str, ...]:
    return tuple(loc.code for loc in catalog().locations("aws") if loc.kind == "region" and loc.cloud == _PARTITION)


def _any3(results: Iterable[bool | None]) -> bool | None:
    seen_none = False
    for r in results:
        if r is True:
            return True
        if r is None:
            seen_none = True
    return None if seen_none else False


@attrs.frozen
class Chain:
    """The SCPs at each level root → OUs → account, and every RCP on the path."""

    scp_levels: tuple[tuple[Statement, ...], ...]
    rcp: tuple[Statement, ...]

    def for_action(self, action: str) -> Chain:
        """The statements that name ``action`` (RCPs only for the services they cover)."""
        rcp = self.rcp if action.split(":", 1)[0] in RCP_SERVICES else ()
        return Chain(
            tuple(tuple(s for s in lvl if s.covers_action(action)) for lvl in self.scp_levels),
            tuple(s for s in rcp if s.effect == "Deny" and s.covers_action(action)),
        )

    def may_write(self, action: str, resource: str, ctx: Mapping[str, tuple[str, ...]]) -> bool:
        """Whether some request for ``action`` with this context may get through (undecidable counts as yes).

        Call on :meth:`for_action`'s chain: statements are taken to name the action.
        """
        for level in self.scp_levels:
            allows = (s.applies(action, resource, ctx, action_checked=True) for s in level if s.effect == "Allow")
            if _any3(allows) is False:
                return False
        denies = [s for lvl in self.scp_levels for s in lvl if s.effect == "Deny"] + list(self.rcp)
        return all(s.applies(action, resource, ctx, action_checked=True) is not True for s in denies)


def _writable(whole: Chain, account: str, principal: str, regions: Sequence[str]) -> dict[str, list[str]]:
    """Per action, the regions where its data may land for ``principal``."""
    out: dict[str, list[str]] = {}
    for action, binding in DATA_ACTIONS.items():
        chain = whole.for_action(action)
        service = action.split(":", 1)[0]
        landed: dict[str, None] = {}
        for req in regions:
            resource = _RESOURCE_SHAPES[service].format(region=req, account=account)
            base: dict[str, tuple[str, ...]] = {"aws:requestedregion": (req,), "aws:principalarn": (principal,)}
            if binding == "requested":
                if chain.may_write(action, resource, base):
                    landed[req] = None
                continue
            if binding == "s3-create":
                dests = regions if req == _US_EAST_1 else (req,)
                for dest in dests:
                    if dest in landed:
                        continue
                    ctx = dict(base)
                    if dest != _US_EAST_1:
                        ctx["s3:locationconstraint"] = (dest,)
                    if chain.may_write(action, resource, ctx):
                        landed[dest] = None
                continue
            key = binding.removeprefix("key:")
            if action == "secretsmanager:CreateSecret" and chain.may_write(action, resource, base):
                landed[req] = None  # the primary, created without replicas
            for dest in regions:
                if dest not in landed and chain.may_write(action, resource, {**base, key: (dest,)}):
                    landed[dest] = None
        out[action] = [r for r in regions if r in landed]
    return out


def _principals(chain: Chain) -> list[str]:
    """Principal ARN patterns some Deny condition names (exemption candidates)."""
    found: dict[str, None] = {}
    for st in (*(s for lvl in chain.scp_levels for s in lvl), *chain.rcp):
        if st.effect != "Deny":
            continue
        for c in st.conditions:
            if c.key == "aws:principalarn":
                found.update(dict.fromkeys(c.values))
    return list(found)


def evaluate_chain(
    chain: Chain, account: str, policy: Policy, *, regions: Sequence[str] | None = None
) -> tuple[tuple[str, ...], list[str], dict[str, Any]]:
    """``(writable regions, exempt principals, details)`` for an ordinary principal of ``account``."""
    regions = tuple(regions or _regions())
    per_action = _writable(chain, account, _ORDINARY.format(account=account), regions)
    writable = {r for rs in per_action.values() for r in rs}
    outside = {r for r in regions if not policy.check("aws", r).allowed}
    exempt: list[str] = []
    for principal in _principals(chain):
        theirs = _writable(chain, account, principal, regions)
        extra = {r for rs in theirs.values() for r in rs} - writable
        if extra & outside:
            where = "anywhere" if len(writable | extra) == len(regions) else "in " + ", ".join(sorted(extra))
            exempt.append(f"{principal} can write {where}")
    undecided = sorted({k for lvl in chain.scp_levels for s in lvl for k in s.undecided_keys})
    undecided += sorted({k for s in chain.rcp for k in s.undecided_keys} - set(undecided))
    details: dict[str, Any] = {
        "outside_by_action": {a: [r for r in rs if r in outside] for a, rs in per_action.items() if set(rs) & outside},
    }
    if undecided:
        details["undecided_keys"] = undecided
        details["undecided_note"] = (
            "conditions on these keys cannot be evaluated here: Allows on them counted as applying, "
            "Denies as not binding"
        )
    if "s3:CreateBucket" in details["outside_by_action"]:
        details["s3_location"] = (
            "s3:CreateBucket sent to us-east-1 may create a bucket in any region (its LocationConstraint); "
            "aws:RequestedRegion bounds bucket locations only while us-east-1 is denied, s3:LocationConstraint "
            "bounds them on every endpoint"
        )
    ordered = tuple(r for r in regions if r in writable)
    return ordered, exempt, details


# --------------------------------------------------------------------------- walking the organisation


@attrs.define
class _Node:
    id: str
    kind: str  # root, ou, account
    name: str
    parent: _Node | None = None


class _Org:
    """Reads the tree and each policy once; counts requests."""

    def __init__(self, client: Any, concurrency: int) -> None:
        self.client = client
        self.concurrency = concurrency
        self.requests = 0
        self._lock = threading.Lock()
        self.policies: dict[str, tuple[str, tuple[Statement, ...] | str]] = {}  # id -> (name, statements | error)
        self.attached: dict[tuple[str, str], list[str] | str] = {}  # (target, type) -> policy ids | error

    def count(self) -> None:
        with self._lock:
            self.requests += 1

    def _pages(self, op: str, key: str, **kw: Any) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for page in self.client.get_paginator(op).paginate(**kw):
            self.count()
            out.extend(page[key])
        return out

    def tree(self) -> tuple[str, list[_Node], list[_Node]]:
        """(management account id, OUs and roots, accounts)."""
        self.count()
        org = self.client.describe_organization()["Organization"]
        roots = self._pages("list_roots", "Roots")
        parents = [_Node(r["Id"], "root", r.get("Name", "Root")) for r in roots]
        containers = list(parents)
        accounts: list[_Node] = []

        def children(p: _Node) -> tuple[list[_Node], list[_Node]]:
            ous = self._pages("list_organizational_units_for_parent", "OrganizationalUnits", ParentId=p.id)
            accts = self._pages("list_accounts_for_parent", "Accounts", ParentId=p.id)
            return (
                [_Node(ou["Id"], "ou", ou.get("Name", ""), p) for ou in ous],
                [_Node(a["Id"], "account", a.get("Name", ""), p) for a in accts],
            )

        # one level of the tree at a time, its parents in parallel
        with ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="residency-org") as pool:
            while parents:
                nxt: list[_Node] = []
                for ous, accts in pool.map(children, parents):
                    nxt += ous
                    accounts += accts
                containers += nxt
                parents = nxt
        return str(org.get("MasterAccountId", "")), containers, accounts

    def attach_by_policy(self, targets: Sequence[str]) -> bool:
        """``ListPolicies`` per type and ``ListTargetsForPolicy`` per policy, then ``DescribePolicy`` once each.

        For a whole organisation this costs pages of attachments, not two requests per account. False (nothing
        recorded) when the listing is refused, so the caller falls back to :meth:`attach`.
        """
        wanted = set(targets)
        attached: dict[tuple[str, str], list[str]] = {(t, k): [] for t in targets for k in _KINDS}
        names: dict[str, str] = {}
        listed: list[tuple[str, dict[str, Any]]] = []
        for kind in _KINDS:
            try:
                listed += [(kind, p) for p in self._pages("list_policies", "Policies", Filter=kind)]
            except (ClientError, BotoCoreError) as exc:
                if not (kind == "RESOURCE_CONTROL_POLICY" and _is_not_enabled(exc)):
                    return False

        def one(item: tuple[str, dict[str, Any]]) -> tuple[str, str, list[str]]:
            kind, p = item
            found = self._pages("list_targets_for_policy", "Targets", PolicyId=p["Id"])
            return kind, p["Id"], [t["TargetId"] for t in found]

        try:
            with ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="residency-org") as pool:
                results = list(pool.map(one, listed))
        except (ClientError, BotoCoreError):
            return False
        for (_, p), (kind, pid, on) in zip(listed, results, strict=True):
            hits = [t for t in on if t in wanted]
            for t in hits:
                attached[(t, kind)].append(pid)
            if hits:
                names[pid] = p.get("Name", pid)
        self.attached.update(attached)
        self._describe(names)
        return True

    def attach(self, targets: Sequence[str]) -> None:
        """``ListPoliciesForTarget`` for both types at every target, then ``DescribePolicy`` once per policy."""
        jobs = [(t, kind) for t in targets for kind in _KINDS]

        def one(job: tuple[str, str]) -> tuple[tuple[str, str], list[str] | str, dict[str, str]]:
            target, kind = job
            try:
                items = self._pages("list_policies_for_target", "Policies", TargetId=target, Filter=kind)
            except (ClientError, BotoCoreError) as exc:
                if kind == "RESOURCE_CONTROL_POLICY" and _is_not_enabled(exc):
                    return job, [], {}
                return job, _why(exc), {}
            return job, [p["Id"] for p in items], {p["Id"]: p.get("Name", p["Id"]) for p in items}

        names: dict[str, str] = {}
        with ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="residency-org") as pool:
            for job, ids, nm in pool.map(one, jobs):
                self.attached[job] = ids
                names.update(nm)
        self._describe(names)

    def _describe(self, names: Mapping[str, str]) -> None:
        """``DescribePolicy`` once per policy id in ``names`` (id -> name)."""

        def fetch(pid: str) -> tuple[str, tuple[str, tuple[Statement, ...] | str]]:
            name = names[pid]
            try:
                self.count()
                content = self.client.describe_policy(PolicyId=pid)["Policy"]["Content"]
            except (ClientError, BotoCoreError) as exc:
                return pid, (name, f"policy {name} ({pid}) unreadable: {_why(exc)}")
            try:
                return pid, (name, parse_policy(name, content))
            except PolicyParseError as exc:
                return pid, (name, f"policy {name} ({pid}) cannot be evaluated: {exc}")

        with ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="residency-org") as pool:
            self.policies.update(pool.map(fetch, sorted(names)))


def _is_not_enabled(exc: BaseException) -> bool:
    code = exc.response.get("Error", {}).get("Code", "") if isinstance(exc, ClientError) else ""
    return code == "PolicyTypeNotEnabledException"


def _path(node: _Node) -> list[_Node]:
    out = [node]
    parent = node.parent
    while parent is not None:
        out.append(parent)
        parent = parent.parent
    return out[::-1]


def _label(node: _Node) -> str:
    return f"{node.kind} {node.id}" + (f" ({node.name})" if node.name else "")


def _account_reach(org: _Org, acct: _Node, management: str, policy: Policy, cache: dict[Any, Any]) -> Reach:
    name = acct.name
    if acct.id == management:
        return Reach(
            provider="aws",
            account=acct.id,
            name=name,
            writable=None,
            chain=("management account: SCPs and RCPs do not apply to it (AWS Organizations user guide)",),
            details={"management_account": True},
        )
    levels: list[tuple[Statement, ...]] = []
    rcp: list[Statement] = []
    chain_text: list[str] = []
    errors: list[str] = []
    key: list[tuple[str, ...]] = []
    for node in _path(acct):
        scp_ids = org.attached.get((node.id, "SERVICE_CONTROL_POLICY"), "not read")
        rcp_ids = org.attached.get((node.id, "RESOURCE_CONTROL_POLICY"), "not read")
        parts: list[str] = []
        for kind, ids in (("SCP", scp_ids), ("RCP", rcp_ids)):
            if isinstance(ids, str):
                errors.append(f"{kind}s of {_label(node)}: {ids}")
                continue
            key.append((kind, *ids))
            stmts: list[Statement] = []
            for pid in ids:
                parsed = org.policies[pid][1]
                if isinstance(parsed, str):
                    errors.append(parsed)
                    continue
                stmts.extend(parsed)
            if kind == "SCP":
                levels.append(tuple(stmts))
            else:
                rcp.extend(stmts)
            if ids:
                parts.append(f"{kind} " + ", ".join(org.policies[p][0] for p in ids))
        chain_text.append(f"{_label(node)}: " + ("; ".join(parts) or "no policy"))
    if errors:
        return Reach(provider="aws", account=acct.id, name=name, writable=(), chain=chain_text, error="; ".join(errors))
    chain = Chain(tuple(levels), tuple(rcp))
    # a chain that names account ids may decide differently per account
    per_account = any(_ACCOUNT_ID.search(repr(s)) for s in (*rcp, *(s for lvl in levels for s in lvl)))
    cache_key = (tuple(key), acct.id if per_account else "")
    if cache_key not in cache:
        cache[cache_key] = evaluate_chain(chain, acct.id, policy)
    writable, exempt, details = cache[cache_key]
    return Reach(
        provider="aws",
        account=acct.id,
        name=name,
        writable=writable,
        exempt=exempt,
        chain=chain_text,
        details=details,
        why=_why_open(details["outside_by_action"], policy),
    )


def _why_open(outside_by_action: Mapping[str, Sequence[str]], policy: Policy) -> str:
    """``"open by kms:ReplicateKey: any region outside; s3:CreateBucket: eu-west-2"`` (actions grouped)."""
    every = {r for r in _regions() if not policy.check("aws", r).allowed}
    groups: dict[str, list[str]] = {}
    for action, regions in outside_by_action.items():
        where = "any region outside" if set(regions) >= every else ", ".join(regions)
        groups.setdefault(where, []).append(action)

    def name(actions: list[str]) -> str:
        return ", ".join(actions) if len(actions) <= 3 else f"{len(actions)} writes ({', '.join(actions[:2])}, ...)"

    return "open by " + "; ".join(f"{name(actions)}: {where}" for where, actions in groups.items())


def guardrails(ctx: ScanContext) -> Iterator[Finding]:
    """Yield one ``guardrail`` finding per account of the organisation (or of ``ctx.accounts``)."""
    check_request(ctx)
    profile = ctx.options.get("profile")
    try:
        session = ctx.session or boto3.Session(profile_name=profile)
    except ProfileNotFound:
        raise ProviderError(f"AWS profile {profile!r} not found in the AWS config files") from None
    endpoint = ctx.endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None
    config = Config(
        retries={"mode": "standard", "total_max_attempts": int(ctx.options.get("max_attempts", 5))},
        max_pool_connections=max(10, ctx.concurrency * 2),
    )
    kw: dict[str, Any] = {"region_name": _US_EAST_1, "config": config}
    if endpoint:
        kw["endpoint_url"] = endpoint
    try:
        client = session.client("organizations", **kw)
    except ValueError as exc:
        raise ProviderError(f"cannot create an AWS organizations client: {exc}") from None
    org = _Org(client, ctx.concurrency)
    try:
        management, containers, accounts = org.tree()
    except NoCredentialsError:
        raise ProviderError(
            "no AWS credentials found (set AWS_PROFILE, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or a role)"
        ) from None
    except (ClientError, BotoCoreError) as exc:
        who = ",".join(ctx.accounts or ()) or "organization"
        ctx.notes.append(f"guardrails: the AWS Organization could not be read ({org.requests} requests)")
        yield judge(
            ctx.policy,
            Reach(provider="aws", account=who, writable=(), error=f"the organisation cannot be read: {_why(exc)}"),
            today=ctx.today,
        )
        return
    wanted = set(ctx.accounts or ())
    if wanted:
        missing = wanted - {a.id for a in accounts}
        accounts = [a for a in accounts if a.id in wanted]
        for m in sorted(missing):
            yield judge(
                ctx.policy,
                Reach(provider="aws", account=m, writable=(), error="not an account of this organisation"),
                today=ctx.today,
            )
    needed: dict[str, None] = {}
    for a in accounts:
        needed.update(dict.fromkeys(n.id for n in _path(a)))
    # a whole organisation: attachments listed per policy (pages of attachments); a few accounts: per target
    if wanted or not org.attach_by_policy(list(needed)):
        org.attach(list(needed))
    cache: dict[Any, Any] = {}
    for acct in accounts:
        ctx.accounts_scanned.append(acct.id)
        yield judge(ctx.policy, _account_reach(org, acct, management, ctx.policy, cache), today=ctx.today)
    ctx.notes.append(
        f"guardrails: {len(accounts)} account(s), {len(containers)} root(s)/OU(s), {len(org.policies)} "
        f"policies each fetched once, {org.requests} Organizations requests; {len(cache)} distinct policy chain(s)"
    )
    ctx.notes.append(
        "guardrails: replication into accounts outside the organisation (S3, ECR, AWS Backup copy jobs) is "
        "bounded by no SCP condition key; the scan reads actual replication rules"
    )


# --------------------------------------------------------------------------- emit


def _compact(doc: Mapping[str, Any]) -> str:
    return json.dumps(doc, separators=(",", ":"))


def emit(policy: Policy) -> dict[str, Any]:
    """SCP document(s) denying data writes outside ``policy``'s regions of the ``aws`` partition.

    >>> from residency import load_policy
    >>> doc = emit(load_policy("eu"))
    >>> "eu-west-2" in doc["allowed_regions"], "eu-west-1" in doc["allowed_regions"]
    (False, True)
    >>> all(len(p["Content"]) <= SCP_MAX_CHARS for p in doc["policies"])
    True
    """
    allowed = [r for r in _regions() if policy.check("aws", r).allowed]
    if not allowed:
        raise ProviderError(f"policy {policy.name!r} allows no region of the aws partition: nothing to emit")
    statements: list[dict[str, Any]] = [
        {
            "Sid": "ResidencyDenyOutsideRegions",
            "Effect": "Deny",
            "NotAction": list(GLOBAL_ACTIONS),
            "Resource": "*",
            "Condition": {"StringNotEquals": {"aws:RequestedRegion": allowed}},
        },
        {
            "Sid": "ResidencyDenyBucketsOutside",
            "Effect": "Deny",
            "Action": "s3:CreateBucket",
            "Resource": "*",
            "Condition": {"StringNotEquals": {"s3:LocationConstraint": allowed}},
        },
        {
            "Sid": "ResidencyDenyKeyReplicasOutside",
            "Effect": "Deny",
            "Action": "kms:ReplicateKey",
            "Resource": "*",
            "Condition": {"StringNotEquals": {"kms:ReplicaRegion": allowed}},
        },
        {
            "Sid": "ResidencyDenySecretReplicasOutside",
            "Effect": "Deny",
            "Action": ["secretsmanager:CreateSecret", "secretsmanager:ReplicateSecretToRegions"],
            "Resource": "*",
            "Condition": {"ForAnyValue:StringNotEquals": {"secretsmanager:AddReplicaRegions": allowed}},
        },
    ]
    documents: list[list[dict[str, Any]]] = [[]]
    for st in statements:
        trial = documents[-1] + [st]
        if len(_compact({"Version": "2012-10-17", "Statement": trial})) > SCP_MAX_CHARS:
            if not documents[-1]:
                raise ProviderError(f"statement {st['Sid']} alone exceeds the SCP size limit ({SCP_MAX_CHARS})")
            documents.append([st])
        else:
            documents[-1] = trial
    policies = [
        {
            "Name": f"residency-{policy.name}" + (f"-{i + 1}" if len(documents) > 1 else ""),
            "Type": "SERVICE_CONTROL_POLICY",
            "Description": f"eu-residency: data writes only in the regions policy {policy.name} allows",
            "Content": _compact({"Version": "2012-10-17", "Statement": stmts}),
        }
        for i, stmts in enumerate(documents)
    ]
    notes = [
        "attach to the organisation root (or the OUs to confine); FullAWSAccess (or another Allow) must stay "
        "attached at every level",
        "SCPs do not apply to the management account or to service-linked roles",
        "a CreateBucket without LocationConstraint (a us-east-1 bucket) is denied by ResidencyDenyBucketsOutside",
        "global services left out of the region deny (they hold no data in the scan's model): "
        + ", ".join(GLOBAL_ACTIONS),
    ]
    if len(policies) > 1:
        notes.append(f"split into {len(policies)} SCPs to stay under {SCP_MAX_CHARS} characters each")
    return {"provider": "aws", "policy": policy.name, "allowed_regions": allowed, "policies": policies, "notes": notes}
