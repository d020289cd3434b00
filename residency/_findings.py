"""Findings: one scanned resource, every place its data lands, and the verdict.

A scan (``residency scan aws``) turns each resource it reads into a
:class:`Finding`. The finding is provider-agnostic, frozen and picklable, and
:meth:`Finding.to_dict` is the record the JSON report writes
(``docs/report-json.md``).

Statuses:

* ``compliant`` — every location is allowed by the policy;
* ``violation`` — at least one location is denied, or has no known country
  (the policy fails closed on unknown locations) and no waiver applies;
* ``waived`` — every denied location is covered by an active waiver;
* ``unknown`` — the resource (or a whole region or service) could not be read:
  ``error`` says why (AccessDenied, opt-in region disabled …). Never compliant.

>>> from residency import load_policy
>>> f = evaluate(load_policy("eu"), provider="aws", account="123456789012", service="s3",
...     resource_type="bucket", resource_id="arn:aws:s3:::uk", region="eu-west-2",
...     placements=[("eu-west-2", "bucket")])
>>> f.status, [loc.code for loc in f.locations], f.countries
('violation', ['eu-west-2'], ('GB',))
>>> print(f.reason)
bucket: eu-west-2 (Europe (London)) stores data in GB, outside EU (policy 'eu')

What is known stays known: when part of a resource could not be read (its
replication rules, its replicas, its tags), :func:`evaluate` decides on the
places that were read and names the rest in ``unread``. A denied place that was
read makes the resource a ``violation`` whatever else is unknown (``error`` then
says what could not be read); only when nothing read is denied does the unread
part make it ``unknown``.

>>> f = evaluate(load_policy("eu"), provider="aws", account="1", service="s3", resource_type="bucket",
...     resource_id="arn:aws:s3:::us", placements=[("us-east-1", "bucket")],
...     unread=["replication configuration: AccessDenied"])
>>> f.status, f.error
('violation', 'replication configuration: AccessDenied')
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

import attrs

from ._catalog import Location, catalog
from ._policy import Decision, Policy

__all__ = [
    "FINDING_STATUSES",
    "Finding",
    "FindingStatus",
    "evaluate",
    "unreadable",
]

FindingStatus = Literal["compliant", "violation", "unknown", "waived"]

#: every status, in report order (most urgent first)
FINDING_STATUSES: tuple[FindingStatus, ...] = ("violation", "unknown", "waived", "compliant")


def _tuple(v: Iterable[Any] | None) -> tuple[Any, ...]:
    return tuple(v or ())


def _tags(v: Mapping[str, str] | None) -> Mapping[str, str]:
    return dict(sorted((v or {}).items()))


@attrs.frozen(repr=False)
class Finding:
    """One resource as a scan saw it.

    ``locations`` are every place the resource's data lands (its home region,
    replicas, replication destinations, copy targets …) and ``roles`` says,
    position by position, what each one is (``"bucket"``, ``"replica"``,
    ``"replication destination"`` …). ``reasons`` holds one explanation per
    location; ``reason`` is the sentence that decided the status. ``rule`` names
    the policy rule that decided (``geography``, ``data-class 'health'``,
    ``waiver 'legacy'``, ``unknown_locations: deny``, ``unreadable``) and is
    the rule id in SARIF. ``error`` says what could not be read, and why: on
    every ``unknown`` finding, and on a ``violation`` decided on what was read
    while another part of the resource was not. ``scope_gap`` marks an
    ``unknown`` finding that stands for a whole scope the scan could not read (a
    region or service, an account, a subscription, a project) rather than for
    one resource; ``covers`` lists the resources such a finding stands for when
    their ids are known (a scan that stopped early against a dead endpoint).

    ``kind`` says what was judged: ``"resource"`` (a scanned or planned
    resource) or ``"guardrail"`` (the effective native guardrails of an account,
    subscription or project: where data writes can still land). ``details``
    holds JSON-serialisable facts specific to the kind (for guardrails: the
    policy chain that decided, exempt principals, the writable locations).
    """

    provider: str
    account: str
    service: str
    resource_type: str
    resource_id: str
    locations: tuple[Location, ...] = attrs.field(converter=_tuple)
    status: FindingStatus
    reason: str
    tags: Mapping[str, str] = attrs.field(factory=dict, converter=_tags, hash=False)
    region: str = ""
    name: str = ""
    roles: tuple[str, ...] = attrs.field(default=(), converter=_tuple)
    reasons: tuple[str, ...] = attrs.field(default=(), converter=_tuple)
    rule: str = "geography"
    policy: str = ""
    waiver: str | None = None
    expires: dt.date | None = None
    error: str | None = None
    scope_gap: bool = False
    kind: str = "resource"
    details: Mapping[str, Any] = attrs.field(factory=dict, hash=False)
    covers: tuple[str, ...] = attrs.field(default=(), converter=_tuple)

    def __repr__(self) -> str:
        where = ",".join(loc.code for loc in self.locations) or "?"
        return f"Finding({self.status!r}, {self.provider}:{self.service} {self.resource_id!r} @ {where})"

    @property
    def key(self) -> str:
        """Stable identity across scans: provider, account and resource id."""
        return f"{self.provider}|{self.account}|{self.resource_id}"

    @property
    def countries(self) -> tuple[str, ...]:
        """Every country holding the data, in location order, without repeats."""
        return tuple(dict.fromkeys(c for loc in self.locations for c in loc.countries))

    def to_dict(self) -> dict[str, Any]:
        """The JSON record of this finding (stable; see ``docs/report-json.md``)."""
        return {
            "provider": self.provider,
            "account": self.account,
            "service": self.service,
            "resource_type": self.resource_type,
            "resource_id": self.resource_id,
            "name": self.name,
            "region": self.region,
            "status": self.status,
            "reason": self.reason,
            "rule": self.rule,
            "policy": self.policy,
            "countries": list(self.countries),
            "locations": [
                {
                    "location": loc.code,
                    "name": loc.name,
                    "kind": loc.kind,
                    "countries": list(loc.countries),
                    "role": role,
                    "reason": why,
                }
                for loc, role, why in zip(
                    self.locations,
                    self.roles or ("",) * len(self.locations),
                    self.reasons or ("",) * len(self.locations),
                    strict=True,
                )
            ],
            "tags": dict(self.tags),
            "waiver": self.waiver,
            "expires": self.expires.isoformat() if self.expires else None,
            "error": self.error,
            "kind": self.kind,
            "details": dict(self.details),
            "covers": list(self.covers),
        }


def _merge(decisions: Sequence[Decision]) -> tuple[FindingStatus, Decision]:
    """The status of a resource from its locations' decisions, and the deciding one."""
    for d in decisions:
        if d.status in ("denied", "unknown"):
            return "violation", d
    for d in decisions:
        if d.status == "waived":
            return "waived", d
    return "compliant", decisions[0]


