"""Regenerate ``residency/data/aws.json`` from botocore's partition data.

The list of regions and their descriptions comes from the installed botocore
(``botocore/data/partitions.json``); the country of each region is a fact that
botocore does not carry, so it is kept in ``COUNTRIES`` below, each taken from
AWS's regions page (source ``aws-regions``).  A region botocore knows but this
table does not is written with no countries (unknown, fails closed) and the
script exits 1 so the gap is seen.

Availability-zone ids (``euw1-az1``) are written per region from ``AZ_IDS``
(the ids AWS lists for the region, source ``aws-az-ids``); the catalog also
resolves any other ``<prefix>-az<n>`` of a listed prefix to that region.

Local Zones and Wavelength Zones (``EDGE_ZONES``) are written as their own
entries with the country of the zone itself, never the parent region's: a
Local Zone can be in another country than its parent (Warsaw under Frankfurt,
Istanbul under Frankfurt, Lima under N. Virginia).  Zone ids not listed stay
unknown (they do not match the plain AZ-id pattern).

Run: ``python scripts/build_aws_catalog.py``
"""

from __future__ import annotations

import json
import pathlib
import sys

import botocore

HERE = pathlib.Path(__file__).resolve().parent.parent
OUT = HERE / "residency" / "data" / "aws.json"

COUNTRIES = {
    "af-south-1": "ZA",
    "ap-east-1": "HK",
    "ap-east-2": "TW",
    "ap-northeast-1": "JP",
    "ap-northeast-2": "KR",
    "ap-northeast-3": "JP",
    "ap-south-1": "IN",
    "ap-south-2": "IN",
    "ap-southeast-1": "SG",
    "ap-southeast-2": "AU",
    "ap-southeast-3": "ID",
    "ap-southeast-4": "AU",
    "ap-southeast-5": "MY",
    "ap-southeast-6": "NZ",
    "ap-southeast-7": "TH",
    "ca-central-1": "CA",
    "ca-west-1": "CA",
    "eu-central-1": "DE",
    "eu-central-2": "CH",
    "eu-north-1": "SE",
    "eu-south-1": "IT",
    "eu-south-2": "ES",
    "eu-west-1": "IE",
    "eu-west-2": "GB",
    "eu-west-3": "FR",
    "il-central-1": "IL",
    "me-central-1": "AE",
    "me-south-1": "BH",
    "me-west-1": "SA",
    "mx-central-1": "MX",
    "sa-east-1": "BR",
    "sa-west-1": "CL",
    "us-east-1": "US",
    "us-east-2": "US",
    "us-west-1": "US",
    "us-west-2": "US",
    "cn-north-1": "CN",
    "cn-northwest-1": "CN",
    "us-gov-east-1": "US",
    "us-gov-west-1": "US",
    "us-iso-east-1": "US",
    "us-iso-west-1": "US",
    "us-isob-east-1": "US",
    "us-isob-west-1": "US",
    "us-isof-east-1": "US",
    "us-isof-south-1": "US",
    "eusc-de-east-1": "DE",
}
# Regions whose country AWS does not publish: listed, no countries (unknown).
UNPUBLISHED = {
    "eu-isoe-west-1": "AWS does not publish the country of the ISO-E partition's region "
    "(its endpoint suffix cloud.adc-e.uk is not a statement of where data is stored); "
    "treated as unknown (fails closed).",
}
NOTES = {
    "eu-west-2": "London is in the United Kingdom: not EU, not EEA.",
    "eu-central-2": "Zurich is in Switzerland: EEA+CH only, not EU/EEA.",
    "il-central-1": "Israel (Tel Aviv); the 'il-' prefix is not 'EU'.",
    "eusc-de-east-1": "AWS European Sovereign Cloud, Brandenburg, Germany: its own partition (aws-eusc, endpoints "
    "*.amazonaws.eu) and its only Region. The sovereign Local Zones AWS announced for it (Belgium, the Netherlands, "
    "Portugal: Lisbon, zone name eusc-de-east-1-lis-1a; press.aboutamazon.com, January 2026) have no published "
    "zone IDs yet, so they stay unknown (fail closed) until AWS lists them.",
    "me-west-1": "Middle East (Saudi Arabia); the 'me-' prefix is a continent, not a country.",
    "sa-west-1": "South America (Chile).",
}
SOVEREIGN = {"aws-cn", "aws-us-gov", "aws-iso", "aws-iso-b", "aws-iso-e", "aws-iso-f", "aws-eusc"}
DIRECTIONS = {
    "east": "e",
    "west": "w",
    "north": "n",
    "south": "s",
    "central": "c",
    "northeast": "ne",
    "northwest": "nw",
    "southeast": "se",
    "southwest": "sw",
}

