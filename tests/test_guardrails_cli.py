"""``residency guardrails gcp`` and ``guardrails emit azure|gcp`` through the real CLI, in-process.

The AWS CLI path is covered in ``test_guardrails_aws.py`` (moto server); the
Google Cloud one here runs against the loopback Resource Manager + Org Policy
fake, with the emitted org policy attached, then with one US region added.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import pytest
from residency.providers.gcp._fake_orgpolicy import FakeOrgPolicy

from residency._cli import main


@pytest.fixture
def org() -> Iterator[FakeOrgPolicy]:
    with FakeOrgPolicy(page_size=2) as f:
        f.add_organization("1")
        f.add_folder("10", "organizations/1")
        f.add_project("p-eu", "folders/10")
        f.add_project("p-top", "organizations/1")
        yield f


def _emit(provider: str, policy: str = "eu") -> dict[str, object]:
    buf = io.StringIO()
    assert main(["guardrails", "emit", provider, "--policy", policy], stdout=buf) == 0
    doc: dict[str, object] = json.loads(buf.getvalue())
    return doc


def test_guardrails_gcp_cli_round_trip(org: FakeOrgPolicy, capsys: pytest.CaptureFixture[str]) -> None:
    policy = _emit("gcp")["orgPolicy"]
    assert isinstance(policy, dict)
    org.set_policy("organizations/1", {"rules": policy["spec"]["rules"]})
    argv = ["guardrails", "gcp", "--endpoint-url", org.url, "--no-history", "--format", "json"]
    buf = io.StringIO()
    assert main(argv, stdout=buf) == 0, capsys.readouterr().err
    report = json.loads(buf.getvalue())
    assert {f["account"]: f["status"] for f in report["findings"]} == {"p-eu": "compliant", "p-top": "compliant"}
    assert all(f["kind"] == "guardrail" for f in report["findings"])

    rules = policy["spec"]["rules"]
    rules[0]["values"]["allowedValues"].append("in:us-east1-locations")
    org.set_policy("organizations/1", {"rules": rules})
    buf = io.StringIO()
    assert main(argv, stdout=buf) == 1
    findings = json.loads(buf.getvalue())["findings"]
    assert {f["status"] for f in findings} == {"violation"}
    assert all("us-east1" in [loc["location"] for loc in f["locations"]] for f in findings)


@pytest.mark.parametrize("provider", ["aws", "azure", "gcp"])
@pytest.mark.parametrize("policy", ["eu", "eea", "eea-ch"])
def test_emit_prints_json_for_every_provider_and_builtin_policy(provider: str, policy: str) -> None:
    """Its enforcement is proven by each provider's round-trip test; here: JSON, and London allowed nowhere."""
    text = json.dumps(_emit(provider, policy))
    london = {"aws": '"eu-west-2"', "azure": '"uksouth"', "gcp": "europe-west2"}[provider]
    assert london not in text
