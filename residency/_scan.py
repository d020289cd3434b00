"""The scan engine: ask a provider adapter for every resource, stream the findings.

The engine is provider-agnostic. It loads the policy, fills a
:class:`ScanContext`, and hands it to the adapter (``load_provider("aws").scan``),
which yields :class:`~residency._findings.Finding` objects as it reads them.

Two ways in:

* :func:`run_scan` — for code and tests: collects every finding into a
  :class:`ScanResult`::

      result = run_scan("aws", "eu", regions=["eu-central-1", "us-east-1"])
      for f in result.violations:
          print(f.resource_id, f.reason)

* :func:`stream_scan` — for reports of any size: findings go into a
  :class:`FindingSpool`, which keeps only the counts in memory and spools each
  finding to a temporary file by status, so the report writers can read them
  back violations first while memory stays flat however many resources there are.

What could not be read is never skipped: the adapter yields an ``unknown``
finding with ``error`` set, and :attr:`ScanResult.gaps` lists them as sentences
(one sentence per kind of failure: a thousand buckets that failed the same way
are one line).

Exit codes (:func:`exit_code`, shared by every command that reports findings):
0 clean, 1 violations, 2 usage or configuration error, 3 no violation but
something could not be read — unless unknowns are allowed (``--allow-unknown``
or the policy's ``unknown_findings: allow``), then 0.

>>> exit_code({"violation": 0, "unknown": 2}), exit_code({"violation": 0, "unknown": 2}, allow_unknown=True)
(3, 0)
"""

from __future__ import annotations

import datetime as dt
import pickle
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import IO, Any

import attrs

from ._errors import ProviderError
from ._findings import FINDING_STATUSES, Finding, FindingStatus
from ._policy import Policy, load_policy
from ._registry import PROVIDER_SDKS, load_provider

__all__ = [
    "EXIT_CLEAN",
    "EXIT_UNKNOWN",
    "EXIT_USAGE",
    "EXIT_VIOLATIONS",
    "FindingSpool",
    "Progress",
    "ScanContext",
    "ScanResult",
    "Scope",
    "exit_code",
    "run_scan",
    "stream_scan",
]

EXIT_CLEAN, EXIT_VIOLATIONS, EXIT_USAGE, EXIT_UNKNOWN = 0, 1, 2, 3


def exit_code(counts: Mapping[str, int], *, allow_unknown: bool = False) -> int:
    """The exit code of a scan (or any report of findings) from its counts per status.

    1 when anything is a violation; else 3 when anything is unknown (a scan that
    could not look must not pass), unless ``allow_unknown``; else 0.
    """
    if counts.get("violation"):
        return EXIT_VIOLATIONS
    if counts.get("unknown") and not allow_unknown:
        return EXIT_UNKNOWN
    return EXIT_CLEAN


#: ``progress(done, total, label)`` — called from the scanning thread as work units finish
Progress = Callable[[int, int, str], None]


def _tuple_or_none(v: Sequence[str] | None) -> tuple[str, ...] | None:
    return None if v is None else tuple(v)


@attrs.define
class ScanContext:
    """What the adapter is asked to scan, and what it reports back about the scope.

    The engine fills the request fields; the adapter fills ``accounts_scanned``,
    ``regions_scanned``, ``notes`` and ``evidence`` as it goes. ``evidence`` holds
    records about the scope itself rather than one resource (Azure: the tenant's
    EU Data Boundary setting); every report format carries them.
    """

    provider: str
    policy: Policy
    regions: tuple[str, ...] | None = attrs.field(default=None, converter=_tuple_or_none)
    accounts: tuple[str, ...] | None = attrs.field(default=None, converter=_tuple_or_none)
    org: bool = False
    role_name: str = "OrganizationAccountAccessRole"
    services: tuple[str, ...] | None = attrs.field(default=None, converter=_tuple_or_none)
    concurrency: int = 8
    session: Any = None
    endpoint_url: str | None = None
    progress: Progress | None = None
    today: dt.date | None = None
    options: dict[str, Any] = attrs.field(factory=dict)
    accounts_scanned: list[str] = attrs.field(factory=list)
    regions_scanned: list[str] = attrs.field(factory=list)
    notes: list[str] = attrs.field(factory=list)
    evidence: list[dict[str, Any]] = attrs.field(factory=list)


