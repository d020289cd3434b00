"""``residency plan``: exit codes, every report format, stdin, SARIF file/line locations, and bad input."""

from __future__ import annotations

import io
import json
import pathlib
import sys
import xml.etree.ElementTree as ET
from typing import Any

import jsonschema
import pytest

from residency import check_plan
from residency._cli import main

DATA = pathlib.Path(__file__).parent / "data"
PLANS = DATA / "plans"


def _plan_with(tmp_path: pathlib.Path, keep: set[str], name: str = "aws.json") -> pathlib.Path:
    plan = json.loads((PLANS / name).read_text())
    plan["resource_changes"] = [rc for rc in plan["resource_changes"] if rc["address"] in keep]
    path = tmp_path / f"only-{'-'.join(sorted(keep))[:40]}.json"
    path.write_text(json.dumps(plan))
    return path


def _run(argv: list[str]) -> tuple[int, str]:
    out = io.StringIO()
    code = main(argv, stdout=out)
    return code, out.getvalue()


def test_exit_codes(tmp_path: pathlib.Path) -> None:
    clean = _plan_with(tmp_path, {"aws_s3_bucket.eu", "aws_dynamodb_table.sessions"})
    unknown = _plan_with(tmp_path, {"aws_s3_bucket.eu", "aws_s3_bucket_replication_configuration.to_partner"})
    assert _run(["plan", str(clean)])[0] == 0
    assert _run(["plan", str(PLANS / "aws.json")])[0] == 1
    code, _ = _run(["plan", str(unknown)])
    assert code not in (0, 2)  # unknowns fail: the shared exit-code rule decides which code
    assert _run(["plan", str(unknown), "--allow-unknown"])[0] == 0
    assert _run(["plan", str(PLANS / "aws.json"), "--allow-unknown"])[0] == 1


def test_table_names_the_plan_and_the_addresses() -> None:
    code, out = _run(["plan", str(PLANS / "aws_modules.json")])
    assert code == 1
    assert out.startswith(f"eu-residency plan: {PLANS / 'aws_modules.json'} (changes only), policy 'eu'")
    assert "module.data.aws_s3_bucket.y[0]" in out
    assert "eu-west-2" in out


def test_all_flag_judges_the_prior_state() -> None:
    _, out = _run(["plan", str(PLANS / "aws.json"), "--all"])
    assert "aws_s3_bucket.only_in_state" in out
    assert "(every resource)" in out


def test_json_report_is_the_scan_report_with_the_plan_as_scope(tmp_path: pathlib.Path) -> None:
    target = tmp_path / "r.json"
    argv = ["plan", str(PLANS / "azure.json"), str(PLANS / "gcp.json"), "--format", "json", "-o", str(target)]
    code, out = _run(argv)
    assert code == 1
    assert f"json report written to {target}" in out
    report = json.loads(target.read_text())
    jsonschema.Draft202012Validator(json.loads((DATA / "report-json.schema.json").read_text())).validate(report)
    scope = report["scan"]["scope"]
    assert scope["provider"] == "terraform"
    assert [p["file"] for p in scope["plans"]] == [str(PLANS / "azure.json"), str(PLANS / "gcp.json")]
    by_id = {f["resource_id"]: f for f in report["findings"]}
    grs = by_id["azurerm_storage_account.grs_uk"]
    assert grs["status"] == "violation"
    assert [(loc["location"], loc["role"]) for loc in grs["locations"]] == [
        ("uksouth", "storage account"),
        ("ukwest", "GRS secondary (pair of uksouth)"),
    ]
    assert report["summary"]["exit_code"] == 1


def _sarif(argv: list[str]) -> dict[str, Any]:
    code, out = _run([*argv, "--format", "sarif"])
    assert code in (0, 1, 3)
    sarif: dict[str, Any] = json.loads(out)
    jsonschema.Draft4Validator(json.loads((DATA / "sarif-schema-2.1.0.json").read_text())).validate(sarif)
    return sarif


