"""The Google Cloud adapter (needs ``pip install 'eu-residency[gcp]'``).

Only this package imports google-cloud-* and google-auth.

* The guard (:mod:`._guard`) hooks ``requests.Session.send`` — the transport
  google-cloud-storage's google-auth ``AuthorizedSession`` sends every JSON
  and XML API call through, and any plain session writing to an upload
  session URL — and wraps the local signing of write URLs and POST policies.
  Processes started with ``spawn`` need :func:`install_in_worker`.
* The scan (:mod:`._scan`) lists Cloud Storage buckets per project (or every
  located resource through Cloud Asset Inventory) with every place their
  data lands.
* :mod:`._fake_gcs` is a loopback Cloud Storage that keeps bucket locations,
  for tests and the demo.
* The guardrails (:mod:`._guardrails`) evaluate the effective
  ``gcp.resourceLocations`` organization policy per project;
  :mod:`._fake_orgpolicy` is their loopback Resource Manager + Org Policy.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from residency._errors import ProviderNotInstalledError

try:
    import google.auth.transport.requests
    import google.cloud.storage  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised by the extras test
    raise ProviderNotInstalledError("gcp", "google-cloud-storage") from exc

from ._guard import install_in_worker

if TYPE_CHECKING:
    from residency._findings import Finding
    from residency._scan import ScanContext

__all__ = ["ADAPTER", "GcpAdapter", "install_in_worker"]


class GcpAdapter:
    """Adapter for Google Cloud (google-cloud-storage over google-auth)."""

    name = "gcp"

    def sdk_locations(self) -> Iterable[str]:
        """The Google Cloud SDK ships no location list; the catalog is the source."""
        return []

    def install_guard(self, guard: Any) -> None:
        from ._guard import install

        install(guard)

    def uninstall_guard(self, guard: Any) -> None:
        from ._guard import uninstall

        uninstall(guard)

    def scan(self, context: ScanContext) -> Iterator[Finding]:
        """Yield a finding per located resource in the context's projects (see ``_scan``)."""
        from ._scan import scan

        return scan(context)

    def guardrails(self, context: ScanContext) -> Iterator[Finding]:
        """One ``guardrail`` finding per project: the effective ``gcp.resourceLocations`` (see ``_guardrails``)."""
        from ._guardrails import guardrails

        return guardrails(context)

    def emit_guardrails(self, policy: Any) -> Any:
        """The ``gcp.resourceLocations`` organization policy that implements ``policy``."""
        from ._guardrails import emit

        return emit(policy)


ADAPTER = GcpAdapter()
