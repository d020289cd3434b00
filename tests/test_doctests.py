"""The examples in docstrings run and are right, in the core and in the provider adapters."""

from __future__ import annotations

import doctest
import importlib
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
_TREES = {"residency": "residency", "providers": "residency.providers"}


def _modules_with_examples() -> list[str]:
    found = []
    for folder, package in _TREES.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            if ">>>" not in path.read_text("utf-8"):
                continue
            parts = list(path.relative_to(ROOT / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found.append(".".join([package, *parts]))
    return found


MODULES = _modules_with_examples()


def test_the_core_and_every_provider_have_examples() -> None:
    assert "residency" in MODULES
    assert {m.split(".")[2] for m in MODULES if m.startswith("residency.providers.")} >= {"azure", "gcp"}


@pytest.mark.parametrize("module", MODULES)
def test_docstring_examples(module: str) -> None:
    result = doctest.testmod(importlib.import_module(module))
    assert result.failed == 0
    assert result.attempted > 0
