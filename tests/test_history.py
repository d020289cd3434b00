"""Scan history: new and resolved violations between two scans of the same scope; ``residency history``."""

from __future__ import annotations

import datetime as dt
import io
import json
import pathlib
from typing import Any

import boto3
import pytest

from residency._cli import main
from residency._findings import evaluate, unreadable
from residency._history import History, HistoryError, default_history_path
from residency._policy import load_policy


def _run(*argv: str) -> tuple[int, str]:
    buf = io.StringIO()
    code = main(list(argv), stdout=buf)
    return code, buf.getvalue()


def test_new_and_resolved_between_scans(reset_moto_server: str, tmp_path: pathlib.Path) -> None:
    url = reset_moto_server
    db = tmp_path / "h.sqlite"
    s3 = boto3.Session().client("s3", region_name="us-east-1", endpoint_url=url)
    s3.create_bucket(Bucket="hist-us-1")
    s3.create_bucket(Bucket="hist-us-2")
    scan = ("scan", "aws", "--endpoint-url", url, "--regions", "us-east-1", "--services", "s3", "--history", str(db))
    code, out = _run(*scan)
    assert code == 1
    assert "first scan of this scope" in out
    s3.delete_bucket(Bucket="hist-us-1")
    s3.create_bucket(Bucket="hist-us-3")
    code, out = _run(*scan, "--format", "json")
    doc = json.loads(out)
    assert doc["summary"]["previous_scan"] == 1
    assert doc["scan"]["id"] == 2
    assert {f["name"]: f["new"] for f in doc["findings"]} == {"hist-us-2": False, "hist-us-3": True}
    assert [r["resource_id"] for r in doc["resolved"]] == ["arn:aws:s3:::hist-us-1"]
    code, out = _run(*scan)
    assert "0 new, 0 resolved since scan #2" in out
    # another scope is compared with its own past only
    code, out = _run(
        "scan",
        "aws",
        "--endpoint-url",
        url,
        "--regions",
        "us-east-1,eu-west-1",
        "--services",
        "s3",
        "--history",
        str(db),
    )
    assert "first scan of this scope" in out

    code, out = _run("history", "--history", str(db))
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["ID", "FINISHED", "PROVIDER", "POLICY"]
    assert [ln.split()[0] for ln in lines[1:]] == ["4", "3", "2", "1"]
    code, out = _run("history", "--history", str(db), "--format", "json", "--limit", "1")
    (latest,) = json.loads(out)
    assert latest["id"] == 4
    assert latest["counts"]["violation"] == 2


