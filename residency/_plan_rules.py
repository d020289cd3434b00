"""Where a planned resource's data lands: one rule per Terraform resource type.

A rule reads one resource of a plan (:class:`~residency._plan.PlannedResource`)
and returns its :class:`Placement` list: every place its data lands, with the
role of each (``bucket``, ``replica``, ``GRS secondary`` …), or an unknown
placement naming what the plan cannot tell (a value known only after apply, a
destination outside the plan). Rules are looked up by resource type in
:data:`RULES`; a type without its own rule gets the provider's generic rule
(the resource's home location: AWS region, ``location`` of azurerm, ``location``
/ ``region`` / ``zone`` of google).

The table is data: adding a resource type is one entry.

>>> sorted(t for t in RULES if t.startswith("aws_dynamodb"))
['aws_dynamodb_global_table', 'aws_dynamodb_table', 'aws_dynamodb_table_replica']
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from ._catalog import catalog

if TYPE_CHECKING:
    from ._plan import PlannedResource

__all__ = ["GLOBAL_TYPE_PREFIXES", "RULES", "Placement", "placements", "service_of"]


@attrs.frozen
class Placement:
    """One place a resource's data lands; ``location`` is ``None`` when the plan cannot tell (``why``)."""

    location: str | None
    role: str
    why: str = ""


Rule = Callable[["PlannedResource"], list[Placement]]

#: AWS resource types that have no region and hold no data of their own (IAM, DNS, edge, billing …)
GLOBAL_TYPE_PREFIXES: tuple[str, ...] = (
    "aws_iam_",
    "aws_route53_zone",
    "aws_route53_record",
    "aws_route53_health_check",
    "aws_route53_delegation_set",
    "aws_route53_key_signing_key",
    "aws_route53_query_log",
    "aws_route53_traffic_policy",
    "aws_route53_vpc_association_authorization",
    "aws_route53_zone_association",
    "aws_route53domains_",
    "aws_cloudfront_",
    "aws_organizations_",
    "aws_budgets_",
    "aws_ce_",
    "aws_shield_",
    "aws_globalaccelerator_",
    "aws_account_",
    "aws_waf_",
    "aws_networkmanager_",
    "aws_s3_account_public_access_block",
    "aws_caller_identity",
)

#: Terraform type prefix -> the service name findings carry (else the type's second word)
_SERVICES: Mapping[str, str] = {
    "aws_s3": "s3",
    "aws_db_": "rds",
    "aws_rds_": "rds",
    "aws_ebs_": "ec2",
    "aws_ami": "ec2",
    "aws_instance": "ec2",
    "aws_kms_": "kms",
    "aws_secretsmanager_": "secretsmanager",
    "aws_ecr_": "ecr",
    "aws_backup_": "backup",
    "aws_dynamodb_": "dynamodb",
    "azurerm_storage_": "storage",
    "azurerm_postgresql_": "postgresql",
    "azurerm_mysql_": "mysql",
    "azurerm_recovery_services_": "recoveryservices",
    "azurerm_data_protection_": "dataprotection",
    "azurerm_container_registry": "containerregistry",
    "aws_s3control_": "s3",
    "azurerm_cosmosdb_": "cosmosdb",
    "azurerm_mssql_": "sql",
    "azurerm_sql_": "sql",
    "azurerm_resource_group": "resources",
    "google_storage_": "storage",
    "google_bigquery_": "bigquery",
    "google_sql_": "sql",
    "google_spanner_": "spanner",
}


def service_of(resource_type: str) -> str:
    """The service a Terraform resource type belongs to.

    >>> service_of("aws_s3_bucket"), service_of("azurerm_cosmosdb_account"), service_of("aws_sqs_queue")
    ('s3', 'cosmosdb', 'sqs')
    """
    for prefix, service in _SERVICES.items():
        if resource_type.startswith(prefix):
            return service
    parts = resource_type.split("_")
    return parts[1] if len(parts) > 2 else parts[-1]


