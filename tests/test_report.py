"""Every report format, from a synthetic scan (no cloud): SARIF against the vendored 2.1.0 schema,
JUnit parsed back, HTML parsed and checked, JSON against its documented shape."""

from __future__ import annotations

import datetime as dt
import html.parser
import io
import json
import pathlib
import re
import urllib.parse
import xml.etree.ElementTree as ET
from typing import Any, ClassVar

import jsonschema
import pytest

from residency import parse_policy
from residency._findings import evaluate, unreadable
from residency._history import Diff, ScanRecord
from residency._report import FORMATS, Report, rule_id, write_report
from residency._scan import FindingSpool, ScanResult, Scope

DATA = pathlib.Path(__file__).parent / "data"
T0 = dt.datetime(2026, 5, 4, 3, 2, 1, tzinfo=dt.timezone.utc)

POLICY = parse_policy(
    {
        "name": "team",
        "allow": "EU",
        "data_classes": {"classes": {"health": {"allow": ["DE"], "description": "Patient data"}}},
        "waivers": [
            {
                "id": "legacy",
                "justification": "DPO-42 <migration>",
                "expires": "2099-03-31",
                "resource": "arn:aws:s3:::legacy*",
            },
            {"id": "old", "justification": "gone", "expires": "2020-01-01", "provider": "aws"},
        ],
    },
    source="team.yaml",
)


def _findings() -> list[Any]:
    def f(rid: str, *placements: tuple[str, str], service: str = "s3", tags: dict[str, str] | None = None) -> Any:
        return evaluate(
            POLICY,
            provider="aws",
            account="123456789012",
            service=service,
            resource_type="bucket" if service == "s3" else "table",
            resource_id=rid,
            region=placements[0][0],
            name=rid.rsplit(":", 1)[-1],
            placements=list(placements),
            tags=tags,
            today=dt.date(2026, 5, 4),
        )

    return [
        f("arn:aws:s3:::us-data", ("us-east-1", "bucket")),
        f("arn:aws:s3:::uk-data", ("eu-west-2", "bucket")),
        f("arn:aws:s3:::eu-repl", ("eu-west-1", "bucket"), ("us-west-2", "replication destination")),
        f("arn:aws:s3:::health-fr", ("eu-west-3", "bucket"), tags={"data-class": "health"}),
        f("arn:aws:s3:::legacy-us", ("us-east-1", "bucket")),
        f(
            "arn:aws:s3:::eu-data",
            ("eu-central-1", "bucket"),
            tags={"team": "a&b", "owner": "<script>alert(1)</script>"},
        ),
        f("arn:aws:dynamodb:eu-west-1:123456789012:table/t", ("eu-west-1", "table"), service="dynamodb"),
        unreadable(
            provider="aws",
            account="123456789012",
            service="dynamodb",
            resource_type="dynamodb resources",
            resource_id="arn:aws:dynamodb:eu-north-1:123456789012:*",
            region="eu-north-1",
            placements=["eu-north-1"],
            error="AccessDeniedException on ListTables: not allowed\x01",
        ),
    ]


def _report(**kw: Any) -> Report:
    findings = _findings()
    order = {"violation": 0, "unknown": 1, "waived": 2, "compliant": 3}
    findings.sort(key=lambda x: order[x.status])
    result = ScanResult(
        scope=Scope("aws", "team", ("123456789012",), ("us-east-1", "eu-west-1"), None),
        findings=findings,
        gaps=["aws 123456789012/eu-north-1 dynamodb ...: AccessDenied"],
        notes=["a note"],
        started=T0,
        finished=T0 + dt.timedelta(seconds=3),
    )
    return Report.from_result(result, POLICY, **kw)


def _render(report: Report, fmt: str) -> str:
    buf = io.StringIO()
    write_report(report, fmt, buf)
    return buf.getvalue()


