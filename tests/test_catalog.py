"""The location catalog: complete against the SDK data, sourced, and right about the traps."""

from __future__ import annotations

import json

import pytest

from residency import catalog, lookup_location
from residency._geography import is_country_code


@pytest.mark.parametrize(
    ("provider", "code", "countries"),
    [
        ("aws", "eu-west-2", ("GB",)),  # London: the 'eu-' prefix proves nothing
        ("aws", "eu-central-2", ("CH",)),  # Zurich
        ("aws", "il-central-1", ("IL",)),
        ("aws", "eu-central-1", ("DE",)),
        ("aws", "eu-south-2", ("ES",)),
        ("aws", "eusc-de-east-1", ("DE",)),  # European Sovereign Cloud
        ("aws", "EU", ("IE",)),  # S3 legacy LocationConstraint
        ("aws", "", ("US",)),  # empty LocationConstraint = us-east-1
        ("aws", None, ("US",)),
        ("aws", "euw1-az1", ("IE",)),  # S3 Express zone id
        ("aws", "use1-az4", ("US",)),
        ("aws", "EU-WEST-1", ("IE",)),
    ],
)
def test_aws_traps(provider: str, code: str | None, countries: tuple[str, ...]) -> None:
    assert lookup_location(provider, code).countries == countries


@pytest.mark.parametrize("code", ["aws-global", "aws-cn-global", "use1-lim1-az1", "mars-north-1", "eu-isoe-west-1"])
def test_aws_unknown_locations_have_no_countries(code: str) -> None:
    loc = lookup_location("aws", code)
    assert loc.countries == ()
    assert not loc.is_known
    assert loc.geographies == ()


def test_every_botocore_region_is_in_the_catalog() -> None:
    """Drift check: a region botocore knows but the catalog lacks would be unknown."""
    import residency

    adapter = residency.load_provider("aws")
    missing = [r for r in adapter.sdk_locations() if catalog().get("aws", r) is None]
    assert missing == []


def test_every_entry_is_sourced_and_uses_iso_codes() -> None:
    locs = list(catalog())
    assert len(locs) > 200
    for loc in locs:
        assert loc.source, loc
        assert loc.source_url.startswith(("https://", "members")), loc
        for c in loc.countries:
            assert is_country_code(c), (loc, c)
        for m in loc.members:
            assert catalog().get(loc.provider, m) is not None, (loc, m)


def test_global_and_logical_locations_are_unknown() -> None:
    for loc in catalog():
        if loc.kind in ("global", "logical"):
            assert loc.countries == (), loc


def test_no_duplicate_codes() -> None:
    seen: set[tuple[str, str]] = set()
    for loc in catalog():
        key = (loc.provider, loc.code.lower())
        assert key not in seen, key
        seen.add(key)


def test_geographies_are_computed_from_countries() -> None:
    assert lookup_location("aws", "eu-central-1").geographies == ("EU", "EEA", "EEA+CH")
    assert lookup_location("aws", "eu-central-2").geographies == ("EEA+CH",)
    assert lookup_location("aws", "eu-west-2").geographies == ()


def test_to_dict_has_the_documented_fields() -> None:
    d = lookup_location("aws", "eu-west-1").to_dict()
    for key in ("provider", "location", "kind", "countries", "members", "geographies", "source"):
        assert key in d
    json.dumps(d)


def test_custom_dual_region_unions_members() -> None:
    loc = catalog().dual_region("aws", ["eu-west-1", "eu-west-2"])
    assert loc is not None
    assert loc.countries == ("IE", "GB")
    assert loc.kind == "dual-region"


def test_dual_region_with_an_unknown_member_is_unknown() -> None:
    loc = catalog().dual_region("aws", ["eu-west-1", "nowhere-1"])
    assert loc is not None
    assert loc.countries == ()


def test_suggest() -> None:
    assert catalog().suggest("aws", "eu-wset-1") == "eu-west-1"
