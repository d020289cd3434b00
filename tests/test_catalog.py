"""The location catalog: complete against the SDK data, sourced, and right about the traps."""

from __future__ import annotations

import importlib.util
import json
import pathlib

import pytest

from residency import catalog, load_policy, lookup_location
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
        ("aws", "euw2-az1", ("GB",)),  # a London zone id is GB too
        ("aws", "euc2-az3", ("CH",)),
        ("aws", "ilc1-az1", ("IL",)),
        ("aws", "use1-az6", ("US",)),  # us-east-1 has six AZ ids
        ("aws", "apne1-az4", ("JP",)),  # Tokyo has no az3 for new accounts, but az4
        ("aws", "usw2-az4", ("US",)),
        ("aws", "cnnw1-az1", ("CN",)),
        ("aws", "usgw1-az2", ("US",)),
        ("aws", "euw1-az9", ("IE",)),  # any AZ number of a known prefix resolves to its region
        ("aws", "me-west-1", ("SA",)),  # Saudi Arabia: 'me-' is a continent
        ("aws", "sa-west-1", ("CL",)),
        ("aws", "ap-east-2", ("TW",)),
        ("aws", "ap-southeast-6", ("NZ",)),
        ("aws", "mx-central-1", ("MX",)),
    ],
)
def test_aws_traps(provider: str, code: str | None, countries: tuple[str, ...]) -> None:
    assert lookup_location(provider, code).countries == countries


@pytest.mark.parametrize(
    "code",
    [
        "aws-global",
        "aws-cn-global",
        "mars-north-1",
        "eu-isoe-west-1",
        "use1-bos1-az2",  # a Local Zone id the catalog does not list
        "euw3-wl1-cmn-wlz1",  # an unlisted Wavelength Zone id (Morocco is under eu-west-3)
        "euc1-xyz1-az1",
        "usie1-az1",  # ISO partitions: AZ-id prefix not published
    ],
)
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


# Local Zones and Wavelength Zones carry the zone's own country, never the parent's.
@pytest.mark.parametrize(
    ("code", "country", "parent"),
    [
        ("euc1-waw1-az1", "PL", "eu-central-1"),  # Warsaw under Frankfurt
        ("eu-central-1-waw-1a", "PL", "eu-central-1"),  # by zone name
        ("eu-central-1-waw-1", "PL", "eu-central-1"),  # by network border group
        ("euc1-ist1-az1", "TR", "eu-central-1"),  # Istanbul: under Frankfurt, outside the EU
        ("euc1-ath1-az1", "GR", "eu-central-1"),
        ("euc1-ham1-az1", "DE", "eu-central-1"),
        ("eun1-cph1-az1", "DK", "eu-north-1"),
        ("eun1-hel1-az1", "FI", "eu-north-1"),
        ("use1-lim1-az1", "PE", "us-east-1"),
        ("use1-qro1-az1", "MX", "us-east-1"),
        ("use1-bue1-az1", "AR", "us-east-1"),
        ("use1-scl1-az1", "CL", "us-east-1"),
        ("use1-bos1-az1", "US", "us-east-1"),
        ("usw2-lax1-az2", "US", "us-west-2"),
        ("us-west-2-lax-1b", "US", "us-west-2"),
        ("apne1-tpe1-az1", "TW", "ap-northeast-1"),
        ("apse1-bkk1-az1", "TH", "ap-southeast-1"),
        ("apse2-akl1-az1", "NZ", "ap-southeast-2"),
        ("afs1-los1-az1", "NG", "af-south-1"),
        ("mes1-mct1-az1", "OM", "me-south-1"),
        ("euw2-wl1-lon-wlz1", "GB", "eu-west-2"),  # Wavelength, London
        ("eu-west-2-wl2-man-wlz-1", "GB", "eu-west-2"),
        ("euc1-wl1-ber-wlz1", "DE", "eu-central-1"),
        ("use1-wl1-bos-wlz1", "US", "us-east-1"),
    ],
)
def test_aws_edge_zones_have_their_own_country(code: str, country: str, parent: str) -> None:
    loc = lookup_location("aws", code)
    assert loc.kind == "availability-zone-id"
    assert loc.countries == (country,)
    assert loc.members == (parent,)


def test_istanbul_local_zone_is_not_eu_although_its_parent_is() -> None:
    eu = load_policy("eu")
    assert eu.check("aws", "eu-central-1").allowed
    assert not eu.check("aws", "euc1-ist1-az1").allowed
    assert eu.check("aws", "euc1-waw1-az1").allowed  # Poland is in the EU


def test_every_zone_id_belongs_to_a_catalog_region() -> None:
    regions = {loc.code for loc in catalog().locations("aws") if loc.kind in ("region", "sovereign")}
    for loc in catalog().locations("aws"):
        if loc.kind != "availability-zone-id":
            continue
        assert len(loc.members) == 1, loc
        assert loc.members[0] in regions, loc
        assert loc.countries, loc
        parent = lookup_location("aws", loc.members[0])
        prefix = loc.code.split("-", 1)[0]
        # the id starts with the parent's AZ-id prefix (euw1 for eu-west-1)
        assert lookup_location("aws", f"{prefix}-az1").members == (parent.code,), loc
        if loc.source == "aws-az-ids":
            assert loc.countries == parent.countries, loc


def test_build_script_reproduces_the_aws_catalog(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """scripts/build_aws_catalog.py regenerates exactly the shipped entries."""
    root = pathlib.Path(__file__).resolve().parent.parent
    spec = importlib.util.spec_from_file_location("build_aws_catalog", root / "scripts" / "build_aws_catalog.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path / "aws.json"
    monkeypatch.setattr(module, "OUT", out)
    assert module.main() == 0
    built = json.loads(out.read_text("utf-8"))
    shipped = json.loads((root / "residency" / "data" / "aws.json").read_text("utf-8"))
    assert built["locations"] == shipped["locations"]
    assert set(built["sources"]) == set(shipped["sources"])


def test_aws_european_sovereign_cloud_and_its_announced_zones() -> None:
    loc = lookup_location("aws", "eusc-de-east-1")
    assert (loc.kind, loc.cloud, loc.countries) == ("sovereign", "aws-eusc", ("DE",))
    assert "eusc-de-east-1-lis-1a" in loc.note
    # announced sovereign Local Zones: no zone id published yet, so unknown, never the parent's Germany
    assert lookup_location("aws", "eusc-de-east-1-lis-1a").kind == "unknown"
    assert load_policy("eu").check("aws", "eusc-de-east-1-lis-1a").status == "unknown"
