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


class _Names:
    """A policy's own geographies, indexed once by upper-cased name.

    Lookups are O(1), so resolving *n* geographies (and the ``allow`` and
    data-class specs that name them) is linear, not quadratic: the first
    definition of a name wins, as names are case-insensitive.
    """

    def __init__(self, custom: Mapping[str, Geography] | None = None) -> None:
        self.geographies: dict[str, Geography] = {}
        self.names: list[str] = []
        for name, geo in (custom or {}).items():
            self.add(name, geo)

    def add(self, name: str, geo: Geography) -> None:
        self.names.append(name)
        self.geographies.setdefault(name.upper(), geo)

    def get(self, upper: str) -> Geography | None:
        return self.geographies.get(upper)

    def parse(self, spec: str | Iterable[str] | Geography, source: str, key: str) -> Geography:
        """:func:`parse_geography` against these names."""
        if isinstance(spec, Geography):
            return spec
        if isinstance(spec, str):
            return _resolve_one(spec, self, source, key)
        try:
            terms = list(spec)
        except TypeError:
            raise PolicyError(source, key, f"expected a geography name or a list, got {spec!r}") from None
        if not terms:
            raise PolicyError(source, key, "an empty list allows nothing; name a geography or countries")
        geos = [_resolve_one(t, self, source, f"{key}[{i}]") for i, t in enumerate(terms)]
        if len(geos) == 1:
            return geos[0]
        countries = frozenset().union(*(g.countries for g in geos))
        return Geography("+".join(g.name for g in geos), countries, anywhere=any(g.anywhere for g in geos))


def _resolve_one(term: str, custom: _Names, source: str, key: str) -> Geography:
    if not isinstance(term, str) or not term.strip():
        raise PolicyError(source, key, f"expected a geography name or country code, got {term!r}")
    t = term.strip()
    up = t.upper()
    if up in _ANY_NAMES:
        return ANYWHERE
    own = custom.get(up)
    if own is not None:
        return own
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
    known = [*BUILTIN_GEOGRAPHIES, *custom.names]
    hint = difflib.get_close_matches(up, [k.upper() for k in known], n=1, cutoff=0.5)
    fix = (
        f" (did you mean '{next(k for k in known if k.upper() == hint[0])}'?)"
        if hint
        else f"; use one of {', '.join(known[:20])}{', …' if len(known) > 20 else ''}, "
        "'any', or ISO 3166-1 alpha-2 country codes"
    )
    kind = "country code" if len(up) == 2 else "geography"
    raise UnknownGeographyError(source, key, f"unknown {kind} {t!r}{fix}")


class _Recorder(_Names):
    """Names that stand for themselves, recording which ones a spec refers to."""

    _PLACEHOLDER = Geography("?", frozenset())

    def __init__(self, names: Iterable[str]) -> None:
        super().__init__()
        self.canonical: dict[str, str] = {}
        for name in names:
            self.names.append(name)
            self.canonical.setdefault(name.upper(), name)
        self.seen: list[str] = []

    def get(self, upper: str) -> Geography | None:
        name = self.canonical.get(upper)
        if name is None:
            return None
        self.seen.append(name)
        return self._PLACEHOLDER


def _resolve_custom(
    specs: Mapping[str, str | list[str]], *, source: str = "<policy>", key: str = "geographies"
) -> tuple[_Names, dict[str, Geography]]:
    """Resolve a policy's ``geographies`` mapping, in linear time.

    A geography may name others defined before or after it; one that includes
    itself (directly or through others) is an error naming the cycle. Three
    passes, each linear in the size of the specs: check every term in file
    order (so the first error reported is the first in the file) and record
    which geographies each one names; order them so every geography comes
    after those it names (an iterative depth-first search: no recursion limit
    for long chains); resolve in that order, each name looked up once.
    """
    recorder = _Recorder(specs)
    deps: dict[str, list[str]] = {}
    for name, spec in specs.items():
        recorder.seen = []
        recorder.parse(spec, source, f"{key}.{name}")
        deps[name] = recorder.seen
    order: list[str] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for root in specs:
        if state.get(root):
            continue
        state[root] = 1
        path: list[str] = [root]
        stack = [iter(deps[root])]
        while stack:
            child = next(stack[-1], None)
            if child is None:
                stack.pop()
                done = path.pop()
                state[done] = 2
                order.append(done)
            elif state.get(child) == 1:
                raise PolicyError(source, f"{key}.{child}", _cycle([*path[path.index(child) :], child]))
            elif not state.get(child):
                state[child] = 1
                path.append(child)
                stack.append(iter(deps[child]))
    names = _Names()
    names.names = list(specs)
    resolved: dict[str, Geography] = {}
    for name in order:
        g = names.parse(specs[name], source, f"{key}.{name}")
        resolved[name] = Geography(name, g.countries, anywhere=g.anywhere)
        if recorder.canonical[name.upper()] == name:
            names.geographies[name.upper()] = resolved[name]
    return names, {name: resolved[name] for name in specs}


def _cycle(path: list[str]) -> str:
    shown = path if len(path) <= 8 else [*path[:4], "…", *path[-3:]]
    return (
        f"geography '{path[0]}' includes itself ({' → '.join(shown)}); "
        "a geography can name others but not, through them, itself: remove one of these references"
    )


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
    return _Names(custom).parse(spec, source, key)
