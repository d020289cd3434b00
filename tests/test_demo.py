"""``residency demo``: a fresh in-process moto estate, the scan report, and the guard blocking a US write."""

from __future__ import annotations

import io
import os
import socket
from typing import Any

import pytest

from residency._cli import main


def test_demo_scans_and_the_guard_blocks(capsys: pytest.CaptureFixture[str]) -> None:
    before = dict(os.environ)
    buf = io.StringIO()
    assert main(["demo"], stdout=buf) == 0
    out = buf.getvalue()
    assert "8 resource(s): 4 violation, 0 unknown, 0 waived, 4 compliant" in out
    for name in ("acme-us-analytics", "acme-uk-reports", "acme-eu-orders", "acme-us-orders-replica"):
        assert any(ln.startswith("VIOLATION") and name in ln for ln in out.splitlines()), name
    assert "replication destination arn:aws:s3:::acme-us-orders-replica" in out
    assert "acme-eu-customers (eu-central-1): allowed, written" in out
    assert "acme-us-analytics: BLOCKED before any byte was sent" in out
    assert dict(os.environ) == before  # the demo's fake credentials and endpoint are gone again
    assert " - - [" not in capsys.readouterr().err  # no server access log


def test_demo_needs_no_credentials_and_no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """No AWS variables at all, and every socket connection outside 127.0.0.1 refused: the demo still
    seeds, scans and shows the guard blocking the US write."""
    for var in [v for v in os.environ if v.startswith("AWS_")]:
        monkeypatch.delenv(var)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    real_connect = socket.socket.connect
    outside: list[object] = []

    def loopback_only(self: socket.socket, address: Any) -> Any:
        host = address[0] if isinstance(address, tuple) else address
        if self.family in (socket.AF_INET, socket.AF_INET6) and host not in ("127.0.0.1", "::1", "localhost"):
            outside.append(address)
            raise OSError(f"test: no network ({address!r})")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", loopback_only)
    buf = io.StringIO()
    assert main(["demo", "--providers", "aws"], stdout=buf) == 0
    out = buf.getvalue()
    assert "8 resource(s): 4 violation, 0 unknown, 0 waived, 4 compliant" in out
    assert "acme-us-analytics: BLOCKED before any byte was sent" in out
    assert outside == []