# AZ-id numbers per region, as AWS lists them (AWS Availability Zones page /
# EFS One Zone AZ table; for the newest regions, AWS's rule that every Region
# has at least three AZs, ids az1-az3).  Regions not listed here get none
# written (their zone ids are then unknown): the ISO, ISO-E and EUSC
# partitions, whose AZ-id prefix AWS does not publish.
AZ_IDS: dict[str, tuple[int, ...]] = {
    "af-south-1": (1, 2, 3),
    "ap-east-1": (1, 2, 3),
    "ap-east-2": (1, 2, 3),
    "ap-northeast-1": (1, 2, 3, 4),  # apne1-az3: older accounts only
    "ap-northeast-2": (1, 2, 3, 4),
    "ap-northeast-3": (1, 2, 3),
    "ap-south-1": (1, 2, 3),
    "ap-south-2": (1, 2, 3),
    "ap-southeast-1": (1, 2, 3),
    "ap-southeast-2": (1, 2, 3),
    "ap-southeast-3": (1, 2, 3),
    "ap-southeast-4": (1, 2, 3),
    "ap-southeast-5": (1, 2, 3),
    "ap-southeast-6": (1, 2, 3),
    "ap-southeast-7": (1, 2, 3),
    "ca-central-1": (1, 2, 4),
    "ca-west-1": (1, 2, 3),
    "eu-central-1": (1, 2, 3),
    "eu-central-2": (1, 2, 3),
    "eu-north-1": (1, 2, 3),
    "eu-south-1": (1, 2, 3),
    "eu-south-2": (1, 2, 3),
    "eu-west-1": (1, 2, 3),
    "eu-west-2": (1, 2, 3),
    "eu-west-3": (1, 2, 3),
    "il-central-1": (1, 2, 3),
    "me-central-1": (1, 2, 3),
    "me-south-1": (1, 2, 3),
    "me-west-1": (1, 2, 3),
    "mx-central-1": (1, 2, 3),
    "sa-east-1": (1, 2, 3),
    "sa-west-1": (1, 2, 3),
    "us-east-1": (1, 2, 3, 4, 5, 6),
    "us-east-2": (1, 2, 3),
    "us-west-1": (1, 2, 3),  # usw1-az2: older accounts only
    "us-west-2": (1, 2, 3, 4),
    "cn-north-1": (1, 2, 4),
    "cn-northwest-1": (1, 2, 3),
    "us-gov-east-1": (1, 2, 3),
    "us-gov-west-1": (1, 2, 3),
}

