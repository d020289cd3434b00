"""``residency demo``: a fresh in-process moto estate, the scan report, and the guard blocking a US write."""

from __future__ import annotations

import io
import os

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
