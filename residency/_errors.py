"""The exceptions eu-residency raises.

One root, so ``except residency.ResidencyError`` catches everything the library
raises on purpose::

    ResidencyError
    ├── PolicyError                 a policy file or argument is wrong (file, key, fix)
    │   └── UnknownGeographyError   a geography name nobody defined
    ├── ResidencyViolation          a write would leave the allowed geography
    ├── ProviderError               a cloud provider adapter could not do its job
    │   └── ProviderNotInstalledError (also an ImportError)
    │                               the cloud SDK's extra is not installed
    ├── HistoryError                the scan history database cannot be opened, read or written
    ├── PlanError                   a file given to 'residency plan' is not a plan this release reads
    └── ReportError                 a report cannot be written where asked

``residency.testing.NotResidentError`` (also an ``AssertionError``) is what
``assert_resident`` raises when scanned resources live outside the geography.

Every exception is picklable with its attributes, so violations raised in a
pytest-xdist worker or a multiprocessing child arrive intact.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "HistoryError",
    "PlanError",
    "PolicyError",
    "ProviderError",
    "ProviderNotInstalledError",
    "ReportError",
    "ResidencyError",
    "ResidencyViolation",
    "UnknownGeographyError",
]


class ResidencyError(Exception):
    """Root of every exception eu-residency raises."""


class _InputError(ResidencyError, ValueError):
    """Bad input in a file: ``source`` (the file), ``key`` (where, or ``None``), ``problem`` (what, and the fix)."""

    def __init__(self, source: str, key: str | None, problem: str) -> None:
        self.source = source
        self.key = key
        self.problem = problem
        where = f"{source}: key '{key}'" if key else source
        super().__init__(f"{where}: {problem}")

    def __reduce__(self) -> tuple[type[_InputError], tuple[str, str | None, str]]:
        return (type(self), (self.source, self.key, self.problem))


class PolicyError(_InputError):
    """A policy (file, mapping or argument) is invalid.

    ``source`` is the file (or ``"<policy>"``), ``key`` the dotted key path that is
    wrong, ``problem`` what is wrong with it and how to fix it.

    >>> str(PolicyError("team.yaml", "allow", "unknown geography 'EUR' (did you mean 'EU'?)"))
    "team.yaml: key 'allow': unknown geography 'EUR' (did you mean 'EU'?)"
    """


class UnknownGeographyError(PolicyError):
    """A geography name that is neither built in nor defined by the policy."""


class ResidencyViolation(ResidencyError):
    """A write (or a scanned resource) would put data outside the allowed geography.

    Attributes name everything an auditor needs: ``provider`` ("aws"),
    ``operation`` ("PutObject"), ``target`` ("s3://uk-bkt"), ``location``
    ("eu-west-2"), ``countries`` (("GB",)), ``policy`` ("eu") and ``reason``
    (the decision's explanation).

    >>> v = ResidencyViolation("aws", "PutObject", "s3://uk-bkt", "eu-west-2", ("GB",), "eu",
    ...     "eu-west-2 (Europe (London)) stores data in GB, outside EU (policy 'eu')")
    >>> str(v)
    "PutObject to s3://uk-bkt: eu-west-2 (Europe (London)) stores data in GB, outside EU (policy 'eu')"
    """

    def __init__(
        self,
        provider: str,
        operation: str,
        target: str,
        location: str | None,
        countries: Sequence[str],
        policy: str,
        reason: str,
    ) -> None:
        self.provider = provider
        self.operation = operation
        self.target = target
        self.location = location
        self.countries = tuple(countries)
        self.policy = policy
        self.reason = reason
        super().__init__(f"{operation} to {target}: {reason}")

    def __reduce__(self) -> tuple[type[ResidencyViolation], tuple[object, ...]]:
        return (
            type(self),
            (
                self.provider,
                self.operation,
                self.target,
                self.location,
                self.countries,
                self.policy,
                self.reason,
            ),
        )


class ProviderError(ResidencyError):
    """A cloud provider adapter failed (credentials, API error, unreadable answer)."""


class ProviderNotInstalledError(ProviderError, ImportError):
    """The SDK a provider needs is not installed; the message names the extra.

    >>> str(ProviderNotInstalledError("aws", "boto3"))
    "provider 'aws' needs boto3: pip install 'eu-residency[aws]'"
    """

    def __init__(self, provider: str, package: str) -> None:
        self.provider = provider
        self.package = package
        super().__init__(f"provider '{provider}' needs {package}: pip install 'eu-residency[{provider}]'")

    def __reduce__(self) -> tuple[type[ProviderNotInstalledError], tuple[str, str]]:
        return (type(self), (self.provider, self.package))


class HistoryError(ResidencyError):
    """The scan history database cannot be opened, read or written (the CLI exits 2)."""


class ReportError(ResidencyError):
    """A report cannot be written where it was asked for (the CLI exits 2)."""


class PlanError(_InputError):
    """A file given as a Terraform/OpenTofu plan is not one this release reads (the CLI exits 2).

    ``source`` is the file, ``key`` the top-level key that is wrong (or ``None``),
    ``problem`` what is wrong and how to fix it.

    >>> str(PlanError("plan.json", "format_version", "unsupported version '2.0'"))
    "plan.json: key 'format_version': unsupported version '2.0'"
    """
