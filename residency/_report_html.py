"""The HTML report: one self-contained page an auditor can open.

No scripts, no external fonts, styles or images: the page carries its CSS and
an inline SVG chart of where the data lives, country by country (bars coloured
by status). Sections: summary, where data lives, violations (with their
explanations and whether they are new), resolved since the previous scan (and
those no longer seen that the scan could not verify), unknowns, waivers and
their expiry, compliant resources. Every value from the cloud is HTML-escaped.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

from ._findings import Finding
from ._geography import country_name
from ._report import Report, _version, guardrail_lines

__all__ = ["write_html"]

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem;color:#1b1f24;max-width:80rem}
h1{font-size:1.5rem;margin-bottom:.2rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #ddd}
.meta{color:#555;font-size:.9rem}
.cards{display:flex;gap:1rem;flex-wrap:wrap;margin:1rem 0}
.card{border-radius:.5rem;padding:.8rem 1.2rem;min-width:8rem;color:#fff}
.card b{display:block;font-size:1.8rem}
.violation{background:#c62828}.unknown{background:#ef6c00}.waived{background:#6a1b9a}.compliant{background:#2e7d32}
table{border-collapse:collapse;width:100%;font-size:.85rem}
th,td{border-bottom:1px solid #e3e3e3;text-align:left;padding:.3rem .5rem;vertical-align:top}
th{background:#f5f5f5}
td.id{font-family:ui-monospace,Menlo,Consolas,monospace;word-break:break-all}
.tag{display:inline-block;border-radius:.3rem;padding:0 .35rem;color:#fff;font-size:.75rem}
.new{background:#b71c1c}.expired{background:#757575}
svg text{font-size:12px;font-family:inherit}
"""

_COLORS = {"violation": "#c62828", "unknown": "#ef6c00", "waived": "#6a1b9a", "compliant": "#2e7d32"}
_ORDER = ("violation", "unknown", "waived", "compliant")


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _chart(countries: Mapping[str, Mapping[str, int]], allowed: frozenset[str]) -> str:
    """Horizontal stacked bars: resources whose data lands in each country, by status."""
    if not countries:
        return "<p>No resources found.</p>"
    rows = sorted(countries.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))
    peak = max(sum(v.values()) for _, v in rows) or 1
    bar_w, row_h, label_w = 520, 22, 230
    height = row_h * len(rows) + 30
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_w + bar_w + 80}" height="{height}" '
        f'role="img" aria-label="Resources by country">'
    ]
    for i, (code, counts) in enumerate(rows):
        y = 20 + i * row_h
        inside = "inside" if code in allowed else ("unknown" if code == "??" else "outside")
        label = "unknown country" if code == "??" else f"{country_name(code)} ({code})"
        parts.append(f'<text x="0" y="{y + 14}">{_e(label)} — {inside}</text>')
        x = float(label_w)
        for status in _ORDER:
            n = counts.get(status, 0)
            if not n:
                continue
            w = max(1.0, bar_w * n / peak)
            parts.append(
                f'<rect x="{x:.1f}" y="{y + 3}" width="{w:.1f}" height="{row_h - 6}" fill="{_COLORS[status]}">'
                f"<title>{_e(label)}: {n} {status}</title></rect>"
            )
            x += w
        parts.append(f'<text x="{x + 6:.1f}" y="{y + 14}">{sum(counts.values())}</text>')
    legend_y = 12
    lx = float(label_w)
    for status in _ORDER:
        parts.append(f'<rect x="{lx:.0f}" y="{legend_y - 10}" width="10" height="10" fill="{_COLORS[status]}"/>')
        parts.append(f'<text x="{lx + 14:.0f}" y="{legend_y}">{status}</text>')
        lx += 95
    parts.append("</svg>")
    return "".join(parts)


def _row(f: Finding, report: Report, *, explain: bool) -> str:
    new = ' <span class="tag new">NEW</span>' if report.is_new(f) else ""
    locs = "<br>".join(
        f"{_e(loc.label)} [{_e(','.join(loc.countries) or '?')}] — {_e(role)}"
        for loc, role in zip(f.locations, f.roles or [""] * len(f.locations), strict=False)
    )
    why = _e(f.reason)
    if f.kind == "guardrail":
        # a guardrail finding's locations are every region left open: codes only, the chain instead of reasons
        locs = _e(", ".join(loc.code for loc in f.locations))
        why += "<ul>" + "".join(f"<li>{_e(line)}</li>" for line in guardrail_lines(f)) + "</ul>"
    elif explain and len(f.reasons) > 1:
        why += "<ul>" + "".join(f"<li>{_e(r)}</li>" for r in f.reasons if r) + "</ul>"
    tags = ", ".join(f"{_e(k)}={_e(v)}" for k, v in f.tags.items())
    return (
        f'<tr><td><span class="tag {f.status}">{f.status}</span>{new}</td><td>{_e(f.account)}</td>'
        f"<td>{_e(f.service)}/{_e(f.resource_type)}</td><td class=id>{_e(f.resource_id)}</td>"
        f"<td>{locs or '?'}</td><td>{why}</td><td>{tags}</td></tr>\n"
    )


_HEAD = (
    "<tr><th>Status</th><th>Account</th><th>Type</th><th>Resource</th>"
    "<th>Where the data lands</th><th>Why</th><th>Tags</th></tr>\n"
)


