"""``residency plan`` on real plan files published by open-source projects (tests/data/plans/real/).

Each file is the ``terraform show -json`` output a plan scanner or policy tool keeps in its
test resources (sources, commits and licences in tests/data/plans/real/SOURCES.md). The
expected findings below were worked out by hand from each file, under the built-in ``eu``
policy: the address of every resource that must be judged and its status. A resource not
listed must not be a finding (IAM and other global types, resources without a location,
data sources, ``random``/``null`` resources, deletions, and unchanged resources unless
``--all``). Both the Python API and the CLI must give exactly these answers: no false
positive, no miss, no traceback.

The last tests hold the benchmark's generator (benchmarks/gen_plan.py) to the same standard:
a generated plan with every case it knows is answered exactly as the truth it writes.
"""

from __future__ import annotations

import json
import pathlib
from typing import Any

import pytest

import residency
from residency._cli import main

REAL = pathlib.Path(__file__).parent / "data" / "plans" / "real"

V, C, U = "violation", "compliant", "unknown"

#: every global (IAM) or location-less resource of the checkov plan is left out below
_CHECKOV_55 = [
    "aws_db_instance.default",
    "aws_db_option_group.default",
    "aws_db_parameter_group.default",
    "aws_db_subnet_group.default",
    "aws_ebs_snapshot.example_snapshot",
    "aws_ebs_volume.web_host_storage",
    "aws_ecr_repository.repository",
    "aws_eks_cluster.eks_cluster",
    "aws_elasticsearch_domain.monitoring-framework",
    "aws_elasticsearch_domain_policy.monitoring-framework-policy",
    "aws_elb.weblb",
    "aws_flow_log.vpcflowlogs",
    "aws_instance.db_app",
    "aws_instance.web_host",
    "aws_internet_gateway.web_igw",
    "aws_kms_alias.logs_key_alias",
    "aws_kms_key.logs_key",
    "aws_lambda_function.analysis_lambda",
    "aws_neptune_cluster.default",
    "aws_neptune_cluster_instance.default[0]",
    "aws_neptune_cluster_snapshot.default",
    "aws_network_interface.web-eni",
    "aws_route.public_internet_gateway",
    "aws_route_table.web_rtb",
    "aws_route_table_association.rtbassoc",
    "aws_route_table_association.rtbassoc2",
    "aws_s3_bucket.data",
    "aws_s3_bucket.data_science",
    "aws_s3_bucket.financials",
    "aws_s3_bucket.flowbucket",
    "aws_s3_bucket.logs",
    "aws_s3_bucket.operations",
    "aws_s3_bucket_object.data_object",
    "aws_security_group.default",
    "aws_security_group.web-node",
    "aws_security_group_rule.egress",
    "aws_security_group_rule.ingress",
    "aws_subnet.eks_subnet1",
    "aws_subnet.eks_subnet2",
    "aws_subnet.web_subnet",
    "aws_subnet.web_subnet2",
    "aws_volume_attachment.ebs_att",
    "aws_vpc.eks_vpc",
    "aws_vpc.web_vpc",
]

_AZURE_VM_MODULE = [
    "azurerm_availability_set.vm",
    "azurerm_network_interface.vm[0]",
    "azurerm_network_security_group.vm",
]

