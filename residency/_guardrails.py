"""Guardrails: do the cloud's own policies confine data writes to the policy's geography?

Every cloud has a native way to forbid locations: AWS service and resource
control policies (``aws:RequestedRegion``, ``s3:LocationConstraint``), Azure
Policy's *Allowed locations*, Google Cloud's ``gcp.resourceLocations``
organization policy. A provider adapter evaluates the effective guardrails of
each account, subscription or project (inheritance, exemptions, conditions,
enforcement modes) and reduces them to one :class:`Reach`: where a data write
can still land, for whom, and which chain of policies decided. :func:`judge`
turns a reach into a :class:`~residency._findings.Finding` of kind
``"guardrail"`` with the same statuses, reports and exit codes as a scan:

* ``compliant`` — the effective guardrails confine every data write to
  locations the policy allows, and no principal is exempt;
* ``violation`` — some write can still land outside (the locations, or "any
  location", and the exempt principals are listed);
* ``unknown`` — something that decides could not be read (no permission on the
  hierarchy, a policy that does not parse, a condition operator the evaluator
  does not know). Never compliant.

>>> from residency import load_policy
>>> eu = load_policy("eu")
>>> f = judge(eu, Reach(provider="aws", account="111111111111",
...     writable=("eu-central-1", "eu-west-2"), chain=("r-root: FullAWSAccess", "ou-1: DenyOutsideEU")))
>>> f.status, f.kind, [loc.code for loc in f.locations]
('violation', 'guardrail', ['eu-west-2'])
>>> judge(eu, Reach(provider="aws", account="111111111111", writable=("eu-central-1",))).status
'compliant'
>>> judge(eu, Reach(provider="aws", account="111111111111", writable=None)).reason.split(":")[0]
'no guardrail restricts locations'

Provider adapters expose two optional methods beside ``scan`` (see
:class:`~residency._registry.ProviderAdapter`): ``guardrails(context)`` yields
findings built with :func:`judge` (or :func:`~residency._findings.unreadable`
with ``kind="guardrail"`` semantics via :func:`judge` with ``error``), and
``emit_guardrails(policy)`` returns the native guardrail document(s) that
implement the policy (JSON-serialisable).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import attrs

from ._catalog import Location, catalog
from ._errors import ProviderError
from ._findings import Finding, FindingStatus
from ._policy import Policy, load_policy
from ._registry import PROVIDER_SDKS, load_provider
from ._scan import ScanResult, collect, make_context

__all__ = [
    "Reach",
    "check_guardrails",
    "emit_guardrails",
    "judge",
    "outside_regions",
    "stream_guardrails",
]


def _tuple_or_none(v: Sequence[str] | None) -> tuple[str, ...] | None:
    return None if v is None else tuple(v)


def _tuple(v: Sequence[Any] | None) -> tuple[Any, ...]:
    return tuple(v or ())


@attrs.frozen
class Reach:
    """Where data writes can still land in one account, subscription or project, and why.

    ``writable`` is the set of location codes the effective guardrails still
    allow data writes in, or ``None`` when nothing restricts locations (any
    location). ``exempt`` names principals the guardrails do not bind
    (``"role/Admin can write anywhere"``): each makes the account a violation.
    ``chain`` is the ordered list of policies that decided, root first
    (``"r-abc1 (root): FullAWSAccess"``, ``"ou-x: DenyOutsideEU"``).
    ``error`` is set when a deciding part could not be read: the finding is
    ``unknown`` whatever else is known, unless a known write outside already
    makes it a violation. ``details`` carries provider-specific facts (per-action
    results, exemptions, enforcement modes) into the JSON report; ``why`` is a
    short provider-specific explanation added to the finding's reason (which
    writes leave which locations open).
    """

    provider: str
    account: str
    writable: tuple[str, ...] | None = attrs.field(default=None, converter=_tuple_or_none)
    exempt: tuple[str, ...] = attrs.field(default=(), converter=_tuple)
    chain: tuple[str, ...] = attrs.field(default=(), converter=_tuple)
    error: str | None = None
    name: str = ""
    resource_type: str = "account"
    details: Mapping[str, Any] = attrs.field(factory=dict)
    why: str = ""


def outside_regions(policy: Policy, provider: str, *, today: dt.date | None = None) -> list[Location]:
    """The provider's regions (and multi/dual-regions) the policy does not allow: where "anywhere" lands."""
    kinds = ("region", "multi-region", "dual-region")
    return [
        loc
        for loc in catalog().locations(provider)
        if loc.kind in kinds and policy.check(provider, loc, today=today).status != "allowed"
    ]


