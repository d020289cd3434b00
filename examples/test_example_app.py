"""Testing an application's data residency with the eu-residency pytest plugin.

Run::

    pip install 'eu-residency[aws]' moto pytest
    pytest examples/test_example_app.py                       # marker and fixture
    pytest examples/test_example_app.py --residency-policy eu  # guard every test

The plugin is installed with eu-residency (no ``conftest.py`` needed):

* ``@pytest.mark.residency(policy=..., mode=...)`` guards one test;
* the ``residency_guard`` fixture is the guard itself (default policy ``eu``);
* ``--residency-policy NAME`` guards every test; a marker overrides it.

``residency.testing`` has the helpers the plugin is built on:
``capture_violations`` to collect instead of raising, and ``assert_resident``
to check what an account (here moto's) holds.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

import residency
from residency.testing import assert_resident, capture_violations


def archive(s3: Any, bucket: str, name: str, body: bytes) -> None:
    """The code under test: stores a document."""
    s3.put_object(Bucket=bucket, Key=f"archive/{name}", Body=body)


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Fake AWS with a bucket in Frankfurt, one in Zurich and one in Virginia.

    Fixtures run before the guard, so they may create what the test needs.
    """
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        for name, region in (("docs-fra", "eu-central-1"), ("docs-zrh", "eu-central-2")):
            boto3.client("s3", region_name=region).create_bucket(
                Bucket=name, CreateBucketConfiguration={"LocationConstraint": region}
            )
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="docs-iad")
        yield boto3.client("s3", region_name="eu-central-1")


@pytest.mark.residency(policy="eu")
def test_archive_stays_in_the_eu(s3: Any) -> None:
    archive(s3, "docs-fra", "contract.pdf", b"%PDF")


@pytest.mark.residency(policy="eu")
def test_archiving_to_virginia_is_blocked(s3: Any) -> None:
    with pytest.raises(residency.ResidencyViolation) as info:
        archive(s3, "docs-iad", "contract.pdf", b"%PDF")
    assert info.value.countries == ("US",)


@pytest.mark.residency(policy="eea-ch")
def test_switzerland_is_fine_under_eea_ch(s3: Any, residency_guard: residency.Guard) -> None:
    assert residency_guard.policy.name == "eea-ch"
    archive(s3, "docs-zrh", "contract.pdf", b"%PDF")


@pytest.mark.residency(mode="audit")  # so --residency-policy does not raise in here
def test_collect_instead_of_raising(s3: Any) -> None:
    with capture_violations(policy="eu") as found:
        archive(s3, "docs-zrh", "a.pdf", b"%PDF")
        archive(s3, "docs-iad", "b.pdf", b"%PDF")
    assert found.targets == ["s3://docs-zrh", "s3://docs-iad"]


@pytest.mark.residency(policy="eea-ch", mode="audit")
def test_audit_mode_records(s3: Any, caplog: pytest.LogCaptureFixture) -> None:
    archive(s3, "docs-iad", "contract.pdf", b"%PDF")
    assert "outside EEA+CH" in caplog.text


def test_what_the_account_holds(s3: Any) -> None:
    """assert_resident scans the (moto) account; Virginia is listed as an offender."""
    with pytest.raises(AssertionError, match="docs-iad"):
        assert_resident(policy="eu", regions=["eu-central-1", "us-east-1"])
