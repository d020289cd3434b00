"""Generate a large, valid ``terraform show -json`` plan and the truth about it.

Run (writes ``plan.json`` and ``plan.truth.json`` next to each other)::

    python benchmarks/gen_plan.py 10000 -o /tmp/plan-10k.json          # seed 0
    python benchmarks/gen_plan.py 50000 -o /tmp/plan-50k.json --seed 7

The plan follows Terraform's documented JSON output format (format_version 1.2, as
Terraform 1.9 writes it): ``resource_changes`` with ``before``/``after``/``after_unknown``,
``planned_values`` and ``prior_state`` module trees, and ``configuration`` with
``provider_config`` and the module tree's ``expressions``. Resources spread over the three
clouds' Terraform providers (``hashicorp/aws``, ``azurerm``, ``google``), at the root and in
modules (some nested, some with ``count``), and through provider aliases — a constant
region, a region from a variable, a module given an alias (``providers = {aws = aws.paris}``:
its resources name the root key, as Terraform resolves it) and a module with its own
provider block (``module.legacy_uk:aws``).

The mix is made of the cases that decide data residency:

* AWS: buckets, queues, volumes … in the provider alias's region, some with provider v6's
  per-resource ``region``; S3 replication to a bucket of another region (by ARN or by a
  reference known only after apply); DynamoDB ``replica`` blocks; RDS read replicas; KMS
  replica keys; Secrets Manager replicas; IAM roles (global: no finding);
* Azure: resource groups; storage accounts LRS/GRS/RA-GRS/GZRS (geo-redundancy also lands in
  the region pair); Cosmos DB ``geo_location``; a location known only after apply; subnets
  (no location: no finding);
* Google Cloud: buckets in regions, the ``EU``/``US`` multi-regions, predefined dual-regions
  and custom ``data_locations``; BigQuery datasets; Cloud SQL with and without ``region``
  (then the provider's); zonal disks; service accounts (no location: no finding);
* London and Zurich behind European-sounding names: ``eu-west-2``, ``eu-central-2``,
  ``europe-west2``, ``europe-west6``, ``EUR5``/``EUR7``/``EUR8``, ``uksouth``,
  ``switzerlandnorth``; Norway (EEA, not EU) as ``norwayeast``;
* actions: create, update, replace, no-op (judged only with ``--all``) and delete (never).

The truth (``<plan>.truth.json``) is worked out here from a small hand-written table of
the locations used (country, region pair, dual-region members) — not from eu-residency's
catalog — under the built-in ``eu`` policy: for each address, ``compliant``, ``violation``
or ``unknown``; resources that are no findings are absent. ``default`` is the answer without
``--all``, ``all`` with it. Deterministic: the same ``N`` and seed give the same bytes.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import random
from collections.abc import Callable
from typing import Any

# --------------------------------------------------------------------------- the truth table

#: country of every location the generator uses (ISO codes; "EU" = the EU multi-region)
_EU = {"AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU", "IE", "IT", "LT", "LU"}
_EU |= {"LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK", "EU"}

AWS_REGIONS = {
    "eu-central-1": "DE",
    "eu-west-1": "IE",
    "eu-west-3": "FR",
    "eu-north-1": "SE",
    "eu-south-1": "IT",
    "eu-west-2": "GB",  # London
    "eu-central-2": "CH",  # Zurich
    "us-east-1": "US",
    "us-west-2": "US",
    "ap-southeast-2": "AU",
}
AZURE_REGIONS = {
    "westeurope": "NL",
    "northeurope": "IE",
    "germanywestcentral": "DE",
    "germanynorth": "DE",
    "swedencentral": "SE",
    "swedensouth": "SE",
    "francecentral": "FR",
    "francesouth": "FR",
    "polandcentral": "PL",
    "norwayeast": "NO",
    "norwaywest": "NO",
    "uksouth": "GB",
    "ukwest": "GB",
    "switzerlandnorth": "CH",
    "switzerlandwest": "CH",
    "eastus": "US",
    "westus": "US",
}
AZURE_PAIRS = {
    "westeurope": "northeurope",
    "northeurope": "westeurope",
    "germanywestcentral": "germanynorth",
    "swedencentral": "swedensouth",
    "francecentral": "francesouth",
    "norwayeast": "norwaywest",
    "uksouth": "ukwest",
    "switzerlandnorth": "switzerlandwest",
    "eastus": "westus",
}
GCP_LOCATIONS = {
    "europe-west1": {"BE"},
    "europe-west2": {"GB"},  # London
    "europe-west3": {"DE"},
    "europe-west4": {"NL"},
    "europe-west6": {"CH"},  # Zurich
    "europe-north1": {"FI"},
    "us-central1": {"US"},
    "EU": {"EU"},
    "US": {"US"},
    "EUR4": {"FI", "NL"},
    "EUR5": {"BE", "GB"},
    "EUR7": {"GB", "DE"},
    "EUR8": {"DE", "CH"},
}


def inside(countries: set[str] | str) -> bool:
    """True when every country is in the EU (the built-in ``eu`` policy)."""
    return {countries} <= _EU if isinstance(countries, str) else countries <= _EU


def worst(*statuses: str) -> str:
    """A resource is a violation if any placement is outside, else unknown if any is unknown."""
    for s in ("violation", "unknown"):
        if s in statuses:
            return s
    return "compliant"


def st(ok: bool) -> str:
    return "compliant" if ok else "violation"


# --------------------------------------------------------------------------- providers

AWS = "registry.terraform.io/hashicorp/aws"
AZURERM = "registry.terraform.io/hashicorp/azurerm"
GOOGLE = "registry.terraform.io/hashicorp/google"

#: provider config key -> (region, how it is written: "const" or "var.NAME")
AWS_ALIASES = {
    "aws": ("eu-central-1", "const"),
    "aws.ireland": ("eu-west-1", "var.ireland_region"),
    "aws.paris": ("eu-west-3", "const"),
    "aws.stockholm": ("eu-north-1", "const"),
    "aws.london": ("eu-west-2", "const"),
    "aws.zurich": ("eu-central-2", "const"),
    "aws.virginia": ("us-east-1", "const"),
}
GOOGLE_ALIASES = {"google": ("europe-west3", "var.gcp_region"), "google.london": ("europe-west2", "const")}
VARIABLES = {"ireland_region": "eu-west-1", "gcp_region": "europe-west3", "project": "acme-data"}


def provider_config() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, (region, how) in {**AWS_ALIASES, **GOOGLE_ALIASES}.items():
        name, _, alias = key.partition(".")
        expr = {"constant_value": region} if how == "const" else {"references": [how]}
        entry: dict[str, Any] = {
            "name": name,
            "full_name": AWS if name == "aws" else GOOGLE,
            "expressions": {"region": expr},
        }
        if name == "google":
            entry["expressions"]["project"] = {"references": ["var.project"]}
        if alias:
            entry["alias"] = alias
        out[key] = entry
    out["azurerm"] = {"name": "azurerm", "full_name": AZURERM, "expressions": {"features": [{}]}}
    # a module given an alias: Terraform lists the module's view of it, the resources name the root key
    out["module.eu_data:aws"] = {"name": "aws", "full_name": AWS, "module_address": "module.eu_data"}
    # a module with its own provider block (legacy style)
    out["module.legacy_uk:aws"] = {
        "name": "aws",
        "full_name": AWS,
        "module_address": "module.legacy_uk",
        "expressions": {"region": {"constant_value": "eu-west-2"}},
    }
    return out


# --------------------------------------------------------------------------- resources


class Res:
    """One resource instance as the generator builds it."""

    __slots__ = ("action", "address", "computed", "expr", "index", "key", "mode", "module", "name", "status", "type")
    __slots__ += ("extra", "unknown", "values")

    def __init__(
        self,
        type_: str,
        name: str,
        key: str,
        values: dict[str, Any],
        status: str | None,
        *,
        unknown: dict[str, Any] | None = None,
        expr: dict[str, Any] | None = None,
        mode: str = "managed",
    ) -> None:
        self.type, self.name, self.key, self.values, self.status = type_, name, key, values, status
        self.unknown = unknown or {}
        self.expr = expr if expr is not None else {k: {"constant_value": v} for k, v in values.items()}
        self.mode = mode
        #: values known only once the resource exists (the after of an update or no-op shows them)
        self.computed: dict[str, Any] = {}
        #: locations decided by another resource (an S3 replication destination bucket's region)
        self.extra: list[str] = []
        self.module = ""
        self.index: int | None = None
        self.action: list[str] = ["create"]
        self.address = ""

    @property
    def provider_name(self) -> str:
        if self.type.startswith("aws_"):
            return AWS
        return AZURERM if self.type.startswith("azurerm_") else GOOGLE


_AZURE_EU_STORAGE = [
    "westeurope",
    "northeurope",
    "germanywestcentral",
    "swedencentral",
    "francecentral",
    "polandcentral",
]
_GCS_EU = ["EU", "EUR4", "europe-west3", "europe-west1", "europe-north1"]


class Gen:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.n = 0

    def uid(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}{self.n}"

    # -- AWS

    def aws_alias(self, module: str) -> str:
        if module == "module.legacy_uk":
            return "module.legacy_uk:aws"
        if module == "module.eu_data":
            return "aws.paris"
        return self.rng.choices(list(AWS_ALIASES), weights=[30, 12, 8, 8, 6, 6, 10])[0]

    @staticmethod
    def aws_region(key: str) -> str:
        return "eu-west-2" if key == "module.legacy_uk:aws" else AWS_ALIASES[key][0]

    def aws_bucket(self, module: str) -> list[Res]:
        key = self.aws_alias(module)
        region = self.aws_region(key)
        name = self.uid("b")
        bucket = f"acme-{name}"
        values: dict[str, Any] = {"bucket": bucket, "force_destroy": False, "tags": {"team": module or "root"}}
        unknown: dict[str, Any] = {"arn": True, "id": True, "bucket_domain_name": True, "tags": {}}
        if self.rng.random() < 0.2:  # provider v6: the bucket's own region argument wins
            region = self.rng.choice(["eu-west-1", "us-west-2", "eu-central-2", "eu-south-1"])
            values["region"] = region
        else:
            unknown["region"] = True
        res = Res("aws_s3_bucket", name, key, values, st(inside(AWS_REGIONS[region])), unknown=unknown)
        res.computed = {"region": region}
        return [res]

    def aws_replication(self, module: str) -> list[Res]:
        src, dst = self.aws_bucket(module), self.aws_bucket(module)
        s, d = src[0], dst[0]
        by_reference = self.rng.random() < 0.5
        s_region = s.values.get("region") or self.aws_region(s.key)
        d_region = d.values.get("region") or self.aws_region(d.key)
        status = worst(st(inside(AWS_REGIONS[s_region])), st(inside(AWS_REGIONS[d_region])))
        dest: dict[str, Any] = {"storage_class": "STANDARD"}
        dest_expr: dict[str, Any] = {"storage_class": {"constant_value": "STANDARD"}}
        unknown: dict[str, Any] = {"id": True}
        if by_reference:
            dest_expr["bucket"] = {"references": [f"aws_s3_bucket.{d.name}.arn", f"aws_s3_bucket.{d.name}"]}
            unknown["rule"] = [{"destination": [{"bucket": True}]}]
        else:
            dest["bucket"] = f"arn:aws:s3:::{d.values['bucket']}"
            dest_expr["bucket"] = {"constant_value": dest["bucket"]}
        values = {
            "bucket": s.values["bucket"],
            "role": "arn:aws:iam::123456789012:role/replication",
            "rule": [{"id": "all", "status": "Enabled", "destination": [dest]}],
        }
        expr = {
            "bucket": {"constant_value": s.values["bucket"]},
            "role": {"constant_value": values["role"]},
            "rule": [
                {"id": {"constant_value": "all"}, "status": {"constant_value": "Enabled"}, "destination": [dest_expr]}
            ],
        }
        if "region" in s.values:  # provider v6: the configuration is made in the source bucket's region
            values["region"] = expr["region"] = s.values["region"]
            expr["region"] = {"constant_value": s.values["region"]}
        rep = Res("aws_s3_bucket_replication_configuration", self.uid("rep"), s.key, values, status, unknown=unknown)
        rep.expr = expr
        rep.extra = [d_region]
        return [*src, *dst, rep]

    def aws_dynamodb(self, module: str) -> list[Res]:
        key = self.aws_alias(module)
        home = self.aws_region(key)
        replicas = self.rng.sample(
            ["eu-west-1", "eu-north-1", "eu-west-3", "us-east-1", "eu-west-2"], self.rng.randint(0, 2)
        )
        replicas = [r for r in replicas if r != home]
        status = worst(*(st(inside(AWS_REGIONS[r])) for r in [home, *replicas]))
        values = {
            "name": self.uid("table"),
            "billing_mode": "PAY_PER_REQUEST",
            "hash_key": "id",
            "replica": [{"region_name": r, "propagate_tags": False} for r in replicas],
        }
        unknown = {"arn": True, "id": True, "replica": [{"arn": True} for _ in replicas]}
        return [Res("aws_dynamodb_table", self.uid("t"), key, values, status, unknown=unknown)]

    def aws_rds_replica(self, module: str) -> list[Res]:
        key = self.aws_alias(module)
        region = self.aws_region(key)
        values = {
            "identifier": self.uid("db"),
            "instance_class": "db.t3.micro",
            "replicate_source_db": "arn:aws:rds:eu-central-1:123456789012:db:primary",
            "storage_encrypted": True,
        }
        unknown = {"arn": True, "id": True, "endpoint": True, "availability_zone": True}
        return [
            Res("aws_db_instance", self.uid("replica"), key, values, st(inside(AWS_REGIONS[region])), unknown=unknown)
        ]

    def aws_kms_replica(self, module: str) -> list[Res]:
        key = self.aws_alias(module)
        region = self.aws_region(key)
        values = {
            "primary_key_arn": "arn:aws:kms:eu-central-1:123456789012:key/mrk-1234abcd12ab34cd56ef1234567890ab",
            "deletion_window_in_days": 7,
        }
        unknown = {"arn": True, "id": True, "key_id": True}
        return [
            Res("aws_kms_replica_key", self.uid("k"), key, values, st(inside(AWS_REGIONS[region])), unknown=unknown)
        ]

    def aws_secret(self, module: str) -> list[Res]:
        key = self.aws_alias(module)
        home = self.aws_region(key)
        replicas = self.rng.sample(["eu-west-1", "eu-north-1", "eu-west-2", "eu-central-2"], self.rng.randint(0, 1))
        status = worst(*(st(inside(AWS_REGIONS[r])) for r in [home, *replicas]))
        values = {"name": self.uid("secret"), "replica": [{"region": r} for r in replicas]}
        unknown = {"arn": True, "id": True, "replica": [{"status": True} for _ in replicas]}
        return [Res("aws_secretsmanager_secret", self.uid("s"), key, values, status, unknown=unknown)]

    def aws_generic(self, module: str) -> list[Res]:
        key = self.aws_alias(module)
        region = self.aws_region(key)
        kind = self.rng.choice(["aws_sqs_queue", "aws_cloudwatch_log_group", "aws_efs_file_system", "aws_ebs_volume"])
        values: dict[str, Any] = {"name": self.uid("x")} if kind != "aws_efs_file_system" else {"encrypted": True}
        if kind == "aws_ebs_volume":
            values = {"availability_zone": f"{region}a", "size": 20, "type": "gp3"}
        return [
            Res(kind, self.uid("r"), key, values, st(inside(AWS_REGIONS[region])), unknown={"arn": True, "id": True})
        ]

    def aws_global(self, module: str) -> list[Res]:
        values = {"name": self.uid("role"), "assume_role_policy": '{"Version":"2012-10-17","Statement":[]}'}
        return [Res("aws_iam_role", self.uid("role"), self.aws_alias(module), values, None, unknown={"arn": True})]

    # -- Azure

    def azure_rg(self, module: str) -> list[Res]:
        loc = self.rng.choice(["westeurope", "northeurope", "germanywestcentral", "uksouth", "eastus", "swedencentral"])
        values = {"name": self.uid("rg-"), "location": loc, "tags": {}}
        return [Res("azurerm_resource_group", self.uid("rg"), "azurerm", values, st(inside(AZURE_REGIONS[loc])))]

    def azure_storage(self, module: str) -> list[Res]:
        loc = self.rng.choices(
            [*_AZURE_EU_STORAGE, "norwayeast", "uksouth", "switzerlandnorth", "eastus"],
            weights=[20, 14, 10, 8, 8, 6, 4, 5, 4, 5],
        )[0]
        kinds = ["LRS", "ZRS", "GRS", "RAGRS", "GZRS", "RAGZRS"] if loc in AZURE_PAIRS else ["LRS", "ZRS"]
        kind = self.rng.choice(kinds)
        where = [loc] + ([AZURE_PAIRS[loc]] if "GRS" in kind or "GZRS" in kind else [])
        status = worst(*(st(inside(AZURE_REGIONS[w])) for w in where))
        values = {
            "name": self.uid("st"),
            "resource_group_name": "rg-data",
            "location": loc,
            "account_tier": "Standard",
            "account_replication_type": kind,
        }
        unknown = {"id": True, "primary_blob_endpoint": True}
        return [Res("azurerm_storage_account", self.uid("sa"), "azurerm", values, status, unknown=unknown)]

    def azure_cosmos(self, module: str) -> list[Res]:
        locs = self.rng.sample(["westeurope", "northeurope", "francecentral", "uksouth", "switzerlandnorth"], 2)
        status = worst(*(st(inside(AZURE_REGIONS[w])) for w in locs))
        values = {
            "name": self.uid("cosmos-"),
            "location": locs[0],
            "resource_group_name": "rg-data",
            "offer_type": "Standard",
            "geo_location": [
                {"location": w, "failover_priority": i, "zone_redundant": False} for i, w in enumerate(locs)
            ],
        }
        return [Res("azurerm_cosmosdb_account", self.uid("cosmos"), "azurerm", values, status, unknown={"id": True})]

    def azure_unknown(self, module: str) -> list[Res]:
        """A storage account whose location comes from a data source read only at apply."""
        ds = Res(
            "azurerm_resource_group",
            self.uid("late"),
            "azurerm",
            {"name": "rg-late"},
            None,
            unknown={"location": True, "id": True},
            mode="data",
        )
        ds.action = ["read"]
        values = {"name": self.uid("st"), "resource_group_name": "rg-late", "account_tier": "Standard"}
        values["account_replication_type"] = "LRS"
        expr: dict[str, Any] = {k: {"constant_value": v} for k, v in values.items()}
        expr["location"] = {
            "references": [f"data.azurerm_resource_group.{ds.name}.location", f"data.azurerm_resource_group.{ds.name}"]
        }
        sa = Res(
            "azurerm_storage_account",
            self.uid("sa"),
            "azurerm",
            values,
            "unknown",
            unknown={"location": True, "id": True},
            expr=expr,
        )
        return [ds, sa]

    def azure_subnet(self, module: str) -> list[Res]:
        values = {
            "name": self.uid("snet"),
            "resource_group_name": "rg-net",
            "virtual_network_name": "vnet",
            "address_prefixes": ["10.0.1.0/24"],
        }
        return [Res("azurerm_subnet", self.uid("snet"), "azurerm", values, None, unknown={"id": True})]

    # -- Google Cloud

    def gcp_alias(self) -> str:
        return self.rng.choices(list(GOOGLE_ALIASES), weights=[80, 20])[0]

    def gcp_bucket(self, module: str) -> list[Res]:
        key = self.gcp_alias()
        values: dict[str, Any] = {"name": self.uid("acme-gcs-"), "storage_class": "STANDARD", "force_destroy": False}
        if self.rng.random() < 0.15:
            members = self.rng.choice(
                [["EUROPE-WEST1", "EUROPE-WEST4"], ["EUROPE-WEST1", "EUROPE-WEST2"], ["EUROPE-WEST3", "EUROPE-WEST6"]]
            )
            values["location"] = "EU"
            values["custom_placement_config"] = [{"data_locations": members}]
            countries = set().union(*(GCP_LOCATIONS[m.lower()] for m in members))
        else:
            loc = self.rng.choices(
                [*_GCS_EU, "US", "EUR5", "EUR7", "EUR8", "europe-west2", "europe-west6", "us-central1"],
                weights=[14, 8, 12, 8, 6, 5, 5, 4, 4, 5, 4, 5],
            )[0]
            values["location"] = loc
            countries = GCP_LOCATIONS[loc]
        unknown = {"id": True, "self_link": True, "url": True}
        return [Res("google_storage_bucket", self.uid("gcs"), key, values, st(inside(countries)), unknown=unknown)]

    def gcp_bigquery(self, module: str) -> list[Res]:
        loc = self.rng.choice(["EU", "europe-west3", "US", "europe-west2", "europe-west6", "europe-north1"])
        values = {"dataset_id": self.uid("ds_"), "location": loc}
        return [
            Res(
                "google_bigquery_dataset",
                self.uid("ds"),
                self.gcp_alias(),
                values,
                st(inside(GCP_LOCATIONS[loc])),
                unknown={"id": True},
            )
        ]

    def gcp_sql(self, module: str) -> list[Res]:
        key = self.gcp_alias()
        values: dict[str, Any] = {"name": self.uid("sql-"), "database_version": "POSTGRES_16"}
        unknown: dict[str, Any] = {"id": True, "connection_name": True}
        expr = {k: {"constant_value": v} for k, v in values.items()}
        if self.rng.random() < 0.5:
            region = self.rng.choice(["europe-west1", "europe-west2", "us-central1", "europe-west4"])
            values["region"] = region
            expr["region"] = {"constant_value": region}
        else:  # not set: Cloud SQL takes the provider's region
            region = GOOGLE_ALIASES[key][0]
            unknown["region"] = True
        status = st(inside(GCP_LOCATIONS[region]))
        res = Res("google_sql_database_instance", self.uid("sql"), key, values, status, unknown=unknown, expr=expr)
        res.computed = {"region": region}
        return [res]

    def gcp_disk(self, module: str) -> list[Res]:
        region = self.rng.choice(["europe-west3", "europe-west1", "europe-west6", "europe-west2", "us-central1"])
        values = {"name": self.uid("disk-"), "zone": f"{region}-b", "size": 50, "type": "pd-balanced"}
        return [
            Res(
                "google_compute_disk",
                self.uid("disk"),
                self.gcp_alias(),
                values,
                st(inside(GCP_LOCATIONS[region])),
                unknown={"id": True},
            )
        ]

    def gcp_service_account(self, module: str) -> list[Res]:
        values = {"account_id": self.uid("sa-"), "display_name": "workload"}
        return [
            Res(
                "google_service_account",
                self.uid("gsa"),
                self.gcp_alias(),
                values,
                None,
                unknown={"email": True, "id": True},
            )
        ]


KINDS: list[tuple[int, Callable[[Gen, str], list[Res]]]] = [
    (14, Gen.aws_bucket),
    (4, Gen.aws_replication),
    (5, Gen.aws_dynamodb),
    (3, Gen.aws_rds_replica),
    (2, Gen.aws_kms_replica),
    (3, Gen.aws_secret),
    (10, Gen.aws_generic),
    (4, Gen.aws_global),
    (4, Gen.azure_rg),
    (12, Gen.azure_storage),
    (3, Gen.azure_cosmos),
    (2, Gen.azure_unknown),
    (3, Gen.azure_subnet),
    (12, Gen.gcp_bucket),
    (4, Gen.gcp_bigquery),
    (4, Gen.gcp_sql),
    (4, Gen.gcp_disk),
    (3, Gen.gcp_service_account),
]

#: where a group of resources goes: the root, modules, a nested module, the two provider-passing modules
MODULES = [
    "",
    "",
    "",
    "module.team_a",
    "module.team_b",
    "module.team_b.module.store",
    "module.eu_data",
    "module.legacy_uk",
]
ACTIONS = [["create"]] * 80 + [["update"]] * 7 + [["no-op"]] * 7 + [["delete"]] * 4 + [["delete", "create"]] * 2


# --------------------------------------------------------------------------- assembling the plan


def _tree() -> dict[str, Any]:
    return {"resources": [], "children": {}}


def _node(tree: dict[str, Any], module: str) -> dict[str, Any]:
    node = tree
    if module:
        parts = module.split(".")
        for i in range(0, len(parts), 2):
            node = node["children"].setdefault(".".join(parts[: i + 2]), _tree())
    return node


def _values_tree(tree: dict[str, Any], address: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {"resources": tree["resources"]}
    if address:
        out = {"address": address, **out}
    if tree["children"]:
        out["child_modules"] = [_values_tree(c, a) for a, c in tree["children"].items()]
    return out


def _config_tree(tree: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"resources": list(tree["resources"])}
    if tree["children"]:
        out["module_calls"] = {
            a.rsplit(".", 1)[-1]: {"source": f"./modules/{a.rsplit('.', 1)[-1]}", "module": _config_tree(c)}
            for a, c in tree["children"].items()
        }
    return out


_TRAPS = {"eu-west-2", "eu-central-2", "europe-west2", "europe-west6", "eur5", "eur7", "eur8", "uksouth", "ukwest"}
_TRAPS |= {"switzerlandnorth", "switzerlandwest"}


def categories(res: Res) -> list[str]:
    """What decides a finding's answer (for per-category scores in benchmarks/bench_plan.py)."""
    v, out = res.values, []
    places: list[str] = []
    if res.type.startswith("aws_"):
        if "region" in v:
            out.append("AWS resource's own region (provider v6)")
            places.append(v["region"])
        else:
            out.append("AWS provider region" + (" (alias, variable or module)" if res.key != "aws" else ""))
            places.append(Gen.aws_region(res.key))
        replicas = [r.get("region_name") or r.get("region") for r in v.get("replica", [])]
        if replicas:
            out.append("replica blocks (DynamoDB, Secrets Manager)")
            places += replicas
        if res.extra:
            out.append("S3 replication destination")
            places += res.extra
    elif res.type.startswith("azurerm_"):
        if "location" not in v:
            out.append("known only after apply")
        else:
            out.append("Azure location")
            places.append(v["location"])
        kind = str(v.get("account_replication_type", ""))
        if "GRS" in kind or "GZRS" in kind:
            out.append("Azure GRS region pair")
            places.append(AZURE_PAIRS[v["location"]])
        if len(v.get("geo_location", [])) > 1:
            out.append("Cosmos DB geo_location")
            places += [g["location"] for g in v["geo_location"]]
    else:
        members = [m for c in v.get("custom_placement_config", []) for m in c["data_locations"]]
        loc = str(v.get("location", ""))
        if members or loc.upper().startswith("EUR"):
            out.append("GCS dual-region")
        elif "location" in v or "zone" in v or "region" in v:
            out.append("Google location, region or zone")
        else:
            out.append("Google provider region")
        places += [*members, loc, str(v.get("zone", ""))[:-2], str(v.get("region", ""))]
        if "region" not in v and "location" not in v and "zone" not in v:
            places.append(GOOGLE_ALIASES[res.key][0])
    if _TRAPS & {p.lower() for p in places}:
        out.append("London or Zurich behind a European name")
    return out


