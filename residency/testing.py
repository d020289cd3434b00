"""Testing helpers: collect guard violations, and assert an account is resident.

The pytest plugin (``residency.pytest_plugin``) is built on these; they work
in any test runner.

Collect instead of raise::

    from residency.testing import capture_violations

    with capture_violations(policy="eu") as violations:
        s3.put_object(Bucket="us-bucket", Key="k", Body=b"x")   # goes through, recorded
    assert [v.target for v in violations] == ["s3://us-bucket"]

Check what an account (or moto) holds::

    from residency.testing import assert_resident

    with moto.mock_aws():
        make_my_buckets()
        assert_resident(policy="eu")     # raises NotResidentError listing every offender

``assert_resident`` runs the same scan engine as ``residency scan``.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from ._errors import ResidencyError, ResidencyViolation
from ._guard import guard
from ._policy import Policy, load_policy

__all__ = [
    "CapturedViolations",
    "NotResidentError",
    "assert_resident",
    "capture_violations",
]


class CapturedViolations(list[ResidencyViolation]):
    """The violations a :func:`capture_violations` block recorded, in order.

    A plain list with two conveniences: :attr:`targets` and :meth:`summary`.
    """

    @property
    def targets(self) -> list[str]:
        """The target of each violation (``s3://bucket``, a table, an ARN)."""
        return [v.target for v in self]

    def summary(self) -> str:
        """One line per violation, ready for a failure message."""
        return "\n".join(f"- {v}" for v in self) or "(no violations)"


@contextlib.contextmanager
def capture_violations(
    policy: str | Policy = "eu",
    *,
    providers: Iterable[str] | None = None,
    cache_ttl: float = 300.0,
) -> Iterator[CapturedViolations]:
    """Guard the block in audit mode and collect every violation instead of raising.

    Writes go through (audit mode), so the code under test behaves as it
    would unguarded; the yielded list fills up as violations happen. The
    audit WARNINGs on the ``residency`` logger are silenced inside the block.

    >>> with capture_violations(policy="eu") as found:
    ...     pass
    >>> found
    []
    """
    found = CapturedViolations()
    g = guard(policy, mode="audit", on_violation=found.append, providers=providers, cache_ttl=cache_ttl)
    log = logging.getLogger("residency")
    quiet = _DropAudit()
    log.addFilter(quiet)
    try:
        with g:
            yield found
    finally:
        log.removeFilter(quiet)


class _DropAudit(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not hasattr(record, "residency_operation")


class NotResidentError(ResidencyError, AssertionError):
    """:func:`assert_resident` found resources outside the policy (or could not look).

    ``offenders`` are the scan findings with status ``violation`` or
    ``unknown``; ``gaps`` the regions/accounts the scan could not read (only
    part of the failure when ``fail_on_gaps`` was set). Also an
    ``AssertionError``, so test runners report it as a failure.
    """

    def __init__(self, policy: str, offenders: Sequence[Any], gaps: Sequence[str], message: str) -> None:
        self.policy = policy
        self.offenders = list(offenders)
        self.gaps = list(gaps)
        super().__init__(message)

    def __reduce__(self) -> tuple[type[NotResidentError], tuple[Any, ...]]:
        return (type(self), (self.policy, self.offenders, self.gaps, str(self)))


def _describe(finding: Any) -> str:
    where = ", ".join(getattr(loc, "label", str(loc)) for loc in (finding.locations or ())) or "unknown location"
    ident = f"{finding.service} {finding.resource_type} {finding.resource_id}".strip()
    account = f" (account {finding.account})" if getattr(finding, "account", None) else ""
    return f"- {ident}{account} in {where} [{finding.status}]: {finding.reason}"


def assert_resident(
    policy: str | Policy = "eu",
    provider: str = "aws",
    *,
    regions: Sequence[str] | None = None,
    session: Any = None,
    endpoint_url: str | None = None,
    fail_on_gaps: bool = False,
    progress: Callable[..., object] | None = None,
) -> Any:
    """Scan what the current account holds and raise unless all of it is resident.

    Runs the ``residency scan`` engine for ``provider`` (``aws`` — moto
    included — by default) with the scan options given (``regions``,
    ``session``, ``endpoint_url``), and raises :class:`NotResidentError` with
    one message listing every offender — resource, location, status and the
    policy's reason. A resource whose location is unknown (also because it
    could not be read) is an offender. Regions, accounts or projects the scan
    could not read at all are listed too; they fail the assertion only with
    ``fail_on_gaps=True``. Returns the scan result when everything is resident.
    """
    # Imported late and by name: the scan engine is optional for the guard.
    run_scan = importlib.import_module("residency._scan").run_scan
    loaded = load_policy(policy)
    result = run_scan(
        provider,
        loaded,
        regions=regions,
        session=session,
        endpoint_url=endpoint_url,
        progress=progress,
    )
    offenders = [f for f in result.findings if f.status == "violation" or (f.status == "unknown" and not f.scope_gap)]
    gaps = list(result.gaps)
    if not offenders and not (gaps and fail_on_gaps):
        return result
    lines = []
    if offenders:
        noun = "resource" if len(offenders) == 1 else "resources"
        lines.append(f"{len(offenders)} {provider} {noun} outside {loaded.geography.name} (policy '{loaded.name}'):")
        lines.extend(_describe(f) for f in offenders)
    else:
        lines.append(f"the {provider} scan could not read everything (policy '{loaded.name}'):")
    if gaps:
        lines.append("not scanned" + (" (fails with fail_on_gaps=True):" if not fail_on_gaps else ":"))
        lines.extend(f"- {g}" for g in gaps)
    raise NotResidentError(loaded.name, offenders, gaps, "\n".join(lines))
