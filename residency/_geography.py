"""Geographies: named sets of ISO 3166-1 alpha-2 country codes.

Three are built in, as data (``residency/data/geographies.json``):

* ``EU`` — the 27 member states (Greece is ``GR``, as ISO writes it);
* ``EEA`` — the EU plus Iceland, Liechtenstein and Norway;
* ``EEA+CH`` — the EEA plus Switzerland, the EU/EFTA scope of Microsoft's EU
  Data Boundary.

The United Kingdom (``GB``) is in none of them.

>>> EU.contains_all(["DE", "FR"])
True
>>> "GB" in EEA_CH
False
>>> parse_geography(["EU", "CH"]).name
'EU+CH'
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Mapping
from functools import cache
from importlib import resources

import attrs

from ._errors import PolicyError, UnknownGeographyError

__all__ = [
    "ANYWHERE",
    "BUILTIN_GEOGRAPHIES",
    "EEA",
    "EEA_CH",
    "EU",
    "Geography",
    "country_name",
    "is_country_code",
    "parse_geography",
]


@cache
def _countries() -> Mapping[str, str]:
    raw = resources.files("residency").joinpath("data/countries.json").read_text("utf-8")
    return dict(json.loads(raw)["countries"])


def is_country_code(code: str) -> bool:
    """Whether ``code`` is an assigned ISO 3166-1 alpha-2 code (upper case)."""
    return code in _countries()


def country_name(code: str) -> str:
    """The English short name of an ISO country code, or the code itself."""
    return _countries().get(code, code)


def _frozen(countries: Iterable[str]) -> frozenset[str]:
    return frozenset(countries)


@attrs.frozen(repr=False)
class Geography:
    """A named set of countries where data may be stored.

    ``anywhere`` is the geography that allows every location, known or not
    (use it for data that may go anywhere, such as public web assets).
    """

    name: str
    countries: frozenset[str] = attrs.field(converter=_frozen)
    description: str = ""
    anywhere: bool = False

    def __repr__(self) -> str:
        if self.anywhere:
            return "Geography.ANYWHERE"
        return f"Geography({self.name!r}, {sorted(self.countries)!r})"

    def __str__(self) -> str:
        return self.name

    def __contains__(self, country: object) -> bool:
        return self.anywhere or country in self.countries

    def contains_all(self, countries: Iterable[str]) -> bool:
        """True when every country is inside (and there is at least one)."""
        cs = list(countries)
        return bool(cs) and all(c in self for c in cs)

    def outside(self, countries: Iterable[str]) -> tuple[str, ...]:
        """The countries that are not inside, in the order given."""
        return tuple(c for c in countries if c not in self)

    def union(self, other: Geography, name: str | None = None) -> Geography:
        return Geography(
            name or f"{self.name}+{other.name}",
            self.countries | other.countries,
            anywhere=self.anywhere or other.anywhere,
        )


ANYWHERE = Geography("anywhere", frozenset(), "Every location, known or unknown", anywhere=True)


@cache
def _builtin() -> dict[str, Geography]:
    raw = json.loads(resources.files("residency").joinpath("data/geographies.json").read_text("utf-8"))
    out: dict[str, Geography] = {}
    for name, spec in raw["geographies"].items():
        countries: set[str] = set(spec.get("countries", []))
        for base in spec.get("union", []):
            countries |= out[base].countries
        out[name] = Geography(name, frozenset(countries), spec.get("description", ""))
    return out


BUILTIN_GEOGRAPHIES: Mapping[str, Geography] = _builtin()
EU = BUILTIN_GEOGRAPHIES["EU"]
EEA = BUILTIN_GEOGRAPHIES["EEA"]
EEA_CH = BUILTIN_GEOGRAPHIES["EEA+CH"]

_ALIASES = {"EEA-CH": "EEA+CH", "EEA_CH": "EEA+CH", "EEACH": "EEA+CH", "EU/EFTA": "EEA+CH"}
_ANY_NAMES = {"ANY", "ANYWHERE", "*"}


def _resolve_one(term: str, custom: Mapping[str, Geography], source: str, key: str) -> Geography:
    if not isinstance(term, str) or not term.strip():
        raise PolicyError(source, key, f"expected a geography name or country code, got {term!r}")
    t = term.strip()
    up = t.upper()
    if up in _ANY_NAMES:
        return ANYWHERE
    for name, geo in custom.items():
        if name.upper() == up:
            return geo
    up = _ALIASES.get(up, up)
    if up in BUILTIN_GEOGRAPHIES:
        return BUILTIN_GEOGRAPHIES[up]
    if len(up) == 2 and is_country_code(up):
        return Geography(up, frozenset({up}))
    if "+" in t:
        parts = [p for p in t.split("+") if p]
        geo = _resolve_one(parts[0], custom, source, key)
        for p in parts[1:]:
            geo = geo.union(_resolve_one(p, custom, source, key))
        return geo
    known = [*BUILTIN_GEOGRAPHIES, *custom]
    hint = difflib.get_close_matches(up, [k.upper() for k in known], n=1, cutoff=0.5)
    fix = (
        f" (did you mean '{next(k for k in known if k.upper() == hint[0])}'?)"
        if hint
        else f"; use one of {', '.join(known)}, 'any', or ISO 3166-1 alpha-2 country codes"
    )
    kind = "country code" if len(up) == 2 else "geography"
    raise UnknownGeographyError(source, key, f"unknown {kind} {t!r}{fix}")


def parse_geography(
    spec: str | Iterable[str] | Geography,
    custom: Mapping[str, Geography] | None = None,
    *,
    source: str = "<policy>",
    key: str = "allow",
) -> Geography:
    """Turn a spec into a :class:`Geography`.

    A spec is a name (``"EU"``, ``"eea+ch"``, a policy-defined name, ``"any"``),
    an ISO country code (``"CH"``), a ``+``-joined union, or a list of those
    (their union). Unknown names raise :class:`UnknownGeographyError` with a
    suggestion.

    >>> parse_geography("EEA").contains_all(["NO", "DE"])
    True
    >>> sorted(parse_geography(["DE", "AT"]).countries)
    ['AT', 'DE']
    """
    if isinstance(spec, Geography):
        return spec
    custom = dict(custom or {})
    if isinstance(spec, str):
        return _resolve_one(spec, custom, source, key)
    try:
        terms = list(spec)
    except TypeError:
        raise PolicyError(source, key, f"expected a geography name or a list, got {spec!r}") from None
    if not terms:
        raise PolicyError(source, key, "an empty list allows nothing; name a geography or countries")
    geos = [_resolve_one(t, custom, source, f"{key}[{i}]") for i, t in enumerate(terms)]
    if len(geos) == 1:
        return geos[0]
    countries = frozenset().union(*(g.countries for g in geos))
    return Geography("+".join(g.name for g in geos), countries, anywhere=any(g.anywhere for g in geos))
