"""The CLI basics, called in-process: exit codes, formats, one-line errors."""

from __future__ import annotations

import io
import json
import pathlib

import pytest

from residency._cli import main


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    buf = io.StringIO()
    code = main(argv, stdout=buf)
    return code, buf.getvalue(), capsys.readouterr().err


def test_check_denied(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["check", "aws", "eu-west-2"], capsys)
    assert code == 1
    assert out == "denied: eu-west-2 (Europe (London)) stores data in GB, outside EU (policy 'eu')\n"


def test_check_allowed(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["check", "aws", "eu-central-2", "--policy", "eea-ch"], capsys)
    assert code == 0
    assert out.startswith("allowed: ")


def test_check_explain(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["check", "aws", "EU", "--explain"], capsys)
    assert code == 0
    assert "countries: IE" in out


def test_check_region_typo_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["check", "aws", "eu-wset-1"], capsys)
    assert code == 2
    assert "did you mean 'eu-west-1'?" in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_check_unknown_ok(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["check", "aws", "mars-east-1", "--unknown-ok"], capsys)
    assert code == 1
    assert out.startswith("unknown: ")


def test_bad_policy_file_is_one_line_exit_2(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "team.yaml"
    bad.write_text("allow: EUR\n")
    for argv in (["policy", "validate", str(bad)], ["check", "aws", "eu-west-1", "--policy", str(bad)]):
        code, _, err = run(argv, capsys)
        assert code == 2
        assert err == f"PolicyError: {bad}: key 'allow': unknown geography 'EUR' (did you mean 'EU'?)\n"


def test_malformed_yaml_exit_2(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "broken.yaml"
    bad.write_text("allow: [EU\n")
    code, _, err = run(["policy", "validate", str(bad)], capsys)
    assert code == 2
    assert err.startswith(f"PolicyError: {bad}: malformed YAML at line")


def test_policy_validate_ok(capsys: pytest.CaptureFixture[str]) -> None:
    root = pathlib.Path(__file__).resolve().parent.parent
    code, out, _ = run(["policy", "validate", str(root / "policies" / "eu.yaml")], capsys)
    assert code == 0
    assert "ok (policy 'eu', allow EU)" in out


def test_policy_schema_and_show(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["policy", "schema"], capsys)
    assert code == 0
    assert json.loads(out)["title"] == "eu-residency policy"
    code, out, _ = run(["policy", "show", "eea-ch"], capsys)
    assert code == 0
    assert "allow: EEA+CH" in out


def test_regions_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["regions", "--provider", "aws", "--format", "json"], capsys)
    assert code == 0
    rows = json.loads(out)
    by_code = {r["location"]: r for r in rows}
    assert by_code["eu-west-2"]["countries"] == ["GB"]
    assert by_code["eu-west-2"]["geographies"] == []
    assert by_code["eu-central-1"]["geographies"] == ["EU", "EEA", "EEA+CH"]
    assert by_code["aws-global"]["countries"] == []
    assert all(r["provider"] == "aws" and r["source"] for r in rows)
    for key in ("provider", "location", "kind", "countries", "members", "geographies", "source"):
        assert key in rows[0]


def test_regions_table(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["regions", "--provider", "aws"], capsys)
    assert code == 0
    assert "eu-west-2" in out
    assert "Europe (London)" in out


def test_regions_drift(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["regions", "--drift", "--provider", "aws", "--format", "json"], capsys)
    assert code == 0
    assert json.loads(out)["missing"] == []


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["bogus"], capsys)
    assert code == 2
    assert "invalid choice" in err
    code, _, err = run(["check", "ibm", "eu-de"], capsys)
    assert code == 2


def test_no_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run([], capsys)
    assert code == 2
    assert "usage: residency" in out


@pytest.mark.parametrize(
    ("provider", "typed", "label"),
    [
        ("azure", "West Europe", "westeurope (West Europe)"),
        ("azure", "westeurope", "westeurope (West Europe)"),
        ("azure", "germany west central", "germanywestcentral (Germany West Central)"),
        ("gcp", "EUROPE-WEST3", "europe-west3 (Frankfurt, Germany)"),
        ("aws", "eu-central-1", "eu-central-1 (Europe (Frankfurt))"),
    ],
)
def test_check_echoes_the_normalised_code_and_the_display_name(
    provider: str, typed: str, label: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(["check", provider, typed], capsys)
    assert code == 0
    assert out.startswith(f"allowed: {label} stores data in ")
    code, out, _ = run(["check", provider, typed, "--explain"], capsys)
    assert f"location:  {provider}:{label} [region]" in out


def test_check_shows_no_name_that_is_the_code_itself(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(["check", "gcp", "global"], capsys)
    assert out.startswith("unknown: global has no known country")


def test_policy_validate_refuses_a_5_mb_file_in_one_line(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    huge = tmp_path / "huge.yaml"
    huge.write_text("allow: EU\ndescription: " + "x" * 5_000_000 + "\n")
    code, _, err = run(["policy", "validate", str(huge)], capsys)
    assert code == 2
    assert err == (
        f"PolicyError: {huge}: larger than the limit of 1,048,576 bytes (1 MiB); "
        "split it, or name geographies and countries instead of listing every location\n"
    )
