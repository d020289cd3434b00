"""The ``gcp.resourceLocations`` value groups, as data: ``in:<group>`` → the locations it stands for.

Source: Google Cloud, "Restricting resource locations" (the value groups the
constraint accepts, and the ``in:`` prefix semantics),
https://cloud.google.com/resource-manager/docs/organization-policy/defining-locations,
and "Resource locations supported services",
https://cloud.google.com/resource-manager/docs/organization-policy/defining-locations-supported-services
(retrieved 2026-12-04). Google describes ``in:eu-locations`` as the locations
in the European Union and ``in:europe-locations`` as the locations in Europe:
the second adds London (``europe-west2``), Zurich (``europe-west6``) and the
dual-regions that pair them (``EUR5``, ``EUR7``, ``EUR8``). The member lists
below name the regions of this package's catalog (``residency/data/gcp.json``)
that fall in each group, with the Cloud Storage multi-region and predefined
dual-regions of that geography; a region Google adds to a group later is not
known until this list is updated (an evaluation notes the list's date).
``in:<region>-locations`` (a region and its zones) is computed, not listed.
Groups not listed here are unknown: a policy that allows one is ``unknown``,
never compliant.
"""

from __future__ import annotations

__all__ = ["RETRIEVED", "SOURCE", "VALUE_GROUPS"]

SOURCE = "https://cloud.google.com/resource-manager/docs/organization-policy/defining-locations"
RETRIEVED = "2026-12-04"

_EU_REGIONS = (
    "europe-central2",
    "europe-north1",
    "europe-north2",
    "europe-southwest1",
    "europe-west1",
    "europe-west3",
    "europe-west4",
    "europe-west8",
    "europe-west9",
    "europe-west10",
    "europe-west12",
)
_US_REGIONS = (
    "us-central1",
    "us-central2",
    "us-east1",
    "us-east4",
    "us-east5",
    "us-east7",
    "us-south1",
    "us-west1",
    "us-west2",
    "us-west3",
    "us-west4",
    "us-west8",
)
_ASIA_REGIONS = (
    "asia-east1",
    "asia-east2",
    "asia-northeast1",
    "asia-northeast2",
    "asia-northeast3",
    "asia-south1",
    "asia-south2",
    "asia-southeast1",
    "asia-southeast2",
    "asia-southeast3",
)

VALUE_GROUPS: dict[str, tuple[str, ...]] = {
    "eu-locations": (*_EU_REGIONS, "EU", "EUR4"),
    "europe-locations": (*_EU_REGIONS, "europe-west2", "europe-west6", "EU", "EUR4", "EUR5", "EUR7", "EUR8"),
    "us-locations": (*_US_REGIONS, "US", "NAM4"),
    "northamerica-locations": (
        *_US_REGIONS,
        "northamerica-northeast1",
        "northamerica-northeast2",
        "northamerica-south1",
        "US",
        "NAM4",
    ),
    "southamerica-locations": ("southamerica-east1", "southamerica-west1"),
    "asia-locations": (*_ASIA_REGIONS, "ASIA", "ASIA1"),
    "australia-locations": ("australia-southeast1", "australia-southeast2"),
}
"""Named value groups (without ``in:``) → location codes of the catalog."""