def evaluate(
    policy: Policy,
    *,
    provider: str,
    account: str,
    service: str,
    resource_type: str,
    resource_id: str,
    placements: Sequence[tuple[str | Location | None, str]],
    tags: Mapping[str, str] | None = None,
    region: str = "",
    name: str = "",
    today: dt.date | None = None,
    unread: Sequence[str] = (),
) -> Finding:
    """Decide one resource: each ``(location, role)`` placement is checked against ``policy``.

    Placements with the same location are merged (roles joined). ``unread``
    names the parts of the resource that could not be read (``"replication
    configuration: AccessDenied …"``): the resource is a ``violation`` if a
    placement that was read is denied, else ``unknown`` while anything is
    unread; ``error`` states the unread parts either way. A resource without
    placements is ``unknown``.
    """
    tags = dict(tags or {})
    merged: dict[str, tuple[Location, list[str]]] = {}
    for code, role in placements:
        loc = code if isinstance(code, Location) else catalog().lookup(provider, code)
        key = loc.code.lower()
        if key in merged:
            if role not in merged[key][1]:
                merged[key][1].append(role)
        else:
            merged[key] = (loc, [role])
    if not merged:
        return unreadable(
            provider=provider,
            account=account,
            service=service,
            resource_type=resource_type,
            resource_id=resource_id,
            region=region,
            error="; ".join(unread) or "no location could be established",
            policy=policy.name,
            tags=tags,
            name=name,
        )
    locs = [loc for loc, _ in merged.values()]
    roles = [" + ".join(r) for _, r in merged.values()]
    decisions = [policy.check(provider, loc, tags=tags, resource=resource_id, today=today) for loc in locs]
    status, deciding = _merge(decisions)
    role = roles[decisions.index(deciding)]
    error = "; ".join(unread) or None
    if error and status != "violation":
        # what was read allows it, but the unread part may not: never compliant (nor waived) on half a look
        return attrs.evolve(
            unreadable(
                provider=provider,
                account=account,
                service=service,
                resource_type=resource_type,
                resource_id=resource_id,
                error=error,
                region=region,
                policy=policy.name,
                tags=tags,
                name=name,
            ),
            locations=locs,
            roles=roles,
            reasons=[d.reason for d in decisions],
        )
    waiver = deciding.waiver if status == "waived" else None
    return Finding(
        provider=provider,
        account=account,
        service=service,
        resource_type=resource_type,
        resource_id=resource_id,
        locations=locs,
        status=status,
        reason=f"{role}: {deciding.reason}" + (f" (not read: {error})" if error else ""),
        tags=tags,
        region=region,
        name=name,
        roles=roles,
        reasons=[d.reason for d in decisions],
        rule=deciding.rule,
        policy=policy.name,
        waiver=waiver.id if waiver else None,
        expires=waiver.expires if waiver else None,
        error=error,
    )


def unreadable(
    *,
    provider: str,
    account: str,
    service: str,
    resource_type: str,
    resource_id: str,
    error: str,
    region: str = "",
    policy: str = "",
    tags: Mapping[str, str] | None = None,
    name: str = "",
    placements: Sequence[str] = (),
    scope_gap: bool = False,
    covers: Sequence[str] = (),
) -> Finding:
    """An ``unknown`` finding: something the scan could not read, and why.

    ``scope_gap``: it stands for a whole scope; ``covers``: the ids of the
    resources it stands for, when they are known.
    """
    locs = [catalog().lookup(provider, p) for p in placements]
    return Finding(
        provider=provider,
        account=account,
        service=service,
        resource_type=resource_type,
        resource_id=resource_id,
        locations=locs,
        status="unknown",
        reason=f"could not be read: {error}",
        tags=dict(tags or {}),
        region=region,
        name=name,
        roles=["region"] * len(locs),
        reasons=[""] * len(locs),
        rule="unreadable",
        policy=policy,
        error=error,
        scope_gap=scope_gap,
        covers=covers,
    )
