"""The Google Cloud adapter (needs ``pip install 'eu-residency[gcp]'``). Only this package imports google-cloud-*."""

from __future__ import annotations

from residency._errors import ProviderNotInstalledError

try:
    import google.cloud.storage  # noqa: F401
except ImportError as exc:  # pragma: no cover
    raise ProviderNotInstalledError("gcp", "google-cloud-storage") from exc

raise ImportError("the Google Cloud adapter is not built yet")