def judge(policy: Policy, reach: Reach, *, today: dt.date | None = None) -> Finding:
    """Turn the effective guardrails of one account into a ``guardrail`` finding."""
    provider = reach.provider.lower()
    locs: list[Location] = []
    reasons: list[str] = []
    unrestricted = reach.writable is None
    if unrestricted:
        outside = outside_regions(policy, provider, today=today)
        for loc in outside:
            locs.append(loc)
            reasons.append(policy.check(provider, loc, today=today).reason)
    else:
        for code in reach.writable or ():
            d = policy.check(provider, code, resource=reach.account, today=today)
            if not d.allowed:
                locs.append(d.location)
                reasons.append(d.reason)
    details: dict[str, Any] = {
        "chain": list(reach.chain),
        "exempt": list(reach.exempt),
        "writable": None if unrestricted else list(reach.writable or ()),
        **dict(reach.details),
    }
    why: list[str] = []
    if unrestricted:
        why.append(f"no guardrail restricts locations: data can be written in any location ({len(locs)} outside)")
    elif locs:
        # many regions: their codes only, so the sentence stays readable in a table row
        names = [loc.label for loc in locs] if len(locs) <= 8 else [loc.code for loc in locs]
        why.append(f"data can still be written in {len(locs)} location(s) outside the policy: " + ", ".join(names))
    if locs and reach.why:
        why.append(reach.why)
    if reach.exempt:
        why.append("exempt: " + "; ".join(reach.exempt))
    status: FindingStatus
    if why:
        status = "violation"
    elif reach.error:
        status = "unknown"
    else:
        status = "compliant"
    if status == "compliant":
        where = ", ".join(reach.writable or ()) or "nowhere"
        why.append(f"guardrails confine data writes to {where}")
    if reach.error:
        why.append(f"could not be read: {reach.error}")
    reason = "; ".join(why)
    if reach.chain:
        reason += f" (decided by {' > '.join(reach.chain)})"
    return Finding(
        provider=provider,
        account=reach.account,
        service="guardrails",
        resource_type=reach.resource_type,
        resource_id=reach.account,
        locations=locs,
        status=status,
        reason=reason,
        name=reach.name,
        roles=["writable"] * len(locs),
        reasons=reasons,
        rule="unreadable" if status == "unknown" else "guardrail",
        policy=policy.name,
        error=reach.error,
        kind="guardrail",
        details=details,
    )


def _adapter_method(provider: str, method: str) -> Any:
    key = provider.lower()
    if key not in PROVIDER_SDKS:
        raise ProviderError(f"unknown provider {provider!r}; expected one of {', '.join(PROVIDER_SDKS)}")
    adapter = load_provider(key)
    fn = getattr(adapter, method, None)
    if fn is None:
        raise ProviderError(f"guardrails for {key} are not available yet in this release of eu-residency")
    return fn


def stream_guardrails(context: Any) -> Iterator[Finding]:
    """Yield one ``guardrail`` finding per account/subscription/project in ``context``'s scope.

    ``context`` is a :class:`~residency._scan.ScanContext`, as for a scan.
    """
    result: Iterator[Finding] = _adapter_method(context.provider, "guardrails")(context)
    return result


def emit_guardrails(provider: str, policy: str | Policy = "eu") -> Any:
    """The native guardrail document(s) that implement ``policy`` on ``provider`` (JSON-serialisable).

    AWS: ``{"policies": [{"Name", "Type", "Description", "Content"}], "allowed_regions": [...],
    "notes": [...]}`` — each entry can be passed to Organizations ``CreatePolicy`` as it is.

    >>> doc = emit_guardrails("aws", "eu")  # doctest: +SKIP
    >>> doc["policies"][0]["Type"]  # doctest: +SKIP
    'SERVICE_CONTROL_POLICY'
    """
    return _adapter_method(provider, "emit_guardrails")(load_policy(policy))


def check_guardrails(provider: str, policy: str | Policy = "eu", **kw: Any) -> ScanResult:
    """Evaluate the effective guardrails of every account/subscription/project in scope.

    Takes the keyword arguments of :func:`residency.run_scan` (``session``,
    ``endpoint_url``, ``accounts``, ``concurrency``, ``today``, provider
    options) and returns a :class:`~residency.ScanResult` of ``guardrail``
    findings: ``compliant`` where every data write is confined to the policy's
    geography, ``violation`` where some write can land outside (the locations
    and exempt principals listed), ``unknown`` where something could not be read.

    >>> result = check_guardrails("aws", "eu", endpoint_url="http://127.0.0.1:5000")  # doctest: +SKIP
    >>> [(f.account, f.status) for f in result.findings]  # doctest: +SKIP
    [('111111111111', 'violation'), ('222222222222', 'compliant')]
    """
    ctx = make_context(provider, policy, **kw)
    return collect(ctx, stream_guardrails)