def _past(name: str) -> dict[str, str]:
    return {
        "key": f"aws|123456789012|arn:aws:s3:::{name}",
        "account": "123456789012",
        "service": "s3",
        "resource_type": "bucket",
        "resource_id": f"arn:aws:s3:::{name}",
        "locations": "us-east-1",
        "reason": "was US",
    }


def _diff() -> Diff:
    prev = ScanRecord(7, "k", {}, T0.isoformat(), T0.isoformat(), {}, 1)
    return Diff(
        prev,
        frozenset({"aws|123456789012|arn:aws:s3:::uk-data"}),
        (_past("fixed"),),
        (_past("unseen"),),
    )


def test_statuses_of_the_synthetic_scan() -> None:
    statuses = {f.resource_id.rsplit(":", 1)[-1]: f.status for f in _findings()}
    assert statuses == {
        "us-data": "violation",
        "uk-data": "violation",
        "eu-repl": "violation",
        "health-fr": "violation",
        "legacy-us": "waived",
        "eu-data": "compliant",
        "table/t": "compliant",
        "*": "unknown",
    }


def test_sarif_validates_against_the_2_1_0_schema() -> None:
    schema = json.loads((DATA / "sarif-schema-2.1.0.json").read_text("utf-8"))
    doc = json.loads(_render(_report(diff=_diff()), "sarif"))
    jsonschema.Draft4Validator(schema).validate(doc)
    (run,) = doc["runs"]
    rules = [r["id"] for r in run["tool"]["driver"]["rules"]]
    assert rules[:2] == ["residency/geography", "residency/data-class/health"]
    results = run["results"]
    assert len(results) == 6  # 4 violations, 1 unknown, 1 waived; compliant resources are not results
    by_uri = {r["properties"]["resourceId"]: r for r in results}
    health = by_uri["arn:aws:s3:::health-fr"]
    assert health["ruleId"] == "residency/data-class/health"
    assert rules[health["ruleIndex"]] == health["ruleId"]
    assert health["level"] == "error"
    waived = by_uri["arn:aws:s3:::legacy-us"]
    assert waived["suppressions"][0]["status"] == "accepted"
    assert "legacy" in waived["suppressions"][0]["justification"]
    assert by_uri["arn:aws:dynamodb:eu-north-1:123456789012:*"]["ruleId"] == "residency/unreadable"
    assert by_uri["arn:aws:s3:::uk-data"]["properties"]["new"] is True
    assert all(r["partialFingerprints"]["residencyFinding/v1"] for r in results)
    assert run["invocations"][0]["exitCode"] == 1


def test_sarif_meets_github_code_scanning_requirements() -> None:
    """What GitHub code scanning needs beyond the schema (its upload checks, sarif-sdk rules GH1001-GH1007):
    one location per result with a relative ``artifactLocation.uri`` (absolute non-``file:`` URIs such as an
    ARN are not shown) and a ``region.startLine``; a flat ``message.text``; stable ``partialFingerprints``;
    rule ids that resolve; ``security-severity`` on rules tagged ``security``."""
    doc = json.loads(_render(_report(), "sarif"))
    (run,) = doc["runs"]
    rules = run["tool"]["driver"]["rules"]
    assert len({r["id"] for r in rules}) == len(rules)
    for rule in rules:
        assert rule["shortDescription"]["text"]
        assert rule["fullDescription"]["text"]
        if rule["defaultConfiguration"]["level"] != "note":
            assert 0 < float(rule["properties"]["security-severity"]) <= 10
    uris = set()
    for result in run["results"]:
        assert result["message"]["text"]
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        (loc,) = result["locations"]
        physical = loc["physicalLocation"]
        uri = physical["artifactLocation"]["uri"]
        parsed = urllib.parse.urlsplit(uri)
        assert (parsed.scheme, parsed.netloc, uri[:1]) == ("", "", uri[:1].strip("/")), uri
        assert uri == urllib.parse.quote(urllib.parse.unquote(uri), safe="/-._~@+=,%"), uri
        assert physical["region"]["startLine"] >= 1
        assert loc["logicalLocations"][0]["fullyQualifiedName"] == result["properties"]["resourceId"]
        uris.add(uri)
    assert len(uris) == len(run["results"])  # one alert per resource
    by_id = {r["properties"]["resourceId"]: r for r in run["results"]}
    table = by_id["arn:aws:dynamodb:eu-north-1:123456789012:*"]["locations"][0]["physicalLocation"]
    assert table["artifactLocation"]["uri"] == "aws/123456789012/dynamodb/dynamodb%20resources/eu-north-1/%2A"
    bucket = by_id["arn:aws:s3:::us-data"]["locations"][0]["physicalLocation"]
    assert bucket["artifactLocation"]["uri"] == "aws/123456789012/s3/bucket/us-data"
    category = run["automationDetails"]["id"]
    assert re.fullmatch(r"residency/aws/team/[0-9a-f]{12}/", category)
    other = ScanResult(Scope("aws", "team", ("210987654321",), None, None), [], [], [], T0, T0)
    other_run = json.loads(_render(Report.from_result(other, POLICY), "sarif"))["runs"][0]
    assert other_run["automationDetails"]["id"] != category  # another account, another GitHub category
    again = json.loads(_render(_report(), "sarif"))["runs"][0]["results"]
    assert [r["partialFingerprints"] for r in again] == [r["partialFingerprints"] for r in run["results"]]


