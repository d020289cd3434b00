"""``residency scan`` end to end against the moto server: in-process (``main([...], stdout=buf)``) and
through the installed ``residency`` command with ``AWS_ENDPOINT_URL``."""

from __future__ import annotations

import io
import json
import os
import pathlib
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from typing import Any

import boto3
import jsonschema
import pytest

from residency._cli import main

DATA = pathlib.Path(__file__).parent / "data"

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


def test_unknowns_exit_3_unless_allowed(reset_moto_server: str) -> None:
    url = reset_moto_server
    base = ("scan", "aws", "--endpoint-url", url, "--regions", "ap-east-1", "--no-history", "--services", "s3")
    code, out = _run(*base)
    assert code == 3  # asked for a region it could not read: never a pass
    assert "opt-in region not enabled" in out
    assert _run(*base, "--fail-on-unknown")[0] == 3  # deprecated, the default now
    assert _run(*base, "--allow-unknown")[0] == 0


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


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--regions", "eu-wets-1"],
            "ProviderError: --regions: unknown AWS region 'eu-wets-1' (did you mean 'eu-west-1'?)",
        ),
        (["--regions", "eu-west-1a"], "is not an AWS region code (did you mean 'eu-west-1'?)"),
        (["--regions", ","], "argument --regions: expected a comma-separated list"),
        (["--regions", "eu west 1"], "is not an AWS region code"),
        (["--policy", "/no/such/policy.yaml"], "PolicyError: /no/such/policy.yaml"),
        (["--format", "pdf"], "argument --format: invalid choice: 'pdf'"),
        (["--accounts", "12345"], "ProviderError: --accounts: '12345' is not an AWS account id"),
        (["--endpoint-url", "notaurl"], "ProviderError: --endpoint-url: 'notaurl' is not an http(s) URL"),
        (["--output", "/no/such/dir/r.json"], "ReportError: cannot write the report to /no/such/dir/r.json"),
        (["--concurrency", "lots"], "argument --concurrency: expected a whole number"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    reset_moto_server: str, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, out = _run("scan", "aws", "--endpoint-url", reset_moto_server, "--no-history", "--services", "s3", *argv)
    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err
    assert out == ""


def test_output_target_is_checked_before_scanning(
    reset_moto_server: str, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from residency import _cli_scan

    def never(*a: Any, **k: Any) -> Any:
        raise AssertionError("scanned although the report could not be written")

    monkeypatch.setattr(_cli_scan, "stream_scan", never)
    assert _scan(reset_moto_server, "--output", str(tmp_path))[0] == 2
    assert _scan(reset_moto_server, "--history", str(tmp_path))[0] == 2


def _installed(url: str, cwd: pathlib.Path, *argv: str, **kw: Any) -> subprocess.CompletedProcess[str]:
    """The installed ``residency`` command, configured the usual boto3 way (environment only)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID="cli",
        AWS_SECRET_ACCESS_KEY="cli",
        AWS_DEFAULT_REGION="eu-central-1",
        AWS_ENDPOINT_URL=url,
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_EC2_METADATA_DISABLED="true",
    )
    exe = pathlib.Path(sys.executable).with_name("residency")
    kw.setdefault("stderr", subprocess.PIPE)
    return subprocess.run([str(exe), *argv], env=env, cwd=cwd, text=True, stdout=subprocess.PIPE, timeout=300, **kw)


def test_installed_command_every_format_validated(reset_moto_server: str, tmp_path: pathlib.Path) -> None:
    """``residency scan aws`` as installed, AWS_ENDPOINT_URL pointing at the moto server: each format
    is validated (JSON and SARIF against their schemas, JUnit parsed back, HTML parsed), the history
    recorded by default in ./.residency, and a tag value with markup escaped in the HTML page."""
    url = reset_moto_server
    _bucket(url, "inst-eu", "eu-central-1")
    _bucket(url, "inst-us", "us-east-1")
    s3 = boto3.Session().client("s3", region_name="eu-central-1", endpoint_url=url)
    s3.put_bucket_tagging(Bucket="inst-eu", Tagging={"TagSet": [{"Key": "owner", "Value": "<script>x()</script>"}]})
    base = ("scan", "aws", "--regions", REGIONS, "--services", "s3")
    table = _installed(url, tmp_path, *base)
    assert table.returncode == 1, table.stderr
    assert "2 resource(s): 1 violation, 0 unknown, 0 waived, 1 compliant; first scan of this scope" in table.stdout
    assert table.stderr == ""  # no terminal, no progress bar
    assert (tmp_path / ".residency" / "history.sqlite").exists()

    docs = {}
    for fmt in ("json", "sarif", "junit", "html"):
        done = _installed(url, tmp_path, *base, "--format", fmt, "-o", f"r.{fmt}")
        assert done.returncode == 1, done.stderr
        docs[fmt] = (tmp_path / f"r.{fmt}").read_text("utf-8")
    report = json.loads(docs["json"])
    jsonschema.Draft202012Validator(json.loads((DATA / "report-json.schema.json").read_text("utf-8"))).validate(report)
    assert report["summary"]["previous_scan"] == 1
    assert [f["name"] for f in report["findings"]] == ["inst-us", "inst-eu"]
    sarif = json.loads(docs["sarif"])
    jsonschema.Draft4Validator(json.loads((DATA / "sarif-schema-2.1.0.json").read_text("utf-8"))).validate(sarif)
    (result,) = sarif["runs"][0]["results"]
    assert result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].endswith("/s3/bucket/inst-us")
    suite = ET.fromstring(docs["junit"]).find("testsuite")
    assert suite is not None
    assert [c.get("name") for c in suite.findall("testcase")] == ["arn:aws:s3:::inst-us", "arn:aws:s3:::inst-eu"]
    assert len(suite.findall("testcase/failure")) == 1
    page = docs["html"]
    assert "<script" not in page
    assert "owner=&lt;script&gt;x()&lt;/script&gt;" in page

    history = _installed(url, tmp_path, "history")
    assert history.returncode == 0
    assert len(history.stdout.splitlines()) == 1 + 5


def test_a_terminal_shows_progress_counted_in_resources(reset_moto_server: str, tmp_path: pathlib.Path) -> None:
    import pty

    _bucket(reset_moto_server, "tty-eu", "eu-central-1")
    leader, follower = pty.openpty()
    try:
        done = _installed(
            reset_moto_server, tmp_path, "scan", "aws", "--regions", REGIONS, "--no-history", stderr=follower
        )
        os.close(follower)
        follower = -1
        chunks = []
        while True:
            try:
                data = os.read(leader, 65536)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
    finally:
        if follower >= 0:
            os.close(follower)
        os.close(leader)
    err = b"".join(chunks).decode()
    assert done.returncode == 0
    assert re.search(r"\[#+\.*\] 1 resources read \(work \d+/\d+\)", err), err
    assert "1 resource(s): 0 violation, 0 unknown, 0 waived, 1 compliant" in done.stdout


def test_credentials_the_usual_way_profile_with_a_role(
    reset_moto_server: str, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A profile whose credentials come from assuming a role (``role_arn`` + ``source_profile``): boto3
    assumes it through the moto server's STS; ``AWS_PROFILE`` and ``--profile`` both work."""
    (tmp_path / "config").write_text(
        "[profile audit]\nregion = eu-west-1\nrole_arn = arn:aws:iam::444444444444:role/Auditor\n"
        "source_profile = base\n[profile base]\nregion = eu-west-1\n"
    )
    (tmp_path / "credentials").write_text("[base]\naws_access_key_id = base\naws_secret_access_key = base\n")
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(var)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_ENDPOINT_URL", reset_moto_server)
    argv = ("scan", "aws", "--regions", "eu-west-1", "--services", "s3", "--no-history", "--format", "json")
    code, out = _run(*argv, "--profile", "audit")
    assert code == 0
    assert json.loads(out)["scan"]["scope"]["accounts"] == ["444444444444"]
    monkeypatch.setenv("AWS_PROFILE", "audit")
    assert json.loads(_run(*argv)[1])["scan"]["scope"]["accounts"] == ["444444444444"]


def test_org_with_role_name_through_the_cli(reset_moto_server: str) -> None:
    url = reset_moto_server
    org = boto3.Session().client("organizations", region_name="us-east-1", endpoint_url=url)
    org.create_organization(FeatureSet="ALL")
    status = org.create_account(Email="m@example.com", AccountName="m")["CreateAccountStatus"]
    member = org.describe_create_account_status(CreateAccountRequestId=status["Id"])["CreateAccountStatus"]["AccountId"]
    code, out = _run(
        "scan", "aws", "--endpoint-url", url, "--regions", "eu-west-1", "--services", "s3", "--no-history",
        "--org", "--role-name", "Auditor", "--format", "json",
    )  # fmt: skip
    doc = json.loads(out)
    assert code == 0
    assert sorted(doc["scan"]["scope"]["accounts"]) == sorted(["123456789012", member])
    assert doc["scan"]["scope"]["target"] == "org"