@attrs.frozen
class Scope:
    """What a scan covered; scans with the same :attr:`key` are compared in history.

    ``accounts`` are the accounts actually read; ``target`` is what was asked for
    when that was more than "the caller's own" (``"org"``, or the requested
    account ids), so an account that could not be assumed this time, or one that
    joined the organization, does not start a new history.

    >>> Scope("aws", "eu", ("111111111111",), None, None, target="org").key
    'aws|policy=eu|accounts=org|regions=*|services=*'
    """

    provider: str
    policy: str
    accounts: tuple[str, ...]
    regions: tuple[str, ...] | None
    services: tuple[str, ...] | None
    target: str | None = None
    #: ``residency plan``: one record per plan file (file, format_version, terraform_version, counts)
    plans: tuple[Mapping[str, Any], ...] | None = attrs.field(default=None, eq=False, hash=False)

    @property
    def key(self) -> str:
        regions = ",".join(sorted(self.regions)) if self.regions else "*"
        services = ",".join(sorted(self.services)) if self.services else "*"
        accounts = self.target or ",".join(sorted(self.accounts))
        return f"{self.provider}|policy={self.policy}|accounts={accounts}|regions={regions}|services={services}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "policy": self.policy,
            "accounts": list(self.accounts),
            "regions": list(self.regions) if self.regions else None,
            "services": list(self.services) if self.services else None,
            "target": self.target,
            "key": self.key,
            **({"plans": [dict(p) for p in self.plans]} if self.plans is not None else {}),
        }


class Gaps:
    """What could not be read, as sentences: one per kind of failure, not one per resource.

    Findings with the same provider, service and ``error`` collapse into one line
    with their count (a dead endpoint fails a thousand buckets, or every project,
    the same way). ``unseen`` counts what the scan could not see: ``resources`` (unknown
    findings of one resource, and the resources a scope finding ``covers``),
    ``scopes`` (scope findings: a region, service, account …) and ``partial``
    (violations decided on what was read while another part was not).
    """

    def __init__(self) -> None:
        self._lines: dict[tuple[str, str, str], list[Any]] = {}
        self.unseen: Counter[str] = Counter(resources=0, scopes=0, partial=0)

    def add(self, f: Finding) -> None:
        if not f.error:
            return
        if f.status != "unknown":
            self.unseen["partial"] += 1
        elif f.scope_gap:
            self.unseen["scopes"] += 1
            self.unseen["resources"] += len(f.covers)
        else:
            self.unseen["resources"] += 1
        key = (f.provider, f.service, f.error)
        hit = self._lines.get(key)
        if hit is None:
            self._lines[key] = [1, f, {f.account}]
        else:
            hit[0] += 1
            if len(hit[2]) < 1000:
                hit[2].add(f.account)

    def extend(self, findings: Iterable[Finding]) -> Gaps:
        for f in findings:
            self.add(f)
        return self

    @property
    def lines(self) -> list[str]:
        out = []
        for (provider, service, error), (n, first, accounts) in self._lines.items():
            if n == 1:
                out.append(_gap(first))
                continue
            where = first.account if len(accounts) == 1 else f"{len(accounts)} accounts"
            out.append(f"{provider} {where} {service}: {n} resources (e.g. {first.resource_id}): {error}")
        return out

    def summary(self) -> str:
        """One sentence for stderr: how much could not be seen ("" when everything was read)."""
        u = self.unseen
        parts = []
        if u["resources"]:
            parts.append(f"{u['resources']:,} resource(s)")
        if u["scopes"]:
            parts.append(f"{u['scopes']:,} whole scope(s) (region, service, account …)")
        if u["partial"]:
            parts.append(f"part of {u['partial']:,} violating resource(s)")
        return "could not read " + ", ".join(parts) if parts else ""


