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
from residency._findings import evaluate
from residency._history import History, default_history_path
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
