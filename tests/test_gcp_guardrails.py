"""Google Cloud guardrails: the effective ``gcp.resourceLocations`` per project, organisation → folders → project.

Runs against the loopback Resource Manager + Org Policy fake
(``providers/gcp/_fake_orgpolicy.py``) over the same google-auth
``AuthorizedSession`` the scan uses; no connection leaves 127.0.0.1.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import urllib3.util.connection
from google.auth.credentials import AnonymousCredentials
from google.auth.transport.requests import AuthorizedSession
from residency.providers.gcp._fake_orgpolicy import FakeOrgPolicy
from residency.providers.gcp._guardrails import Effective, expand, merge

from residency import load_policy
from residency._findings import Finding
from residency._guardrails import emit_guardrails, stream_guardrails
from residency._scan import make_context

EU_VALUES = {"rules": [{"values": {"allowedValues": ["in:eu-locations"]}}]}


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOrgPolicy]:
    original = urllib3.util.connection.create_connection

    def loopback_only(address: tuple[str, int], *args: Any, **kwargs: Any) -> Any:
        if address[0] not in ("127.0.0.1", "localhost"):
            raise ConnectionRefusedError(f"the guardrails tests never leave 127.0.0.1 (tried {address[0]})")
        return original(address, *args, **kwargs)

    monkeypatch.setattr(urllib3.util.connection, "create_connection", loopback_only)
    with FakeOrgPolicy(page_size=2) as f:
        f.add_organization("1")
        f.add_folder("10", "organizations/1")  # eu folder
        f.add_folder("11", "folders/10")  # nested
        f.add_project("p-eu", "folders/11")
        f.add_project("p-top", "organizations/1")
        yield f


def _run(fake: FakeOrgPolicy, policy: str = "eu", projects: list[str] | None = None) -> dict[str, Finding]:
    ctx = make_context(
        "gcp",
        policy,
        session=AuthorizedSession(AnonymousCredentials()),
        endpoint_url=fake.url,  # type: ignore[no-untyped-call]
        accounts=projects,
        concurrency=2,
    )
    found = {f.account: f for f in stream_guardrails(ctx)}
    assert all(f.kind == "guardrail" for f in found.values())
    return found


def _codes(f: Finding) -> set[str]:
    return {loc.code for loc in f.locations}


def test_org_policy_eu_locations_confines_every_project(fake: FakeOrgPolicy) -> None:
    fake.set_policy("organizations/1", EU_VALUES)
    found = _run(fake)  # every project, listed with paging (page size 2)
    assert set(found) == {"p-eu", "p-top"}
    for f in found.values():
        assert f.status == "compliant", f.reason
        assert "organizations/1: allow in:eu-locations" in f.reason
    assert found["p-eu"].name == "p-eu"
    assert found["p-eu"].details["nodes"] == ["organizations/1", "folders/10", "folders/11", "projects/100000"]


def test_no_policy_anywhere_is_a_violation(fake: FakeOrgPolicy) -> None:
    f = _run(fake, projects=["p-eu"])["p-eu"]
    assert f.status == "violation"
    assert f.details["writable"] is None
    assert "us-central1" in _codes(f)


def test_europe_locations_under_eu_lets_london_and_zurich_through(fake: FakeOrgPolicy) -> None:
    fake.set_policy("organizations/1", {"rules": [{"values": {"allowedValues": ["in:europe-locations"]}}]})
    f = _run(fake, projects=["p-eu"])["p-eu"]
    assert f.status == "violation"
    assert {"europe-west2", "europe-west6"} <= _codes(f)
    assert "London" in f.reason
    assert "Zurich" in f.reason
    assert _codes(f) <= {"europe-west2", "europe-west6", "EUR5", "EUR7", "EUR8"}
    # under eea-ch, only London (and the dual-regions with it) remain outside
    f = _run(fake, "eea-ch", projects=["p-eu"])["p-eu"]
    assert "europe-west6" not in _codes(f)
    assert "europe-west2" in _codes(f)


def test_folder_reset_makes_the_project_unconstrained(fake: FakeOrgPolicy) -> None:
    fake.set_policy("organizations/1", EU_VALUES)
    fake.set_policy("folders/11", {"reset": True})
    found = _run(fake, projects=["p-eu", "p-top"])
    assert found["p-eu"].status == "violation"
    assert found["p-eu"].details["writable"] is None
    assert "folders/11: reset to the default (allow all)" in found["p-eu"].reason
    assert found["p-top"].status == "compliant"


def test_inherit_from_parent_merges_allowed_values(fake: FakeOrgPolicy) -> None:
    fake.set_policy("organizations/1", EU_VALUES)
    fake.set_policy("folders/10", {"inheritFromParent": True, "rules": [{"values": {"allowedValues": ["us-east1"]}}]})
    f = _run(fake, projects=["p-eu"])["p-eu"]
    assert f.status == "violation"
    assert _codes(f) == {"us-east1"}
    # without inheritance the folder's list replaces the organisation's
    fake.set_policy("folders/10", {"rules": [{"values": {"allowedValues": ["in:europe-west3-locations"]}}]})
    f = _run(fake, projects=["p-eu"])["p-eu"]
    assert f.status == "compliant"
    assert f.details["writable"] == ["europe-west3"]


def test_denied_values(fake: FakeOrgPolicy) -> None:
    fake.set_policy("organizations/1", {"rules": [{"values": {"allowedValues": ["in:europe-locations"]}}]})
    deny = ["in:europe-west2-locations", "in:europe-west6-locations", "EUR5", "EUR7", "EUR8"]
    fake.set_policy("folders/10", {"inheritFromParent": True, "rules": [{"values": {"deniedValues": deny}}]})
    assert _run(fake, projects=["p-eu"])["p-eu"].status == "compliant"
    # a region denied without in: leaves its zones open
    fake.set_policy(
        "folders/10", {"inheritFromParent": True, "rules": [{"values": {"deniedValues": ["europe-west2"]}}]}
    )
    f = _run(fake, projects=["p-eu"])["p-eu"]
    assert f.status == "violation"
    assert "europe-west2" in _codes(f)
    assert any("zones stay open" in n for n in f.details["notes"])


def test_a_denied_zone_leaves_its_region_writable(fake: FakeOrgPolicy) -> None:
    fake.set_policy(
        "organizations/1", {"rules": [{"values": {"allowedValues": ["in:eu-locations", "in:europe-west2-locations"]}}]}
    )
    fake.set_policy(
        "folders/10", {"inheritFromParent": True, "rules": [{"values": {"deniedValues": ["europe-west2-a"]}}]}
    )
    f = _run(fake, projects=["p-eu"])["p-eu"]
    assert _codes(f) == {"europe-west2"}
    assert any("denied zone europe-west2-a" in n for n in f.details["notes"])


def test_deny_only_list_leaves_everything_else(fake: FakeOrgPolicy) -> None:
    fake.set_policy("organizations/1", {"rules": [{"values": {"deniedValues": ["in:us-locations"]}}]})
    f = _run(fake, projects=["p-eu"])["p-eu"]
    assert f.status == "violation"
    assert "us-east1" not in _codes(f)
    assert "asia-east1" in _codes(f)


def test_deny_all_and_dry_run(fake: FakeOrgPolicy) -> None:
    fake.set_policy("organizations/1", {"rules": [{"denyAll": True}]})
    assert _run(fake, projects=["p-eu"])["p-eu"].status == "compliant"
    fake.set_policy("organizations/1", None, dry_run={"rules": [{"denyAll": True}]})
    f = _run(fake, projects=["p-eu"])["p-eu"]
    assert f.status == "violation"
    assert any("dry-run" in n for n in f.details["notes"])


def test_403_on_a_folder_policy_is_unknown(fake: FakeOrgPolicy) -> None:
    fake.set_policy("organizations/1", EU_VALUES)
    fake.fail["folders/11/policies"] = 403
    found = _run(fake, projects=["p-eu", "p-top"])
    assert found["p-eu"].status == "unknown"
    assert "403" in (found["p-eu"].error or "")
    assert found["p-top"].status == "compliant"


def test_403_on_the_ancestry_is_unknown(fake: FakeOrgPolicy) -> None:
    fake.set_policy("organizations/1", EU_VALUES)
    fake.fail["/v3/folders/10"] = 403
    assert _run(fake, projects=["p-eu"])["p-eu"].status == "unknown"


def test_unknown_value_group_is_never_compliant(fake: FakeOrgPolicy) -> None:
    fake.set_policy(
        "organizations/1", {"rules": [{"values": {"allowedValues": ["in:eu-locations", "in:mars-locations"]}}]}
    )
    f = _run(fake, projects=["p-eu"])["p-eu"]
    assert f.status == "unknown"
    assert "in:mars-locations" in (f.error or "")


def test_each_folder_policy_is_fetched_once(fake: FakeOrgPolicy) -> None:
    for i in range(6):
        fake.add_project(f"extra-{i}", "folders/11")
    fake.set_policy("organizations/1", EU_VALUES)
    _run(fake)
    gets = [p for m, p in fake.requests if p.endswith("folders/11/policies/gcp.resourceLocations")]
    assert len(gets) == 1
    assert len([p for m, p in fake.requests if p == "/v3/folders/11"]) == 1


def test_merge_semantics_unit() -> None:
    notes: list[str] = []
    org = merge(Effective(), {"spec": EU_VALUES}, notes, "org")
    assert org.allowed == frozenset({"in:eu-locations"})
    assert merge(org, None, notes, "folder") == org
    child = merge(
        org, {"spec": {"inheritFromParent": True, "rules": [{"values": {"allowedValues": ["eu"]}}]}}, notes, "f"
    )
    assert child.allowed == frozenset({"in:eu-locations", "eu"})
    assert merge(org, {"spec": {"rules": [{"allowAll": True}]}}, notes, "f").allowed is None
    assert expand("in:europe-west1-locations") == (("europe-west1",), None)


@pytest.mark.parametrize("policy", ["eu", "eea", "eea-ch"])
def test_emit_round_trip(fake: FakeOrgPolicy, policy: str) -> None:
    doc = emit_guardrails("gcp", load_policy(policy))
    json.dumps(doc)
    body = dict(doc["orgPolicy"], name="organizations/1/policies/gcp.resourceLocations")
    session = AuthorizedSession(AnonymousCredentials())  # type: ignore[no-untyped-call]
    got = session.post(f"{fake.url}/v2/organizations/1/policies", json=body)
    assert got.status_code == 200
    f = _run(fake, policy, projects=["p-eu"])["p-eu"]
    assert f.status == "compliant", f.reason
    values = doc["orgPolicy"]["spec"]["rules"][0]["values"]["allowedValues"]
    assert "in:eu-locations" in values
    assert ("in:europe-west6-locations" in values) == (policy == "eea-ch")
    body["spec"]["rules"][0]["values"]["allowedValues"].append("in:us-east1-locations")
    session.patch(f"{fake.url}/v2/organizations/1/policies/gcp.resourceLocations", json=body)
    f = _run(fake, policy, projects=["p-eu"])["p-eu"]
    assert f.status == "violation"
    assert _codes(f) == {"us-east1"}
