"""Checkov custom checks asking the location question of ``residency plan`` (benchmark only).

Loaded by Checkov 3.3.30 from its own virtualenv (``benchmarks/checkov/make_venv.sh``)::

    checkov -f plan.json --framework terraform_plan --external-checks-dir benchmarks/checkov/policies \\
        --check CKV_EU_1,CKV_EU_3 -o json

This is the most a Checkov user can write for "does this resource keep its data in the EU":

* ``CKV_EU_1`` (allow-list): every location the resource names about itself — ``region``,
  ``location``, ``zone``/``availability_zone`` (their region), ``replica[].region_name``,
  ``replica[].region``, ``geo_location[].location``, ``custom_placement_config[].data_locations`` —
  must be in a hand-typed list of EU regions of the three clouds. A resource naming none of them
  is not judged (Checkov's UNKNOWN: left out of the report).
* ``CKV_EU_2`` (Europe by name): the same attributes against the clouds' "Europe" region groups
  (``eu-*``, ``europe-*``, ``EU``/``EUR*``, Azure's Europe geography) — the rule people write first,
  which lets London and Zurich (``eu-west-2``, ``eu-central-2``, ``europe-west2``, ``europe-west6``,
  ``EUR5``/``EUR7``/``EUR8``, ``uksouth``, ``switzerlandnorth``) and Norway through.
* ``CKV_EU_3`` (provider): the ``region`` of each ``provider "aws"``/``"google"`` block must be in the
  allow-list. Checkov reports the provider block, not the resources that use it: a resource's
  ``provider = aws.london`` is not part of what a resource check sees in a plan.

What no Checkov check here can see (and ``residency plan`` resolves): the provider region a
resource inherits (aliases, variables, modules), the region of another resource it points at
(an S3 replication destination), locations known only after apply (Checkov drops
``after_unknown`` values unless ``EVAL_TF_PLAN_AFTER_UNKNOWN`` is set, and then cannot tell what
they will be), Azure region pairs of geo-redundant storage and the countries behind a name —
all of which would have to be typed into the check by hand.
"""

from __future__ import annotations

from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.provider.base_check import BaseProviderCheck
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck

EU_ALLOWED = {
    # AWS: EU member states only (eu-west-2 London and eu-central-2 Zurich are not)
    "eu-central-1",
    "eu-west-1",
    "eu-west-3",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    # Azure: regions in EU member states
    "westeurope",
    "northeurope",
    "francecentral",
    "francesouth",
    "germanywestcentral",
    "germanynorth",
    "swedencentral",
    "swedensouth",
    "polandcentral",
    "italynorth",
    "spaincentral",
    "austriaeast",
    "belgiumcentral",
    "denmarkeast",
    # Google Cloud: EU regions, the EU multi-region and the EU-only dual-region EUR4
    "europe-west1",
    "europe-west3",
    "europe-west4",
    "europe-west8",
    "europe-west9",
    "europe-west10",
    "europe-west12",
    "europe-north1",
    "europe-north2",
    "europe-central2",
    "europe-southwest1",
    "eu",
    "eur4",
}

EUROPE_BY_NAME = {
    "westeurope",
    "northeurope",
    "francecentral",
    "francesouth",
    "germanywestcentral",
    "germanynorth",
    "swedencentral",
    "swedensouth",
    "polandcentral",
    "italynorth",
    "spaincentral",
    "austriaeast",
    "belgiumcentral",
    "denmarkeast",
    "norwayeast",
    "norwaywest",
    "switzerlandnorth",
    "switzerlandwest",
    "uksouth",
    "ukwest",
}

_ATTRS = ("region", "location", "zone", "availability_zone")
_NESTED = (("replica", "region_name"), ("replica", "region"), ("geo_location", "location"))


def _scalars(value: Any) -> list[Any]:
    """Checkov wraps every attribute in a list; flatten to the plain values."""
    if isinstance(value, list):
        return [v for item in value for v in _scalars(item)]
    return [value]


def _blocks(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list):
        return [b for item in value for b in _blocks(item)]
    return []


def _region_of_zone(zone: str) -> str:
    if zone[-1:].isalpha() and zone[-2:-1].isdigit():  # AWS eu-central-1a
        return zone[:-1]
    head, _, tail = zone.rpartition("-")
    return head if len(tail) == 1 and head.count("-") == 1 else zone  # GCP europe-west3-b


def locations(conf: dict[str, Any]) -> list[Any]:
    """Every location a resource names about itself, lower-cased; non-strings kept (they fail)."""
    out: list[Any] = []
    for attr in _ATTRS:
        for v in _scalars(conf.get(attr, [])):
            if isinstance(v, str) and attr in ("zone", "availability_zone"):
                v = _region_of_zone(v)
            out.append(v)
    for block, attr in _NESTED:
        for b in _blocks(conf.get(block, [])):
            out += _scalars(b.get(attr, []))
    for b in _blocks(conf.get("custom_placement_config", [])):
        out += _scalars(b.get("data_locations", []))
    return [v.lower() if isinstance(v, str) else v for v in out if v not in ("", None)]


def _verdict(found: list[Any], allowed: set[str], prefixes: tuple[str, ...] = ()) -> CheckResult:
    if not found:
        return CheckResult.UNKNOWN
    for v in found:
        if not isinstance(v, str) or not (v in allowed or v.startswith(prefixes)):
            return CheckResult.FAILED
    return CheckResult.PASSED


class EuAllowList(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name="Data stays in the EU (allow-list of EU regions)",
            id="CKV_EU_1",
            categories=(CheckCategories.GENERAL_SECURITY,),
            supported_resources=("aws_*", "azurerm_*", "google_*"),
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        return _verdict(locations(conf), EU_ALLOWED)


class EuropeByName(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name="Data stays in Europe (names that sound European)",
            id="CKV_EU_2",
            categories=(CheckCategories.GENERAL_SECURITY,),
            supported_resources=("aws_*", "azurerm_*", "google_*"),
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        return _verdict(locations(conf), EUROPE_BY_NAME, prefixes=("eu-", "europe-", "eu", "eur"))


class EuProviderRegion(BaseProviderCheck):
    def __init__(self) -> None:
        super().__init__(
            name="Provider region is in the EU",
            id="CKV_EU_3",
            categories=(CheckCategories.GENERAL_SECURITY,),
            supported_provider=("aws", "google"),
        )

    def scan_provider_conf(self, conf: dict[str, Any]) -> CheckResult:
        regions = [v.lower() if isinstance(v, str) else v for v in _scalars(conf.get("region", []))]
        return _verdict(regions, EU_ALLOWED) if regions else CheckResult.FAILED


check_allow_list = EuAllowList()
check_europe_by_name = EuropeByName()
check_provider = EuProviderRegion()
