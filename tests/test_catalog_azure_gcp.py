"""Azure and Google Cloud catalog facts that an EU policy depends on."""

from __future__ import annotations

import pytest

from residency import catalog, load_policy, lookup_location, parse_policy

EU = load_policy("eu")


@pytest.mark.parametrize(
    ("code", "countries", "pair"),
    [
        ("westeurope", ("NL",), "northeurope"),
        ("northeurope", ("IE",), "westeurope"),
        ("uksouth", ("GB",), "ukwest"),
        ("switzerlandnorth", ("CH",), "switzerlandwest"),
        ("germanywestcentral", ("DE",), "germanynorth"),
        ("francecentral", ("FR",), "francesouth"),
        ("swedencentral", ("SE",), "swedensouth"),
        ("norwayeast", ("NO",), "norwaywest"),
        ("eastus", ("US",), "westus"),
        ("ukwest", ("GB",), "uksouth"),
        ("switzerlandwest", ("CH",), "switzerlandnorth"),
        ("westus3", ("US",), "eastus"),  # one-way pair
        ("southcentralus", ("US",), "northcentralus"),
        ("brazilsouth", ("BR",), "southcentralus"),  # pair outside the geography
        ("brazilsoutheast", ("BR",), "brazilsouth"),
        ("westindia", ("IN",), "southindia"),  # one-way pair
        ("southindia", ("IN",), "centralindia"),
        ("australiacentral2", ("AU",), "australiacentral"),
        ("eastasia", ("HK",), "southeastasia"),
        ("chinanorth3", ("CN",), "chinaeast3"),
        ("usgovarizona", ("US",), "usgovtexas"),
        ("usgovtexas", ("US",), "usgovvirginia"),
        ("usdodeast", ("US",), "usdodcentral"),
    ],
)
def test_azure_regions_and_pairs(code: str, countries: tuple[str, ...], pair: str) -> None:
    loc = lookup_location("azure", code)
    assert loc.countries == countries
    assert loc.pair == pair


@pytest.mark.parametrize("display", ["West Europe", "west europe", "WestEurope", "westeurope"])
def test_azure_display_names_normalise(display: str) -> None:
    assert lookup_location("azure", display).code == "westeurope"


@pytest.mark.parametrize("code", ["global", "europe"])
def test_azure_global_and_logical_are_unknown(code: str) -> None:
    loc = lookup_location("azure", code)
    assert loc.kind in ("global", "logical")
    assert EU.check("azure", code).status == "unknown"


def test_azure_non_paired_regions_have_no_pair() -> None:
    for code in ("polandcentral", "italynorth", "spaincentral", "austriaeast", "belgiumcentral", "israelcentral"):
        loc = lookup_location("azure", code)
        assert loc.is_known
        assert loc.pair is None


@pytest.mark.parametrize(
    ("code", "countries", "kind"),
    [
        ("israelnorthwest", ("IL",), "region"),
        ("Israel Northwest", ("IL",), "region"),
        ("finlandcentral", ("FI",), "region"),
        ("denmarkeast", ("DK",), "region"),
        ("uksouth2", ("GB",), "region"),
        ("bleufrancecentral", ("FR",), "sovereign"),  # Bleu, French partner cloud
        ("deloscloudgermanycentral", ("DE",), "sovereign"),  # Delos Cloud, German partner cloud
        ("usseceast", ("US",), "sovereign"),  # Azure Government Secret
        ("usnatwest", ("US",), "sovereign"),  # Azure Government Top Secret
        ("northeurope2", (), "region"),  # no country published: unknown
        ("easteurope", (), "region"),
        ("europe", (), "logical"),
    ],
)
def test_azure_newer_and_sovereign_locations(code: str, countries: tuple[str, ...], kind: str) -> None:
    loc = lookup_location("azure", code)
    assert loc.kind == kind
    assert loc.countries == countries


def test_azure_unknown_regions_fail_closed() -> None:
    assert EU.check("azure", "northeurope2").status == "unknown"
    assert EU.check("azure", "finlandcentral").allowed
    assert not EU.check("azure", "uksouth2").allowed