#: file -> (findings without --all, findings with --all); ``None``: the same as without
EXPECTED: dict[str, tuple[dict[str, str], dict[str, str] | None]] = {
    # provider "aws" { region = "us-west-2" }: everything regional is in Oregon; IAM is global
    "checkov_aws_55_uswest2.json": (dict.fromkeys(_CHECKOV_55, V), None),
    # Terraform 1.9 (format 1.2): for_each keys in module and resource addresses, one with a dot
    # (``aws_route53_zone.example["example.com"]``, global: no finding); the provider names no region,
    # so the security groups are unknown (a data source in the prior state hints at us-east-1: not
    # inside either way)
    "checkov_for_each_modules_no_region.json": (
        {
            'module.sg["awful_example"].aws_security_group.bad': U,
            'module.sg["bad_example"].aws_security_group.bad': U,
            'module.sg["terrible_example"].aws_security_group.bad': U,
        },
        None,
    ),
    # us-east-2: the bucket (its region known only after apply) and its policy; the IAM data source is none
    "checkov_s3_ohio_data_source.json": (
        {"aws_s3_bucket.example": V, "aws_s3_bucket_policy.allow_access_from_another_account": V},
        None,
    ),
    # eu-central-1, but only IAM roles, an OIDC provider and policy documents: nothing holds data here
    "checkov_iam_only_frankfurt.json": ({}, None),
    # the provider says London (europe-west2) but the instance's own zone is us-central1-c;
    # a service account has no location
    "checkov_google_provider_london.json": ({"google_compute_instance.default": V}, None),
    # no provider configuration at all (the region would come from the environment): unknown,
    # even for the DynamoDB table with an empty replica list
    "checkov_aws_no_provider_region.json": (
        {
            "aws_autoscaling_group.example": U,
            "aws_autoscaling_group.example2": U,
            "aws_dynamodb_table.basic-dynamodb-table": U,
        },
        None,
    ),
    # GKE cluster and node pool with location us-central1; the provider's europe-west2 does not apply
    "conftest_gke_us.json": (
        {"google_container_cluster.primary": V, "google_container_node_pool.primary_preemptible_nodes": V},
        None,
    ),
    # AWS in us-west-2 (the bucket's region is known only after apply: it is the provider's);
    # a GCE instance in us-central1-a and a bucket in the US multi-region
    "regula_aws_google_mixed.json": (
        {
            "aws_autoscaling_group.example": V,
            "aws_launch_template.example": V,
            "aws_s3_bucket.example": V,
            "google_compute_instance.default": V,
            "google_storage_bucket.example": V,
        },
        None,
    ),
    # westeurope GRS: the copy lands in northeurope, the pair; both in the EU. The log profile has
    # no location of its own (``locations`` are the regions whose activity it collects)
    "regula_azure_grs_westeurope.json": (
        {"azurerm_resource_group.main": C, "azurerm_storage_account.main": C},
        None,
    ),
    # every change is a no-op: nothing to judge unless --all (us-east-2)
    "regula_aws_noop_prior_state.json": (
        {},
        {
            "aws_cloudtrail.cloudtrail": V,
            "aws_s3_bucket.cloudtrail": V,
            "aws_s3_bucket.logging": V,
            "aws_s3_bucket_logging.cloudtrail": V,
            "aws_s3_bucket_policy.cloudtrail": V,
        },
    ),
    # five firewalls in eastus, the hub and network in westeurope; a subnet has no location
    "infracost_azure_firewall.json": (
        {
            "azurerm_firewall.non_usage": V,
            "azurerm_firewall.premium": V,
            "azurerm_firewall.premium_virtual_hub": V,
            "azurerm_firewall.standard": V,
            "azurerm_firewall.standard_virtual_hub": V,
            "azurerm_public_ip.example": C,
            "azurerm_resource_group.example": C,
            "azurerm_virtual_hub.example": C,
            "azurerm_virtual_network.example": C,
            "azurerm_virtual_wan.example": C,
        },
        None,
    ),
    # London behind "eu-west-2"; the bucket's region is known only after apply (the provider's)
    "tfcompliance_s3_london.json": ({"aws_s3_bucket.bucket": V}, None),
    # Ireland: inside
    "tfcompliance_s3_ireland.json": (
        {
            "aws_s3_bucket.b": C,
            "aws_s3_bucket.c": C,
            "aws_s3_bucket_policy.b": C,
            "aws_s3_bucket_policy.c": C,
        },
        None,
    ),
    # northeurope at the root; in the modules every location comes from a data source read only
    # at apply: unknown, never compliant. Rules, associations, random ids have no location.
    "tfcompliance_azure_modules_unknown.json": (
        {
            "azurerm_resource_group.main": C,
            "azurerm_virtual_network.main": C,
            **{f"module.linuxservers-fail.{a}": U for a in _AZURE_VM_MODULE},
            "module.linuxservers-fail.azurerm_virtual_machine.vm-linux[0]": U,
            **{f"module.windowsservers-pass.{a}": U for a in _AZURE_VM_MODULE},
            "module.windowsservers-pass.azurerm_public_ip.vm[0]": U,
            "module.windowsservers-pass.azurerm_virtual_machine.vm-windows[0]": U,
        },
        None,
    ),
    # us-west-1: an update and a create are judged; the unchanged instance only with --all
    "tfcompliance_actions_prior_state.json": (
        {"aws_instance.changed": V, "aws_s3_bucket.newly_created": V},
        {"aws_instance.changed": V, "aws_s3_bucket.newly_created": V, "aws_instance.unchanged": V},
    ),
    # the aws provider has no region (var.aws_region is "" and unused): every change is unknown;
    # the two deletions are never findings, IAM is global
    "tfcompliance_aws_deletes_empty_region.json": (
        {
            "aws_cloudwatch_event_target.metric_event_target": U,
            "aws_lambda_function.lambda": U,
            "aws_lambda_permission.allow_metric_event_bridge_to_call_monitor_metric_lambda": U,
            "aws_security_group.lambda_sg": U,
            "aws_security_group_rule.task_sg_egress_rule": U,
            "aws_ssm_parameter.lambda_sg_id": U,
        },
        {
            "aws_cloudwatch_event_rule.metrics_schedule": U,
            "aws_cloudwatch_event_target.metric_event_target": U,
            "aws_cloudwatch_log_group.log_group": U,
            "aws_lambda_function.lambda": U,
            "aws_lambda_permission.allow_alert_event_bridge_to_call_monitor_metric_lambdas_frequent[0]": U,
            "aws_lambda_permission.allow_metric_event_bridge_to_call_monitor_metric_lambda": U,
            "aws_security_group.lambda_sg": U,
            "aws_security_group_rule.task_sg_egress_rule": U,
            "aws_ssm_parameter.lambda_sg_id": U,
        },
    ),
}


