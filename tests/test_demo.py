"""``residency demo``: a fresh in-process moto estate, the scan report, the guard blocking a US write, the
organisation's SCPs judged by ``residency guardrails aws``, and the packaged plan judged by ``residency plan``."""

from __future__ import annotations

import io
import os
import socket
from typing import Any

import pytest

from residency import _demo
from residency._cli import main

GUARDRAILS = "3 resource(s): 2 violation, 0 unknown, 0 waived, 1 compliant"
PLAN = "7 resource(s): 5 violation, 1 unknown, 0 waived, 1 compliant"


def _lines(out: str, status: str, *names: str) -> None:
    for name in names:
        assert any(ln.startswith(status) and name in ln for ln in out.splitlines()), (status, name)


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
    # AWS 4: the emitted SCP confines its OU; the London SCP and the management account do not
    assert "AWS 4. residency guardrails aws --policy eu" in out
    assert GUARDRAILS in out
    _lines(out, "VIOLATION  guardrails", "SCPs and RCPs do not apply to it", "outside the policy: eu-west-2")
    _lines(out, "COMPLIANT  guardrails", "residency-eu")
    assert "the management account is a violation by design" in out
    # the plan step, once, whatever clouds ran
    assert out.count("plan: residency plan demo-plan.json --policy eu") == 1
    assert PLAN in out
    _lines(
        out,
        "VIOLATION",
        "aws_s3_bucket.london ",
        "aws_s3_bucket_replication_configuration.to_us",
        "azurerm_storage_account.uk",
        "google_storage_bucket.archive",
    )
    _lines(out, "UNKNOWN", "google_storage_bucket.exports")
    _lines(out, "COMPLIANT", "aws_s3_bucket.eu ")
    assert out.count("(a real run would exit 1: violations found)") == 2
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
    assert GUARDRAILS in out
    assert PLAN in out
    assert outside == []


def test_the_demo_plan_is_what_residency_plan_reads(capsys: pytest.CaptureFixture[str]) -> None:
    """The packaged plan through the real CLI: the same table, exit 1 (violations outrank the unknown)."""
    from importlib import resources

    with resources.as_file(resources.files("residency").joinpath(_demo.DEMO_PLAN)) as path:
        assert main(["plan", str(path)]) == 1
        assert main(["plan", str(path), "--allow-unknown"]) == 1
    out = capsys.readouterr().out
    assert out.count(PLAN) == 2
    buf = io.StringIO()
    assert _demo._demo_plan(buf)
    table = [ln for ln in out.splitlines() if ln.startswith(("VIOLATION", "UNKNOWN", "COMPLIANT"))]
    assert len(table) == 2 * 7  # two runs
    assert all(ln in buf.getvalue() for ln in table)


def test_a_plan_step_that_finds_otherwise_fails_the_demo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(_demo._PLAN_EXPECTED, "google_storage_bucket.exports", "compliant")
    assert not _demo._demo_plan(io.StringIO())