# Local Zones and Wavelength Zones: (zone id, zone name, network border group,
# parent region, city, country).  Country is where the zone's hardware is,
# from the Geography/Location columns of AWS's Local Zones and Wavelength
# Zones lists.  A zone's id follows AWS's form: the parent's AZ-id prefix, the
# metro code and number, and -az<n> (Local Zone) or -wlz<n> (Wavelength).
LOCAL_ZONES: tuple[tuple[str, str, str, str, str, str], ...] = (
    ("afs1-los1-az1", "af-south-1-los-1a", "af-south-1-los-1", "af-south-1", "Lagos", "NG"),
    ("apne1-tpe1-az1", "ap-northeast-1-tpe-1a", "ap-northeast-1-tpe-1", "ap-northeast-1", "Taipei", "TW"),
    ("aps1-ccu1-az1", "ap-south-1-ccu-1a", "ap-south-1-ccu-1", "ap-south-1", "Kolkata", "IN"),
    ("aps1-ccu2-az1", "ap-south-1-ccu-2a", "ap-south-1-ccu-2", "ap-south-1", "Kolkata", "IN"),
    ("aps1-del1-az1", "ap-south-1-del-1a", "ap-south-1-del-1", "ap-south-1", "Delhi", "IN"),
    ("aps1-del2-az1", "ap-south-1-del-2a", "ap-south-1-del-2", "ap-south-1", "Delhi", "IN"),
    ("apse1-bkk1-az1", "ap-southeast-1-bkk-1a", "ap-southeast-1-bkk-1", "ap-southeast-1", "Bangkok", "TH"),
    ("apse1-han1-az1", "ap-southeast-1-han-1a", "ap-southeast-1-han-1", "ap-southeast-1", "Hanoi", "VN"),
    ("apse1-mnl1-az1", "ap-southeast-1-mnl-1a", "ap-southeast-1-mnl-1", "ap-southeast-1", "Manila", "PH"),
    ("apse2-akl1-az1", "ap-southeast-2-akl-1a", "ap-southeast-2-akl-1", "ap-southeast-2", "Auckland", "NZ"),
    ("apse2-per1-az1", "ap-southeast-2-per-1a", "ap-southeast-2-per-1", "ap-southeast-2", "Perth", "AU"),
    ("euc1-ath1-az1", "eu-central-1-ath-1a", "eu-central-1-ath-1", "eu-central-1", "Athens", "GR"),
    ("euc1-ham1-az1", "eu-central-1-ham-1a", "eu-central-1-ham-1", "eu-central-1", "Hamburg", "DE"),
    ("euc1-ist1-az1", "eu-central-1-ist-1a", "eu-central-1-ist-1", "eu-central-1", "Istanbul", "TR"),
    ("euc1-waw1-az1", "eu-central-1-waw-1a", "eu-central-1-waw-1", "eu-central-1", "Warsaw", "PL"),
    ("eun1-cph1-az1", "eu-north-1-cph-1a", "eu-north-1-cph-1", "eu-north-1", "Copenhagen", "DK"),
    ("eun1-hel1-az1", "eu-north-1-hel-1a", "eu-north-1-hel-1", "eu-north-1", "Helsinki", "FI"),
    ("mes1-mct1-az1", "me-south-1-mct-1a", "me-south-1-mct-1", "me-south-1", "Muscat", "OM"),
    ("use1-atl1-az1", "us-east-1-atl-1a", "us-east-1-atl-1", "us-east-1", "Atlanta", "US"),
    ("use1-atl2-az1", "us-east-1-atl-2a", "us-east-1-atl-2", "us-east-1", "Atlanta", "US"),
    ("use1-bos1-az1", "us-east-1-bos-1a", "us-east-1-bos-1", "us-east-1", "Boston", "US"),
    ("use1-bue1-az1", "us-east-1-bue-1a", "us-east-1-bue-1", "us-east-1", "Buenos Aires", "AR"),
    ("use1-chi1-az1", "us-east-1-chi-1a", "us-east-1-chi-1", "us-east-1", "Chicago", "US"),
    ("use1-chi2-az1", "us-east-1-chi-2a", "us-east-1-chi-2", "us-east-1", "Chicago", "US"),
    ("use1-dfw1-az1", "us-east-1-dfw-1a", "us-east-1-dfw-1", "us-east-1", "Dallas", "US"),
    ("use1-dfw2-az1", "us-east-1-dfw-2a", "us-east-1-dfw-2", "us-east-1", "Dallas", "US"),
    ("use1-iah1-az1", "us-east-1-iah-1a", "us-east-1-iah-1", "us-east-1", "Houston", "US"),
    ("use1-iah2-az1", "us-east-1-iah-2a", "us-east-1-iah-2", "us-east-1", "Houston", "US"),
    ("use1-lim1-az1", "us-east-1-lim-1a", "us-east-1-lim-1", "us-east-1", "Lima", "PE"),
    ("use1-mci1-az1", "us-east-1-mci-1a", "us-east-1-mci-1", "us-east-1", "Kansas City", "US"),
    ("use1-mia1-az1", "us-east-1-mia-1a", "us-east-1-mia-1", "us-east-1", "Miami", "US"),
    ("use1-mia2-az1", "us-east-1-mia-2a", "us-east-1-mia-2", "us-east-1", "Miami", "US"),
    ("use1-msp1-az1", "us-east-1-msp-1a", "us-east-1-msp-1", "us-east-1", "Minneapolis", "US"),
    ("use1-nyc1-az1", "us-east-1-nyc-1a", "us-east-1-nyc-1", "us-east-1", "New York City", "US"),
    ("use1-nyc2-az1", "us-east-1-nyc-2a", "us-east-1-nyc-2", "us-east-1", "New York City", "US"),
    ("use1-phl1-az1", "us-east-1-phl-1a", "us-east-1-phl-1", "us-east-1", "Philadelphia", "US"),
    ("use1-qro1-az1", "us-east-1-qro-1a", "us-east-1-qro-1", "us-east-1", "Querétaro", "MX"),
    ("use1-scl1-az1", "us-east-1-scl-1a", "us-east-1-scl-1", "us-east-1", "Santiago", "CL"),
    ("usw2-den1-az1", "us-west-2-den-1a", "us-west-2-den-1", "us-west-2", "Denver", "US"),
    ("usw2-hnl1-az1", "us-west-2-hnl-1a", "us-west-2-hnl-1", "us-west-2", "Honolulu", "US"),
    ("usw2-las1-az1", "us-west-2-las-1a", "us-west-2-las-1", "us-west-2", "Las Vegas", "US"),
    ("usw2-lax1-az1", "us-west-2-lax-1a", "us-west-2-lax-1", "us-west-2", "Los Angeles", "US"),
    ("usw2-lax1-az2", "us-west-2-lax-1b", "us-west-2-lax-1", "us-west-2", "Los Angeles", "US"),
    ("usw2-pdx1-az1", "us-west-2-pdx-1a", "us-west-2-pdx-1", "us-west-2", "Portland", "US"),
    ("usw2-phx1-az1", "us-west-2-phx-1a", "us-west-2-phx-1", "us-west-2", "Phoenix", "US"),
    ("usw2-phx2-az1", "us-west-2-phx-2a", "us-west-2-phx-2", "us-west-2", "Phoenix", "US"),
    ("usw2-sea1-az1", "us-west-2-sea-1a", "us-west-2-sea-1", "us-west-2", "Seattle", "US"),
)
# Wavelength Zones: the zone name is also the network border group.
WAVELENGTH_ZONES: tuple[tuple[str, str, str, str, str], ...] = (
    ("use1-wl1-atl-wlz1", "us-east-1-wl1-atl-wlz-1", "us-east-1", "Atlanta", "US"),
    ("use1-wl1-bna-wlz1", "us-east-1-wl1-bna-wlz-1", "us-east-1", "Nashville", "US"),
    ("use1-wl1-bos-wlz1", "us-east-1-wl1-bos-wlz-1", "us-east-1", "Boston", "US"),
    ("use1-wl1-chi-wlz1", "us-east-1-wl1-chi-wlz-1", "us-east-1", "Chicago", "US"),
    ("use1-wl1-clt-wlz1", "us-east-1-wl1-clt-wlz-1", "us-east-1", "Charlotte", "US"),
    ("use1-wl1-dfw-wlz1", "us-east-1-wl1-dfw-wlz-1", "us-east-1", "Dallas", "US"),
    ("use1-wl1-dtw-wlz1", "us-east-1-wl1-dtw-wlz-1", "us-east-1", "Detroit", "US"),
    ("use1-wl1-iah-wlz1", "us-east-1-wl1-iah-wlz-1", "us-east-1", "Houston", "US"),
    ("use1-wl1-mia-wlz1", "us-east-1-wl1-mia-wlz-1", "us-east-1", "Miami", "US"),
    ("use1-wl1-msp-wlz1", "us-east-1-wl1-msp-wlz-1", "us-east-1", "Minneapolis", "US"),
    ("use1-wl1-nyc-wlz1", "us-east-1-wl1-nyc-wlz-1", "us-east-1", "New York City", "US"),
    ("use1-wl1-tpa-wlz1", "us-east-1-wl1-tpa-wlz-1", "us-east-1", "Tampa", "US"),
    ("use1-wl1-was-wlz1", "us-east-1-wl1-was-wlz-1", "us-east-1", "Washington DC", "US"),
    ("usw2-wl1-den-wlz1", "us-west-2-wl1-den-wlz-1", "us-west-2", "Denver", "US"),
    ("usw2-wl1-las-wlz1", "us-west-2-wl1-las-wlz-1", "us-west-2", "Las Vegas", "US"),
    ("usw2-wl1-lax-wlz1", "us-west-2-wl1-lax-wlz-1", "us-west-2", "Los Angeles", "US"),
    ("usw2-wl1-phx-wlz1", "us-west-2-wl1-phx-wlz-1", "us-west-2", "Phoenix", "US"),
    ("usw2-wl1-sea-wlz1", "us-west-2-wl1-sea-wlz-1", "us-west-2", "Seattle", "US"),
    ("usw2-wl1-sfo-wlz1", "us-west-2-wl1-sfo-wlz-1", "us-west-2", "San Francisco Bay Area", "US"),
    ("apne1-wl1-kix-wlz1", "ap-northeast-1-wl1-kix-wlz-1", "ap-northeast-1", "Osaka", "JP"),
    ("apne1-wl1-nrt-wlz1", "ap-northeast-1-wl1-nrt-wlz-1", "ap-northeast-1", "Tokyo", "JP"),
    ("cac1-wl1-yto-wlz1", "ca-central-1-wl1-yto-wlz-1", "ca-central-1", "Toronto", "CA"),
    ("euc1-wl1-ber-wlz1", "eu-central-1-wl1-ber-wlz-1", "eu-central-1", "Berlin", "DE"),
    ("euc1-wl1-dtm-wlz1", "eu-central-1-wl1-dtm-wlz-1", "eu-central-1", "Dortmund", "DE"),
    ("euc1-wl1-muc-wlz1", "eu-central-1-wl1-muc-wlz-1", "eu-central-1", "Munich", "DE"),
    ("euw2-wl1-lon-wlz1", "eu-west-2-wl1-lon-wlz-1", "eu-west-2", "London", "GB"),
    ("euw2-wl1-man-wlz1", "eu-west-2-wl1-man-wlz-1", "eu-west-2", "Manchester", "GB"),
    ("euw2-wl2-man-wlz1", "eu-west-2-wl2-man-wlz-1", "eu-west-2", "Manchester", "GB"),
)