def test_junit_parses_back() -> None:
    root = ET.fromstring(_render(_report(), "junit"))
    suite = root.find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors"), suite.get("skipped")) == (
        "8",
        "4",
        "1",
        "1",
    )
    cases = suite.findall("testcase")
    assert len(cases) == 8
    failures = {c.get("name"): c.find("failure") for c in cases if c.find("failure") is not None}
    assert set(failures) == {
        "arn:aws:s3:::us-data",
        "arn:aws:s3:::uk-data",
        "arn:aws:s3:::eu-repl",
        "arn:aws:s3:::health-fr",
    }
    assert "us-west-2" in (failures["arn:aws:s3:::eu-repl"].text or "")
    assert "outside EU" in (failures["arn:aws:s3:::us-data"].get("message") or "")
    assert sum(1 for c in cases if c.find("error") is not None) == 1
    assert sum(1 for c in cases if c.find("skipped") is not None) == 1
    classes = {c.get("name"): c.get("classname") for c in cases}
    assert classes["arn:aws:s3:::us-data"] == "aws.123456789012.s3.bucket"
    assert len({(c.get("classname"), c.get("name")) for c in cases}) == len(cases)  # one case per resource


class _Checker(html.parser.HTMLParser):
    VOID: ClassVar[set[str]] = {"meta", "br", "rect", "link", "img", "input", "hr"}

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.seen: set[str] = set()
        self.text: list[str] = []
        self.external: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.seen.add(tag)
        for k, v in attrs:
            if k in ("src", "href") and v and not v.startswith("#"):
                self.external.append(v)
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.seen.add(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self.VOID:
            return
        assert self.stack, f"</{tag}> closes nothing"
        assert self.stack[-1] == tag, f"</{tag}> closes <{self.stack[-1]}>"
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_html_is_self_contained_and_complete() -> None:
    page = _render(_report(diff=_diff()), "html")
    checker = _Checker()
    checker.feed(page)
    checker.close()
    assert checker.stack == []
    assert {"svg", "table", "style"} <= checker.seen
    assert "script" not in checker.seen
    assert checker.external == []
    text = " ".join(checker.text)
    for expected in (
        "Violations (4)",
        "United States (US)",
        "United Kingdom",
        "outside",
        "legacy",
        "2099-03-31",
        "EXPIRED",
        "DPO-42 <migration>",
        "Resolved since scan #7",
        "arn:aws:s3:::fixed",
        "NEW",
        "AccessDeniedException",
        "team=a&b",
        "owner=<script>alert(1)</script>",
        "not verified resolved",
        "arn:aws:s3:::unseen",
    ):
        assert expected in text, expected
    assert "<script" not in page.lower()  # the tag value is text, never markup
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert not re.search(r"(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", page.replace("http://www.w3.org/2000/svg", ""))


def test_json_report_shape() -> None:
    doc = json.loads(_render(_report(diff=_diff(), scan_id=8), "json"))
    assert doc["format"] == "eu-residency-scan"
    assert doc["version"] == 1
    assert doc["scan"]["id"] == 8
    assert doc["summary"]["counts"] == {"violation": 4, "unknown": 1, "waived": 1, "compliant": 2}
    assert doc["summary"]["new_violations"] == 1
    assert doc["summary"]["previous_scan"] == 7
    assert doc["summary"]["exit_code"] == 1
    assert doc["summary"]["countries"]["US"] == {"violation": 2, "waived": 1}
    statuses = [f["status"] for f in doc["findings"]]
    assert statuses == sorted(statuses, key=["violation", "unknown", "waived", "compliant"].index)
    first = doc["findings"][0]
    assert set(first) >= {
        "provider",
        "account",
        "service",
        "resource_type",
        "resource_id",
        "locations",
        "status",
        "reason",
        "tags",
        "new",
    }
    assert first["locations"][0]["countries"]
    assert doc["resolved"][0]["resource_id"] == "arn:aws:s3:::fixed"
    assert [r["resource_id"] for r in doc["unverified"]] == ["arn:aws:s3:::unseen"]
    assert doc["summary"]["unverified_resolutions"] == 1
    assert [w["id"] for w in doc["waivers"]] == ["legacy", "old"]
    assert doc["waivers"][1]["expired"] is True
    schema = json.loads((DATA / "report-json.schema.json").read_text("utf-8"))
    jsonschema.Draft202012Validator(schema).validate(doc)


def test_table_violations_first_and_new_marked() -> None:
    text = _render(_report(diff=_diff()), "table")
    lines = text.splitlines()
    assert lines[1].startswith(
        "8 resource(s): 4 violation, 1 unknown, 1 waived, 2 compliant; 1 new, 1 resolved since scan #7"
    )
    rows = [ln for ln in lines if ln.startswith(("VIOLATION", "UNKNOWN", "WAIVED", "COMPLIANT"))]
    assert [r.split()[0] for r in rows] == ["VIOLATION"] * 4 + ["UNKNOWN", "WAIVED", "COMPLIANT", "COMPLIANT"]
    assert any(r.startswith("VIOLATION NEW") and "uk-data" in r for r in rows)
    assert "Resolved since scan #7" in text
    assert "(1 more no longer seen but not verified)" in lines[1]
    assert "NOT verified resolved" in text
    assert "arn:aws:s3:::unseen" in text
    assert "old (EXPIRED, expires 2020-01-01)" in text


def test_spool_streams_violations_first_and_counts_countries() -> None:
    with FindingSpool() as spool:
        for f in reversed(_findings()):
            spool.add(f)
        assert spool.total == 8
        assert [f.status for f in spool][:4] == ["violation"] * 4
        assert [f.status for f in spool][-2:] == ["compliant"] * 2
        assert spool.countries["US"]["violation"] == 2
        assert len(list(spool.non_compliant())) == 6
        assert len(spool.gaps) == 1


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_writes_an_empty_scan(fmt: str) -> None:
    result = ScanResult(Scope("aws", "eu", (), None, None), [], [], [], T0, T0)
    out = _render(Report.from_result(result, POLICY), fmt)
    assert out.strip()
    if fmt in ("json", "sarif"):
        json.loads(out)
    if fmt == "junit":
        ET.fromstring(out)


def test_rule_ids() -> None:
    by_name = {f.resource_id.rsplit(":", 1)[-1]: f for f in _findings()}
    assert rule_id(by_name["health-fr"], POLICY) == "residency/data-class/health"
    assert rule_id(by_name["legacy-us"], POLICY) == "residency/geography"
    assert rule_id(by_name["us-data"], POLICY) == "residency/geography"
    assert rule_id(by_name["*"], POLICY) == "residency/unreadable"