def generate(n: int, seed: int = 0) -> tuple[dict[str, Any], dict[str, Any]]:
    """A plan with ``n`` resource changes and its truth (see the module docstring)."""
    gen = Gen(seed)
    rng = gen.rng
    weights = [w for w, _ in KINDS]
    builders = [b for _, b in KINDS]
    changes: list[dict[str, Any]] = []
    planned, prior, config = _tree(), _tree(), _tree()
    truth_default: dict[str, str] = {}
    truth_all: dict[str, str] = {}
    why: dict[str, list[str]] = {}
    while len(changes) < n:
        module = rng.choice(MODULES)
        group = rng.choices(builders, weights=weights)[0](gen, module)
        # a location read only at apply belongs to a resource being created
        action = ["create"] if any(r.mode == "data" for r in group) else rng.choice(ACTIONS)
        counted = len(group) == 1 and group[0].mode == "managed" and rng.random() < 0.1
        instances: list[Res] = []
        for res in group:
            if res.mode == "managed":
                res.action = action
            instances.append(res)
        if counted:  # count = 2: two instances of one configuration block
            first = instances[0]
            second = Res(
                first.type,
                first.name,
                first.key,
                dict(first.values),
                first.status,
                unknown=first.unknown,
                expr=first.expr,
            )
            for k in ("bucket", "name", "identifier", "dataset_id", "account_id"):
                if isinstance(second.values.get(k), str):
                    second.values[k] += "-1"
            second.action, second.computed = first.action, first.computed
            first.index, second.index = 0, 1
            instances.append(second)
        for res in instances:
            if len(changes) >= n:
                break
            prefix = f"{module}." if module else ""
            data = "data." if res.mode == "data" else ""
            res.module = module
            res.address = f"{prefix}{data}{res.type}.{res.name}" + (f"[{res.index}]" if res.index is not None else "")
            changes.append(_change(res))
            if res.action != ["delete"] and res.mode == "managed":
                _node(planned, module)["resources"].append(_instance(res, _after(res)))
            if res.action != ["create"] and res.mode == "managed":
                _node(prior, module)["resources"].append(_instance(res, _before(res)))
            if res.status is not None and res.mode == "managed" and res.action != ["delete"]:
                truth_all[res.address] = res.status
                why[res.address] = categories(res)
                if res.action != ["no-op"]:
                    truth_default[res.address] = res.status
        for res in group:
            if res.address:
                _node(config, module)["resources"].append(_config(res, counted))
    plan = {
        "format_version": "1.2",
        "terraform_version": "1.9.8",
        "variables": {k: {"value": v} for k, v in VARIABLES.items()},
        "planned_values": {"root_module": _values_tree(planned)},
        "resource_changes": changes,
        "prior_state": {
            "format_version": "1.0",
            "terraform_version": "1.9.8",
            "values": {"root_module": _values_tree(prior)},
        },
        "configuration": {
            "provider_config": provider_config(),
            "root_module": {
                **_config_tree(config),
                "variables": {k: {"default": v} for k, v in VARIABLES.items()},
            },
        },
        "timestamp": "2026-12-01T12:00:00Z",
        "applyable": True,
        "complete": True,
        "errored": False,
    }
    truth = {
        "generator": "benchmarks/gen_plan.py",
        "seed": seed,
        "resources": len(changes),
        "policy": "eu",
        "default": truth_default,
        "all": truth_all,
        "why": why,
    }
    return plan, truth