def test_sarif_without_sources_names_the_address() -> None:
    sarif = _sarif(["plan", str(PLANS / "aws.json")])
    results = {r["locations"][0]["logicalLocations"][0]["fullyQualifiedName"]: r for r in sarif["runs"][0]["results"]}
    assert "aws_s3_bucket.london" in results
    assert results["aws_s3_bucket.london"]["level"] == "error"
    assert "aws_s3_bucket.eu" not in results  # compliant resources are not results


TF_ROOT = """\
provider "aws" {
  region = var.region
}

resource "aws_s3_bucket" "london" {
  provider = aws.london
  bucket   = "acme-london"
}

# a comment and a blank line before the next block

resource "aws_dynamodb_table" "orders" {
  name = "orders"
  replica {
    region_name = "us-west-2"
  }
}
"""

TF_MODULE = """\
variable "n" {}

resource "aws_s3_bucket" "y" {
  count  = 2
  bucket = "data-${count.index}"
}
"""


def test_sarif_points_at_the_resource_block(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("hcl2")
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    infra = repo / "infra"
    (infra / "modules" / "data").mkdir(parents=True)
    (infra / "main.tf").write_text(TF_ROOT)
    (infra / "modules" / "data" / "main.tf").write_text(TF_MODULE)
    (infra / "broken.tf").write_text('resource "x" {\n')
    monkeypatch.chdir(tmp_path)  # paths are relative to the repository root, not the working directory
    aws = _sarif(["plan", str(PLANS / "aws.json"), "--config-dir", str(infra)])
    where = {
        r["locations"][0]["logicalLocations"][0]["fullyQualifiedName"]: r["locations"][0]["physicalLocation"]
        for r in aws["runs"][0]["results"]
    }
    assert where["aws_s3_bucket.london"] == {"artifactLocation": {"uri": "infra/main.tf"}, "region": {"startLine": 5}}
    assert where["aws_dynamodb_table.orders"]["region"] == {"startLine": 12}
    assert where["aws_kms_replica_key.us"]["region"] == {"startLine": 1}  # no block in the sources: the address
    assert any("infra/broken.tf: not parsed as HCL" in n for n in aws["runs"][0]["properties"]["notes"])
    mods = _sarif(["plan", str(PLANS / "aws_modules.json"), "--config-dir", str(infra)])
    located = {
        r["locations"][0]["logicalLocations"][0]["fullyQualifiedName"]: r["locations"][0]["physicalLocation"]
        for r in mods["runs"][0]["results"]
    }
    assert located["module.data.aws_s3_bucket.y[1]"] == {
        "artifactLocation": {"uri": "infra/modules/data/main.tf"},
        "region": {"startLine": 3},
    }


@pytest.mark.parametrize("fmt", ["junit", "html", "table"])
def test_other_formats(fmt: str, tmp_path: pathlib.Path) -> None:
    target = tmp_path / f"r.{fmt}"
    code, _ = _run(["plan", str(PLANS / "gcp.json"), "--format", fmt, "-o", str(target)])
    assert code == 1
    text = target.read_text()
    if fmt == "junit":
        root = ET.fromstring(text)
        names = {tc.get("name") for tc in root.iter("testcase")}
        assert "google_storage_bucket.eur5" in names
    elif fmt == "html":
        assert "google_storage_bucket.eur5" in text
        assert text.lstrip().lower().startswith("<!doctype html")
    else:
        assert "google_storage_bucket.eur5" in text


def test_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO((PLANS / "gcp.json").read_bytes())))
    code, out = _run(["plan", "-", "--format", "json"])
    assert code == 1
    assert json.loads(out)["scan"]["scope"]["accounts"] == ["<stdin>"]


# --------------------------------------------------------------------------- bad input


BAD_AFTER = {"address": "a.b", "type": "a", "change": {"actions": [], "after": 1}}