@pytest.mark.parametrize(
    ("code", "countries"),
    [
        ("europe-west2", ("GB",)),
        ("europe-west6", ("CH",)),
        ("europe-west3", ("DE",)),
        ("me-west1", ("IL",)),
        ("US", ("US",)),
        ("us-central1", ("US",)),
        ("europe-west1", ("BE",)),
        ("europe-west4", ("NL",)),
        ("europe-north1", ("FI",)),
        ("europe-north2", ("SE",)),
        ("europe-central2", ("PL",)),
        ("europe-west10", ("DE",)),
        ("europe-west12", ("IT",)),
        ("me-central1", ("QA",)),
        ("me-central2", ("SA",)),
        ("northamerica-south1", ("MX",)),
        ("asia-east2", ("HK",)),
        ("europe-west15", ()),  # exists, location unpublished: unknown
        ("ASIA", ()),  # 'data centers in Asia': no countries named
        ("global", ()),
    ],
)
def test_gcp_regions(code: str, countries: tuple[str, ...]) -> None:
    assert lookup_location("gcp", code).countries == countries


@pytest.mark.parametrize(
    ("code", "members", "status"),
    [
        ("EUR4", ("europe-north1", "europe-west4"), "allowed"),
        ("EUR5", ("europe-west1", "europe-west2"), "denied"),  # Belgium + London
        ("EUR7", ("europe-west2", "europe-west3"), "denied"),  # London + Frankfurt
        ("EUR8", ("europe-west3", "europe-west6"), "denied"),  # Frankfurt + Zurich
        ("NAM4", ("us-central1", "us-east1"), "denied"),
    ],
)
def test_gcp_predefined_dual_regions(code: str, members: tuple[str, ...], status: str) -> None:
    loc = lookup_location("gcp", code)
    assert loc.kind == "dual-region"
    assert loc.members == members
    assert EU.check("gcp", code).status == status


@pytest.mark.parametrize(
    ("code", "countries"),
    [
        ("EUR4", {"FI", "NL"}),
        ("EUR5", {"BE", "GB"}),  # includes London
        ("EUR7", {"GB", "DE"}),
        ("EUR8", {"DE", "CH"}),  # includes Zurich
        ("ASIA1", {"JP"}),
        ("NAM4", {"US"}),
    ],
)
def test_gcp_dual_region_countries(code: str, countries: set[str]) -> None:
    assert set(lookup_location("gcp", code).countries) == countries


def test_gcp_eu_multi_region_is_eu_only() -> None:
    loc = lookup_location("gcp", "EU")
    assert loc.geographies == ("EU", "EEA", "EEA+CH")
    assert "GB" not in loc.countries
    assert "CH" not in loc.countries
    assert len(loc.countries) == 27


def test_gcp_asia_multi_region_is_unknown() -> None:
    assert EU.check("gcp", "ASIA").status == "unknown"


def test_gcp_eur8_passes_eea_ch() -> None:
    assert load_policy("eea-ch").check("gcp", "eur8").allowed


def test_gcp_multi_regions() -> None:
    assert EU.check("gcp", "EU").allowed
    assert not EU.check("gcp", "US").allowed
    assert not EU.check("gcp", "ASIA").allowed


def test_gcp_custom_dual_region_from_members() -> None:
    loc = catalog().get("gcp", "EUROPE-WEST1+EUROPE-WEST2")
    assert loc is not None
    assert set(loc.countries) == {"BE", "GB"}
    assert not EU.check("gcp", loc).allowed


def test_gcp_lookup_is_case_insensitive() -> None:
    assert lookup_location("gcp", "EUROPE-WEST4").code == "europe-west4"


@pytest.mark.parametrize(
    ("code", "countries", "cloud"),
    [
        ("u-france-east1", ("FR",), "s3ns"),  # Cloud de Confiance by S3NS (Google Cloud Dedicated, France)
        ("U-FRANCE-EAST1", ("FR",), "s3ns"),
        ("u-germany-northeast1", ("DE",), "gcd-germany"),  # Google Cloud Dedicated in Germany (Berlin)
    ],
)
def test_gcp_partner_and_sovereign_universes(code: str, countries: tuple[str, ...], cloud: str) -> None:
    loc = lookup_location("gcp", code)
    assert (loc.kind, loc.countries, loc.cloud) == ("sovereign", countries, cloud)
    assert loc.source_url.startswith("https://")
    assert EU.check("gcp", code).allowed
    assert not parse_policy({"allow": "DE"}).check("gcp", "u-france-east1").allowed


@pytest.mark.parametrize(
    "code",
    [
        "u-france-east1q",  # S3NS's qualification universe: undocumented, so unknown
        "u-us-prp1",  # a test universe seen only in client-library tests
        "global",  # inside a Dedicated universe 'global' is its one region, but the string cannot say which
    ],
)
def test_gcp_undocumented_universes_fail_closed(code: str) -> None:
    assert EU.check("gcp", code).status == "unknown"