# --------------------------------------------------------------------------- helpers


def _blocks(r: PlannedResource, *path: str) -> Iterable[tuple[tuple[str | int, ...], Any]]:
    """Every value at ``path`` through nested blocks (lists of objects), with its full path."""
    frontier: list[tuple[tuple[str | int, ...], Any]] = [((), r.values)]
    for key in path:
        nxt: list[tuple[tuple[str | int, ...], Any]] = []
        for where, node in frontier:
            if isinstance(node, Mapping) and key in node:
                value = node[key]
                if isinstance(value, list):
                    nxt += [((*where, key, i), v) for i, v in enumerate(value)]
                else:
                    nxt.append(((*where, key), value))
        frontier = nxt
    return frontier


def _listed(r: PlannedResource, role: str, path: tuple[str, ...], *, label: str) -> list[Placement]:
    """Placements for every string at ``path`` (e.g. ``replica[].region_name``); unknown values named."""
    *parent, leaf = path
    out: list[Placement] = []
    for where, _ in _blocks(r, *parent):
        value, known = r.value(*where, leaf)
        if not known:
            out.append(Placement(None, role, f"{label} is known only after apply"))
        elif isinstance(value, str) and value:
            out.append(Placement(value, role))
    if parent and r.unknown_at(*parent):
        out.append(Placement(None, role, f"{'.'.join(parent)} is known only after apply"))
    return out


_ARN_REGION = re.compile(r"^arn:aws[a-z-]*:[^:]*:(?P<region>[a-z0-9-]*):")


def _arn_region(arn: str) -> str | None:
    m = _ARN_REGION.match(arn)
    return m.group("region") if m and m.group("region") else None


# --------------------------------------------------------------------------- AWS


def aws_home(r: PlannedResource, role: str = "") -> list[Placement]:
    """The region an AWS resource lives in (per-resource ``region`` of provider v6, else the provider's)."""
    region, why = r.aws_region()
    return [Placement(region, role or r.default_role, why)]


def _aws_s3_bucket(r: PlannedResource) -> list[Placement]:
    out = aws_home(r, "bucket")
    for where, _ in _blocks(r, "replication_configuration", "rules", "destination"):
        out.append(_s3_destination(r, (*where, "bucket")))
    return out


def _s3_destination(r: PlannedResource, where: tuple[str | int, ...]) -> Placement:
    value, known = r.value(*where)
    role = "replication destination"
    if known and isinstance(value, str) and value:
        name = value.split(":::", 1)[-1]
        role = f"replication destination {name}"
        region, why = r.plan.bucket_region(name)
        return Placement(region, role, why)
    region, why = r.referenced_home(where, what="the destination bucket")
    return Placement(region, role, why)


def _aws_s3_replication(r: PlannedResource) -> list[Placement]:
    out = aws_home(r, "replication source")
    for where, _ in _blocks(r, "rule", "destination"):
        out.append(_s3_destination(r, (*where, "bucket")))
    if r.unknown_at("rule"):
        out.append(Placement(None, "replication destination", "the replication rules are known only after apply"))
    return out


def _aws_dynamodb_table(r: PlannedResource) -> list[Placement]:
    return aws_home(r, "table") + _listed(r, "replica", ("replica", "region_name"), label="replica region_name")


def _aws_dynamodb_global_table(r: PlannedResource) -> list[Placement]:
    return _listed(r, "replica", ("replica", "region_name"), label="replica region_name") or aws_home(r, "table")


def _aws_secret(r: PlannedResource) -> list[Placement]:
    return aws_home(r, "secret") + _listed(r, "replica", ("replica", "region"), label="replica region")


def _aws_ecr_replication(r: PlannedResource) -> list[Placement]:
    return aws_home(r, "registry") + _listed(
        r,
        "replication destination",
        ("replication_configuration", "rule", "destination", "region"),
        label="replication destination region",
    )