def test_no_history_writes_nothing(
    reset_moto_server: str, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out = _run(
        "scan", "aws", "--endpoint-url", reset_moto_server, "--regions", "eu-west-1", "--services", "s3", "--no-history"
    )
    assert code == 0
    assert not (tmp_path / ".residency").exists()
    assert "first scan" not in out


def test_default_path_and_env(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RESIDENCY_HISTORY", raising=False)
    assert default_history_path() == pathlib.Path(".residency/history.sqlite")
    monkeypatch.setenv("RESIDENCY_HISTORY", str(tmp_path / "x.sqlite"))
    assert default_history_path() == tmp_path / "x.sqlite"
    assert _run("history")[0] == 2  # $RESIDENCY_HISTORY names a database that does not exist
    from residency._history import History

    History(tmp_path / "x.sqlite").close()
    assert _run("history")[1].startswith("no scans recorded")


def test_history_api_keeps_non_compliant_only() -> None:
    policy = load_policy("eu")

    def f(name: str, region: str) -> Any:
        return evaluate(
            policy,
            provider="aws",
            account="1",
            service="s3",
            resource_type="bucket",
            resource_id=f"arn:aws:s3:::{name}",
            placements=[(region, "bucket")],
        )

    now = dt.datetime.now(dt.timezone.utc)
    with History(":memory:") as h:
        sid, diff = h.record(
            scope_key="k",
            scope={"provider": "aws"},
            started=now,
            finished=now,
            counts={"violation": 1, "compliant": 1},
            exit_code=1,
            findings=[f("a", "us-east-1"), f("b", "eu-west-1")],
        )
        assert diff.previous is None
        rows = h._db.execute("SELECT key, status FROM findings").fetchall()
        assert rows == [("aws|1|arn:aws:s3:::a", "violation")]
        sid2, diff2 = h.record(
            scope_key="k", scope={}, started=now, finished=now, counts={}, exit_code=0, findings=[f("b", "eu-west-1")]
        )
        assert diff2.previous is not None
        assert diff2.previous.id == sid
        assert diff2.new == frozenset()
        assert [r["resource_id"] for r in diff2.resolved] == ["arn:aws:s3:::a"]
        assert [s.id for s in h.scans()] == [sid2, sid]


def _finding(name: str, region: str, account: str = "1") -> Any:
    return evaluate(
        load_policy("eu"),
        provider="aws",
        account=account,
        service="s3",
        resource_type="bucket",
        resource_id=f"arn:aws:s3:::{name}",
        region=region,
        placements=[(region, "bucket")],
    )


def _gap(account: str, region: str) -> Any:
    return unreadable(
        provider="aws",
        account=account,
        service="dynamodb",
        resource_type="dynamodb resources",
        resource_id=f"arn:aws:dynamodb:{region}:{account}:*",
        region=region,
        placements=[region] if region else [],
        error="AccessDeniedException on ListTables",
    )


def test_a_gap_in_the_scan_never_reads_as_a_fix() -> None:
    """Gone violations are resolved only where this scan could read: an unknown finding in the same
    account and region (or account-wide) makes them ``unverified``."""
    now = dt.datetime.now(dt.timezone.utc)
    first = [_finding("us-1", "us-east-1"), _finding("us-2", "us-west-2"), _finding("other", "us-east-1", "2")]
    with History(":memory:") as h:
        h.record(scope_key="k", scope={}, started=now, finished=now, counts={}, exit_code=1, findings=first)
        _, diff = h.record(
            scope_key="k",
            scope={},
            started=now,
            finished=now,
            counts={},
            exit_code=0,
            findings=[_gap("1", "us-east-1")],
        )
        assert [r["resource_id"] for r in diff.unverified] == ["arn:aws:s3:::us-1"]
        assert [r["resource_id"] for r in diff.resolved] == ["arn:aws:s3:::us-2", "arn:aws:s3:::other"]  # by key
        h.record(scope_key="j", scope={}, started=now, finished=now, counts={}, exit_code=1, findings=first)
        _, diff = h.record(
            scope_key="j", scope={}, started=now, finished=now, counts={}, exit_code=0, findings=[_gap("2", "")]
        )
        assert [r["resource_id"] for r in diff.unverified] == ["arn:aws:s3:::other"]  # account-wide gap


def test_databases_from_before_the_region_column_still_work(tmp_path: pathlib.Path) -> None:
    import sqlite3

    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE scans (id INTEGER PRIMARY KEY AUTOINCREMENT, scope_key TEXT NOT NULL, scope TEXT NOT NULL,"
        " started TEXT NOT NULL, finished TEXT NOT NULL, counts TEXT NOT NULL, exit_code INTEGER NOT NULL);"
        "CREATE TABLE findings (scan_id INTEGER NOT NULL, key TEXT NOT NULL, status TEXT NOT NULL,"
        " account TEXT NOT NULL, service TEXT NOT NULL, resource_type TEXT NOT NULL, resource_id TEXT NOT NULL,"
        " locations TEXT NOT NULL, reason TEXT NOT NULL, PRIMARY KEY (scan_id, key));"
        "INSERT INTO scans VALUES (1, 'k', '{}', 't', 't', '{}', 1);"
        "INSERT INTO findings VALUES (1, 'aws|1|arn:aws:s3:::a', 'violation', '1', 's3', 'bucket', 'arn:aws:s3:::a',"
        " 'us-east-1', 'US');"
    )
    db.commit()
    db.close()
    now = dt.datetime.now(dt.timezone.utc)
    with History(path) as h:
        _, diff = h.record(scope_key="k", scope={}, started=now, finished=now, counts={}, exit_code=0, findings=[])
    assert diff.previous is not None
    assert [r["resource_id"] for r in diff.resolved] == ["arn:aws:s3:::a"]


def test_unusable_history_is_one_line_and_exit_2(
    reset_moto_server: str, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    junk = tmp_path / "junk.sqlite"
    junk.write_text("not a database")
    scan = ("scan", "aws", "--endpoint-url", reset_moto_server, "--regions", "eu-west-1", "--services", "s3")
    for path in (str(junk), str(tmp_path), "/proc/no/such/dir/h.sqlite"):
        assert _run(*scan, "--history", path)[0] == 2
        err = capsys.readouterr().err
        assert err.startswith("HistoryError: "), err
        assert len(err.strip().splitlines()) == 1
    assert _run("history", "--history", str(junk))[0] == 2
    assert capsys.readouterr().err.startswith("HistoryError: ")
    missing = tmp_path / "never.sqlite"
    assert _run("history", "--history", str(missing)) == (2, "")  # not "no scans recorded": there is no database
    assert capsys.readouterr().err.startswith(f"HistoryError: no history database at {missing}")
    assert not missing.exists()  # listing never creates a database
    with pytest.raises(HistoryError):
        History(junk)


def test_org_and_accounts_history_follow_what_was_asked(reset_moto_server: str, tmp_path: pathlib.Path) -> None:
    url = reset_moto_server
    db = tmp_path / "org.sqlite"
    org = boto3.Session().client("organizations", region_name="us-east-1", endpoint_url=url)
    org.create_organization(FeatureSet="ALL")
    scan = ("scan", "aws", "--endpoint-url", url, "--regions", "eu-west-1", "--services", "s3", "--org")
    _run(*scan, "--history", str(db), "--format", "json")
    org.create_account(Email="new@example.com", AccountName="new")  # the organization grows
    _, out = _run(*scan, "--history", str(db), "--format", "json")
    doc = json.loads(out)
    assert doc["summary"]["previous_scan"] == 1
    assert doc["scan"]["scope"]["target"] == "org"
    assert len(doc["scan"]["scope"]["accounts"]) == 2
