"""The AWS adapter (needs ``pip install 'eu-residency[aws]'``).

Only this package imports boto3/botocore.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from residency._errors import ProviderNotInstalledError

try:
    import botocore.session
except ImportError as exc:  # pragma: no cover - exercised by the extras test
    raise ProviderNotInstalledError("aws", "boto3") from exc

if TYPE_CHECKING:
    from residency._findings import Finding
    from residency._policy import Policy
    from residency._scan import ScanContext

__all__ = ["ADAPTER", "AwsAdapter"]


class AwsAdapter:
    """Adapter for Amazon Web Services (boto3/botocore)."""

    name = "aws"

    def sdk_locations(self) -> Iterable[str]:
        """Every region in the installed botocore's partition data."""
        session = botocore.session.get_session()
        loader = session.get_component("data_loader")
        data: Any = loader.load_data("partitions")
        for part in data["partitions"]:
            yield from part["regions"]

    def install_guard(self, guard: Any) -> None:
        from ._guard import install

        install(guard)

    def uninstall_guard(self, guard: Any) -> None:
        from ._guard import uninstall

        uninstall(guard)

    def scan(self, context: ScanContext) -> Iterator[Finding]:
        """Yield a finding per resource in the context's accounts and regions (see ``_scan``)."""
        from ._scan import scan

        return scan(context)

    def guardrails(self, context: ScanContext) -> Iterator[Finding]:
        """Yield a ``guardrail`` finding per organisation account: where its SCPs/RCPs let data be written."""
        from ._guardrails import guardrails

        return guardrails(context)

    def emit_guardrails(self, policy: Policy) -> dict[str, Any]:
        """The SCP document(s) that confine data writes to ``policy``'s regions."""
        from ._guardrails import emit

        return emit(policy)


ADAPTER = AwsAdapter()
