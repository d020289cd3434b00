#!/usr/bin/env python3
"""One entry point that sets everything up and runs it, on a machine with only Python 3.

    python3 dev.py demo     # the demo: a simulated cloud estate, scanned and guarded
    python3 dev.py test     # lint, type-check and the whole test suite (what CI runs)

Both create ``.venv`` (once, and again when pyproject.toml or package.json
change), install the project with its development extras into it, install the
Node.js test peers (Azurite) when package.json asks for them, and run.
Nothing is installed outside the project folder.
"""

from __future__ import annotations

import hashlib
import os
import pathlib
import shutil
import subprocess
import sys
import venv

ROOT = pathlib.Path(__file__).resolve().parent
VENV = pathlib.Path(os.environ.get("RESIDENCY_VENV", ROOT / ".venv"))
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / "python"


def _say(msg: str) -> None:
    print(f"[dev] {msg}", flush=True)


def _run(*cmd: str | os.PathLike[str], check: bool = True) -> int:
    _say(" ".join(str(c) for c in cmd))
    return subprocess.run([str(c) for c in cmd], cwd=ROOT, check=check).returncode


def _stamp() -> str:
    h = hashlib.sha256()
    for name in ("pyproject.toml", "package.json", "package-lock.json"):
        p = ROOT / name
        if p.exists():
            h.update(name.encode() + p.read_bytes())
    h.update(sys.version.encode())
    return h.hexdigest()


def ensure_env() -> None:
    """Create the virtualenv and install the project (editable) with its dev extras."""
    if sys.version_info < (3, 10):  # noqa: UP036 - dev.py runs before the venv exists
        sys.exit(f"eu-residency needs Python 3.10 or newer, this is {sys.version.split()[0]}")
    stamp_file = VENV / ".residency-stamp"
    if not PY.exists():
        _say(f"creating {VENV}")
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    if not stamp_file.exists() or stamp_file.read_text() != _stamp():
        pip = [PY, "-m", "pip", "--disable-pip-version-check", "-q"]
        _run(*pip, "install", "--upgrade", "pip", "setuptools>=77", "wheel")
        _run(*pip, "install", "-e", ".[dev]")
        node_peers = ROOT / "package.json"
        if node_peers.exists():
            npm = shutil.which("npm")
            if npm:
                lock = ROOT / "package-lock.json"
                _run(npm, "ci" if lock.exists() else "install", "--no-audit", "--no-fund", "--loglevel=error")
            else:
                _say("npm not found: tests that need Azurite will be skipped")
        stamp_file.write_text(_stamp())


def cmd_test(extra: list[str]) -> int:
    ensure_env()
    failed = []
    for name, cmd in (
        ("ruff check", [BIN / "ruff", "check", "."]),
        ("ruff format", [BIN / "ruff", "format", "--check", "."]),
        ("mypy", [BIN / "mypy"]),
    ):
        if _run(*cmd, check=False) != 0:
            failed.append(name)
    rc = _run(PY, "-m", "pytest", *extra, check=False)
    if rc != 0:
        failed.append("pytest")
    if failed:
        _say(f"FAILED: {', '.join(failed)}")
        return 1
    _say("all checks passed")
    return 0


def cmd_demo(extra: list[str]) -> int:
    ensure_env()
    return _run(BIN / "residency", "demo", *extra, check=False)


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("test", "demo", "setup"):
        print(__doc__)
        return 2
    if argv[0] == "setup":
        ensure_env()
        return 0
    return {"test": cmd_test, "demo": cmd_demo}[argv[0]](argv[1:])


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
