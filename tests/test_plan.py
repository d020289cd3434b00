"""``check_plan``: where each planned resource's data lands, judged by the policy as a scan judges it.

The fixtures in ``tests/data/plans/`` are hand-built in the documented ``terraform show -json``
format (format_version 1.2; ``aws_modules.json`` as OpenTofu writes it) and ``expected.json``
holds the truth for each: every finding listed, every listed finding found.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import pathlib
from typing import Any

import pytest

import residency
from residency import check_plan, parse_policy

PLANS = pathlib.Path(__file__).parent / "data" / "plans"
EXPECTED: dict[str, dict[str, list[Any]]] = {
    k: v for k, v in json.loads((PLANS / "expected.json").read_text()).items() if not k.startswith("_")
}


def _load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((PLANS / name).read_text())
    return data


def _by_id(result: residency.ScanResult) -> dict[str, residency.Finding]:
    return {f.resource_id: f for f in result.findings}


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_fixture_truth(case: str) -> None:
    """No false positive, no miss: exactly the expected findings, with their status and locations."""
    name, policy, *flags = case.split()
    result = check_plan(PLANS / name, policy.removeprefix("policy="), all_resources="--all" in flags)
    got = {f.resource_id: [f.status, [loc.code for loc in f.locations]] for f in result.findings}
    assert got == EXPECTED[case]


def test_finding_shape() -> None:
    f = _by_id(check_plan(PLANS / "aws.json"))["aws_s3_bucket_replication_configuration.to_us"]
    assert (f.provider, f.service, f.resource_type) == ("aws", "s3", "aws_s3_bucket_replication_configuration")
    assert f.account == str(PLANS / "aws.json")
    assert f.roles == ("replication source", "replication destination")
    assert f.countries == ("DE", "US")
    assert "us-east-1" in f.reason


def test_provider_default_tags_give_the_data_class() -> None:
    f = _by_id(check_plan(PLANS / "aws.json"))["aws_s3_bucket.eu"]
    assert f.tags == {"data-class": "personal", "team": "data"}


def test_deleted_resources_are_never_findings() -> None:
    for all_resources in (False, True):
        ids = _by_id(check_plan(PLANS / "aws.json", all_resources=all_resources))
        assert "aws_s3_bucket.old" not in ids


def test_data_sources_and_locationless_resources_are_not_findings() -> None:
    ids = _by_id(check_plan(PLANS / "aws.json", all_resources=True))
    assert not {"random_id.suffix", "aws_iam_role.app", "data.aws_region.current"} & ids.keys()


def test_no_op_judged_only_with_all() -> None:
    assert "aws_s3_bucket.unchanged_london" not in _by_id(check_plan(PLANS / "aws.json"))
    assert _by_id(check_plan(PLANS / "aws.json", all_resources=True))["aws_s3_bucket.only_in_state"].status == (
        "violation"
    )


def test_unknown_part_names_what_is_missing() -> None:
    f = _by_id(check_plan(PLANS / "aws.json"))["aws_s3_bucket_replication_configuration.to_partner"]
    assert f.status == "unknown"
    assert f.error is not None
    assert "partner-owned-bucket" in f.error
    assert "not in this plan" in f.error
    assert f.roles[-1] == "replication destination partner-owned-bucket"


def test_known_outside_stays_a_violation_when_another_part_is_unknown() -> None:
    plan = _load("aws.json")
    for rc in plan["resource_changes"]:
        if rc["address"] == "aws_dynamodb_table.orders":
            rc["change"]["after"]["replica"].append({})
            rc["change"]["after_unknown"]["replica"].append({"region_name": True})
    f = _by_id(check_plan(plan))["aws_dynamodb_table.orders"]
    assert f.status == "violation"
    assert "us-west-2" in f.reason
    assert f.error == "replica: replica region_name is known only after apply"
    assert [loc.code for loc in f.locations] == ["eu-central-1", "eu-west-1", "us-west-2", "unknown"]


def test_unknown_region_is_never_compliant_even_if_allowed_elsewhere() -> None:
    f = _by_id(check_plan(PLANS / "aws_modules.json"))["aws_s3_bucket.env"]
    assert f.status == "unknown"
    assert f.error == 'bucket: provider "aws.envonly" sets no region: the environment decides at apply'


def test_waivers_match_resource_addresses() -> None:
    policy = parse_policy(
        {
            "allow": "EU",
            "waivers": [
                {"id": "london", "justification": "j", "expires": "2099-01-01", "resource": "aws_s3_bucket.london"},
                {
                    "id": "mod",
                    "justification": "j",
                    "expires": "2099-01-01",
                    "resource": "module.data.aws_s3_bucket.y[0]",
                },
                {"id": "glob", "justification": "j", "expires": "2099-01-01", "resource": "module.defaulted.*"},
            ],
        }
    )
    ids = _by_id(check_plan([PLANS / "aws.json", PLANS / "aws_modules.json"], policy))
    assert ids["aws_s3_bucket.london"].status == "waived"
    assert ids["aws_s3_bucket.london"].waiver == "london"
    assert ids["module.data.aws_s3_bucket.y[0]"].status == "waived"
    assert ids["module.data.aws_s3_bucket.y[1]"].status == "violation"  # [0] is not a glob character class
    assert ids["module.defaulted.aws_s3_bucket.e"].status == "waived"
    assert ids["aws_s3_bucket.zurich"].status == "violation"


def test_expired_waiver_does_not_apply() -> None:
    policy = parse_policy(
        {
            "allow": "EU",
            "waivers": [
                {"id": "old", "justification": "j", "expires": "2020-01-01", "resource": "aws_s3_bucket.london"}
            ],
        }
    )
    f = _by_id(check_plan(PLANS / "aws.json", policy, today=dt.date(2026, 1, 1)))["aws_s3_bucket.london"]
    assert f.status == "violation"
    assert "expired" in f.reason


def test_data_classes_from_labels_and_tags() -> None:
    policy = parse_policy(
        {
            "allow": "EU",
            "data_classes": {"classes": {"public": {"allow": "any"}, "personal": {"allow": ["DE"]}}},
        }
    )
    ids = _by_id(check_plan([PLANS / "gcp.json", PLANS / "aws.json"], policy))
    assert ids["google_storage_bucket.us"].status == "compliant"  # labels: data-class=public
    assert ids["aws_s3_bucket.eu"].status == "compliant"  # data-class=personal, Frankfurt is DE
    assert ids["aws_s3_bucket.eu"].rule.startswith("data-class 'personal'")


def test_several_plans_and_the_scope() -> None:
    result = check_plan([PLANS / "azure.json", _load("gcp.json")], "eea-ch")
    assert result.scope.provider == "terraform"
    assert result.scope.accounts == (str(PLANS / "azure.json"), "<plan 1>")
    plans = result.scope.to_dict()["plans"]
    assert [p["file"] for p in plans] == [str(PLANS / "azure.json"), "<plan 1>"]
    assert plans[0]["format_version"] == "1.2"
    assert plans[0]["all_resources"] is False
    assert {f.account for f in result.findings} == {str(PLANS / "azure.json"), "<plan 1>"}


def test_scan_scope_has_no_plans_key() -> None:
    from residency._scan import Scope

    assert "plans" not in Scope("aws", "eu", (), None, None).to_dict()


def test_old_provider_keys_inherit_from_the_parent_module() -> None:
    # Terraform < 1.1 wrote the module call name only ("child:aws") and did not point inheriting resources at
    # the root configuration: both resolve to the nearest provider block up the module tree
    plan = _load("aws_modules.json")
    for module in plan["configuration"]["root_module"]["module_calls"].values():
        for res in module["module"]["resources"]:
            if res["provider_config_key"] == "module.inherit:aws":
                res["provider_config_key"] = "inherit:aws"
    assert _by_id(check_plan(plan))["module.inherit.aws_s3_bucket.c"].locations[0].code == "eu-central-1"


def test_other_provider_with_location_is_unknown() -> None:
    f = _by_id(check_plan(PLANS / "azure.json"))["digitalocean_spaces_bucket.assets"]
    assert (f.status, f.provider) == ("unknown", "digitalocean")
    assert "digitalocean/digitalocean" in (f.error or "")
    assert "fra1" in (f.error or "")


def test_no_region_anywhere_is_unknown() -> None:
    plan = copy.deepcopy(_load("aws.json"))
    del plan["configuration"]["provider_config"]["aws"]
    f = _by_id(check_plan(plan))["aws_s3_bucket.eu"]
    assert f.status == "unknown"
    assert 'no provider "aws" block' in (f.error or "")


def test_module_address_derived_when_missing() -> None:
    plan = _load("aws_modules.json")
    for rc in plan["resource_changes"]:
        rc.pop("module_address", None)
    got = {f.resource_id: [f.status, [loc.code for loc in f.locations]] for f in check_plan(plan).findings}
    assert got == EXPECTED["aws_modules.json policy=eu"]


def test_awscc_resources_use_the_provider_region_and_skip_global_types() -> None:
    def change(type_: str, name: str) -> dict[str, Any]:
        return {
            "address": f"{type_}.{name}",
            "mode": "managed",
            "type": type_,
            "name": name,
            "provider_name": "registry.terraform.io/hashicorp/awscc",
            "change": {"actions": ["create"], "before": None, "after": {}, "after_unknown": {"id": True}},
        }

    plan = {
        "format_version": "1.2",
        "planned_values": {},
        "resource_changes": [change("awscc_s3_bucket", "b"), change("awscc_iam_role", "r")],
        "configuration": {
            "provider_config": {"awscc": {"name": "awscc", "expressions": {"region": {"constant_value": "us-east-1"}}}},
            "root_module": {
                "resources": [
                    {"address": "awscc_s3_bucket.b", "mode": "managed", "provider_config_key": "awscc"},
                    {"address": "awscc_iam_role.r", "mode": "managed", "provider_config_key": "awscc"},
                ]
            },
        },
    }
    got = {f.resource_id: (f.status, f.locations[0].code) for f in check_plan(plan).findings}
    assert got == {"awscc_s3_bucket.b": ("violation", "us-east-1")}


def test_whole_blocks_known_only_after_apply() -> None:
    plan = _load("azure.json")
    for rc in plan["resource_changes"]:
        if rc["address"] == "azurerm_cosmosdb_account.eu":
            del rc["change"]["after"]["geo_location"]
            rc["change"]["after_unknown"]["geo_location"] = True
    f = _by_id(check_plan(plan))["azurerm_cosmosdb_account.eu"]
    assert f.status == "unknown"
    assert f.roles == ("account", "geo_location")
    assert f.error == "geo_location: geo_location is known only after apply"