def zone_prefix(region: str) -> str | None:
    """``eu-west-1`` -> ``euw1``; ``us-gov-west-1`` -> ``usgw1`` (AWS AZ-ID form)."""
    parts = region.split("-")
    if len(parts) == 3 and parts[1] in DIRECTIONS:
        return parts[0] + DIRECTIONS[parts[1]] + parts[2]
    if len(parts) == 4 and parts[1] == "gov" and parts[2] in DIRECTIONS:
        return parts[0] + "g" + DIRECTIONS[parts[2]] + parts[3]
    return None


def _parent_names(data: dict[str, object]) -> dict[str, str]:
    parts = data["partitions"]
    assert isinstance(parts, list)
    return {code: meta.get("description", code) for part in parts for code, meta in part["regions"].items()}


def _edge_zone(
    kind: str, zid: str, name: str, aliases: list[str], parent: str, city: str, country: str, **ctx: str
) -> dict[str, object]:
    """One Local or Wavelength Zone entry, with the zone's own country."""
    parent_country = COUNTRIES[parent]
    note = f"{kind} in {city} ({country}); parent Region {parent} ({parent_country}){ctx['parent_role']}."
    if country != parent_country:
        note += f" Data is stored in {country}, not in the parent's country."
    return {
        "code": zid,
        "name": f"{ctx['parent_name']} {kind} {name} ({city})",
        "kind": "availability-zone-id",
        "cloud": "aws",
        "countries": [country],
        "members": [parent],
        "aliases": aliases,
        "source": ctx["source"],
        "note": note,
    }


