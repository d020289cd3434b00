"""The ``scan``, ``history`` and ``demo`` sub-commands.

::

    residency scan aws|azure|gcp [--policy NAME|FILE] [--regions R,R] [--services S,S] [--guardrails]
                       [--accounts ID,ID | --org] [--role-name NAME] [--profile NAME]
                       [--subscriptions ID,ID] [--projects ID,ID] [--source S] [--aggregator NAME] [--scope SCOPE]
                       [--endpoint-url URL] [--concurrency N] [--s3-replication all|needed|off]
                       [--format table|json|sarif|junit|html] [--output FILE]
                       [--history PATH | --no-history] [--history-timeout SECONDS]
                       [--allow-unknown] [--max-attempts N] [--no-progress]
    residency history [--history PATH] [--limit N] [--format table|json]
    residency demo [--format ...] [--output FILE]

Exit codes (:func:`residency._scan.exit_code`): 0 no violations and
everything read, 1 violations, 2 usage or configuration errors (bad policy, no
credentials, a provider that cannot scan yet, an unexpected error; also when the
report was written but the history could not be recorded), 3 no violations but
something could not be read (``--allow-unknown``, or the policy's
``unknown_findings: allow``, turns that into 0). Whenever something could not be
read, stderr says how much. ``--fail-on-unknown`` is accepted and does nothing
(failing on unknowns is the default).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import pathlib
import sys
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TextIO

from ._errors import HistoryError, ProviderError
from ._history import DEFAULT_TIMEOUT, History, default_history_path
from ._report import FORMATS, Report, ReportError, write_report
from ._scan import EXIT_UNKNOWN, EXIT_USAGE, FindingSpool, ScanContext, make_context, scope_of, stream_scan

if TYPE_CHECKING:
    from ._cli import _Parser
    from ._findings import Finding

__all__ = ["register", "run_cli_scan"]

SCAN_PROVIDERS = ("aws", "azure", "gcp")


def _csv(value: str) -> list[str]:
    items = [v.strip() for v in value.split(",") if v.strip()]
    if not items:
        raise argparse.ArgumentTypeError("expected a comma-separated list")
    return items


def _seconds(value: str) -> float:
    try:
        n = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {value!r}") from None
    if not n >= 0:
        raise argparse.ArgumentTypeError("must be 0 or more seconds")
    return n


def _positive(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return n


class _Bar:
    """A one-line progress display on a terminal's stderr, counted in resources.

    The adapter reports finished work units (an account's buckets, a region);
    the scan loop reports each resource read (:meth:`resource`). The line shows
    resources read and what could not be read, with the units as a bar; it is
    redrawn at most every ``interval`` seconds and erased at the end.
    """

    def __init__(self, stream: TextIO, *, interval: float = 0.1) -> None:
        self.stream = stream
        self.interval = interval
        self.resources = 0
        self.unknown = 0
        self.done = 0
        self.total = 0
        self.label = ""
        self._drawn = 0.0

    def __call__(self, done: int, total: int, label: str) -> None:
        self.done, self.total, self.label = done, total, label
        self._draw(force=True)

    def resource(self, status: str) -> None:
        self.resources += 1
        if status == "unknown":
            self.unknown += 1
        self._draw()

    def _draw(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._drawn < self.interval:
            return
        self._drawn = now
        width = 20
        filled = width * self.done // self.total if self.total else 0
        unread = f", {self.unknown:,} unreadable" if self.unknown else ""
        units = f" (work {self.done}/{self.total})" if self.total else ""
        self.stream.write(
            f"\r[{'#' * filled}{'.' * (width - filled)}] {self.resources:,} resources read{unread}{units} "
            f"{self.label[:24]:<24}"
        )
        self.stream.flush()

    def close(self) -> None:
        self.stream.write("\r" + " " * 110 + "\r")
        self.stream.flush()


def _check_output(path: str | None) -> None:
    """Fail before scanning, not after, when the report cannot be written to ``path``."""
    if not path or path == "-":
        return
    target = pathlib.Path(path)
    parent = target.parent if str(target.parent) else pathlib.Path(".")
    if target.is_dir():
        raise ReportError(f"cannot write the report to {path}: it is a directory")
    if not parent.is_dir():
        raise ReportError(f"cannot write the report to {path}: no directory {parent}")
    if not os.access(parent, os.W_OK) or (target.exists() and not os.access(target, os.W_OK)):
        raise ReportError(f"cannot write the report to {path}: permission denied")


@contextlib.contextmanager
def _output(path: str | None, out: TextIO) -> Iterator[TextIO]:
    if not path or path == "-":
        yield out
        return
    try:
        f = open(path, "w", encoding="utf-8", newline="\n")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise ReportError(f"cannot write the report to {path}: {exc.strerror or exc}") from None
    with f:
        yield f


def run_cli_scan(
    ctx: ScanContext,
    out: TextIO,
    *,
    fmt: str = "table",
    output: str | None = None,
    history: str | None = None,
    use_history: bool = True,
    findings: Callable[[ScanContext], Iterator[Finding]] = stream_scan,
    fail_on_unknown: bool = False,
    allow_unknown: bool = False,
    history_timeout: float = DEFAULT_TIMEOUT,
    err: TextIO | None = None,
) -> int:
    """Scan, record history, write the report; return the exit code (shared by ``scan``, ``demo``, ``guardrails``).

    ``findings`` is the finding stream to report (default: the scan's).

    The report target and the history database are checked before the scan, so a
    typo in either costs no scan. The report is always written once the scan has
    run: when history cannot be recorded after that (read-only, busy past
    ``history_timeout``), the report says so, the error is one line on ``err``
    and the exit code is 2. What could not be read is summed up on ``err`` too.
    ``fail_on_unknown`` is deprecated and changes nothing (exit 3 on unknowns is
    the default; ``allow_unknown`` opts out).
    """
    err = err or sys.stderr
    _check_output(output)
    bar = ctx.progress if isinstance(ctx.progress, _Bar) else None
    history_path = history or default_history_path()
    if use_history:
        History.check(history_path)
    with contextlib.ExitStack() as stack:
        spool = stack.enter_context(FindingSpool())
        started = dt.datetime.now(dt.timezone.utc)
        try:
            for finding in findings(ctx):
                spool.add(finding)
                if bar is not None:
                    bar.resource(finding.status)
        finally:
            if bar is not None:
                bar.close()
        finished = dt.datetime.now(dt.timezone.utc)
        scope = scope_of(ctx)
        notes = list(ctx.notes)
        report = Report.from_spool(
            spool,
            scope=scope,
            policy=ctx.policy,
            started=started,
            finished=finished,
            notes=notes,
            evidence=ctx.evidence,
            allow_unknown=allow_unknown,
        )
        history_error: HistoryError | None = None
        if use_history:
            try:
                db = stack.enter_context(History(history_path, timeout=history_timeout))
                report.scan_id, report.diff = db.record(
                    scope_key=scope.key,
                    scope=scope.to_dict(),
                    started=started,
                    finished=finished,
                    counts=report.counts,
                    exit_code=report.exit_code,
                    findings=spool.non_compliant(),
                )
            except HistoryError as exc:
                history_error = exc
                report.notes = [*notes, f"this scan is NOT recorded in the history: {exc}"]
        with _output(output, out) as target:
            write_report(report, fmt, target)
        if output and output != "-":
            out.write(f"{report.summary_line()}\n{fmt} report written to {output}\n")
        code = report.exit_code
        if report.unseen:
            verdict = (
                f"exit {EXIT_UNKNOWN} (--allow-unknown to accept)"
                if code == EXIT_UNKNOWN
                else "accepted (unknowns allowed)"
                if code == 0
                else "see the report"
            )
            err.write(f"residency: {report.unseen}: {verdict}\n")
        if history_error is not None:
            where = f"written to {output}" if output and output != "-" else "written"
            err.write(f"HistoryError: {history_error} (the report was {where}; scan exit code {code})\n")
            return EXIT_USAGE
        return code


def _cmd_scan(args: argparse.Namespace, out: TextIO) -> int:
    provider = args.provider.lower()
    if args.org and args.accounts:
        raise ProviderError("use --accounts or --org, not both")
    progress: Callable[[int, int, str], None] | None = None
    if not args.no_progress and sys.stderr.isatty():
        progress = _Bar(sys.stderr)
    accounts = args.accounts
    options: dict[str, Any] = {}
    if args.max_attempts is not None:
        options["max_attempts"] = args.max_attempts
    if provider == "aws":
        options["s3_replication"] = args.s3_replication
        if args.profile:
            options["profile"] = args.profile
    for flag, value, owner in (
        ("--subscriptions", args.subscriptions, "azure"),
        ("--projects", args.projects, "gcp"),
        ("--org", args.org, "aws"),
        ("--profile", args.profile, "aws"),
        ("--scope", args.scope, "gcp"),
        ("--no-object-replication", args.no_object_replication, "azure"),
        ("--aggregator", args.aggregator, "aws"),
    ):
        if value and provider != owner:
            raise ProviderError(f"{flag} is for 'residency scan {owner}', not {provider}")
    if args.subscriptions or args.projects:
        if accounts:
            raise ProviderError("use --accounts or --subscriptions/--projects, not both")
        accounts = args.subscriptions or args.projects
    if args.source:
        sources = {
            "aws": ("api", "config"),
            "azure": ("resources", "resource-graph"),
            "gcp": ("storage", "asset-inventory"),
        }
        if args.source not in sources[provider]:
            raise ProviderError(
                f"--source {args.source} is not a source for {provider}; use one of {', '.join(sources[provider])}"
            )
        options["source"] = args.source
    if args.aggregator:
        if args.source != "config":
            raise ProviderError("--aggregator is for --source config (an AWS Config aggregator)")
        options["aggregator"] = args.aggregator
    if args.scope:
        options["scope"] = args.scope
    if args.no_object_replication:
        options["object_replication"] = False
    ctx = make_context(
        provider,
        args.policy,
        regions=args.regions,
        endpoint_url=args.endpoint_url,
        progress=progress,
        accounts=accounts,
        org=args.org,
        role_name=args.role_name,
        services=args.services,
        concurrency=args.concurrency,
        **options,
    )
    return run_cli_scan(
        ctx,
        out,
        findings=_with_guardrails if args.guardrails else stream_scan,
        fmt=args.format,
        output=args.output,
        history=args.history,
        use_history=not args.no_history,
        allow_unknown=args.allow_unknown,
        history_timeout=args.history_timeout,
    )


def _with_guardrails(ctx: ScanContext) -> Iterator[Finding]:
    """``scan --guardrails``: the scan's findings, then the accounts' guardrail findings."""
    from ._guardrails import stream_guardrails

    yield from stream_scan(ctx)
    yield from stream_guardrails(ctx)


def _cmd_history(args: argparse.Namespace, out: TextIO) -> int:
    path = args.history or default_history_path()
    with History(path, create=False, timeout=args.history_timeout) as db:  # listing never creates a database
        scans = db.scans(limit=args.limit)
    if args.format == "json":
        json.dump([s.to_dict() for s in scans], out, indent=1)
        out.write("\n")
        return 0
    if not scans:
        out.write(f"no scans recorded in {path}\n")
        return 0
    rows = [
        [
            "ID",
            "FINISHED",
            "PROVIDER",
            "POLICY",
            "ACCOUNTS",
            "REGIONS",
            "SERVICES",
            "VIOLATION",
            "UNKNOWN",
            "WAIVED",
            "COMPLIANT",
            "EXIT",
        ]
    ]
    for s in scans:
        sc = s.scope
        rows.append(
            [
                str(s.id),
                s.finished[:19],
                str(sc.get("provider", "")),
                str(sc.get("policy", "")),
                ",".join(sc.get("accounts") or []) or "-",
                ",".join(sc.get("regions") or []) or "all",
                ",".join(sc.get("services") or []) or "all",
                *(str(s.counts.get(k, 0)) for k in ("violation", "unknown", "waived", "compliant")),
                str(s.exit_code),
            ]
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        out.write("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() + "\n")
    return 0


def _cmd_demo(args: argparse.Namespace, out: TextIO) -> int:
    from ._demo import run_demo

    return run_demo(out, fmt=args.format, output=args.output, history=args.history, providers=args.providers)


def _register(sub: argparse._SubParsersAction[_Parser]) -> None:
    """Add ``scan``, ``history`` and ``demo`` to the ``residency`` parser's sub-commands."""
    p = sub.add_parser(
        "scan",
        help="scan a cloud account for data outside the policy (exit 1 on violations, 3 if something was unreadable)",
        description="Find every resource, and every place its data lands, outside the policy.",
    )
    p.add_argument("provider", metavar="PROVIDER", choices=SCAN_PROVIDERS, help="aws, azure or gcp")
    p.add_argument("--policy", default="eu", help="built-in policy name or policy file (default: eu)")
    p.add_argument("--regions", type=_csv, metavar="R,R", help="limit to these regions (default: all enabled)")
    p.add_argument("--services", type=_csv, metavar="S,S", help="limit to these services (default: all)")
    p.add_argument(
        "--accounts",
        type=_csv,
        metavar="ID,ID",
        help="AWS: accounts to scan by assuming --role-name; Azure: subscriptions; GCP: projects",
    )
    p.add_argument("--subscriptions", type=_csv, metavar="ID,ID", help="Azure: subscriptions (default: all visible)")
    p.add_argument("--projects", type=_csv, metavar="ID,ID", help="GCP: projects (default: all listable)")
    p.add_argument(
        "--source",
        help="AWS: api (default) or config; Azure: resources (default) or resource-graph; "
        "GCP: storage (default) or asset-inventory",
    )
    p.add_argument("--aggregator", metavar="NAME", help="AWS --source config: the AWS Config aggregator to query")
    p.add_argument("--scope", help="GCP asset-inventory scope: organizations/ID, folders/ID or projects/ID")
    p.add_argument(
        "--no-object-replication",
        action="store_true",
        help="Azure: skip the per-account object-replication look-ups",
    )
    p.add_argument("--org", action="store_true", help="scan every active account of the AWS Organization")
    p.add_argument(
        "--role-name",
        default="OrganizationAccountAccessRole",
        help="role to assume in each member account (default: OrganizationAccountAccessRole)",
    )
    p.add_argument("--profile", help="AWS profile (default: the usual boto3 credential chain)")
    p.add_argument(
        "--endpoint-url", help="send every API call here (e.g. a local moto_server); AWS_ENDPOINT_URL also works"
    )
    p.add_argument("--concurrency", type=_positive, default=8, help="parallel work units (default: 8)")
    p.add_argument(
        "--s3-replication",
        choices=("needed", "all", "off"),
        default="needed",
        help="per-bucket replication look-ups: only where they can change the verdict (needed, default), "
        "for every bucket (all), or none (off: bucket regions only)",
    )
    p.add_argument(
        "--guardrails", action="store_true", help="also judge the accounts' guardrails ('residency guardrails')"
    )
    p.add_argument("--format", choices=FORMATS, default="table", help="report format (default: table)")
    p.add_argument("--output", "-o", metavar="FILE", help="write the report to FILE (default: stdout)")
    hist = p.add_mutually_exclusive_group()
    hist.add_argument("--history", metavar="PATH", help="history database (default: .residency/history.sqlite)")
    hist.add_argument("--no-history", action="store_true", help="do not record this scan")
    p.add_argument(
        "--history-timeout",
        type=_seconds,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"wait this long for a history database another process holds busy (default: {DEFAULT_TIMEOUT:g})",
    )
    p.add_argument(
        "--allow-unknown",
        action="store_true",
        help="exit 0, not 3, when nothing violates but something could not be read (policy: unknown_findings: allow)",
    )
    p.add_argument(
        "--fail-on-unknown",
        action="store_true",
        help="deprecated, does nothing: a scan with unknowns exits 3 unless --allow-unknown",
    )
    p.add_argument(
        "--max-attempts",
        type=_positive,
        metavar="N",
        help="attempts per API call, retries included (AWS default: 5); a scan stops asking an endpoint that "
        "keeps failing to connect and reports the rest unknown",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress display on the terminal")
    p.set_defaults(func=_cmd_scan)

    h = sub.add_parser("history", help="list past scans")
    h.add_argument("--history", metavar="PATH", help="history database (default: .residency/history.sqlite)")
    h.add_argument("--limit", type=_positive, default=50)
    h.add_argument("--history-timeout", type=_seconds, default=DEFAULT_TIMEOUT, metavar="SECONDS")
    h.add_argument("--format", choices=("table", "json"), default="table")
    h.set_defaults(func=_cmd_history)

    d = sub.add_parser(
        "demo",
        help="scan a simulated AWS estate (in-process moto server) and show the guard blocking a write",
    )
    d.add_argument(
        "--providers",
        type=_csv,
        metavar="P,P",
        help="which simulated clouds to show (default: aws,azure,gcp, those whose SDK is installed)",
    )
    d.add_argument("--format", choices=FORMATS, default="table")
    d.add_argument("--output", "-o", metavar="FILE")
    d.add_argument("--history", metavar="PATH", help="record the demo scan in this history database")
    d.set_defaults(func=_cmd_demo)


#: typed as a plain callable: ``residency._cli`` collects it into a list of such
register: Callable[[argparse._SubParsersAction[_Parser]], None] = _register
