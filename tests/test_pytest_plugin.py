"""The pytest plugin, run with ``pytester``: CLI vs marker vs fixture precedence in one file.

The inner test file writes to a bucket in Zurich (eu-central-2): allowed by
``eea-ch``, denied by ``eu``, so each result shows which policy was applied.
"""

from __future__ import annotations

import pathlib
import runpy
import sys

import pytest

import residency

pytest_plugins = ["pytester"]

INNER = """
import boto3
import pytest
import residency
from moto import mock_aws


@pytest.fixture
def s3():
    with mock_aws():
        boto3.client("s3", region_name="eu-central-2").create_bucket(
            Bucket="ch-bkt", CreateBucketConfiguration={"LocationConstraint": "eu-central-2"}
        )
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="us-bkt")
        yield boto3.client("s3", region_name="eu-west-1")


def test_plain(s3):
    s3.put_object(Bucket="ch-bkt", Key="plain", Body=b"x")


@pytest.mark.residency(policy="eea-ch")
def test_marker_eea_ch(s3):
    s3.put_object(Bucket="ch-bkt", Key="eea-ch", Body=b"x")


@pytest.mark.residency(policy="eu")
def test_marker_eu(s3):
    s3.put_object(Bucket="ch-bkt", Key="eu", Body=b"x")


def test_fixture(s3, residency_guard):
    assert residency_guard.installed
    print("FIXTURE-POLICY", residency_guard.policy.name, residency_guard.mode)
    s3.put_object(Bucket="ch-bkt", Key="fixture", Body=b"x")


@pytest.mark.residency(mode="audit")
def test_marker_audit(s3, caplog):
    s3.put_object(Bucket="us-bkt", Key="audit", Body=b"x")
    assert "PutObject to s3://us-bkt: us-east-1" in caplog.text


def test_zz_torn_down(request):
    # Only this test's own guard (under --residency-policy) may be active.
    expected = 1 if request.config.getoption("--residency-policy") else 0
    assert len(residency.active_guards()) == expected
"""

VIOLATION = (
    "ResidencyViolation: PutObject to s3://ch-bkt: eu-central-2 (Europe (Zurich)) stores data in CH, "
    "outside EU (policy 'eu')"
)


def run(
    pytester: pytest.Pytester,
    *args: str,
    passed: int = 0,
    failed: int = 0,
    errors: int = 0,
    texts: tuple[str, ...] = (),
    absent: tuple[str, ...] = (),
) -> pytest.RunResult:
    """Run the inner file with ``args``; check the outcome counts and the output text."""
    pytester.makepyfile(test_inner=INNER)
    result = pytester.runpytest("-p", "no:cacheprovider", "-s", "-rA", *args)
    result.assert_outcomes(passed=passed, failed=failed, errors=errors)
    out = result.stdout.str()
    for text in texts:
        assert text in out, f"{text!r} not in output:\n{out}"
    for text in absent:
        assert text not in out, f"{text!r} unexpectedly in output:\n{out}"
    assert residency.active_guards() == ()
    return result


def test_without_options_only_marker_and_fixture_guard(pytester: pytest.Pytester) -> None:
    """No CLI option: test_plain is unguarded; the marker and the fixture (default eu) apply."""
    run(
        pytester,
        passed=4,
        failed=2,
        texts=(
            "FAILED test_inner.py::test_marker_eu - residency._errors.ResidencyViolation",
            "FAILED test_inner.py::test_fixture - residency._errors.ResidencyViolation",
            "E       residency._errors." + VIOLATION,
            "FIXTURE-POLICY eu enforce",
        ),
    )


def test_cli_policy_guards_every_test_and_the_marker_wins(pytester: pytest.Pytester) -> None:
    """--residency-policy eea-ch: every test guarded with eea-ch except where a marker names another."""
    run(
        pytester,
        "--residency-policy",
        "eea-ch",
        passed=5,
        failed=1,
        texts=("FAILED test_inner.py::test_marker_eu", "FIXTURE-POLICY eea-ch enforce"),
    )


def test_cli_policy_eu_blocks_the_unmarked_test(pytester: pytest.Pytester) -> None:
    run(
        pytester,
        "--residency-policy",
        "eu",
        passed=3,
        failed=3,
        texts=("FAILED test_inner.py::test_plain", "FAILED test_inner.py::test_fixture"),
    )


def test_cli_mode_audit_lets_writes_through_unless_the_marker_says_enforce(pytester: pytest.Pytester) -> None:
    run(
        pytester,
        "--residency-policy",
        "eu",
        "--residency-mode",
        "audit",
        passed=6,
        texts=("FIXTURE-POLICY eu audit",),
    )


def test_unknown_cli_policy_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_inner=INNER)
    result = pytester.runpytest("--residency-policy", "euu")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--residency-policy: euu: no built-in policy*did you mean 'eu'*"])


def test_bad_marker_arguments_error_the_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_bad="""
        import pytest

        @pytest.mark.residency(polcy="eu")
        def test_typo():
            pass

        @pytest.mark.residency(mode="loud")
        def test_mode():
            pass

        @pytest.mark.residency("eea")
        def test_positional(residency_guard):
            assert residency_guard.policy.name == "eea"
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, errors=2)
    result.stdout.fnmatch_lines(
        [
            "*unknown argument 'polcy'; expected policy, mode*",
            "*mode must be 'enforce' or 'audit', got 'loud'*",
        ]
    )


def test_marker_is_registered_for_strict_markers(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--strict-markers", "--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.residency(policy='eu', mode='enforce'):*"])


def test_guard_is_torn_down_when_the_test_fails(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_fail="""
        import pytest, residency

        def test_boom(residency_guard):
            raise RuntimeError("boom")

        def test_after():
            assert residency.active_guards() == ()
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)


EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


def test_example_app_runs(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", ["app_guard.py"])
    with pytest.raises(SystemExit) as info:
        runpy.run_path(str(EXAMPLES / "app_guard.py"), run_name="__main__")
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "stored in reports-frankfurt (eu-central-1)" in out
    assert "blocked: PutObject to s3://reports-virginia: us-east-1" in out
    assert "audit mode recorded 1 violation(s)" in out


def test_example_pytest_file_passes(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_example_app=(EXAMPLES / "test_example_app.py").read_text("utf-8"))
    result = pytester.runpytest("-p", "no:cacheprovider", "--residency-policy", "eu")
    result.assert_outcomes(passed=6)