def _exists(res: Res) -> bool:
    """The resource exists before and after this plan (update, no-op): its computed values are known."""
    return res.action in (["update"], ["no-op"])


def _after(res: Res) -> dict[str, Any]:
    return {**res.values, **res.computed} if _exists(res) else res.values


def _before(res: Res) -> dict[str, Any]:
    before = {**res.values, **res.computed}
    if res.action == ["update"]:
        before["tags"] = {"team": "previous"}
    return before


def _instance(res: Res, values: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "address": res.address,
        "mode": res.mode,
        "type": res.type,
        "name": res.name,
        "provider_name": res.provider_name,
        "schema_version": 0,
        "values": values,
        "sensitive_values": {},
    }
    if res.index is not None:
        out["index"] = res.index
    return out


def _change(res: Res) -> dict[str, Any]:
    action = res.action
    before = None if action in (["create"], ["read"]) else _before(res)
    after = None if action == ["delete"] else _after(res)
    out: dict[str, Any] = {
        "address": res.address,
        "mode": res.mode,
        "type": res.type,
        "name": res.name,
        "provider_name": res.provider_name,
        "change": {
            "actions": action,
            "before": before,
            "after": after,
            "after_unknown": {} if action == ["delete"] or _exists(res) else res.unknown,
            "before_sensitive": False if before is None else {},
            "after_sensitive": False if after is None else {},
        },
    }
    if res.module:
        out["module_address"] = res.module
    if res.index is not None:
        out["index"] = res.index
    if action == ["delete", "create"]:
        out["action_reason"] = "replace_because_cannot_update"
    return out


def _config(res: Res, counted: bool) -> dict[str, Any]:
    data = "data." if res.mode == "data" else ""
    out: dict[str, Any] = {
        "address": f"{data}{res.type}.{res.name}",
        "mode": res.mode,
        "type": res.type,
        "name": res.name,
        "provider_config_key": res.key,
        "expressions": res.expr,
        "schema_version": 0,
    }
    if counted:
        out["count_expression"] = {"constant_value": 2}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("resources", type=int, help="number of resource changes")
    parser.add_argument("-o", "--output", type=pathlib.Path, required=True, help="plan JSON to write")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    plan, truth = generate(args.resources, args.seed)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(plan, separators=(",", ":")))
    truth_path = args.output.with_suffix(".truth.json")
    truth_path.write_text(json.dumps(truth, indent=1, sort_keys=True))
    counts: dict[str, int] = {}
    for status in truth["default"].values():
        counts[status] = counts.get(status, 0) + 1
    print(f"{args.output}: {truth['resources']} resources, {len(truth['default'])} findings by default {counts}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
