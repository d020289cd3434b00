"""Scans never pass when they could not look (issue 10, points 1-4): ``residency scan`` through the CLI
against an AWS endpoint that misbehaves.

``_Faulty`` serves the in-process moto backends (the same state as the session's
``moto_server``) on its own loopback port behind a WSGI middleware that can deny
one operation (AccessDenied), answer one with ``200`` and a body that is not XML,
or die: once it has answered ``die_after`` replication look-ups it stops listening, so every later call is
refused (every response says ``Connection: close``, so no kept-alive connection
outlives the server). moto does not enforce IAM, hence the injected denial.
"""

from __future__ import annotations

import concurrent.futures
import io
import json
import os
import pathlib
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from residency._cli import main

_CREDENTIAL = re.compile(r"Credential=[^/]+/\d+/([^/]+)/([^/]+)/")


class _Faulty:
    def __init__(self) -> None:
        from moto.server import DomainDispatcherApplication, create_backend_app
        from werkzeug.serving import make_server

        self.app = DomainDispatcherApplication(create_backend_app)
        self.deny: set[str] = set()
        self.garbage: set[str] = set()
        self.die_after: int | None = None
        self.requests = 0
        self.lookups = 0
        self._lock = threading.Lock()
        self.server = make_server("127.0.0.1", 0, self, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()
        self.dead = threading.Event()

    @staticmethod
    def op(environ: dict[str, Any]) -> str:
        m = _CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", ""))
        service = m.group(2) if m else "unsigned"
        if environ.get("HTTP_X_AMZ_TARGET"):
            return f"{service}:{environ['HTTP_X_AMZ_TARGET'].rsplit('.', 1)[-1]}"
        query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        if service == "s3" and "replication" in query:
            return "s3:GetBucketReplication"
        if service == "s3" and environ.get("PATH_INFO", "/") in ("", "/"):
            return "s3:ListBuckets"
        if service == "sts":
            return "sts:sts"
        return f"{service}:{environ['REQUEST_METHOD']}"

    def kill(self) -> None:
        if not self.dead.is_set():
            self.dead.set()
            self.server.shutdown()
            self.server.server_close()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        op = self.op(environ)
        with self._lock:
            self.requests += 1
            if op == "s3:GetBucketReplication":
                self.lookups += 1
            dying = self.die_after is not None and self.lookups >= self.die_after

        def close_after(status: str, headers: list[tuple[str, str]], *a: Any) -> Any:
            return start_response(status, [*headers, ("Connection", "close")], *a)

        if dying:
            threading.Thread(target=self.kill, daemon=True).start()
        if op in self.deny:
            body = b"<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>"
            close_after("403 Forbidden", [("Content-Type", "application/xml")])
            return [body]
        if op in self.garbage:
            close_after("200 OK", [("Content-Type", "application/xml")])
            return [b"<html><body>Gateway says hello"]
        return self.app(environ, close_after)


@pytest.fixture
def faulty(reset_moto_server: str) -> Iterator[_Faulty]:
    f = _Faulty()
    try:
        yield f
    finally:
        f.kill()


def _buckets(url: str, names_by_region: dict[str, list[str]]) -> None:
    for region, names in names_by_region.items():
        s3 = boto3.Session().client("s3", region_name=region, endpoint_url=url)
        kw: dict[str, Any] = {}
        if region != "us-east-1":
            kw["CreateBucketConfiguration"] = {"LocationConstraint": region}
        for name in names:
            s3.create_bucket(Bucket=name, **kw)


def _scan(url: str, *extra: str) -> tuple[int, str]:
    buf = io.StringIO()
    code = main(
        ["scan", "aws", "--endpoint-url", url, "--regions", "eu-central-1,us-east-1", "--services", "s3", *extra],
        stdout=buf,
    )
    return code, buf.getvalue()


# ---------------------------------------------------------------------- 1. a failed secondary read


def test_denied_replication_lookup_never_hides_a_known_violation(
    faulty: _Faulty, reset_moto_server: str, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    us = [f"us-{i:02d}" for i in range(11)]
    eu = ["eu-a", "eu-b"]
    _buckets(reset_moto_server, {"us-east-1": us, "eu-central-1": eu})
    faulty.deny.add("s3:GetBucketReplication")
    reports = {}
    for fmt in ("json", "junit", "sarif", "html"):
        out = tmp_path / f"r.{fmt}"
        code, _ = _scan(faulty.url, "--s3-replication", "all", "--no-history", "--format", fmt, "--output", str(out))
        assert code == 1, fmt  # the violations code, not 0
        reports[fmt] = out.read_text("utf-8")
    doc = json.loads(reports["json"])
    by_name = {f["name"]: f for f in doc["findings"]}
    for name in us:
        assert by_name[name]["status"] == "violation"
        assert "replication configuration unreadable: AccessDenied" in by_name[name]["error"]
        assert "not read" in by_name[name]["reason"]
    for name in eu:
        assert by_name[name]["status"] == "unknown"
    assert doc["summary"]["counts"]["violation"] == 11
    suite = ET.fromstring(reports["junit"]).find("testsuite")
    assert suite is not None
    assert suite.get("failures") == "11"
    assert suite.get("errors") == "2"
    sarif = json.loads(reports["sarif"])["runs"][0]["results"]
    assert sum(r["level"] == "error" for r in sarif) == 11
    assert reports["html"].count('<span class="tag violation">violation</span>') == 11
    # the gap is one line per kind of failure, not one per bucket
    assert doc["gaps"] == [
        "aws 123456789012 s3: 13 resources (e.g. arn:aws:s3:::eu-a): replication configuration unreadable: "
        "AccessDenied on GetBucketReplication: Access Denied"
    ]
    assert "could not read 2 resource(s), part of 11 violating resource(s)" in capsys.readouterr().err


# ---------------------------------------------------------------------- 2. a dead endpoint


def test_dead_endpoint_exits_3_with_names_kept_and_stops_early(
    faulty: _Faulty, reset_moto_server: str, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    names = [f"eu-{i:03d}" for i in range(120)]
    _buckets(reset_moto_server, {"eu-central-1": names})
    faulty.die_after = 6  # bucket names and regions are read; then it dies a few replication look-ups in
    out = tmp_path / "r.json"
    started = time.monotonic()
    code, _ = _scan(
        faulty.url,
        "--s3-replication",
        "all",
        "--no-history",
        "--max-attempts",
        "2",
        "--concurrency",
        "4",
        "--format",
        "json",
        "--output",
        str(out),
    )
    elapsed = time.monotonic() - started
    err = capsys.readouterr().err
    assert code == 3, err  # not 0: a scan that could not look never passes
    doc = json.loads(out.read_text("utf-8"))
    assert doc["summary"]["exit_code"] == 3
    assert re.search(r"could not read \d+ resource\(s\)", err)
    assert "exit 3 (--allow-unknown to accept)" in err
    findings = doc["findings"]
    # no wildcard ids for buckets whose names are known; what was not asked is one scope finding naming them
    assert not [f for f in findings if f["resource_id"].endswith(":*")]
    scope = [f for f in findings if f["resource_type"] == "scope"]
    assert len(scope) == 1
    assert "unreachable after 5 consecutive EndpointConnectionError" in scope[0]["error"]
    seen = {f["name"] for f in findings if f["resource_type"] == "bucket"} | {
        c.rsplit(":", 1)[-1] for c in scope[0]["covers"]
    }
    assert seen >= set(names)
    # bounded: the breaker stopped after a handful of refused calls instead of one per bucket
    unknown_rows = [f for f in findings if f["resource_type"] == "bucket" and f["status"] == "unknown"]
    assert len(unknown_rows) <= 5 + 4 + 4
    assert len(scope[0]["covers"]) >= 100
    assert elapsed < 60
    assert any("stopped asking early" in n for n in doc["notes"])
    # opting out keeps the report and exits 0
    faulty2 = _Faulty()
    try:
        faulty2.die_after = 6
        code, _ = _scan(
            faulty2.url, "--s3-replication", "all", "--no-history", "--max-attempts", "1", "--allow-unknown"
        )
        assert code == 0
        assert "accepted (unknowns allowed)" in capsys.readouterr().err
    finally:
        faulty2.kill()


def test_policy_can_allow_unknown_findings(
    faulty: _Faulty, reset_moto_server: str, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _buckets(reset_moto_server, {"eu-central-1": ["eu-only"]})
    faulty.deny.add("s3:GetBucketReplication")
    policy = tmp_path / "p.yaml"
    policy.write_text("version: 1\nname: lenient\nallow: EU\nunknown_findings: allow\n")
    assert _scan(faulty.url, "--no-history")[0] == 3
    assert _scan(faulty.url, "--no-history", "--policy", str(policy))[0] == 0
    assert _scan(faulty.url, "--no-history", "--fail-on-unknown")[0] == 3  # deprecated, no change
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nname: bad\nallow: EU\nunknown_findings: maybe\n")
    assert _scan(faulty.url, "--no-history", "--policy", str(bad))[0] == 2
    assert "key 'unknown_findings': expected one of fail, allow" in capsys.readouterr().err


# ---------------------------------------------------------------------- 3. a malformed answer


def test_non_xml_answer_is_unknown_for_what_it_touched(
    faulty: _Faulty, reset_moto_server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _buckets(reset_moto_server, {"eu-central-1": ["eu-x"], "us-east-1": ["us-x"]})
    faulty.garbage.add("s3:GetBucketReplication")
    code, out = _scan(faulty.url, "--no-history", "--s3-replication", "all", "--format", "json")
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert code == 1  # us-x is outside whatever its replication says
    by_name = {f["name"]: f for f in json.loads(out)["findings"]}
    assert by_name["us-x"]["status"] == "violation"
    # botocore reads an S3 200 whose body is not XML as a 500 (and retries it): unknown for that bucket
    assert by_name["eu-x"]["status"] == "unknown"
    assert "GetBucketReplication" in by_name["eu-x"]["error"]
    faulty.garbage.add("s3:ListBuckets")
    code, out = _scan(faulty.url, "--no-history", "--format", "json")
    assert code == 3
    assert "ListBuckets" in json.dumps(json.loads(out)["gaps"])
    assert "Traceback" not in capsys.readouterr().err


def test_non_xml_answer_to_everything_is_one_line_exit_2(faulty: _Faulty, capsys: pytest.CaptureFixture[str]) -> None:
    faulty.garbage.add("sts:sts")
    code, _ = _scan(faulty.url, "--no-history")
    err = capsys.readouterr().err
    assert code == 2
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("ProviderError: AWS credentials could not be used: ResponseParserError")


def test_unexpected_error_is_one_line_exit_2_never_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from residency import _cli_scan

    def boom(*a: Any, **k: Any) -> int:
        raise RuntimeError("something nobody expected\nsecond line")

    monkeypatch.setattr(_cli_scan, "run_cli_scan", boom)
    assert main(["scan", "aws", "--no-history"]) == 2
    err = capsys.readouterr().err
    assert err == "RuntimeError: something nobody expected (unexpected error; nothing was decided)\n"


# ---------------------------------------------------------------------- 4. history failures keep the report


def test_busy_history_waits_then_says_busy_and_keeps_the_report(
    faulty: _Faulty, reset_moto_server: str, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _buckets(reset_moto_server, {"us-east-1": ["busy-us"]})
    db = tmp_path / "h.sqlite"
    assert _scan(faulty.url, "--history", str(db))[0] == 1  # creates the database
    capsys.readouterr()
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        out = tmp_path / "r.json"
        started = time.monotonic()
        code, _ = _scan(
            faulty.url, "--history", str(db), "--history-timeout", "0.5", "--format", "json", "--output", str(out)
        )
        waited = time.monotonic() - started
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    err = capsys.readouterr().err
    assert code == 2
    assert waited >= 0.5
    assert err.count("\n") == 1
    assert "busy" in err
    assert "not usable" not in err
    assert "HistoryError" in err
    doc = json.loads(out.read_text("utf-8"))
    assert doc["summary"]["counts"]["violation"] == 1  # the report is there, with the scan's verdict
    assert any("NOT recorded in the history" in n for n in doc["notes"])


@pytest.fixture
def shared_dir() -> Iterator[pathlib.Path]:
    """A directory another user can reach (pytest's tmp_path is private to its owner)."""
    d = pathlib.Path(tempfile.mkdtemp(prefix="residency-ro-"))
    d.chmod(0o777)
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_read_only_history_keeps_the_report(reset_moto_server: str, shared_dir: pathlib.Path) -> None:
    _buckets(reset_moto_server, {"us-east-1": ["ro-us"]})
    db = shared_dir / "h.sqlite"
    url = reset_moto_server
    assert _scan(url, "--history", str(db))[0] == 1
    db.chmod(0o444)
    out = shared_dir / "r.json"
    env = {**os.environ, "AWS_ENDPOINT_URL": url}
    cmd = [sys.executable, "-m", "residency._cli", "scan", "aws", "--regions", "us-east-1", "--services", "s3"]
    cmd += ["--history", str(db), "--format", "json", "--output", str(out)]
    # root writes any file: run the CLI as nobody so the database is really read-only to it
    user = 65534 if os.geteuid() == 0 else None
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, user=user, timeout=120, check=False)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "read-only" in proc.stderr
    assert proc.stderr.count("\n") == 1
    assert json.loads(out.read_text("utf-8"))["summary"]["counts"]["violation"] == 1


# ---------------------------------------------------------------------- 10. history listing, progress


def test_history_lists_services_and_a_missing_database_is_an_error(
    reset_moto_server: str, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "h.sqlite"
    _scan(reset_moto_server, "--history", str(db))
    buf = io.StringIO()
    assert main(["history", "--history", str(db)], stdout=buf) == 0
    header, row = buf.getvalue().splitlines()[:2]
    assert "SERVICES" in header.split()
    assert " s3 " in f" {row} "
    missing = tmp_path / "nope.sqlite"
    assert main(["history", "--history", str(missing)], stdout=io.StringIO()) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"HistoryError: no history database at {missing}")
    assert not missing.exists()


def test_progress_on_a_terminal_for_every_format_counted_in_resources(
    reset_moto_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _buckets(reset_moto_server, {"eu-central-1": ["p-1", "p-2", "p-3"]})

    class _Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    for fmt in ("json", "sarif"):
        tty = _Tty()
        monkeypatch.setattr(sys, "stderr", tty)
        code, _ = _scan(reset_moto_server, "--no-history", "--format", fmt)
        assert code == 0
        assert "3 resources read" in tty.getvalue(), fmt


def test_report_on_an_opt_in_region_does_not_contradict_its_buckets(
    reset_moto_server: str, tmp_path: pathlib.Path
) -> None:
    _buckets(reset_moto_server, {"ap-east-1": ["hk-bucket"]})
    out = tmp_path / "r.html"
    buf = io.StringIO()
    argv = ["scan", "aws", "--endpoint-url", reset_moto_server, "--regions", "ap-east-1", "--no-history"]
    code = main([*argv, "--services", "s3", "--format", "html", "--output", str(out)], stdout=buf)
    assert code == 1  # the bucket in Hong Kong is read, and outside
    page = out.read_text("utf-8")
    assert "hk-bucket" in page
    assert "its resources cannot be read" not in page
    assert "its S3 buckets, listed through the global S3 endpoint, are reported" in page


def _dead_port() -> str:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"  # nothing listens there any more: every connection is refused


def test_gcp_dead_endpoint_stops_early_and_names_every_project() -> None:
    pytest.importorskip("google.auth")
    from residency._scan import run_scan

    projects = [f"proj-{i:02d}" for i in range(30)]
    result = run_scan("gcp", "eu", endpoint_url=_dead_port(), accounts=projects, services=["storage"], concurrency=2)
    assert result.exit_code() == 3
    assert all(f.status == "unknown" for f in result.findings)
    folded = [f for f in result.findings if f.resource_type == "scope"]  # one per project not asked
    assert all("unreachable after 5 consecutive ConnectionError" in (f.error or "") for f in folded)
    tried = {f.account for f in result.findings if f.resource_type != "scope"}
    assert len(tried) <= 5 + 2  # the threshold, and what was in flight
    assert tried | {c.removeprefix("projects/") for f in folded for c in f.covers} == set(projects)
    assert any("stopped asking early" in n for n in result.notes)
    assert len(result.gaps) <= 5 + 2 + 1  # the projects not asked are one line, not 23


def test_known_stays_known_in_the_shared_merge_rule() -> None:
    from residency import parse_policy
    from residency._findings import evaluate

    policy = parse_policy(
        {
            "version": 1,
            "name": "w",
            "allow": "EU",
            "waivers": [
                {"id": "old", "justification": "tracked", "expires": "2099-01-01", "resource": "arn:aws:s3:::waived"}
            ],
        }
    )

    def judge(region: str, resource: str = "arn:aws:s3:::b", unread: tuple[str, ...] = ("replicas: denied",)) -> Any:
        return evaluate(
            policy,
            provider="aws",
            account="1",
            service="s3",
            resource_type="bucket",
            resource_id=resource,
            placements=[(region, "bucket")],
            unread=list(unread),
        )

    outside, inside, waived = judge("us-east-1"), judge("eu-west-1"), judge("us-east-1", "arn:aws:s3:::waived")
    assert (outside.status, outside.error, outside.rule) == ("violation", "replicas: denied", "geography")
    assert (inside.status, inside.error, inside.rule) == ("unknown", "replicas: denied", "unreadable")
    assert [loc.code for loc in inside.locations] == ["eu-west-1"]  # what was read is kept
    assert waived.status == "unknown"  # a waiver covers what was read, not what could not be
    assert judge("eu-west-1", unread=()).status == "compliant"
    assert judge("us-east-1", unread=()).error is None


def test_azure_dead_endpoint_keeps_known_violations_and_folds_the_rest() -> None:
    """The real ``ResourceManagementClient`` against a port nobody listens on (azure-core retries off):
    the breaker stops the per-account look-ups, accounts in UK South stay violations on what the listing
    said, and the EU ones not asked are one finding naming each of them."""
    pytest.importorskip("azure.mgmt.resource")
    from azure.mgmt.resource.resources import ResourceManagementClient
    from residency.providers.azure import _scan as az
    from residency.providers.azure._fake_arm import FakeCredential

    from residency import load_policy
    from residency._breaker import CircuitBreaker

    dead = _dead_port()
    sub = "00000000-0000-0000-0000-0000000000d1"
    client = ResourceManagementClient(FakeCredential(), sub, base_url=dead, retry_total=0)
    breaker = CircuitBreaker()

    def account(name: str, where: str) -> Any:
        rid = f"/subscriptions/{sub}/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/{name}"
        return az.Resource(rid, name, "Microsoft.Storage/storageAccounts", where, sub, sku="Standard_LRS")

    resources = [account(f"eu{i:02d}", "westeurope") for i in range(30)] + [account("uk", "uksouth")]
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        watched = az._Watched(client, breaker, dead)
        found = list(breaker.fold(az._evaluate_subscription(pool, load_policy("eu"), resources, watched, None, True)))
    by_name = {f.name: f for f in found}
    assert by_name["uk"].status == "violation"
    assert "replicates failed" in (by_name["uk"].error or "")
    (folded,) = [f for f in found if f.resource_type == "scope"]
    assert "unreachable after 5 consecutive ServiceRequestError" in (folded.error or "")
    asked = [f for f in found if f.resource_type != "scope" and f.status == "unknown"]
    assert len(asked) <= 5 + 2
    assert {f.name for f in asked} | {c.rsplit("/", 1)[-1] for c in folded.covers} >= {r.name for r in resources[:30]}
