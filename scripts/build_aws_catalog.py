"""Regenerate ``residency/data/aws.json`` from botocore's partition data.

The list of regions and their descriptions comes from the installed botocore
(``botocore/data/partitions.json``); the country of each region is a fact that
botocore does not carry, so it is kept in ``COUNTRIES`` below, each taken from
AWS's regions page (source ``aws-regions``).  A region botocore knows but this
table does not is written with no countries (unknown, fails closed) and the
script exits 1 so the gap is seen.

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
    "eu-isoe-west-1": "AWS does not publish the country of the ISO-E partition's region; "
    "treated as unknown (fails closed).",
}
NOTES = {
    "eu-west-2": "London is in the United Kingdom: not EU, not EEA.",
    "eu-central-2": "Zurich is in Switzerland: EEA+CH only, not EU/EEA.",
    "il-central-1": "Israel (Tel Aviv); the 'il-' prefix is not 'EU'.",
    "eusc-de-east-1": "AWS European Sovereign Cloud, Brandenburg, Germany.",
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


def zone_prefix(region: str) -> str | None:
    """``eu-west-1`` -> ``euw1``; ``us-gov-west-1`` -> ``usgw1`` (AWS AZ-ID form)."""
    parts = region.split("-")
    if len(parts) == 3 and parts[1] in DIRECTIONS:
        return parts[0] + DIRECTIONS[parts[1]] + parts[2]
    if len(parts) == 4 and parts[1] == "gov" and parts[2] in DIRECTIONS:
        return parts[0] + "g" + DIRECTIONS[parts[2]] + parts[3]
    return None


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
                for n in range(1, 7):
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
                "retrieved": "2026-11-22",
            },
            "aws-regions": {
                "title": "AWS Regions (AWS General Reference / Global Infrastructure)",
                "url": "https://docs.aws.amazon.com/global-infrastructure/latest/regions/aws-regions.html",
                "retrieved": "2026-11-22",
            },
            "aws-az-ids": {
                "title": "Availability Zone IDs for your AWS resources",
                "url": "https://docs.aws.amazon.com/ram/latest/userguide/working-with-az-ids.html",
                "retrieved": "2026-11-22",
            },
            "s3-getbucketlocation": {
                "title": "Amazon S3 API Reference: GetBucketLocation / CreateBucketConfiguration",
                "url": "https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetBucketLocation.html",
                "retrieved": "2026-11-22",
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
