"""The ``residency`` command.

::

    residency regions [--provider P] [--format table|json] [--drift]
    residency check PROVIDER LOCATION [--policy NAME|FILE] [--tag KEY=VALUE] [--explain]
    residency policy validate FILE [FILE ...]
    residency policy show [NAME|FILE]
    residency policy schema
    residency plan PLAN.json [PLAN.json ... | -] [--policy NAME|FILE] [--all] [--config-dir DIR] [--format F] [-o FILE]

Exit codes: 0 allowed / clean, 1 denied / violations, 2 usage or configuration
error (and any unexpected error), 3 a scan with no violation that could not read
everything. Known errors print one line (``PolicyError: team.yaml: key 'allow': …``),
never a traceback; neither does an unexpected one. Tests call :func:`main` in-process.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from typing import TextIO

from . import __version__
from ._catalog import PROVIDERS, catalog
from ._errors import PolicyError, ProviderError, ResidencyError
from ._policy import load_policy, policy_schema
from ._registry import load_provider

__all__ = ["main"]

EXIT_OK, EXIT_VIOLATION, EXIT_USAGE = 0, 1, 2


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise _UsageError(f"{self.prog}: {message}")


def _table(rows: Sequence[Sequence[str]], out: TextIO) -> None:
    if not rows:
        return
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        out.write("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() + "\n")


def _cmd_regions(args: argparse.Namespace, out: TextIO) -> int:
    providers = [args.provider] if args.provider else list(PROVIDERS)
    if args.drift:
        return _drift(providers, args.format, out)
    locs = [loc for p in providers for loc in catalog().locations(p)]
    if args.format == "json":
        json.dump([loc.to_dict() for loc in locs], out, indent=1, ensure_ascii=False)
        out.write("\n")
        return EXIT_OK
    rows = [["PROVIDER", "LOCATION", "KIND", "COUNTRIES", "GEOGRAPHIES", "NAME"]]
    for loc in locs:
        rows.append(
            [
                loc.provider,
                loc.code or '""',
                loc.kind,
                ",".join(loc.countries) or "unknown",
                ",".join(loc.geographies) or "-",
                loc.name
                + (f" [{'+'.join(loc.members)}]" if loc.members and loc.kind != "availability-zone-id" else ""),
            ]
        )
    _table(rows, out)
    return EXIT_OK


def _drift(providers: Sequence[str], fmt: str, out: TextIO) -> int:
    """Locations the installed SDKs know that the catalog does not (fail closed until added)."""
    found: list[dict[str, str]] = []
    notes: list[str] = []
    for p in providers:
        try:
            adapter = load_provider(p)
        except ProviderError as exc:
            notes.append(f"{p}: skipped ({exc})")
            continue
        sdk = list(adapter.sdk_locations())
        if not sdk:
            notes.append(f"{p}: the installed SDK carries no location list; unknown locations show up in scans")
        for code in sdk:
            if catalog().get(p, code) is None:
                found.append({"provider": p, "location": code, "status": "unknown (not in catalog)"})
    if fmt == "json":
        json.dump({"missing": found, "notes": notes}, out, indent=1)
        out.write("\n")
    else:
        for f in found:
            out.write(
                f"{f['provider']}:{f['location']} is known to the SDK but not to the catalog: treated as unknown\n"
            )
        for n in notes:
            out.write(n + "\n")
        if not found:
            out.write("catalog covers every location the installed SDKs know\n")
    return EXIT_VIOLATION if found else EXIT_OK


def _cmd_check(args: argparse.Namespace, out: TextIO) -> int:
    policy = load_policy(args.policy)
    tags = {}
    for t in args.tag or []:
        k, sep, v = t.partition("=")
        if not sep:
            raise _UsageError(f"residency check: --tag expects KEY=VALUE, got {t!r}")
        tags[k] = v
    provider = args.provider.lower()
    if provider not in PROVIDERS:
        raise _UsageError(f"residency check: unknown provider {args.provider!r}; use one of {', '.join(PROVIDERS)}")
    if catalog().get(provider, args.location) is None and not args.unknown_ok:
        hint = catalog().suggest(provider, args.location)
        fix = f"did you mean '{hint}'?" if hint else "see 'residency regions'"
        raise _UsageError(
            f"residency check: {provider} location {args.location!r} is not in the catalog ({fix}); "
            "such a location is treated as unknown and denied (--unknown-ok to check it anyway)"
        )
    decision = policy.check(provider, args.location, tags=tags, resource=args.resource)
    if args.explain:
        out.write(decision.explain() + "\n")
    else:
        out.write(f"{decision.status}: {decision.reason}\n")
    return EXIT_OK if decision.allowed else EXIT_VIOLATION


def _cmd_policy(args: argparse.Namespace, out: TextIO) -> int:
    if args.policy_cmd == "schema":
        json.dump(policy_schema(), out, indent=2)
        out.write("\n")
        return EXIT_OK
    if args.policy_cmd == "show":
        p = load_policy(args.policy)
        out.write(f"policy {p.name} ({p.source})\n")
        if p.description:
            out.write(f"  {p.description}\n")
        out.write(f"  allow: {p.geography.name}: {', '.join(sorted(p.geography.countries)) or 'anywhere'}\n")
        out.write(f"  unknown locations: {p.unknown_locations}; global services: {p.global_services}\n")
        for prov, code in sorted(p.allow_locations):
            out.write(f"  allow location {prov}:{code}\n")
        for prov, code in sorted(p.deny_locations):
            out.write(f"  deny location {prov}:{code}\n")
        for name, rule in p.data_classes.items():
            out.write(f"  data class {p.data_class_tag}={name}: {rule.geography.name}\n")
        expired_ids = {w.id for w in p.expired_waivers()}
        for w in p.waivers:
            state = "EXPIRED" if w.id in expired_ids else "active"
            out.write(f"  waiver {w.id} ({state}, expires {w.expires}): {w.justification}\n")
        return EXIT_OK
    # validate
    for path in args.files:
        p = load_policy(path)
        expired = p.expired_waivers()
        msg = f"{path}: ok (policy '{p.name}', allow {p.geography.name}"
        msg += f", {len(p.waivers)} waiver(s)" if p.waivers else ""
        msg += f", {len(expired)} expired: {', '.join(w.id for w in expired)}" if expired else ""
        out.write(msg + ")\n")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="residency",
        description="Keep data inside the EU, the EEA or Switzerland on AWS, Azure and Google Cloud.",
        epilog="Exit codes: 0 ok, 1 denied/violations, 2 usage or configuration error, "
        "3 no violation but something could not be read (scan: --allow-unknown).",
    )
    parser.add_argument("--version", action="version", version=f"eu-residency {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("regions", help="list the location catalog")
    p.add_argument("--provider", choices=PROVIDERS)
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.add_argument(
        "--drift",
        action="store_true",
        help="list locations the installed SDKs know but the catalog does not (treated as unknown)",
    )
    p.set_defaults(func=_cmd_regions)

    p = sub.add_parser("check", help="may data live in this location? (exit 0 yes, 1 no)")
    p.add_argument("provider", metavar="PROVIDER", help="aws, azure or gcp")
    p.add_argument("location", metavar="LOCATION", help="e.g. eu-west-2, westeurope, EUR4")
    p.add_argument("--policy", default="eu", help="built-in policy name or policy file (default: eu)")
    p.add_argument("--tag", action="append", metavar="KEY=VALUE", help="resource tag (data class, waivers)")
    p.add_argument("--resource", help="resource id/ARN (for waivers)")
    p.add_argument("--explain", action="store_true", help="show the full reasoning chain")
    p.add_argument("--unknown-ok", action="store_true", help="decide on a location the catalog lacks (it is unknown)")
    p.set_defaults(func=_cmd_check)

    p = sub.add_parser("policy", help="validate, show or describe policies")
    psub = p.add_subparsers(dest="policy_cmd", metavar="ACTION", parser_class=_Parser, required=True)
    v = psub.add_parser("validate", help="check policy files (exit 2 on the first error)")
    v.add_argument("files", nargs="+", metavar="FILE")
    s = psub.add_parser("show", help="print a policy as eu-residency reads it")
    s.add_argument("policy", nargs="?", default="eu", metavar="NAME|FILE")
    psub.add_parser("schema", help="print the JSON Schema of policy files")
    p.set_defaults(func=_cmd_policy)

    for register in _extensions():
        register(sub)
    return parser


def _extensions() -> list[Callable[[argparse._SubParsersAction[_Parser]], None]]:
    """Sub-commands that live in their own modules (scan, history, demo, guardrails, plan)."""
    out = []
    try:
        from ._cli_scan import register  # type: ignore[import-not-found, unused-ignore]
    except ImportError:  # pragma: no cover - during bootstrap only
        pass
    else:
        out.append(register)
    from ._cli_guardrails import register as register_guardrails

    out.append(register_guardrails)

    from ._cli_plan import register as register_plan

    out.append(register_plan)
    return out


def main(argv: Sequence[str] | None = None, *, stdout: TextIO | None = None) -> int:
    """Run the CLI; returns the exit code instead of exiting."""
    out = stdout or sys.stdout
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help(out)
            return EXIT_USAGE
        code: int = args.func(args, out)
        return code
    except _UsageError as exc:
        sys.stderr.write(f"{exc}\n")
        return EXIT_USAGE
    except PolicyError as exc:
        sys.stderr.write(f"PolicyError: {exc}\n")
        return EXIT_USAGE
    except ResidencyError as exc:
        sys.stderr.write(f"{type(exc).__name__}: {exc}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:  # never a traceback, never the violations code
        first = (str(exc).splitlines() or [""])[0][:300]
        sys.stderr.write(f"{type(exc).__name__}: {first} (unexpected error; nothing was decided)\n")
        return EXIT_USAGE


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
