"""Where each planned resource is written: the ``.tf`` file and line of its block.

``residency plan --config-dir DIR`` reads the configuration's ``.tf`` files with
python-hcl2 (the ``plan`` extra; a real HCL parser, not regular expressions) so
SARIF results point at the resource block and GitHub code scanning shows them
on the pull request. A resource inside a module is found in the module's
directory when its ``source`` is local (``./modules/x``); a registry or git
module has no file in the repository, and its resources keep their logical
location (the address).

Paths are relative to the repository root (the nearest directory above ``DIR``
holding ``.git``, else the current directory), as GitHub expects.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._plan import Plan

__all__ = ["locate_blocks", "resource_blocks"]


def resource_blocks(path: pathlib.Path) -> dict[tuple[str, str], int]:
    """``(type, name) -> line`` of every ``resource`` block in one ``.tf`` file (needs python-hcl2).

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = pathlib.Path(d, "main.tf")
    ...     _ = p.write_text('provider "aws" {}\\n\\nresource "aws_s3_bucket" "logs" {\\n  bucket = "l"\\n}\\n')
    ...     resource_blocks(p)
    {('aws_s3_bucket', 'logs'): 3}
    """
    import hcl2

    tree = hcl2.parses_to_tree(path.read_text("utf-8"))
    found: dict[tuple[str, str], int] = {}
    for body in tree.children:
        for block in getattr(body, "children", ()):
            if getattr(block, "data", None) != "block":
                continue
            labels = [_label(c) for c in block.children if getattr(c, "data", None) in ("identifier", "string")]
            if len(labels) >= 3 and labels[0] == "resource":
                found.setdefault((labels[1], labels[2]), block.meta.line)
    return found


def _label(node: Any) -> str:
    if node.data == "identifier":
        return str(node.children[0])
    return "".join(str(p.children[0]) for p in node.children if getattr(p, "data", None) == "string_part")


def _repo_root(start: pathlib.Path) -> pathlib.Path:
    for d in (start, *start.parents):
        if (d / ".git").exists():
            return d
    return pathlib.Path.cwd().resolve()


def _uri(path: pathlib.Path, root: pathlib.Path) -> str:
    try:
        return path.resolve().relative_to(root).as_posix()
    except ValueError:
        return path.resolve().as_uri()


def locate_blocks(
    plan: Plan, config_dir: str | os.PathLike[str], addresses: Iterable[str]
) -> tuple[dict[str, tuple[str, int]], list[str]]:
    """``address -> (file, line)`` for the resources whose block is found, and notes on what was not."""
    base = pathlib.Path(config_dir).resolve()
    try:
        import hcl2  # noqa: F401
    except ImportError:
        return {}, [
            "--config-dir: python-hcl2 is not installed (pip install 'eu-residency[plan]'); "
            "SARIF results name the resource address instead of its file and line"
        ]
    if not base.is_dir():
        return {}, [f"--config-dir {config_dir}: not a directory; SARIF results name the resource address"]
    root = _repo_root(base)
    notes: list[str] = []
    dirs: dict[tuple[str, ...], pathlib.Path | None] = {(): base}
    parsed: dict[pathlib.Path, dict[tuple[str, str], tuple[str, int]]] = {}

    def module_dir(calls: tuple[str, ...]) -> pathlib.Path | None:
        if calls in dirs:
            return dirs[calls]
        parent = module_dir(calls[:-1])
        call: Mapping[str, Any] = plan.module_call(calls) or {}
        source = str(call.get("source", ""))
        found = None
        if parent is not None and source.startswith(("./", "../")):
            found = (parent / source).resolve()
        elif parent is not None:
            notes.append(
                f"module.{'.module.'.join(calls)} comes from {source or 'an unknown source'}, not a local "
                "directory: its resources are named by address"
            )
        dirs[calls] = found
        return found

    def blocks(d: pathlib.Path) -> dict[tuple[str, str], tuple[str, int]]:
        if d not in parsed:
            parsed[d] = {}
            for tf in sorted(d.glob("*.tf")):
                try:
                    lines = resource_blocks(tf)
                except Exception as exc:  # any parse failure only costs this file's positions
                    why = f"not parsed as HCL ({type(exc).__name__})"
                    notes.append(f"{_uri(tf, root)}: {why}; its resources are named by address")
                    continue
                for key, line in lines.items():
                    parsed[d].setdefault(key, (_uri(tf, root), line))
        return parsed[d]

    from ._plan import _module_calls

    out: dict[str, tuple[str, int]] = {}
    for address in addresses:
        raw = plan.resources.get(address)
        if raw is None:
            continue
        d = module_dir(_module_calls(raw.module))
        hit = blocks(d).get((raw.type, raw.name)) if d is not None else None
        if hit is not None:
            out[address] = hit
    return out, notes
