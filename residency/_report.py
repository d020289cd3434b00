"""Scan reports: ``table``, ``json``, ``sarif``, ``junit`` and ``html``.

Every writer takes a :class:`Report` and a text stream and reads the findings
once, violations first, so a report of any size is written while the findings
stream back from the scan's spool (memory stays flat). Shared by every
provider's scan.

* ``table`` — for a terminal: counts per status, violations first, new ones
  marked ``NEW``, what was resolved since the previous scan, what could not be read;
* ``json`` — stable and documented in ``docs/report-json.md`` (``"version": 1``);
* ``sarif`` — SARIF 2.1.0 for GitHub code scanning: one rule per policy rule,
  one result per non-compliant resource with the resource as its location —
  a logical location named by the ARN/id, and the physical location GitHub
  requires (a relative ``artifactLocation.uri`` such as
  ``aws/123456789012/s3/bucket/acme-us`` with ``region.startLine`` 1; GitHub
  shows only results located by a relative path or ``file:`` URI and a line),
  a stable ``partialFingerprints`` entry; waived results carry an accepted suppression;
* ``junit`` — JUnit XML: one test case per resource, a ``<failure>`` per
  violation, an ``<error>`` per unknown, ``<skipped>`` per waived;
* ``html`` — a self-contained page for an auditor (:mod:`residency._report_html`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, TextIO
from xml.sax.saxutils import escape, quoteattr

import attrs

from ._errors import ReportError
from ._findings import FINDING_STATUSES, Finding
from ._history import Diff
from ._policy import Policy
from ._scan import FindingSpool, Gaps, ScanResult, Scope, exit_code

__all__ = ["FORMATS", "Report", "ReportError", "rule_id", "write_report"]

FORMATS = ("table", "json", "sarif", "junit", "html")

TOOL_NAME = "eu-residency"
TOOL_URI = "https://pypi.org/project/eu-residency/"
JSON_FORMAT_VERSION = 1


def _version() -> str:
    from . import __version__

    return __version__


@attrs.define
class Report:
    """A finished scan, ready to be written in any format.

    ``source`` gives the findings again on each call (violations, unknown,
    waived, compliant); ``diff`` is ``None`` when history is off.
    ``allow_unknown`` (``--allow-unknown``, or the policy's ``unknown_findings:
    allow``) makes a report whose only problems are unknowns exit 0 instead of 3;
    ``unseen`` is the one sentence saying how much could not be read.
    ``fail_on_unknown`` is kept for callers of the earlier API and changes
    nothing: failing on unknowns is the default.
    """

    scope: Scope
    policy: Policy
    started: dt.datetime
    finished: dt.datetime
    counts: Mapping[str, int]
    source: Callable[[], Iterable[Finding]]
    countries: Mapping[str, Mapping[str, int]] = attrs.field(factory=dict)
    gaps: Sequence[str] = ()
    notes: Sequence[str] = ()
    evidence: Sequence[Mapping[str, Any]] = ()
    diff: Diff | None = None
    scan_id: int | None = None
    fail_on_unknown: bool = False
    #: finding key -> (file relative to the repository, line) of its source block (plans with --config-dir)
    source_locations: Mapping[str, tuple[str, int]] = attrs.field(factory=dict)
    allow_unknown: bool = False
    unseen: str = ""

    @classmethod
    def from_result(cls, result: ScanResult, policy: Policy, **kw: Any) -> Report:
        countries: dict[str, dict[str, int]] = {}
        for f in result.findings:
            for c in f.countries or ("??",):
                countries.setdefault(c, {}).setdefault(f.status, 0)
                countries[c][f.status] += 1
        return cls(
            scope=result.scope,
            policy=policy,
            started=result.started,
            finished=result.finished,
            counts=result.counts,
            source=lambda: result.findings,
            countries=countries,
            gaps=result.gaps,
            notes=result.notes,
            evidence=result.evidence,
            unseen=Gaps().extend(result.findings).summary(),
            **{"source_locations": result.source_locations, "allow_unknown": result.allow_unknown, **kw},
        )

    @classmethod
    def from_spool(
        cls,
        spool: FindingSpool,
        *,
        scope: Scope,
        policy: Policy,
        started: dt.datetime,
        finished: dt.datetime,
        notes: Sequence[str] = (),
        evidence: Sequence[Mapping[str, Any]] = (),
        **kw: Any,
    ) -> Report:
        return cls(
            scope=scope,
            policy=policy,
            started=started,
            finished=finished,
            counts=dict(spool.counts),
            source=lambda: spool,
            countries={c: dict(v) for c, v in spool.countries.items()},
            gaps=list(spool.gaps),
            notes=list(notes),
            evidence=[dict(e) for e in evidence],
            unseen=spool.gap_lines.summary(),
            **kw,
        )

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def unknown_allowed(self) -> bool:
        return self.allow_unknown or self.policy.unknown_findings == "allow"

    @property
    def exit_code(self) -> int:
        """0 clean, 1 violations, 3 unknowns unless allowed (:func:`residency._scan.exit_code`)."""
        return exit_code(self.counts, allow_unknown=self.unknown_allowed)

    def findings(self) -> Iterator[Finding]:
        return iter(self.source())

    def is_new(self, f: Finding) -> bool:
        return bool(self.diff and self.diff.previous and f.status == "violation" and f.key in self.diff.new)

    @property
    def new_count(self) -> int:
        return len(self.diff.new) if self.diff and self.diff.previous else 0

    @property
    def resolved(self) -> Sequence[Mapping[str, Any]]:
        return self.diff.resolved if self.diff else ()

    @property
    def unverified(self) -> Sequence[Mapping[str, Any]]:
        """Previous violations gone from this scan where it could not read (not counted as resolved)."""
        return self.diff.unverified if self.diff else ()

    def summary_line(self) -> str:
        c = self.counts
        parts = [f"{c.get(s, 0)} {s}" for s in FINDING_STATUSES]
        line = f"{self.total} resource(s): " + ", ".join(parts)
        if self.diff is not None and self.diff.previous is not None:
            line += f"; {self.new_count} new, {len(self.resolved)} resolved since scan #{self.diff.previous.id}"
            if self.unverified:
                line += f" ({len(self.unverified)} more no longer seen but not verified)"
        elif self.diff is not None:
            line += "; first scan of this scope"
        return line

    def waivers(self) -> list[dict[str, Any]]:
        today = self.finished.date()
        return [
            {
                "id": w.id,
                "justification": w.justification,
                "expires": w.expires.isoformat() if w.expires else None,
                "expired": not w.active(today),
                "approved_by": w.approved_by,
                "selector": {
                    k: v
                    for k, v in {
                        "provider": w.provider,
                        "resource": w.resource,
                        "location": w.location,
                        "tags": dict(w.tags) or None,
                    }.items()
                    if v
                },
            }
            for w in self.policy.waivers
        ]


def rule_id(f: Finding, policy: Policy) -> str:
    """The SARIF rule id of the policy rule that decided ``f``."""
    rule = f.rule
    if rule.startswith("waiver"):
        rule = policy.geography_for(f.tags)[1]
    if rule == "unreadable":
        return "residency/unreadable"
    if rule.startswith("data-class"):
        m = re.match(r"data-class '([^']*)'", rule)
        return f"residency/data-class/{m.group(1) if m else 'unknown'}"
    if rule.startswith("locations.deny"):
        return "residency/locations-deny"
    if rule.startswith("locations.allow"):
        return "residency/locations-allow"
    if rule.startswith("unknown_locations"):
        return "residency/unknown-location"
    return "residency/geography"


def _locs(f: Finding) -> str:
    return ",".join(loc.code for loc in f.locations) or "?"


def guardrail_lines(f: Finding) -> list[str]:
    """For a ``guardrail`` finding: the policy chain that decided (root first) and the exempt principals."""
    if f.kind != "guardrail":
        return []
    lines = [f"chain: {step}" for step in f.details.get("chain") or ()]
    lines += [f"exempt: {e}" for e in f.details.get("exempt") or ()]
    return lines


# ---------------------------------------------------------------------- table


def _header(report: Report) -> str:
    s = report.scope
    if s.plans is not None:
        what = "every resource" if any(p.get("all_resources") for p in s.plans) else "changes only"
        return (
            f"eu-residency plan: {', '.join(s.accounts)} ({what}), policy '{report.policy.name}' "
            f"(allow {report.policy.geography.name})"
        )
    regions = ", ".join(s.regions) if s.regions else "all enabled"
    accounts = ", ".join(s.accounts) or "none readable"
    return (
        f"eu-residency scan: {s.provider}, policy '{report.policy.name}' (allow {report.policy.geography.name}), "
        f"account(s) {accounts}, regions: {regions}"
    )


def write_table(report: Report, out: TextIO, *, compliant_rows: int = 25) -> None:
    """A terminal table: summary, then violations first, one row per resource."""
    out.write(_header(report) + "\n")
    out.write(report.summary_line() + "\n\n")
    shown_compliant = 0
    rows: list[list[str]] = [["STATUS", "SERVICE", "RESOURCE", "LOCATIONS", "COUNTRIES", "REASON"]]

    def flush() -> None:
        widths = [max(len(r[i]) for r in rows) for i in range(5)]
        for r in rows:
            out.write("  ".join(c.ljust(w) for c, w in zip(r[:5], widths, strict=True)) + "  " + r[5] + "\n")
        rows.clear()

    for f in report.findings():
        if f.status == "compliant":
            shown_compliant += 1
            if shown_compliant > compliant_rows:
                continue
        status = f.status.upper() + (" NEW" if report.is_new(f) else "")
        countries = ",".join(f.countries) if len(f.countries) <= 6 else f"{len(f.countries)} countries"
        locs = _locs(f) if len(f.locations) <= 6 else f"{len(f.locations)} locations"
        what = f"{f.resource_type} {f.resource_id}" if f.kind == "guardrail" else f.name or f.resource_id
        rows.append([status, f.service, what, locs, countries or "?", f.reason])
        if len(rows) >= 200:  # stream in blocks; columns align within a block
            flush()
    if len(rows) > 1 or (rows and rows[0][0] != "STATUS"):
        flush()
    hidden = shown_compliant - compliant_rows
    if hidden > 0:
        out.write(f"... and {hidden} more compliant resource(s) (--format json lists them all)\n")
    if report.resolved:
        prev = report.diff.previous if report.diff else None
        out.write(f"\nResolved since scan #{prev.id if prev else '?'}:\n")
        for r in report.resolved:
            out.write(f"  {r['resource_id']} ({r['locations']}): was {r['reason']}\n")
    if report.unverified:
        out.write("\nNo longer seen, but NOT verified resolved (this scan could not read their account/region):\n")
        for r in report.unverified:
            out.write(f"  {r['resource_id']} ({r['locations']}): was {r['reason']}\n")
    if report.gaps:
        out.write("\nCould not read:\n")
        for g in report.gaps:
            out.write(f"  {g}\n")
    if report.notes:
        out.write("\nNotes:\n")
        for n in report.notes:
            out.write(f"  {n}\n")
    waivers = report.waivers()
    if waivers:
        out.write("\nWaivers:\n")
        for w in waivers:
            state = "EXPIRED" if w["expired"] else "active"
            out.write(f"  {w['id']} ({state}, expires {w['expires']}): {w['justification']}\n")


# ---------------------------------------------------------------------- json


def write_json(report: Report, out: TextIO) -> None:
    """The documented JSON report (``docs/report-json.md``), findings streamed one per line."""
    head = {
        "format": "eu-residency-scan",
        "version": JSON_FORMAT_VERSION,
        "tool": {"name": TOOL_NAME, "version": _version()},
        "scan": {
            "id": report.scan_id,
            "started": report.started.isoformat(),
            "finished": report.finished.isoformat(),
            "scope": report.scope.to_dict(),
        },
        "policy": {
            "name": report.policy.name,
            "source": report.policy.source,
            "allow": report.policy.geography.name,
            "countries": sorted(report.policy.geography.countries),
        },
        "summary": {
            "total": report.total,
            "counts": {s: report.counts.get(s, 0) for s in FINDING_STATUSES},
            "exit_code": report.exit_code,
            "previous_scan": report.diff.previous.id if report.diff and report.diff.previous else None,
            "new_violations": report.new_count,
            "resolved_violations": len(report.resolved),
            "unverified_resolutions": len(report.unverified),
            "countries": {c: dict(v) for c, v in sorted(report.countries.items())},
        },
    }
    text = json.dumps(head, indent=1, ensure_ascii=False)
    out.write(text[: text.rstrip().rfind("}")].rstrip() + ',\n "findings": [')
    first = True
    for f in report.findings():
        d = f.to_dict()
        d["new"] = report.is_new(f)
        out.write(("\n  " if first else ",\n  ") + json.dumps(d, ensure_ascii=False, sort_keys=True))
        first = False
    tail = {
        "resolved": [dict(r) for r in report.resolved],
        "unverified": [dict(r) for r in report.unverified],
        "gaps": list(report.gaps),
        "notes": list(report.notes),
        "evidence": [dict(e) for e in report.evidence],
        "waivers": report.waivers(),
    }
    out.write("\n ],\n")
    body = json.dumps(tail, indent=1, ensure_ascii=False)
    out.write(body[1:].lstrip("\n") + "\n")


# ---------------------------------------------------------------------- sarif

_SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL = {"violation": "error", "unknown": "warning", "waived": "error"}
_SEVERITY = {"error": "7.5", "warning": "5.0"}


def _sarif_rules(policy: Policy) -> list[dict[str, Any]]:
    geo = policy.geography
    rules = [
        (
            "residency/geography",
            "DataOutsideGeography",
            f"Data must stay in {geo.name}",
            f"Every place a resource's data lands must be in {geo.name} "
            f"({', '.join(sorted(geo.countries)) or 'anywhere'}) under policy '{policy.name}'.",
            "error",
        )
    ]
    for name, rule in policy.data_classes.items():
        rules.append(
            (
                f"residency/data-class/{name}",
                f"DataClass_{re.sub(r'[^A-Za-z0-9]', '_', name)}",
                f"Data class '{name}' must stay in {rule.geography.name}",
                f"Resources tagged {policy.data_class_tag}={name} may only hold data in {rule.geography.name}."
                + (f" {rule.description}" if rule.description else ""),
                "error",
            )
        )
    rules += [
        (
            "residency/locations-deny",
            "LocationDeniedByName",
            "Location denied by name",
            "The policy's locations.deny list names this location.",
            "error",
        ),
        (
            "residency/locations-allow",
            "LocationAllowedByName",
            "Location allowed by name",
            "The policy's locations.allow list names this location.",
            "note",
        ),
        (
            "residency/unknown-location",
            "UnknownLocation",
            "Location with no known country",
            "The location catalog cannot say which country holds the data; unknown locations are denied.",
            "error",
        ),
        (
            "residency/unreadable",
            "Unreadable",
            "Resource or region could not be read",
            "The scan could not read this resource, service or region (e.g. AccessDenied, opt-in region "
            "disabled); where its data lives is unknown.",
            "warning",
        ),
    ]
    return [
        {
            "id": rid,
            "name": name,
            "shortDescription": {"text": short},
            "fullDescription": {"text": full},
            "helpUri": TOOL_URI,
            "help": {"text": full},
            "defaultConfiguration": {"level": level},
            # GitHub ranks "security" alerts by this score: 7.0+ high, 4.0+ medium
            "properties": {
                "tags": ["data-residency", "security"],
                "policy": policy.name,
                **({"security-severity": _SEVERITY[level]} if level in _SEVERITY else {}),
            },
        }
        for rid, name, short, full, level in rules
    ]


def _segment(text: str) -> str:
    return urllib.parse.quote(text or "-", safe="-._~@+=,")


def _resource_uri(f: Finding) -> str:
    """A relative URI naming the resource: ``aws/123456789012/s3/bucket/acme-us``.

    Relative, because GitHub code scanning drops results whose location is not a
    relative path or ``file:`` URI; the ARN/id itself is the logical location.
    """
    m = re.match(r"^arn:[^:]+:[^:]*:(?P<region>[^:]*):[^:]*:(?P<resource>.*)$", f.resource_id)
    # arn:aws:ec2:eu-west-1:123:volume/vol-1 -> eu-west-1/volume/vol-1; Azure and GCP ids are paths already
    tail = [m.group("region"), *re.split(r"[/:]", m.group("resource"))] if m else f.resource_id.split("/")
    segments = [f.provider, f.account, f.service, f.resource_type, *(t for t in tail if t)]
    return "/".join(_segment(s) for s in segments)


def write_sarif(report: Report, out: TextIO) -> None:
    """SARIF 2.1.0: one run, one rule per policy rule, one result per non-compliant resource."""
    rules = _sarif_rules(report.policy)
    index = {r["id"]: i for i, r in enumerate(rules)}
    run_head: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": TOOL_NAME,
                "version": _version(),
                "semanticVersion": _version(),
                "informationUri": TOOL_URI,
                "rules": rules,
            }
        },
        # the category (up to the last "/") separates scopes: GitHub replaces an upload's alerts only
        # by the next upload of the same category, so scanning account A never closes account B's alerts
        "automationDetails": {
            "id": f"residency/{report.scope.provider}/{report.policy.name}/"
            f"{hashlib.sha256(report.scope.key.encode()).hexdigest()[:12]}/",
            "description": {"text": f"eu-residency scan of {report.scope.key}"},
        },
        "invocations": [
            {
                "executionSuccessful": True,
                "exitCode": report.exit_code,
                "startTimeUtc": report.started.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "endTimeUtc": report.finished.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "toolExecutionNotifications": [
                    {"level": "warning", "message": {"text": g}} for g in report.gaps[:1000]
                ],
            }
        ],
        "properties": {
            "scope": report.scope.to_dict(),
            "counts": {s: report.counts.get(s, 0) for s in FINDING_STATUSES},
            "notes": list(report.notes),
            "evidence": [dict(e) for e in report.evidence],
        },
    }
    head = json.dumps({"$schema": _SARIF_SCHEMA, "version": "2.1.0"}, indent=1)
    out.write(head[: head.rfind("}")].rstrip() + ',\n "runs": [\n')
    run_text = json.dumps(run_head, indent=1, ensure_ascii=False)
    out.write(run_text[: run_text.rfind("}")].rstrip() + ',\n "results": [')
    first = True
    for f in report.findings():
        if f.status == "compliant":
            continue
        rid = rule_id(f, report.policy)
        file, line = report.source_locations.get(f.key) or (_resource_uri(f), 1)
        result: dict[str, Any] = {
            "ruleId": rid,
            "level": _LEVEL[f.status],
            "message": {"text": f"{f.resource_id}: {f.reason}"},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": file},
                        "region": {"startLine": line},
                    },
                    "logicalLocations": [
                        {"fullyQualifiedName": f.resource_id, "name": f.name or f.resource_id, "kind": "resource"}
                    ],
                    "message": {
                        "text": ", ".join(f"{loc.code} ({'/'.join(loc.countries) or '?'})" for loc in f.locations)
                        or "?"
                    },
                }
            ],
            "partialFingerprints": {
                "residencyFinding/v1": hashlib.sha256(f"{f.key}|{rid}".encode()).hexdigest(),
            },
            "properties": {
                "status": f.status,
                "new": report.is_new(f),
                "provider": f.provider,
                "account": f.account,
                "service": f.service,
                "resourceType": f.resource_type,
                "resourceId": f.resource_id,
                "locations": [loc.code for loc in f.locations],
                "countries": list(f.countries),
                "resourceTags": dict(f.tags),  # SARIF reserves "tags" for a list of strings
                "kind": f.kind,
                "details": dict(f.details),
            },
        }
        if rid in index:
            result["ruleIndex"] = index[rid]
        if f.status == "waived":
            result["suppressions"] = [
                {
                    "kind": "external",
                    "status": "accepted",
                    "justification": f"waiver '{f.waiver}'"
                    + (f" until {f.expires.isoformat()}" if f.expires else "")
                    + f": {f.reason}",
                }
            ]
        out.write(("\n  " if first else ",\n  ") + json.dumps(result, ensure_ascii=False))
        first = False
    out.write("\n ]\n}\n ]\n}\n")


# ---------------------------------------------------------------------- junit

_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _x(text: str) -> str:
    return escape(_XML_BAD.sub("?", text))


def _xa(text: str) -> str:
    return quoteattr(_XML_BAD.sub("?", text))


def write_junit(report: Report, out: TextIO) -> None:
    """JUnit XML: a test case per resource; failure = violation, error = unknown, skipped = waived."""
    c = report.counts
    tests, failures, errors, skipped = report.total, c.get("violation", 0), c.get("unknown", 0), c.get("waived", 0)
    secs = f"{(report.finished - report.started).total_seconds():.3f}"
    name = f"residency.{report.scope.provider}.{report.policy.name}"
    out.write('<?xml version="1.0" encoding="UTF-8"?>\n')
    out.write(
        f'<testsuites name={_xa("eu-residency scan")} tests="{tests}" failures="{failures}" '
        f'errors="{errors}" skipped="{skipped}" time="{secs}">\n'
    )
    out.write(
        f'<testsuite name={_xa(name)} tests="{tests}" failures="{failures}" errors="{errors}" '
        f'skipped="{skipped}" time="{secs}" timestamp={_xa(report.started.isoformat())}>\n'
    )
    out.write("<properties>\n")
    for k, v in (
        ("policy", report.policy.name),
        ("allow", report.policy.geography.name),
        ("scope", report.scope.key),
    ):
        out.write(f"<property name={_xa(k)} value={_xa(v)}/>\n")
    out.write("</properties>\n")
    for f in report.findings():
        classname = f"{f.provider}.{f.account or '-'}.{f.service}.{f.resource_type}"
        out.write(f'<testcase classname={_xa(classname)} name={_xa(f.resource_id)} time="0">')
        detail = _x(
            "\n".join(
                [f"locations: {_locs(f)}", f"countries: {','.join(f.countries) or '?'}"]
                + [
                    f"{loc.code} ({role}): {why}"
                    for loc, role, why in zip(f.locations, f.roles, f.reasons, strict=False)
                ]
                + guardrail_lines(f)
            )
        )
        if f.status == "violation":
            new = " [NEW]" if report.is_new(f) else ""
            out.write(f'<failure type="violation" message={_xa(f.reason + new)}>{detail}</failure>')
        elif f.status == "unknown":
            out.write(f'<error type="unknown" message={_xa(f.reason)}>{_x(f.error or "")}</error>')
        elif f.status == "waived":
            out.write(f"<skipped message={_xa(f.reason)}/>")
        else:
            out.write(f"<system-out>{_x(f.reason)}</system-out>")
        out.write("</testcase>\n")
    out.write("</testsuite>\n</testsuites>\n")


# ---------------------------------------------------------------------- dispatch


def write_report(report: Report, fmt: str, out: TextIO) -> None:
    """Write ``report`` to ``out`` in ``fmt`` (one of :data:`FORMATS`)."""
    if fmt == "table":
        write_table(report, out)
    elif fmt == "json":
        write_json(report, out)
    elif fmt == "sarif":
        write_sarif(report, out)
    elif fmt == "junit":
        write_junit(report, out)
    elif fmt == "html":
        from ._report_html import write_html

        write_html(report, out)
    else:
        raise ReportError(f"unknown report format {fmt!r}; expected one of {', '.join(FORMATS)}")