def _aws_backup_plan(r: PlannedResource) -> list[Placement]:
    out = aws_home(r, "backup plan")
    for where, _ in _blocks(r, "rule", "copy_action"):
        value, known = r.value(*where, "destination_vault_arn")
        if known and isinstance(value, str) and value:
            out.append(Placement(_arn_region(value), "backup copy destination", f"vault ARN {value!r} has no region"))
        else:
            region, why = r.referenced_home((*where, "destination_vault_arn"), what="the destination vault")
            out.append(Placement(region, "backup copy destination", why))
    return out


def _aws_db_instance(r: PlannedResource) -> list[Placement]:
    src, known = r.value("replicate_source_db")
    role = "read replica" if known and src else "database"
    return aws_home(r, role)


def _aws_multi_region_access_point(r: PlannedResource) -> list[Placement]:
    out: list[Placement] = []
    for where, _ in _blocks(r, "details", "region"):
        value, known = r.value(*where, "bucket")
        if known and isinstance(value, str) and value:
            region, why = r.plan.bucket_region(value)
            out.append(Placement(region, f"bucket {value}", why))
        else:
            region, why = r.referenced_home((*where, "bucket"), what="bucket")
            out.append(Placement(region, "bucket", why))
    return out


def _aws_redshift_cluster(r: PlannedResource) -> list[Placement]:
    return aws_home(r, "cluster") + _listed(
        r, "snapshot copy destination", ("snapshot_copy", "destination_region"), label="snapshot copy region"
    )


def _aws_role(role: str) -> Rule:
    return lambda r: aws_home(r, role)


# --------------------------------------------------------------------------- Azure


def azure_home(r: PlannedResource, role: str = "") -> list[Placement]:
    """``location`` of an azurerm resource (unknown until apply when it is)."""
    value, known = r.value("location")
    if not known:
        region, why = r.referenced_home(("location",), what="location")
        return [Placement(region, role or r.default_role, why)]
    if not isinstance(value, str) or not value:
        return []
    return [Placement(value, role or r.default_role)]


_GEO_REDUNDANT = ("GRS", "GZRS")  # RA-GRS and RA-GZRS end the same way


def _azure_storage_account(r: PlannedResource) -> list[Placement]:
    out = azure_home(r, "storage account")
    kind, known = r.value("account_replication_type")
    if not known:
        out.append(Placement(None, "GRS secondary", "account_replication_type is known only after apply"))
    elif isinstance(kind, str) and kind.upper().replace("-", "").endswith(_GEO_REDUNDANT):
        out.append(_pair(out, kind, f"{kind} secondary"))
    return out


def _pair(home: list[Placement], setting: str, role: str) -> Placement:
    """The region pair of the resource's own location, where ``setting`` keeps a geo-redundant copy."""
    where = home[0].location if home else None
    if where is None:
        return Placement(None, role, f"{setting} keeps a copy in the pair of a location not known from the plan")
    pair = catalog().lookup("azure", where).pair
    why = "" if pair else f"{setting} keeps a copy in the pair of {where}, which is not known"
    return Placement(pair, f"{role} (pair of {where})", why)


def _azure_geo_setting(attr: str, geo: Callable[[Any], bool], role: str, *, home: Rule | None = None) -> Rule:
    """A resource whose ``attr`` (when ``geo(value)``) keeps a copy in its location's region pair."""

    def rule(r: PlannedResource) -> list[Placement]:
        out = (home or azure_home)(r)
        value, known = r.value(attr)
        if not known:
            out.append(Placement(None, role, f"{attr} is known only after apply"))
        elif geo(value):
            out.append(_pair(out, f"{attr} = {value}", role))
        return out

    return rule


def _geo_name(value: Any) -> bool:
    return isinstance(value, str) and value.replace("-", "").lower() in ("geo", "geozone", "georedundant")


def _azure_registry(r: PlannedResource) -> list[Placement]:
    return azure_home(r, "registry") + _listed(
        r, "geo-replication", ("georeplications", "location"), label="geo-replication location"
    )