def write_html(report: Report, out: TextIO, *, compliant_rows: int = 2000) -> None:
    """Write the self-contained HTML page for ``report``."""
    s = report.scope
    pol = report.policy
    title = f"Data residency report — {s.provider.upper()}, policy {pol.name}"
    out.write(
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>\n"
    )
    out.write(f"<h1>{_e(title)}</h1>\n")
    regions = ", ".join(s.regions) if s.regions else "all enabled regions"
    out.write(
        f'<p class="meta">Scanned {_e(report.started.strftime("%Y-%m-%d %H:%M:%S %Z"))} to '
        f"{_e(report.finished.strftime('%H:%M:%S %Z'))}; account(s) {_e(', '.join(s.accounts) or 'none readable')}; "
        f"{_e(regions)}. Policy <b>{_e(pol.name)}</b> ({_e(pol.source)}) allows {_e(pol.geography.name)}: "
        f"{_e(', '.join(sorted(pol.geography.countries)) or 'anywhere')}. "
        f"eu-residency {_e(_version())}.</p>\n"
    )
    out.write('<h2 id="summary">Summary</h2>\n<div class="cards">')
    for status in _ORDER:
        out.write(f'<div class="card {status}"><b>{report.counts.get(status, 0)}</b>{status}</div>')
    out.write("</div>\n")
    out.write(f"<p>{_e(report.summary_line())}. Exit code {report.exit_code}.</p>\n")
    out.write('<h2 id="where">Where the data lives</h2>\n')
    allowed = frozenset(pol.geography.countries) if not pol.geography.anywhere else frozenset(report.countries)
    out.write(_chart(report.countries, allowed) + "\n")

    sections = {
        "violation": "Violations",
        "unknown": "Could not be read (unknown)",
        "waived": "Waived",
        "compliant": "Compliant",
    }
    current = None
    shown = 0
    hidden = 0
    for f in report.findings():
        if f.status != current:
            if current is not None:
                out.write("</table>\n")
                if current == "violation":
                    _resolved(report, out)
            current = f.status
            out.write(
                f'<h2 id="{f.status}">{sections[f.status]} ({report.counts.get(f.status, 0)})</h2>\n<table>{_HEAD}'
            )
        if f.status == "compliant":
            shown += 1
            if shown > compliant_rows:
                hidden += 1
                continue
        out.write(_row(f, report, explain=f.status != "compliant"))
    if current is not None:
        out.write("</table>\n")
        if current == "violation":
            _resolved(report, out)
    if report.counts.get("violation", 0) == 0:
        out.write('<h2 id="violation">Violations (0)</h2>\n<p>No violations.</p>\n')
        _resolved(report, out)
    if hidden:
        out.write(f"<p>… and {hidden} more compliant resources (see the JSON report).</p>\n")

    out.write('<h2 id="waivers">Waivers</h2>\n')
    waivers = report.waivers()
    if waivers:
        out.write(
            "<table><tr><th>Waiver</th><th>Expires</th><th>Justification</th>"
            "<th>Applies to</th><th>Approved by</th></tr>\n"
        )
        for w in waivers:
            exp = _e(w["expires"] or "never")
            if w["expired"]:
                exp += ' <span class="tag expired">EXPIRED</span>'
            sel = ", ".join(f"{_e(k)}: {_e(v)}" for k, v in w["selector"].items())
            out.write(
                f"<tr><td>{_e(w['id'])}</td><td>{exp}</td><td>{_e(w['justification'])}</td>"
                f"<td>{sel}</td><td>{_e(w['approved_by'] or '')}</td></tr>\n"
            )
        out.write("</table>\n")
    else:
        out.write("<p>The policy has no waivers.</p>\n")
    if report.evidence:
        out.write('<h2 id="evidence">Scope-level evidence</h2>\n<table>\n')
        out.write("<tr><th>provider</th><th>scope</th><th>record</th></tr>\n")
        for e in report.evidence:
            who, scope = _e(str(e.get("provider", ""))), _e(str(e.get("scope", "")))
            rest = "; ".join(f"{_e(str(k))}: {_e(str(v))}" for k, v in e.items() if k not in ("provider", "scope"))
            out.write(f"<tr><td>{who}</td><td>{scope}</td><td>{rest}</td></tr>\n")
        out.write("</table>\n")
    if report.gaps or report.notes:
        out.write('<h2 id="notes">Gaps and notes</h2>\n<ul>')
        for g in report.gaps:
            out.write(f"<li>could not read: {_e(g)}</li>")
        for n in report.notes:
            out.write(f"<li>{_e(n)}</li>")
        out.write("</ul>\n")
    out.write("</body></html>\n")


def _resolved(report: Report, out: TextIO) -> None:
    if report.diff is None:
        out.write("<p>History is off: new and resolved violations are not tracked.</p>\n")
        return
    if report.diff.previous is None:
        out.write("<p>First scan of this scope: no earlier scan to compare with.</p>\n")
        return
    prev = report.diff.previous
    out.write(f'<h2 id="resolved">Resolved since scan #{prev.id} ({_e(prev.finished)}) ({len(report.resolved)})</h2>\n')
    _was(report.resolved, out, "Nothing resolved.")
    if report.unverified:
        out.write(
            f'<h2 id="unverified">No longer seen, not verified resolved ({len(report.unverified)})</h2>\n'
            "<p>These violations of the previous scan are not in this one, but this scan could not read "
            "their account or region (see the unknown findings): they are not counted as resolved.</p>\n"
        )
        _was(report.unverified, out, "")


def _was(rows: Sequence[Mapping[str, Any]], out: TextIO, empty: str) -> None:
    if not rows:
        out.write(f"<p>{_e(empty)}</p>\n")
        return
    out.write("<table><tr><th>Resource</th><th>Where it was</th><th>Was</th></tr>\n")
    for r in rows:
        out.write(
            f"<tr><td class=id>{_e(r['resource_id'])}</td><td>{_e(r['locations'])}</td>"
            f"<td>{_e(r['reason'])}</td></tr>\n"
        )
    out.write("</table>\n")
