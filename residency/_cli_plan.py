"""The ``plan`` sub-command: check a Terraform/OpenTofu plan before it is applied.

::

    terraform plan -out=tfplan && terraform show -json tfplan > plan.json
    residency plan plan.json [more.json ... | -] [--policy NAME|FILE] [--all] [--config-dir DIR]
                   [--format table|json|sarif|junit|html] [--output FILE] [--allow-unknown]
                   [--max-plan-size MB]

Exit codes as the scan's: 0 clean, 1 violations, 2 usage or configuration
error (not a plan, a bad policy), and unknowns (values known only after apply)
fail unless ``--allow-unknown``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, TextIO

from ._cli_scan import _check_output, _output
from ._errors import PlanError
from ._plan import DEFAULT_MAX_BYTES, check_plan
from ._policy import load_policy
from ._report import FORMATS, Report, write_report

if TYPE_CHECKING:
    from ._cli import _Parser

__all__ = ["register"]


def _megabytes(value: str) -> int:
    try:
        n = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a size in MB, got {value!r}") from None
    if n <= 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return int(n * 1024 * 1024)


def _cmd_plan(args: argparse.Namespace, out: TextIO) -> int:
    _check_output(args.output)
    if args.plans.count("-") > 1:
        raise PlanError("<stdin>", None, "'-' (standard input) can be given once")
    policy = load_policy(args.policy)
    result = check_plan(
        args.plans,
        policy,
        all_resources=args.all,
        config_dir=args.config_dir,
        max_bytes=args.max_plan_size,
    )
    report = Report.from_result(result, policy, allow_unknown=args.allow_unknown)
    with _output(args.output, out) as target:
        write_report(report, args.format, target)
    if args.output and args.output != "-":
        out.write(f"{report.summary_line()}\n{args.format} report written to {args.output}\n")
    return report.exit_code


def _register(sub: argparse._SubParsersAction[_Parser]) -> None:
    p = sub.add_parser(
        "plan",
        help="check a Terraform/OpenTofu plan (terraform show -json) before apply (exit 1 on violations)",
        description="Find every place a planned resource's data would land outside the policy, before apply.",
    )
    p.add_argument(
        "plans", nargs="+", metavar="PLAN.json", help="output of 'terraform show -json PLANFILE'; - for stdin"
    )
    p.add_argument("--policy", default="eu", help="built-in policy name or policy file (default: eu)")
    p.add_argument("--all", action="store_true", help="judge every resource of the prior state too, not only changes")
    p.add_argument("--config-dir", metavar="DIR", help="the .tf sources: SARIF results point at each resource block")
    p.add_argument("--format", choices=FORMATS, default="table", help="report format (default: table)")
    p.add_argument("--output", "-o", metavar="FILE", help="write the report to FILE (default: stdout)")
    p.add_argument(
        "--allow-unknown", action="store_true", help="do not fail on what the plan cannot tell (known after apply)"
    )
    p.add_argument(
        "--max-plan-size",
        type=_megabytes,
        default=DEFAULT_MAX_BYTES,
        metavar="MB",
        help=f"refuse larger plan files (default: {DEFAULT_MAX_BYTES // 1024 // 1024})",
    )
    p.set_defaults(func=_cmd_plan)


#: typed as a plain callable: ``residency._cli`` collects it into a list of such
register: Callable[[argparse._SubParsersAction[_Parser]], None] = _register