class FindingSpool:
    """Findings kept on disk by status, counts in memory.

    Reading back (iteration) gives violations, then unknowns, then waived, then
    compliant findings; within a status, findings are sorted by account and
    resource when there are at most ``sort_limit`` of them (sorting reads them
    into memory), else in scan order; compliant findings always stream in scan
    order. So memory stays flat however many resources a scan finds. ``countries`` counts,
    per country, the findings of each status whose data lands there (for the
    HTML map); it is bounded by the number of countries.
    """

    def __init__(self, *, sort_limit: int = 2_000) -> None:
        self.counts: Counter[str] = Counter(dict.fromkeys(FINDING_STATUSES, 0))
        self.gap_lines = Gaps()
        self.sort_limit = sort_limit
        self._files: dict[str, IO[bytes]] = {}
        self.countries: dict[str, Counter[str]] = {}

    def add(self, finding: Finding) -> None:
        f = self._files.get(finding.status)
        if f is None:
            # closed in close(); one spool file per status
            f = self._files[finding.status] = tempfile.TemporaryFile(prefix="residency-scan-")  # noqa: SIM115
        pickle.dump(finding, f, protocol=pickle.HIGHEST_PROTOCOL)
        self.counts[finding.status] += 1
        for c in finding.countries or ("??",):
            self.countries.setdefault(c, Counter())[finding.status] += 1
        self.gap_lines.add(finding)

    @property
    def gaps(self) -> list[str]:
        """What could not be read, one sentence per kind of failure (see :class:`Gaps`)."""
        return self.gap_lines.lines

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def iter_status(self, status: FindingStatus) -> Iterator[Finding]:
        f = self._files.get(status)
        if f is None:
            return
        f.seek(0)
        if status != "compliant" and self.counts[status] <= self.sort_limit:
            items = [pickle.load(f) for _ in range(self.counts[status])]
            items.sort(key=lambda x: (x.account, x.service, x.resource_id))
            yield from items
            return
        for _ in range(self.counts[status]):
            yield pickle.load(f)

    def __iter__(self) -> Iterator[Finding]:
        for status in FINDING_STATUSES:
            yield from self.iter_status(status)

    def non_compliant(self) -> Iterator[Finding]:
        """Violations, unknowns and waived findings (what history keeps)."""
        for status in FINDING_STATUSES:
            if status != "compliant":
                yield from self.iter_status(status)

    def close(self) -> None:
        for f in self._files.values():
            f.close()
        self._files.clear()

    def __enter__(self) -> FindingSpool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _gap(f: Finding) -> str:
    where = "/".join(x for x in (f.account, f.region) if x)
    return f"{f.provider} {where} {f.service} {f.resource_id}: {f.error}"


@attrs.define
class ScanResult:
    """Everything one scan found, with its scope and timing."""

    scope: Scope
    findings: list[Finding]
    gaps: list[str]
    notes: list[str]
    started: dt.datetime
    finished: dt.datetime
    evidence: list[dict[str, Any]] = attrs.field(factory=list)
    #: finding key -> (file, line) of the source block (``residency plan --config-dir``), for SARIF
    source_locations: Mapping[str, tuple[str, int]] = attrs.field(factory=dict)
    #: the policy's ``unknown_findings: allow`` (unknowns then exit 0)
    allow_unknown: bool = False

    @property
    def counts(self) -> dict[str, int]:
        """Findings per status (every status present, zero or not)."""
        c: dict[str, int] = dict.fromkeys(FINDING_STATUSES, 0)
        for f in self.findings:
            c[f.status] += 1
        return c

    @property
    def violations(self) -> list[Finding]:
        return [f for f in self.findings if f.status == "violation"]

    def exit_code(self, *, allow_unknown: bool = False, fail_on_unknown: bool = True) -> int:
        """0 clean, 1 violations, 3 unknowns (0 with ``allow_unknown`` or the policy's
        ``unknown_findings: allow``); see :func:`exit_code`.

        ``fail_on_unknown`` is deprecated: failing on unknowns is the default now;
        ``fail_on_unknown=False`` is read as ``allow_unknown=True``.
        """
        return exit_code(self.counts, allow_unknown=allow_unknown or self.allow_unknown or not fail_on_unknown)


def _adapter_scan(provider: str) -> Callable[[ScanContext], Iterator[Finding]]:
    key = provider.lower()
    if key not in PROVIDER_SDKS:
        raise ProviderError(f"unknown provider {provider!r}; expected one of {', '.join(PROVIDER_SDKS)}")
    adapter = load_provider(key)  # ProviderNotInstalledError names the extra to install
    scan = getattr(adapter, "scan", None)
    if scan is None:
        raise ProviderError(f"scanning {key} is not available yet in this release of eu-residency")
    result: Callable[[ScanContext], Iterator[Finding]] = scan
    return result


def stream_scan(context: ScanContext) -> Iterator[Finding]:
    """Yield findings as the provider's adapter reads them (see :class:`ScanContext`)."""
    return _adapter_scan(context.provider)(context)


