"""A missing cloud SDK gives one clear error naming the extra to install."""

from __future__ import annotations

import subprocess
import sys

import pytest

BLOCK = """
import sys, importlib.abc
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {blocked!r}:
            raise ImportError(f"No module named {{name!r}} (blocked by the test)")
        return None
sys.meta_path.insert(0, Block())
"""


def _run(blocked: set[str], code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", BLOCK.format(blocked=blocked) + code],
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize(
    ("provider", "blocked"),
    [("aws", {"boto3", "botocore"}), ("azure", {"azure"}), ("gcp", {"google"})],
)
def test_scan_without_the_sdk_names_the_extra(provider: str, blocked: set[str]) -> None:
    proc = _run(
        blocked, f"from residency._cli import main; raise SystemExit(main(['scan', '{provider}', '--no-history']))"
    )
    assert proc.returncode == 2, proc.stderr
    assert f"pip install 'eu-residency[{provider}]'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_load_provider_raises_provider_not_installed() -> None:
    proc = _run(
        {"boto3", "botocore"},
        "import residency\n"
        "try:\n    residency.load_provider('aws')\n"
        "except residency.ProviderNotInstalledError as e:\n    print('OK', isinstance(e, ImportError), e)\n",
    )
    assert proc.stdout.startswith("OK True provider 'aws' needs boto3: pip install 'eu-residency[aws]'"), proc.stderr


def test_guard_skips_missing_sdks_and_core_still_works() -> None:
    proc = _run(
        {"boto3", "botocore", "azure", "google"},
        "import residency\n"
        "with residency.guard(policy='eu') as g:\n    print(sorted(g.skipped), g.providers)\n"
        "print(residency.load_policy('eu').check('aws', 'eu-west-2').status)\n",
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["['aws', 'azure', 'gcp'] ()", "denied"]
