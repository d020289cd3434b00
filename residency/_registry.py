"""The provider registry: short names to lazily imported adapters.

The core never imports a cloud SDK. ``load_provider("aws")`` imports
``residency.providers.aws``, which imports boto3; if the SDK is missing the
caller gets :class:`ProviderNotInstalledError` naming the extra to install.

An adapter is any object with the :class:`ProviderAdapter` shape; each provider
package exposes one as ``ADAPTER``. Adapters may also offer ``guardrails(context)``
(yield ``guardrail`` findings built with :func:`residency._guardrails.judge`) and
``emit_guardrails(policy)`` (the native guardrail documents that implement a
policy); the core looks them up with ``getattr`` and says when one is missing.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Iterator
from typing import Any, Protocol, runtime_checkable

from ._errors import ProviderError, ProviderNotInstalledError

__all__ = [
    "PROVIDER_SDKS",
    "ProviderAdapter",
    "available_providers",
    "load_provider",
]

#: provider short name -> the SDK distribution its extra installs
PROVIDER_SDKS = {
    "aws": "boto3",
    "azure": "azure-mgmt-resource and azure-storage-blob",
    "gcp": "google-cloud-storage",
}


@runtime_checkable
class ProviderAdapter(Protocol):
    """What the core needs from a provider adapter."""

    name: str

    def sdk_locations(self) -> Iterable[str]:
        """Location codes the installed SDK knows (for catalog drift checks)."""
        ...

    def install_guard(self, guard: Any) -> None:
        """Start checking this provider's SDK writes against ``guard``'s policy."""
        ...

    def uninstall_guard(self, guard: Any) -> None:
        """Stop checking; restore everything ``install_guard`` changed."""
        ...

    def scan(self, context: Any) -> Iterator[Any]:
        """Yield a :class:`~residency._findings.Finding` per resource in ``context``'s scope.

        ``context`` is a :class:`~residency._scan.ScanContext`; the adapter fills its
        ``accounts_scanned``, ``regions_scanned`` and ``notes``. Unreadable parts are
        ``unknown`` findings, never skipped. Raise :class:`ProviderError` for
        configuration problems (credentials) before yielding anything.
        """
        ...


_loaded: dict[str, ProviderAdapter] = {}


def load_provider(name: str) -> ProviderAdapter:
    """Import and return the adapter for ``name`` (``aws``, ``azure``, ``gcp``)."""
    key = name.lower()
    if key in _loaded:
        return _loaded[key]
    if key not in PROVIDER_SDKS:
        raise ProviderError(f"unknown provider {name!r}; expected one of {', '.join(PROVIDER_SDKS)}")
    try:
        module = importlib.import_module(f"residency.providers.{key}")
    except ProviderNotInstalledError:
        raise
    except ImportError as exc:
        raise ProviderNotInstalledError(key, PROVIDER_SDKS[key]) from exc
    adapter: ProviderAdapter = module.ADAPTER
    _loaded[key] = adapter
    return adapter


def available_providers() -> dict[str, str | None]:
    """Each provider mapped to ``None`` if usable, else the reason it is not."""
    out: dict[str, str | None] = {}
    for name in PROVIDER_SDKS:
        try:
            load_provider(name)
        except ProviderError as exc:
            out[name] = str(exc)
        else:
            out[name] = None
    return out
