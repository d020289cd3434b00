"""The location catalog: every place each provider can put data, and its countries.

The catalog is packaged data (``residency/data/{aws,azure,gcp}.json``), each
entry with the source that states its country. Lookups are by provider and the
code an API returns, normalised the way each provider spells it:

* AWS: region codes (``eu-west-1``), S3's legacy values (``EU`` is eu-west-1;
  an empty or ``None`` LocationConstraint is us-east-1), availability-zone ids
  (``euw1-az1``, as S3 Express directory buckets name them) and the Local and
  Wavelength Zones AWS documents, each with its own country, never its parent
  region's (``euc1-waw1-az1`` is Warsaw, PL, under Frankfurt). A Local Zone id
  the catalog does not list is unknown.
* Azure: programmatic names (``westeurope``) and display names (``West Europe``).
* GCP: case-insensitive (Cloud Storage answers ``EUROPE-WEST1``, ``EUR4``), and
  custom dual-regions written as ``europe-west1+europe-west4``.

A code the catalog does not know is not an error at lookup time: it comes back
as a :class:`Location` of kind ``unknown`` with no countries, which every policy
denies unless it explicitly allows unknown locations (fail closed).

>>> loc = lookup_location("aws", "eu-west-2")
>>> loc.countries, loc.name
(('GB',), 'Europe (London)')
>>> lookup_location("gcp", "EUR8").members
('europe-west3', 'europe-west6')
>>> lookup_location("aws", "mars-north-1").kind
'unknown'
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from functools import cache
from importlib import resources
from typing import Literal

import attrs

from ._geography import BUILTIN_GEOGRAPHIES

__all__ = [
    "PROVIDERS",
    "Catalog",
    "Location",
    "LocationKind",
    "catalog",
    "lookup_location",
]

PROVIDERS = ("aws", "azure", "gcp")

LocationKind = Literal[
    "region",
    "multi-region",
    "dual-region",
    "legacy-alias",
    "availability-zone-id",
    "logical",
    "global",
    "sovereign",
    "unknown",
]


def _tuple(v: Iterable[str] | None) -> tuple[str, ...]:
    return tuple(v or ())


@attrs.frozen(repr=False)
class Location:
    """One place a provider can put data.

    ``countries`` are ISO 3166-1 alpha-2 codes where the data is stored; an
    empty tuple means *unknown* (global, logical, or not in the catalog).
    ``members`` are the regions of a dual/multi-region, alias or zone id.
    ``pair`` is the geo-redundant secondary (Azure region pairs).
    """

    provider: str
    code: str
    name: str = ""
    kind: LocationKind = "region"
    countries: tuple[str, ...] = attrs.field(default=(), converter=_tuple)
    members: tuple[str, ...] = attrs.field(default=(), converter=_tuple)
    pair: str | None = None
    cloud: str = ""
    source: str = ""
    source_url: str = ""
    note: str = ""
    aliases: tuple[str, ...] = attrs.field(default=(), converter=_tuple)

    def __repr__(self) -> str:
        return f"Location({self.provider!r}, {self.code!r}, countries={list(self.countries)!r})"

    def __str__(self) -> str:
        return self.label

    @property
    def label(self) -> str:
        """``eu-west-2 (Europe (London))``, ``westeurope (West Europe)``: the code and the name.

        The name is left out only when it is the code itself (``global``):
        Azure's display name differs from its code by spaces alone, but it is
        the name people know, so it is shown like AWS's and GCP's.
        """
        if self.name and self.name.lower() != self.code.lower():
            return f"{self.code or '(empty)'} ({self.name})"
        return self.code or "(empty)"

    @property
    def is_known(self) -> bool:
        """Whether the catalog can say which countries hold the data."""
        return bool(self.countries)

    @property
    def geographies(self) -> tuple[str, ...]:
        """Names of the built-in geographies that contain every country."""
        if not self.countries:
            return ()
        return tuple(n for n, g in BUILTIN_GEOGRAPHIES.items() if g.contains_all(self.countries))

    def to_dict(self) -> dict[str, object]:
        return {
            "provider": self.provider,
            "location": self.code,
            "name": self.name,
            "kind": self.kind,
            "countries": list(self.countries),
            "members": list(self.members),
            "pair": self.pair,
            "cloud": self.cloud,
            "geographies": list(self.geographies),
            "source": self.source_url or self.source,
            "note": self.note,
        }


# Plain AZ ids only (``euw1-az1``): an unlisted one of a known prefix is in that
# region. Local Zone ids (``euc1-waw1-az1``) never match: a Local Zone can sit in
# another country than its parent region (Warsaw under Frankfurt, Lima under
# N. Virginia), so only the zones listed in the catalog are known.
_AWS_ZONE = re.compile(r"^(?P<prefix>[a-z]+\d+)-az\d+$")


class Catalog:
    """All known locations of all providers, indexed for lookup."""

    def __init__(self, locations: Iterable[Location]) -> None:
        self._by_provider: dict[str, dict[str, Location]] = {p: {} for p in PROVIDERS}
        self._order: list[Location] = []
        for loc in locations:
            index = self._by_provider.setdefault(loc.provider, {})
            index[self._key(loc.provider, loc.code)] = loc
            for alias in loc.aliases:
                index.setdefault(self._key(loc.provider, alias), loc)
            if loc.provider == "azure" and loc.name:
                index.setdefault(self._key("azure", loc.name), loc)
            self._order.append(loc)
        self._zone_prefixes = {
            loc.code.rsplit("-az", 1)[0]: loc.members[0]
            for loc in self._order
            if loc.kind == "availability-zone-id" and loc.members
        }

    @staticmethod
    def _key(provider: str, code: str) -> str:
        key = code.strip().lower()
        if provider == "azure":
            key = key.replace(" ", "").replace("-", "").replace("_", "")
        return key

    def __iter__(self) -> Iterator[Location]:
        return iter(self._order)

    def __len__(self) -> int:
        return len(self._order)

    def locations(self, provider: str | None = None) -> list[Location]:
        """Every catalog entry, of one provider or all, in catalog order."""
        return [loc for loc in self._order if provider is None or loc.provider == provider]

    def get(self, provider: str, code: str | None) -> Location | None:
        """The catalog entry for ``code``, or ``None`` if the catalog lacks it."""
        provider = provider.lower()
        if provider not in self._by_provider:
            return None
        if code is None:
            code = ""
        index = self._by_provider[provider]
        hit = index.get(self._key(provider, code))
        if hit is not None:
            return hit
        if provider == "aws":
            m = _AWS_ZONE.match(code.strip().lower())
            if m and m.group("prefix") in self._zone_prefixes:
                region = index[self._zone_prefixes[m.group("prefix")]]
                return attrs.evolve(
                    region,
                    code=code.strip().lower(),
                    name=f"{region.name} zone ID {code.strip().lower()}",
                    kind="availability-zone-id",
                    members=(region.code,),
                    aliases=(),
                )
        if provider == "gcp" and "+" in code:
            return self.dual_region("gcp", code.split("+"))
        return None

    def lookup(self, provider: str, code: str | None) -> Location:
        """Like :meth:`get`, but an unknown code gives a ``kind='unknown'`` Location."""
        hit = self.get(provider, code)
        if hit is not None:
            return hit
        return Location(
            provider.lower(),
            (code or "").strip(),
            kind="unknown",
            note="not in the eu-residency location catalog; treated as unknown (fails closed)",
            source="none",
        )

    def dual_region(self, provider: str, members: Iterable[str]) -> Location | None:
        """A custom dual/multi-region made of ``members`` (e.g. GCS custom dual-regions).

        Its countries are the union of the members'; if any member is unknown the
        whole location is unknown (no countries).
        """
        locs = [self.get(provider, m.strip()) for m in members if m.strip()]
        if not locs:
            return None
        if any(loc is None or not loc.is_known for loc in locs):
            countries: tuple[str, ...] = ()
        else:
            countries = tuple(dict.fromkeys(c for loc in locs if loc for c in loc.countries))
        codes = tuple(loc.code if loc else m for loc, m in zip(locs, members, strict=False))
        return Location(
            provider,
            "+".join(codes),
            name="custom dual-region " + " + ".join(codes),
            kind="dual-region",
            countries=countries,
            members=codes,
            source="members",
        )

    def suggest(self, provider: str, code: str) -> str | None:
        """The closest known code, for "did you mean" messages."""
        names = [loc.code for loc in self.locations(provider) if loc.code]
        hit = difflib.get_close_matches(code.lower(), [n.lower() for n in names], n=1, cutoff=0.75)
        if not hit:
            return None
        return next(n for n in names if n.lower() == hit[0])


def _load_provider(provider: str) -> list[Location]:
    path = resources.files("residency").joinpath(f"data/{provider}.json")
    if not path.is_file():
        return []
    raw = json.loads(path.read_text("utf-8"))
    sources: Mapping[str, Mapping[str, str]] = raw.get("sources", {})
    out = []
    for e in raw["locations"]:
        src = e.get("source", "")
        out.append(
            Location(
                provider,
                e["code"],
                name=e.get("name", ""),
                kind=e["kind"],
                countries=e.get("countries", []),
                members=e.get("members", []),
                pair=e.get("pair"),
                cloud=e.get("cloud", ""),
                source=src,
                source_url=sources.get(src, {}).get("url", src),
                note=e.get("note", ""),
                aliases=e.get("aliases", []),
            )
        )
    return out


@cache
def catalog() -> Catalog:
    """The packaged catalog (loaded once)."""
    return Catalog(loc for p in PROVIDERS for loc in _load_provider(p))


def lookup_location(provider: str, code: str | None) -> Location:
    """Find a location by provider (``aws``/``azure``/``gcp``) and code.

    Never raises for an unknown code: the answer then has ``kind='unknown'`` and
    no countries, so any policy check on it fails closed.
    """
    return catalog().lookup(provider, code)