def _bad_inputs(tmp: pathlib.Path) -> list[tuple[pathlib.Path, str]]:
    state = {"version": 4, "terraform_version": "1.9.5", "serial": 3, "lineage": "x", "outputs": {}, "resources": []}
    shown_state = {"format_version": "1.0", "terraform_version": "1.9.5", "values": {"root_module": {}}}
    plan = json.loads((PLANS / "gcp.json").read_text())
    cases = {
        "state.tfstate": (json.dumps(state), "a Terraform state file, not a plan"),
        "shown-state.json": (json.dumps(shown_state), "a state (terraform show -json without a plan file)"),
        "main.tf": (TF_ROOT, "not JSON at line 1, column 1"),
        "random.json": (json.dumps({"hello": [1, 2, 3]}), "key 'format_version': missing"),
        "list.json": ("[1, 2]", "the JSON is list, expected an object"),
        "truncated.json": ((PLANS / "gcp.json").read_text()[:5000], "JSON ends early"),
        "v2.json": (json.dumps({**plan, "format_version": "2.0"}), "unsupported version '2.0'"),
        "v-number.json": (json.dumps({**plan, "format_version": 1.2}), "unsupported version 1.2"),
        "empty.json": ("", "the file is empty"),
        "changes-not-a-list.json": (json.dumps({**plan, "resource_changes": {}}), "key 'resource_changes'"),
        "bad-change.json": (
            json.dumps({**plan, "resource_changes": [{"address": "a.b", "type": "a", "change": {"after": 5}}]}),
            "key 'resource_changes[0].change': expected an object with a list of actions",
        ),
        "bad-after.json": (
            json.dumps({**plan, "resource_changes": [BAD_AFTER]}),
            "key 'resource_changes[0].change.after': expected an object, got int",
        ),
        "binary.tfplan": ("PK\x03\x04tfplan", "a binary plan file"),
        "latin1.json": ("\xff\xfe{", "not UTF-8 text (byte 0)"),
    }
    out = []
    for name, (text, message) in cases.items():
        path = tmp / name
        path.write_bytes(text.encode("latin-1") if name in ("latin1.json", "binary.tfplan") else text.encode())
        out.append((path, message))
    return out


def test_bad_input_is_one_line_and_exit_2(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    for path, message in [
        *_bad_inputs(tmp_path),
        (tmp_path / "missing.json", "cannot read it: No such file or directory"),
        (tmp_path, "is a directory"),
    ]:
        code = main(["plan", str(PLANS / "aws.json"), str(path)], stdout=io.StringIO())
        err = capsys.readouterr().err
        assert code == 2, (path.name, err)
        assert err.count("\n") == 1, err
        assert "Traceback" not in err
        assert err.startswith(f"PlanError: {path}"), err
        assert message in err, (path.name, err)


def test_huge_plan_is_refused_before_it_is_read(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    big = tmp_path / "huge.json"
    with big.open("wb") as f:  # 200 MB, sparse: refused from its size, never read
        f.truncate(200 * 1024 * 1024)
    assert main(["plan", str(big)], stdout=io.StringIO()) == 2
    err = capsys.readouterr().err
    assert err == f"PlanError: {big}: 200 MB, over the 128 MB limit for a plan (raise it with --max-plan-size MB, " + (
        "or split the configuration)\n"
    )
    assert main(["plan", str(PLANS / "gcp.json"), "--max-plan-size", "0.01"], stdout=io.StringIO()) == 2
    assert "over the 0 MB limit" in capsys.readouterr().err


def test_huge_stdin_is_bounded(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b" " * 30_000 + b"{}")))
    assert main(["plan", "-", "--max-plan-size", "0.02"], stdout=io.StringIO()) == 2
    assert "PlanError: <stdin>: more than 0 MB, over the 0 MB limit" in capsys.readouterr().err


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan"], stdout=io.StringIO()) == 2
    assert main(["plan", str(PLANS / "aws.json"), "--policy", "nowhere"], stdout=io.StringIO()) == 2
    assert "PolicyError" in capsys.readouterr().err
    assert main(["plan", "-", "-"], stdout=io.StringIO()) == 2
    assert main(["plan", str(PLANS / "aws.json"), "-o", "/nonexistent/dir/r.json"], stdout=io.StringIO()) == 2
    assert "ReportError" in capsys.readouterr().err