CASES = [
    pytest.param(name, all_, id=name.removesuffix(".json") + ("-all" if all_ else ""))
    for name in sorted(EXPECTED)
    for all_ in (False, True)
]


def _expected(name: str, all_resources: bool) -> dict[str, str]:
    default, with_all = EXPECTED[name]
    return (with_all if with_all is not None else default) if all_resources else default


def test_every_real_plan_has_its_truth() -> None:
    assert sorted(p.name for p in REAL.glob("*.json")) == sorted(EXPECTED)
    sources = (REAL / "SOURCES.md").read_text()
    for name in EXPECTED:
        assert f"`{name}`" in sources, f"{name} has no source in SOURCES.md"


@pytest.mark.parametrize(("name", "all_resources"), CASES)
def test_check_plan_answers_the_truth(name: str, all_resources: bool) -> None:
    result = residency.check_plan(REAL / name, "eu", all_resources=all_resources)
    got = {f.resource_id: f.status for f in result.findings}
    assert got == _expected(name, all_resources)
    for f in result.findings:
        assert f.provider in ("aws", "azure", "gcp")
        assert f".{f.resource_type}." in f".{f.resource_id}"
        if f.status == "unknown":
            assert f.error, f"{f.resource_id}: an unknown finding says what could not be told"
        else:
            assert f.locations
            assert len(f.roles) == len(f.locations)


@pytest.mark.parametrize(("name", "all_resources"), CASES)
def test_cli_answers_the_truth(
    name: str, all_resources: bool, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    expected = _expected(name, all_resources)
    report = tmp_path / "report.json"
    argv = ["plan", str(REAL / name), "--format", "json", "-o", str(report)] + (["--all"] if all_resources else [])
    code = main(argv)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    doc: dict[str, Any] = json.loads(report.read_text())
    got = {f["resource_id"]: f["status"] for f in doc["findings"]}
    assert got == expected
    statuses = set(expected.values())
    if "violation" in statuses:
        assert code == 1
    elif "unknown" in statuses:
        assert code not in (0, 2)  # unknown is never clean; --allow-unknown opts out
        assert main([*argv, "--allow-unknown"]) == 0
    else:
        assert code == 0


def test_all_real_plans_in_one_run() -> None:
    """Several plan files in one call: the findings of each, together."""
    names = sorted(EXPECTED)
    result = residency.check_plan([REAL / n for n in names], "eu")
    got = sorted((f.resource_id, f.status) for f in result.findings)
    want = sorted((a, s) for n in names for a, s in _expected(n, False).items())
    assert got == want


def _gen_plan() -> Any:
    """benchmarks/gen_plan.py, the large-plan generator (not a package: loaded from its file)."""
    import importlib.util

    path = pathlib.Path(__file__).parents[1] / "benchmarks" / "gen_plan.py"
    spec = importlib.util.spec_from_file_location("gen_plan", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("all_resources", [False, True], ids=["changes", "all"])
def test_generated_plan_answers_its_truth(all_resources: bool) -> None:
    """The benchmark's generated plan (every trap it knows, 1,500 resources) is answered exactly as its truth."""
    plan, truth = _gen_plan().generate(1500, seed=3)
    result = residency.check_plan(plan, "eu", all_resources=all_resources)
    expected = truth["all" if all_resources else "default"]
    assert {f.resource_id: f.status for f in result.findings} == expected
    assert set(truth["why"]) == set(truth["all"])
    assert {"violation", "unknown", "compliant"} == set(expected.values())


def test_generator_is_deterministic() -> None:
    gen = _gen_plan()
    assert json.dumps(gen.generate(300, seed=1)) == json.dumps(gen.generate(300, seed=1))
    assert json.dumps(gen.generate(300, seed=1)) != json.dumps(gen.generate(300, seed=2))