def edge_zones(data: dict[str, object]) -> list[dict[str, object]]:
    """Entries for the Local Zones and Wavelength Zones, each with its own country."""
    names = _parent_names(data)
    local = [
        _edge_zone(
            "Local Zone",
            zid,
            name,
            [name, group],
            parent,
            city,
            country,
            parent_name=names[parent],
            parent_role=" runs only the control plane",
            source="aws-local-zones",
        )
        for zid, name, group, parent, city, country in LOCAL_ZONES
    ]
    wavelength = [
        _edge_zone(
            "Wavelength Zone",
            zid,
            name,
            [name],
            parent,
            city,
            country,
            parent_name=names[parent],
            parent_role="",
            source="aws-wavelength-zones",
        )
        for zid, name, parent, city, country in WAVELENGTH_ZONES
    ]
    return local + wavelength


def main() -> int:
    data = json.loads((pathlib.Path(botocore.__file__).parent / "data" / "partitions.json").read_text())
    locations: list[dict[str, object]] = []
    missing = []
    for part in data["partitions"]:
        pid = part["id"]
        for code, meta in sorted(part["regions"].items()):
            desc = meta.get("description", code)
            if code.endswith("-global"):
                locations.append(
                    {
                        "code": code,
                        "name": desc,
                        "kind": "global",
                        "cloud": pid,
                        "countries": [],
                        "members": [],
                        "aliases": [],
                        "source": "botocore-partitions",
                        "note": "Partition-wide global endpoint (IAM, STS, Route 53 …): no country.",
                    }
                )
                continue
            country = COUNTRIES.get(code)
            note = UNPUBLISHED.get(code) or NOTES.get(code, "")
            if country is None and code not in UNPUBLISHED:
                missing.append(code)
                note = "New in botocore's data; country not yet in the catalog (unknown)."
            locations.append(
                {
                    "code": code,
                    "name": desc,
                    "kind": "sovereign" if pid in SOVEREIGN else "region",
                    "cloud": pid,
                    "countries": [country] if country else [],
                    "members": [],
                    "aliases": [],
                    "source": "aws-regions" if country else "botocore-partitions",
                    "note": note,
                }
            )
            prefix = zone_prefix(code)
            if prefix and country:
                for n in AZ_IDS.get(code, ()):
                    locations.append(
                        {
                            "code": f"{prefix}-az{n}",
                            "name": f"{desc} zone ID {prefix}-az{n}",
                            "kind": "availability-zone-id",
                            "cloud": pid,
                            "countries": [country],
                            "members": [code],
                            "aliases": [],
                            "source": "aws-az-ids",
                            "note": "",
                        }
                    )
    locations.extend(edge_zones(data))
    locations.append(
        {
            "code": "EU",
            "name": "S3 legacy LocationConstraint 'EU'",
            "kind": "legacy-alias",
            "cloud": "aws",
            "countries": ["IE"],
            "members": ["eu-west-1"],
            "aliases": [],
            "source": "s3-getbucketlocation",
            "note": "GetBucketLocation returns 'EU' for old eu-west-1 buckets.",
        }
    )
    locations.append(
        {
            "code": "",
            "name": "S3 empty LocationConstraint (us-east-1)",
            "kind": "legacy-alias",
            "cloud": "aws",
            "countries": ["US"],
            "members": ["us-east-1"],
            "aliases": ["null", "none"],
            "source": "s3-getbucketlocation",
            "note": "GetBucketLocation returns null for us-east-1; CreateBucket without a constraint lands there.",
        }
    )
    doc = {
        "provider": "aws",
        "sources": {
            "botocore-partitions": {
                "title": f"botocore {botocore.__version__} data/partitions.json",
                "url": "https://github.com/boto/botocore/blob/develop/botocore/data/partitions.json",
                "retrieved": "2026-12-02",
            },
            "aws-regions": {
                "title": "AWS Regions (AWS General Reference / Global Infrastructure)",
                "url": "https://docs.aws.amazon.com/global-infrastructure/latest/regions/aws-regions.html",
                "retrieved": "2026-12-02",
            },
            "aws-az-ids": {
                "title": "AWS Availability Zones (AZ ID, Region, Geography) and AZ IDs; "
                "EFS One Zone supported AZ IDs per Region",
                "url": "https://docs.aws.amazon.com/global-infrastructure/latest/regions/aws-availability-zones.html",
                "retrieved": "2026-12-02",
            },
            "aws-local-zones": {
                "title": "AWS Local Zones User Guide: Available Local Zones (zone name, zone ID, "
                "network border group, parent Region, geography)",
                "url": "https://docs.aws.amazon.com/local-zones/latest/ug/available-local-zones.html",
                "retrieved": "2026-12-02",
            },
            "aws-wavelength-zones": {
                "title": "AWS Wavelength Developer Guide: Available Wavelength Zones (location, carrier, "
                "zone name, zone ID)",
                "url": "https://docs.aws.amazon.com/wavelength/latest/developerguide/available-wavelength-zones.html",
                "retrieved": "2026-12-02",
            },
            "s3-getbucketlocation": {
                "title": "Amazon S3 API Reference: GetBucketLocation / CreateBucketConfiguration",
                "url": "https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetBucketLocation.html",
                "retrieved": "2026-12-02",
            },
        },
        "locations": locations,
    }
    OUT.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
    if missing:
        print("regions without a country:", ", ".join(missing), file=sys.stderr)
        return 1
    print(f"wrote {OUT} ({len(locations)} locations)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
