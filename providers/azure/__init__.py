"""The Azure adapter (needs ``pip install 'eu-residency[azure]'``).

Only this package imports the Azure SDK. Three surfaces:

* the guard — ``residency.guard(...)`` hooks azure-core's pipeline, so every
  Azure SDK client (sync and async, created before or after) is checked; see
  :mod:`._guard`;
* the scan — :func:`scan` (``residency scan azure``) lists every resource
  group and resource with its location, and where data lands beyond it; see
  :mod:`._scan`;
* account resolvers — where a storage account lives, for the data-plane
  guard::

      from residency.providers import azure
      azure.configure(account_locations={"devstoreaccount1": "westeurope"})

  or ``RESIDENCY_AZURE_ACCOUNT_LOCATIONS="devstoreaccount1=westeurope"``; by
  default the management API is asked, with the caller's credential: a
  management client's own endpoint and pipeline for its writes, the storage
  host's cloud for data-plane writes, or ``configure(resolver=
  ArmAccountResolver(base_url=…))`` (emulator accounts on 127.0.0.1 must be
  configured, or they fail closed).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from residency._errors import ProviderNotInstalledError

try:
    import azure.core
    import azure.mgmt.resource.resources  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised by the extras test
    raise ProviderNotInstalledError("azure", "azure-mgmt-resource and azure-storage-blob") from exc

from ._accounts import (
    AccountLocations,
    AccountResolver,
    ArmAccountResolver,
    ChainedAccountResolver,
    StaticAccountResolver,
)
from ._guard import configure

__all__ = [
    "ADAPTER",
    "AccountLocations",
    "AccountResolver",
    "ArmAccountResolver",
    "AzureAdapter",
    "ChainedAccountResolver",
    "StaticAccountResolver",
    "configure",
    "scan",
]


def scan(*args: Any, **kwargs: Any) -> Iterator[Any]:
    """Scan subscriptions; see :func:`residency.providers.azure._scan.scan`."""
    from ._scan import scan as _scan

    return _scan(*args, **kwargs)


class AzureAdapter:
    """Adapter for Microsoft Azure (azure-core based SDKs)."""

    name = "azure"

    def sdk_locations(self) -> Iterable[str]:
        """Nothing: the Azure SDK carries no region list (locations come from the API)."""
        return []

    def install_guard(self, guard: Any) -> None:
        from ._guard import install

        install(guard)

    def uninstall_guard(self, guard: Any) -> None:
        from ._guard import uninstall

        uninstall(guard)

    def scan(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        return scan(*args, **kwargs)

    def guardrails(self, context: Any) -> Iterator[Any]:
        """One ``guardrail`` finding per subscription: what Azure Policy's allowed locations let through."""
        from ._guardrails import guardrails

        return guardrails(context)

    def emit_guardrails(self, policy: Any) -> Any:
        """The *Allowed locations* policy assignments that implement ``policy``."""
        from ._guardrails import emit

        return emit(policy)


ADAPTER = AzureAdapter()
