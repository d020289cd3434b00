"""The Azure adapter (needs ``pip install 'eu-residency[azure]'``). Only this package imports the Azure SDK."""

from __future__ import annotations

from residency._errors import ProviderNotInstalledError

try:
    import azure.core  # noqa: F401
except ImportError as exc:  # pragma: no cover
    raise ProviderNotInstalledError("azure", "azure-mgmt-resource and azure-storage-blob") from exc

raise ImportError("the Azure adapter is not built yet")
