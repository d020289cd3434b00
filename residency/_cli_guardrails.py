"""The ``guardrails`` sub-command: do the cloud's own policies keep data in, and write ones that do.

::

    residency guardrails aws|azure|gcp [--policy NAME|FILE] [--accounts ID,ID]
                         [--subscriptions ID,ID] [--projects ID,ID] [--endpoint-url URL]
                         [--profile NAME] [--concurrency N] [--format table|json|sarif|junit|html]
                         [--output FILE] [--history PATH | --no-history] [--allow-unknown]
    residency guardrails emit aws|azure|gcp [--policy NAME|FILE] [--output FILE]

The first form evaluates, for every account / subscription / project in scope,
where data can still be written and why, as ``guardrail`` findings in the same
reports and with the same exit codes as ``residency scan`` (it runs through
:func:`residency._cli_scan.run_cli_scan`): 0 every account confined, 1 some
write can land outside, 2 usage or configuration error; what could not be read
fails too unless ``--allow-unknown``. The second prints the native guardrail
(an SCP, an Azure Policy assignment, a GCP organization policy) as JSON.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, TextIO

from ._cli_scan import _csv, _output, _positive, run_cli_scan
from ._errors import ProviderError
from ._guardrails import emit_guardrails, stream_guardrails
from ._policy import load_policy
from ._report import FORMATS
from ._scan import make_context

if TYPE_CHECKING:
    from ._cli import _Parser

__all__ = ["register"]

PROVIDERS = ("aws", "azure", "gcp")


def _cmd_guardrails(args: argparse.Namespace, out: TextIO) -> int:
    if args.target == "emit":
        return _cmd_emit(args, out)
    if args.emit_provider:
        raise ProviderError(f"unexpected argument {args.emit_provider!r} (did you mean 'guardrails emit'?)")
    provider = args.target
    for flag, value, owner in (
        ("--subscriptions", args.subscriptions, "azure"),
        ("--projects", args.projects, "gcp"),
        ("--profile", args.profile, "aws"),
    ):
        if value and provider != owner:
            raise ProviderError(f"{flag} is for 'residency guardrails {owner}', not {provider}")
    picked = [v for v in (args.accounts, args.subscriptions, args.projects) if v]
    if len(picked) > 1:
        raise ProviderError("use one of --accounts, --subscriptions, --projects")
    options = {"profile": args.profile} if args.profile else {}
    ctx = make_context(
        provider,
        args.policy,
        accounts=picked[0] if picked else None,
        endpoint_url=args.endpoint_url,
        concurrency=args.concurrency,
        # a history scope of its own: guardrail findings are not compared with a scan's resources
        services=["guardrails"],
        **options,
    )
    return run_cli_scan(
        ctx,
        out,
        fmt=args.format,
        output=args.output,
        history=args.history,
        use_history=not args.no_history,
        allow_unknown=args.allow_unknown,
        findings=stream_guardrails,
    )


def _cmd_emit(args: argparse.Namespace, out: TextIO) -> int:
    if not args.emit_provider:
        raise ProviderError("guardrails emit: which provider? (aws, azure or gcp)")
    provider = args.emit_provider.lower()
    if provider not in PROVIDERS:
        raise ProviderError(f"guardrails emit: unknown provider {provider!r}; use one of {', '.join(PROVIDERS)}")
    doc = emit_guardrails(provider, load_policy(args.policy))
    with _output(args.output, out) as target:
        json.dump(doc, target, indent=2)
        target.write("\n")
    if args.output and args.output != "-":
        out.write(f"{provider} guardrail for policy {args.policy} written to {args.output}\n")
    return 0


def _register(sub: argparse._SubParsersAction[_Parser]) -> None:
    """Add ``guardrails`` to the ``residency`` parser's sub-commands."""
    p = sub.add_parser(
        "guardrails",
        help="do the cloud's own guardrails (SCPs, Azure Policy, org policies) keep data in? (exit 1 if not)",
        description="For every account, subscription or project: where can data still be written, and why. "
        "'guardrails emit PROVIDER' prints the native guardrail that enforces the policy.",
    )
    p.add_argument("target", metavar="PROVIDER|emit", choices=(*PROVIDERS, "emit"), help="aws, azure, gcp or emit")
    p.add_argument("emit_provider", nargs="?", metavar="PROVIDER", help="with emit: aws, azure or gcp")
    p.add_argument("--policy", default="eu", help="built-in policy name or policy file (default: eu)")
    p.add_argument("--accounts", type=_csv, metavar="ID,ID", help="only these accounts (default: the organisation)")
    p.add_argument("--subscriptions", type=_csv, metavar="ID,ID", help="Azure: only these subscriptions")
    p.add_argument("--projects", type=_csv, metavar="ID,ID", help="GCP: only these projects")
    p.add_argument("--profile", help="AWS profile (default: the usual boto3 credential chain)")
    p.add_argument("--endpoint-url", help="send every API call here (e.g. a local moto_server)")
    p.add_argument("--concurrency", type=_positive, default=8, help="parallel requests (default: 8)")
    p.add_argument("--format", choices=FORMATS, default="table", help="report format (default: table)")
    p.add_argument("--output", "-o", metavar="FILE", help="write the report (or the emitted guardrail) to FILE")
    hist = p.add_mutually_exclusive_group()
    hist.add_argument("--history", metavar="PATH", help="history database (default: .residency/history.sqlite)")
    hist.add_argument("--no-history", action="store_true", help="do not record this run")
    p.add_argument("--allow-unknown", action="store_true", help="do not fail when something could not be read")
    p.set_defaults(func=_cmd_guardrails)


#: typed as a plain callable: ``residency._cli`` collects it into a list of such
register: Callable[[argparse._SubParsersAction[_Parser]], None] = _register