def _azure_object_replication(r: PlannedResource) -> list[Placement]:
    source, why = r.referenced_home(("source_storage_account_id",), what="source storage account")
    dest, dwhy = r.referenced_home(("destination_storage_account_id",), what="destination storage account")
    return [Placement(source, "replication source", why), Placement(dest, "object replication destination", dwhy)]


def _azure_cosmosdb(r: PlannedResource) -> list[Placement]:
    out = azure_home(r, "account")
    for where, block in _blocks(r, "geo_location"):
        prio = block.get("failover_priority") if isinstance(block, Mapping) else None
        role = "geo_location" + (f" (failover priority {prio})" if isinstance(prio, int) else "")
        value, known = r.value(*where, "location")
        out.append(Placement(value if known else None, role, "" if known else "geo_location is known only after apply"))
    if r.unknown_at("geo_location"):
        out.append(Placement(None, "geo_location", "geo_location is known only after apply"))
    return out


def _azure_via(attr: str, role: str) -> Rule:
    """Resources without ``location`` that live where the resource ``attr`` names lives (a database's server)."""

    def rule(r: PlannedResource) -> list[Placement]:
        region, why = r.referenced_home((attr,), what=attr)
        return [Placement(region, role, why)]

    return rule


def _azure_failover_group(r: PlannedResource) -> list[Placement]:
    out = _azure_via("server_id", "primary server")(r)
    for where, _ in _blocks(r, "partner_server"):
        value, known = r.value(*where, "location")
        if known and isinstance(value, str) and value:
            out.append(Placement(value, "partner server"))
            continue
        region, why = r.referenced_home((*where, "id"), what="partner server")
        out.append(Placement(region, "partner server", why))
    # the legacy azurerm_sql_failover_group names its partners with their location
    out += _listed(r, "partner server", ("partner_servers", "location"), label="partner server location")
    return out


# --------------------------------------------------------------------------- Google Cloud

_ZONE = re.compile(r"^(?P<region>[a-z]+-[a-z]+\d+)-[a-z]$")


def _gcp_region_of_zone(zone: str) -> str:
    m = _ZONE.match(zone)
    return m.group("region") if m else zone


def gcp_home(r: PlannedResource, role: str = "") -> list[Placement]:
    """``location``, else ``region``, else ``zone`` (its region), else the provider's default region."""
    role = role or r.default_role
    for attr in ("location", "region", "zone"):
        if not r.has(attr):
            continue
        value, known = r.value(attr)
        if known and isinstance(value, str) and value:
            return [Placement(_gcp_region_of_zone(value) if attr == "zone" else value, role)]
        if known:
            continue
        if r.configured(attr):
            region, why = r.referenced_home((attr,), what=attr)
            return [Placement(region, role, why)]
        region, why = r.provider_setting(attr if attr != "location" else "region")
        if attr == "zone" and region:
            region = _gcp_region_of_zone(region)
        return [Placement(region, role, why)]
    return []


def _gcp_bucket(r: PlannedResource) -> list[Placement]:
    members: list[str] = []
    for where, _ in _blocks(r, "custom_placement_config"):
        value, known = r.value(*where, "data_locations")
        if not known:
            return [Placement(None, "bucket", "custom_placement_config.data_locations is known only after apply")]
        if isinstance(value, list):
            members += [v for v in value if isinstance(v, str)]
    if members:
        return [Placement("+".join(m.lower() for m in members), "bucket (custom dual-region)")]
    return gcp_home(r, "bucket")


def _gcp_spanner_instance(r: PlannedResource) -> list[Placement]:
    value, known = r.value("config")
    if not known:
        return [Placement(None, "instance", "config is known only after apply")]
    if isinstance(value, str) and value:
        name = value.rsplit("/", 1)[-1]
        if name.startswith("regional-"):
            return [Placement(name.removeprefix("regional-"), "instance")]
        return [Placement(name, f"instance config {name}")]
    return []


def _gcp_spanner_config(r: PlannedResource) -> list[Placement]:
    return _listed(r, "replica", ("replicas", "location"), label="replica location")