ROOT = pathlib.Path(__file__).parent.parent


def test_pre_commit_hook_and_ci_example() -> None:
    import yaml

    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    hook = next(h for h in hooks if h["id"] == "residency-plan")
    assert hook["entry"] == "residency plan"
    assert hook["pass_filenames"] is True
    workflow = yaml.safe_load((ROOT / "examples" / "ci" / "plan-workflow.yml").read_text())
    steps = workflow["jobs"]["plan"]["steps"]
    runs = [s.get("run", "") for s in steps]
    assert any("terraform show -json tfplan > plan.json" in r for r in runs)
    residency_step = next(s for s in steps if s.get("id") == "residency")
    # the workflow's own command line parses, and writes SARIF where upload-sarif looks for it
    argv = residency_step["run"].split()[1:]
    from residency._cli import build_parser

    args = build_parser().parse_args(argv)
    assert (args.format, args.output, args.config_dir) == ("sarif", "../residency.sarif", ".")
    upload = next(s for s in steps if s.get("uses", "").startswith("github/codeql-action/upload-sarif"))
    assert upload["with"]["sarif_file"] == "residency.sarif"
    assert workflow["permissions"]["security-events"] == "write"


def test_config_dir_without_the_parser_falls_back_to_addresses(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "hcl2", None)  # as if the 'plan' extra were not installed
    (tmp_path / "main.tf").write_text(TF_ROOT)
    sarif = _sarif(["plan", str(PLANS / "aws.json"), "--config-dir", str(tmp_path)])
    run = sarif["runs"][0]
    assert any("pip install 'eu-residency[plan]'" in n for n in run["properties"]["notes"])
    assert all(r["locations"][0]["physicalLocation"]["region"] == {"startLine": 1} for r in run["results"])


def test_pre_commit_hook_picks_plan_files_only() -> None:
    import re

    import yaml

    hook = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())[0]
    files = re.compile(hook["files"])
    assert all(files.search(p) for p in ("plan.json", "infra/tfplan.json", "plans/prod.plan.json"))
    assert not any(files.search(p) for p in ("package.json", "infra/plans/x.txt", "tests/data/report.json"))


def test_trimmed_decoding_answers_as_the_whole_document(tmp_path: pathlib.Path) -> None:
    """Dropping what is never read (planned_values, before, sensitivity maps) changes no finding."""
    from residency._plan import _loads_plan, read_plan

    for name in ("aws.json", "aws_modules.json", "azure.json", "gcp.json"):
        text = (PLANS / name).read_text()
        trimmed = _loads_plan(text)
        assert trimmed["planned_values"] == {}
        assert all("after_sensitive" not in rc["change"] for rc in trimmed["resource_changes"])
        whole = json.loads(text)
        for all_resources in (False, True):
            a = check_plan(whole, all_resources=all_resources).findings
            b = check_plan(read_plan(PLANS / name), all_resources=all_resources).findings
            assert [f.to_dict() for f in a] == [f.to_dict() for f in b]
    # odd spacing and an empty change list still decode, and broken JSON keeps json's own message
    assert _loads_plan(' {\n"format_version" :"1.0" , "resource_changes" : [ ] }\n') == {
        "format_version": "1.0",
        "resource_changes": [],
    }
    with pytest.raises(json.JSONDecodeError, match="Expecting ',' delimiter"):
        _loads_plan('{"resource_changes": [{"a": 1} {"b": 2}]}')
