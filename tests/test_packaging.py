"""The wheel contains every module and data file, under ``residency`` only."""

from __future__ import annotations

import pathlib
import subprocess
import sys
import zipfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    (path,) = out.glob("eu_residency-*.whl")
    return zipfile.ZipFile(path)


def _expected() -> set[str]:
    names = set()
    for src, dest in (
        ("residency", "residency"),
        ("providers", "residency/providers"),
        ("policies", "residency/policies"),
    ):
        for f in (ROOT / src).rglob("*"):
            if f.is_file() and f.suffix in (".py", ".json", ".yaml", ".typed") and "__pycache__" not in f.parts:
                names.add(f"{dest}/{f.relative_to(ROOT / src).as_posix()}")
    return names


def test_every_module_and_data_file_is_in_the_wheel(wheel: zipfile.ZipFile) -> None:
    inside = set(wheel.namelist())
    missing = sorted(_expected() - inside)
    assert missing == []


def test_no_top_level_providers_or_policies(wheel: zipfile.ZipFile) -> None:
    tops = {n.split("/")[0] for n in wheel.namelist()}
    assert "providers" not in tops
    assert "policies" not in tops
    assert {t for t in tops if not t.endswith(".dist-info")} == {"residency"}


def test_entry_points(wheel: zipfile.ZipFile) -> None:
    (ep,) = [n for n in wheel.namelist() if n.endswith("entry_points.txt")]
    text = wheel.read(ep).decode()
    assert "residency = residency._cli:main" in text
    assert "[pytest11]" in text
    assert "residency = residency.pytest_plugin" in text


def test_installed_package_layout() -> None:
    import residency.policies
    import residency.providers

    assert pathlib.Path(residency.providers.__file__).parent.name == "providers"
    assert pathlib.Path(residency.policies.__file__).parent.name == "policies"
    code = "import importlib.util as u; assert u.find_spec('providers') is None and u.find_spec('policies') is None"
    subprocess.run([sys.executable, "-c", code], check=True, cwd="/")