def scope_of(context: ScanContext) -> Scope:
    """The scope a finished (or running) scan covered."""
    target = "org" if context.org else (",".join(sorted(set(context.accounts))) if context.accounts else None)
    return Scope(
        provider=context.provider,
        policy=context.policy.name,
        accounts=tuple(sorted(set(context.accounts_scanned))),
        regions=context.regions,
        services=context.services,
        target=target,
    )


def make_context(
    provider: str = "aws",
    policy: str | Policy = "eu",
    *,
    regions: Sequence[str] | None = None,
    session: Any = None,
    endpoint_url: str | None = None,
    progress: Progress | None = None,
    accounts: Sequence[str] | None = None,
    org: bool = False,
    role_name: str = "OrganizationAccountAccessRole",
    services: Sequence[str] | None = None,
    concurrency: int = 8,
    today: dt.date | None = None,
    **options: Any,
) -> ScanContext:
    """Build a :class:`ScanContext` (loads the policy; raises :class:`PolicyError`)."""
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    return ScanContext(
        provider=provider.lower(),
        policy=load_policy(policy),
        regions=regions,
        accounts=accounts,
        org=org,
        role_name=role_name,
        services=services,
        concurrency=concurrency,
        session=session,
        endpoint_url=endpoint_url,
        progress=progress,
        today=today,
        options=dict(options),
    )


def run_scan(
    provider: str = "aws",
    policy: str | Policy = "eu",
    *,
    regions: Sequence[str] | None = None,
    session: Any = None,
    endpoint_url: str | None = None,
    progress: Progress | None = None,
    accounts: Sequence[str] | None = None,
    org: bool = False,
    role_name: str = "OrganizationAccountAccessRole",
    services: Sequence[str] | None = None,
    concurrency: int = 8,
    today: dt.date | None = None,
    **options: Any,
) -> ScanResult:
    """Scan ``provider`` against ``policy`` and collect every finding.

    ``regions`` limits the scan (default: every region enabled in the account);
    ``session`` is a ``boto3.Session`` (default: credentials the usual boto3
    way); ``endpoint_url`` (or ``AWS_ENDPOINT_URL``) points at e.g. a local
    ``moto_server``; ``accounts`` / ``org`` scan other accounts by assuming
    ``role_name``; ``services`` limits the services (``s3``, ``dynamodb``,
    ``rds``, ``ec2``, ``kms``, ``secretsmanager``, ``backup``, ``ecr``,
    ``tagging``); ``concurrency`` bounds parallel work; ``today`` decides
    waiver expiry. Provider-specific ``options`` (AWS): ``s3_replication`` is
    ``"needed"`` (default: per-bucket replication look-up only where it can change the
    verdict), ``"all"`` or ``"off"``; ``profile``; ``max_attempts`` (botocore's
    standard retry mode, 5 attempts in all by default).

    Raises :class:`ProviderError` (credentials, unknown provider, a region,
    account id or endpoint that is not one) and :class:`PolicyError`; unreadable
    resources become ``unknown`` findings.
    """
    ctx = make_context(
        provider,
        policy,
        regions=regions,
        session=session,
        endpoint_url=endpoint_url,
        progress=progress,
        accounts=accounts,
        org=org,
        role_name=role_name,
        services=services,
        concurrency=concurrency,
        today=today,
        **options,
    )
    return collect(ctx)


def collect(context: ScanContext, stream: Callable[[ScanContext], Iterator[Finding]] | None = None) -> ScanResult:
    """Run ``stream`` (default: :func:`stream_scan`) on ``context`` and collect a :class:`ScanResult`."""
    ctx = context
    started = dt.datetime.now(dt.timezone.utc)
    findings = list((stream or stream_scan)(ctx))
    finished = dt.datetime.now(dt.timezone.utc)
    order = {s: i for i, s in enumerate(FINDING_STATUSES)}
    findings.sort(key=lambda f: (order[f.status], f.account, f.service, f.resource_id))
    return ScanResult(
        scope=scope_of(ctx),
        findings=findings,
        gaps=Gaps().extend(findings).lines,
        notes=list(ctx.notes),
        started=started,
        finished=finished,
        evidence=list(ctx.evidence),
        allow_unknown=ctx.policy.unknown_findings == "allow",
    )
