"""Built-in geographies are exact, and custom ones parse or fail clearly."""

from __future__ import annotations

import pytest

from residency import EEA, EEA_CH, EU, PolicyError, UnknownGeographyError, parse_geography

EU27 = set("AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK".split())


def test_eu_is_the_27_member_states() -> None:
    assert EU.countries == EU27


def test_eea_adds_iceland_liechtenstein_norway() -> None:
    assert EEA.countries == EU27 | {"IS", "LI", "NO"}


def test_eea_ch_adds_switzerland() -> None:
    assert EEA_CH.countries == EEA.countries | {"CH"}


@pytest.mark.parametrize("geo", [EU, EEA, EEA_CH])
def test_the_uk_is_in_none(geo: object) -> None:
    assert "GB" not in geo  # type: ignore[operator]


def test_greece_is_gr_not_el() -> None:
    assert "GR" in EU
    assert "EL" not in EU


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("eu", EU27),
        ("EEA-CH", EEA_CH.countries),
        (["EU", "CH"], EU27 | {"CH"}),
        ("EU+CH", EU27 | {"CH"}),
        (["DE", "at"], {"DE", "AT"}),
    ],
)
def test_parse(spec: str | list[str], expected: set[str]) -> None:
    assert parse_geography(spec).countries == expected


def test_custom_names_resolve() -> None:
    dach = parse_geography(["DE", "AT", "CH"])
    geo = parse_geography(["DACH", "FR"], {"DACH": dach})
    assert geo.countries == {"DE", "AT", "CH", "FR"}


def test_anywhere() -> None:
    assert parse_geography("any").anywhere


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("EUR", "unknown geography 'EUR' (did you mean 'EU'?)"),
        ("XX", "unknown country code 'XX'"),
        ([], "an empty list allows nothing"),
        ("", "expected a geography name or country code"),
    ],
)
def test_errors_name_the_problem(spec: str | list[str], message: str) -> None:
    with pytest.raises(PolicyError) as info:
        parse_geography(spec, source="team.yaml", key="allow")
    assert message in str(info.value)
    assert str(info.value).startswith("team.yaml: key 'allow")


def test_unknown_geography_error_is_a_policy_error() -> None:
    with pytest.raises(UnknownGeographyError):
        parse_geography("Europe")
