"""``residency scan`` end to end, in-process (``main([...], stdout=buf)``) against the moto server."""

from __future__ import annotations

import io
import json
import pathlib
import xml.etree.ElementTree as ET
from typing import Any

import boto3
import pytest

from residency._cli import main

REGIONS = "eu-central-1,us-east-1"


def _bucket(url: str, name: str, region: str) -> None:
    s3 = boto3.Session().client("s3", region_name=region, endpoint_url=url)
    kw: dict[str, Any] = {}
    if region != "us-east-1":
        kw["CreateBucketConfiguration"] = {"LocationConstraint": region}
    s3.create_bucket(Bucket=name, **kw)


def _run(*argv: str) -> tuple[int, str]:
    buf = io.StringIO()
    code = main(list(argv), stdout=buf)
    return code, buf.getvalue()


def _scan(url: str, *extra: str) -> tuple[int, str]:
    return _run("scan", "aws", "--endpoint-url", url, "--regions", REGIONS, "--no-history", "--services", "s3", *extra)


def test_exit_0_when_clean_and_1_on_violations(reset_moto_server: str) -> None:
    url = reset_moto_server
    _bucket(url, "cli-eu", "eu-central-1")
    code, out = _scan(url)
    assert code == 0
    assert "1 resource(s): 0 violation, 0 unknown, 0 waived, 1 compliant" in out
    _bucket(url, "cli-us", "us-east-1")
    code, out = _scan(url)
    assert code == 1
    rows = [ln for ln in out.splitlines() if ln.startswith(("VIOLATION", "COMPLIANT"))]
    assert rows[0].startswith("VIOLATION")
    assert "cli-us" in rows[0]


def test_fail_on_unknown(reset_moto_server: str) -> None:
    url = reset_moto_server
    base = ("scan", "aws", "--endpoint-url", url, "--regions", "ap-east-1", "--no-history", "--services", "s3")
    assert _run(*base)[0] == 0
    code, out = _run(*base, "--fail-on-unknown")
    assert code == 1
    assert "opt-in region not enabled" in out


def test_usage_and_configuration_errors_exit_2(
    reset_moto_server: str, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = reset_moto_server
    assert _scan(url, "--policy", "nope")[0] == 2
    assert "PolicyError" in capsys.readouterr().err
    bad = tmp_path / "p.yaml"
    bad.write_text("allow: EUR\n")
    assert _scan(url, "--policy", str(bad))[0] == 2
    assert "unknown geography 'EUR'" in capsys.readouterr().err
    assert _run("scan", "aws", "--format", "pdf")[0] == 2
    assert _run("scan", "oracle")[0] == 2
    assert _run("scan", "aws", "--endpoint-url", url, "--org", "--accounts", "1")[0] == 2
    assert _run("scan", "aws", "--endpoint-url", url, "--services", "s4", "--no-history")[0] == 2
    assert "unknown AWS service" in capsys.readouterr().err
    assert _run("scan", "aws", "--concurrency", "0")[0] == 2
    assert _run("scan", "aws", "--profile", "nobody", "--no-history")[0] == 2
    assert "AWS profile 'nobody' not found" in capsys.readouterr().err


def test_provider_without_a_scanner_says_not_yet(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from residency import _scan

    class _NoScan:
        name = "gcp"

    monkeypatch.setattr(_scan, "load_provider", lambda name: _NoScan())
    assert _run("scan", "gcp", "--no-history")[0] == 2
    assert "not available yet" in capsys.readouterr().err


@pytest.mark.parametrize("fmt", ["json", "sarif", "junit", "html"])
def test_output_file_in_every_format(reset_moto_server: str, tmp_path: pathlib.Path, fmt: str) -> None:
    url = reset_moto_server
    _bucket(url, "fmt-us", "us-east-1")
    target = tmp_path / f"report.{fmt}"
    code, out = _scan(url, "--format", fmt, "--output", str(target))
    assert code == 1
    assert f"{fmt} report written to {target}" in out
    text = target.read_text("utf-8")
    if fmt in ("json", "sarif"):
        doc = json.loads(text)
        assert "fmt-us" in json.dumps(doc)
    elif fmt == "junit":
        assert ET.fromstring(text).find("testsuite").get("failures") == "1"  # type: ignore[union-attr]
    else:
        assert text.startswith("<!DOCTYPE html>")
        assert "fmt-us" in text


def test_report_to_unwritable_path_exits_2(reset_moto_server: str, tmp_path: pathlib.Path) -> None:
    assert _scan(reset_moto_server, "--output", str(tmp_path / "missing" / "r.json"))[0] == 2
