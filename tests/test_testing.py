"""``residency.testing``: capture_violations and assert_resident.

``assert_resident`` is tested twice: against a stand-in scan engine that
follows the scan contract (``run_scan(...) -> ScanResult(findings, gaps)``),
and against the real engine with moto, skipped only while ``residency._scan``
does not exist yet.
"""

from __future__ import annotations

import importlib.util
import logging
import pickle
import sys
import types
from collections.abc import Iterator
from typing import Any

import attrs
import boto3
import pytest
from moto import mock_aws

import residency
from residency import lookup_location
from residency.testing import CapturedViolations, NotResidentError, assert_resident, capture_violations


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="us-bkt")
        boto3.client("s3", region_name="eu-west-1").create_bucket(
            Bucket="eu-bkt", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
        )
        yield


def test_public_names() -> None:
    import residency.testing as t

    assert sorted(t.__all__) == ["CapturedViolations", "NotResidentError", "assert_resident", "capture_violations"]


def test_capture_violations_collects_instead_of_raising(aws: None, caplog: pytest.LogCaptureFixture) -> None:
    s3 = boto3.client("s3", region_name="eu-west-1")
    with caplog.at_level(logging.WARNING, logger="residency"), capture_violations(policy="eu") as found:
        s3.put_object(Bucket="us-bkt", Key="k", Body=b"x")
        s3.put_object(Bucket="eu-bkt", Key="k", Body=b"x")
    assert isinstance(found, CapturedViolations)
    assert found.targets == ["s3://us-bkt"]
    assert found[0].location == "us-east-1"
    assert "- PutObject to s3://us-bkt: us-east-1" in found.summary()
    assert s3.list_objects_v2(Bucket="us-bkt")["KeyCount"] == 1
    assert residency.active_guards() == ()
    assert not [r for r in caplog.records if r.name == "residency"]


def test_capture_violations_nested_in_an_enforcing_guard(aws: None) -> None:
    s3 = boto3.client("s3", region_name="eu-west-1")
    with residency.guard(policy="eu"), capture_violations(policy="eea") as found:
        with pytest.raises(residency.ResidencyViolation):
            s3.put_object(Bucket="us-bkt", Key="k", Body=b"x")
    assert found.targets == ["s3://us-bkt"]


# --------------------------------------------------------------------------- assert_resident


@attrs.frozen
class _Finding:
    provider: str
    account: str
    service: str
    resource_type: str
    resource_id: str
    locations: tuple[Any, ...]
    status: str
    reason: str
    tags: dict[str, str] = attrs.field(factory=dict)
    error: str | None = None
    scope_gap: bool = False


@attrs.frozen
class _Result:
    findings: list[_Finding]
    gaps: list[str]


@pytest.fixture
def fake_scan(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """A stand-in ``residency._scan`` honouring the scan contract; records its calls."""
    calls: list[dict[str, Any]] = []
    module = types.ModuleType("residency._scan")
    result = _Result([], [])

    def run_scan(provider: str = "aws", policy: Any = "eu", **kw: Any) -> _Result:
        calls.append({"provider": provider, "policy": policy, **kw})
        return result

    module.run_scan = run_scan  # type: ignore[attr-defined]
    module.result = result  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "residency._scan", module)
    return calls


def _finding(rid: str, loc: str, status: str, reason: str) -> _Finding:
    return _Finding("aws", "123456789012", "s3", "bucket", rid, (lookup_location("aws", loc),), status, reason)


def test_assert_resident_passes_and_forwards_scan_options(fake_scan: list[dict[str, Any]]) -> None:
    sys.modules["residency._scan"].result.findings.append(  # type: ignore[attr-defined]
        _finding("eu-bkt", "eu-west-1", "compliant", "inside")
    )
    result = assert_resident(policy="eea", regions=["eu-west-1"], endpoint_url="http://127.0.0.1:1")
    assert result.findings[0].resource_id == "eu-bkt"
    (call,) = fake_scan
    assert call["provider"] == "aws"
    assert call["policy"].name == "eea"
    assert call["regions"] == ["eu-west-1"]
    assert call["endpoint_url"] == "http://127.0.0.1:1"


def test_assert_resident_lists_every_offender(fake_scan: list[dict[str, Any]]) -> None:
    result = sys.modules["residency._scan"].result  # type: ignore[attr-defined]
    result.findings.extend(
        [
            _finding("eu-bkt", "eu-west-1", "compliant", "inside"),
            _finding("us-bkt", "us-east-1", "violation", "us-east-1 (US East (N. Virginia)) stores data in US"),
            _finding("odd", "mars-1", "unknown", "mars-1 has no known country"),
            _finding("old", "us-west-2", "waived", "waived by 'legacy'"),
        ]
    )
    result.gaps.append("ap-east-1: region not enabled")
    with pytest.raises(NotResidentError) as info:
        assert_resident(policy="eu")
    message = str(info.value)
    assert message.splitlines() == [
        "2 aws resources outside EU (policy 'eu'):",
        "- s3 bucket us-bkt (account 123456789012) in us-east-1 (US East (N. Virginia)) [violation]: "
        "us-east-1 (US East (N. Virginia)) stores data in US",
        "- s3 bucket odd (account 123456789012) in mars-1 [unknown]: mars-1 has no known country",
        "not scanned (fails with fail_on_gaps=True):",
        "- ap-east-1: region not enabled",
    ]
    assert isinstance(info.value, AssertionError)
    assert isinstance(info.value, residency.ResidencyError)
    assert [f.resource_id for f in info.value.offenders] == ["us-bkt", "odd"]
    back = pickle.loads(pickle.dumps(info.value))
    assert str(back) == message


def test_assert_resident_gaps_fail_only_when_asked(fake_scan: list[dict[str, Any]]) -> None:
    sys.modules["residency._scan"].result.gaps.append("eu-south-2: AccessDenied")  # type: ignore[attr-defined]
    assert_resident()
    with pytest.raises(NotResidentError, match="could not read everything"):
        assert_resident(fail_on_gaps=True)


def test_an_unreadable_scope_is_a_gap_an_unreadable_resource_an_offender(fake_scan: list[dict[str, Any]]) -> None:
    """The engine reports both as ``unknown`` with ``error``; only a whole region/account is a gap."""
    result = sys.modules["residency._scan"].result  # type: ignore[attr-defined]
    result.findings.append(
        attrs.evolve(
            _finding("arn:aws:ec2:eu-central-2:123456789012:*", "eu-central-2", "unknown", "could not be read"),
            resource_type="region",
            error="opt-in region not enabled",
            scope_gap=True,
        )
    )
    result.gaps.append("aws 123456789012/eu-central-2 ec2: opt-in region not enabled")
    assert_resident(policy="eea-ch")
    with pytest.raises(NotResidentError, match="could not read everything"):
        assert_resident(policy="eea-ch", fail_on_gaps=True)
    result.findings.append(
        attrs.evolve(
            _finding("arn:aws:s3:::locked", "eu-west-1", "unknown", "could not be read"), error="bucket region unknown"
        )
    )
    with pytest.raises(NotResidentError) as info:
        assert_resident(policy="eea-ch")
    assert [f.resource_id for f in info.value.offenders] == ["arn:aws:s3:::locked"]


@pytest.mark.skipif(importlib.util.find_spec("residency._scan") is None, reason="scan engine not built yet")
def test_assert_resident_with_the_real_scan_engine(aws: None) -> None:
    with pytest.raises(NotResidentError) as info:
        assert_resident(policy="eu", regions=["us-east-1", "eu-west-1"])
    assert "us-bkt" in str(info.value)
    assert "eu-bkt" not in str(info.value)
