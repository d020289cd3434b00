"""The public surface is curated: ``__all__`` lists exactly the public names."""

from __future__ import annotations

import subprocess
import sys

import residency


def test_all_matches_public_names() -> None:
    # pytest's assertion rewriting adds '@py_*' names to plugin packages
    public = {name for name in dir(residency) if not name.startswith(("_", "@"))}
    # sub-modules that get imported as attributes are not part of the surface
    public -= {"annotations", "testing", "pytest_plugin", "providers", "policies", "data"}
    assert set(residency.__all__) - {"__version__"} == public


def test_every_exported_name_is_documented() -> None:
    for name in residency.__all__:
        obj = getattr(residency, name)
        if (isinstance(obj, type) or callable(obj)) and getattr(obj, "__module__", "").startswith("residency"):
            assert getattr(obj, "__doc__", None), name


def test_error_tree() -> None:
    assert issubclass(residency.PolicyError, residency.ResidencyError)
    assert issubclass(residency.ResidencyViolation, residency.ResidencyError)
    assert issubclass(residency.ProviderNotInstalledError, ImportError)
    assert issubclass(residency.ProviderNotInstalledError, residency.ProviderError)
    assert issubclass(residency.HistoryError, residency.ResidencyError)
    assert issubclass(residency.ReportError, residency.ResidencyError)
    assert issubclass(residency.PlanError, residency.ResidencyError)
    from residency.testing import NotResidentError

    assert issubclass(NotResidentError, residency.ResidencyError)
    assert issubclass(NotResidentError, AssertionError)


def test_core_never_imports_a_cloud_sdk() -> None:
    code = (
        "import sys, residency, residency._cli, residency._policy, residency._catalog\n"
        "residency.load_policy('eu').check('aws', 'eu-west-1')\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore', 'azure', 'google'))\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_guardrails_api_is_exported() -> None:
    assert {"check_guardrails", "emit_guardrails"} <= set(residency.__all__)
    assert residency.check_guardrails.__module__ == "residency._guardrails"