def _gcp_sql_instance(r: PlannedResource) -> list[Placement]:
    master, known = r.value("master_instance_name")
    return gcp_home(r, "read replica" if known and master else "instance")


# --------------------------------------------------------------------------- the table

RULES: dict[str, Rule] = {
    # AWS
    "aws_s3_bucket": _aws_s3_bucket,
    "aws_s3_bucket_replication_configuration": _aws_s3_replication,
    "aws_dynamodb_table": _aws_dynamodb_table,
    "aws_dynamodb_global_table": _aws_dynamodb_global_table,
    "aws_dynamodb_table_replica": _aws_role("replica"),
    "aws_db_instance": _aws_db_instance,
    "aws_rds_cluster": _aws_role("cluster"),
    "aws_db_instance_automated_backups_replication": _aws_role("automated backups replica"),
    "aws_kms_replica_key": _aws_role("replica key"),
    "aws_kms_replica_external_key": _aws_role("replica key"),
    "aws_backup_plan": _aws_backup_plan,
    "aws_secretsmanager_secret": _aws_secret,
    "aws_ecr_replication_configuration": _aws_ecr_replication,
    "aws_ebs_snapshot_copy": _aws_role("snapshot copy"),
    "aws_ami_copy": _aws_role("image copy"),
    "aws_s3control_multi_region_access_point": _aws_multi_region_access_point,
    "aws_redshift_cluster": _aws_redshift_cluster,
    # Azure
    "azurerm_resource_group": lambda r: azure_home(r, "resource group"),
    "azurerm_storage_account": _azure_storage_account,
    "azurerm_cosmosdb_account": _azure_cosmosdb,
    "azurerm_mssql_database": _azure_geo_setting(
        "storage_account_type",
        _geo_name,
        "geo-redundant backups",
        home=_azure_via("server_id", "database (server location)"),
    ),
    "azurerm_postgresql_flexible_server": _azure_geo_setting(
        "geo_redundant_backup_enabled", lambda v: v is True, "geo-redundant backups"
    ),
    "azurerm_mysql_flexible_server": _azure_geo_setting(
        "geo_redundant_backup_enabled", lambda v: v is True, "geo-redundant backups"
    ),
    "azurerm_postgresql_server": _azure_geo_setting(
        "geo_redundant_backup_enabled", lambda v: v is True, "geo-redundant backups"
    ),
    "azurerm_mysql_server": _azure_geo_setting(
        "geo_redundant_backup_enabled", lambda v: v is True, "geo-redundant backups"
    ),
    "azurerm_recovery_services_vault": _azure_geo_setting("storage_mode_type", _geo_name, "geo-redundant storage"),
    "azurerm_data_protection_backup_vault": _azure_geo_setting("redundancy", _geo_name, "geo-redundant storage"),
    "azurerm_container_registry": _azure_registry,
    "azurerm_storage_object_replication": _azure_object_replication,
    "azurerm_mssql_failover_group": _azure_failover_group,
    "azurerm_sql_failover_group": _azure_failover_group,
    # Google Cloud
    "google_storage_bucket": _gcp_bucket,
    "google_spanner_instance": _gcp_spanner_instance,
    "google_spanner_instance_config": _gcp_spanner_config,
    "google_sql_database_instance": _gcp_sql_instance,
}

_GENERIC: dict[str, Rule] = {"aws": aws_home, "azure": azure_home, "gcp": gcp_home}


def placements(r: PlannedResource) -> list[Placement] | None:
    """Where ``r``'s data lands; ``None`` when the resource has no location at all (not a finding)."""
    rule = RULES.get(r.type)
    if rule is None:
        if r.provider == "aws" and r.type.replace("awscc_", "aws_", 1).startswith(GLOBAL_TYPE_PREFIXES):
            return None
        rule = _GENERIC.get(r.provider)
    if rule is None:
        return None
    found = rule(r)
    return found or None
