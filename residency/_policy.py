"""Policies: where data may live, and the decisions that explain themselves.

A policy file (YAML or JSON; JSON Schema in ``residency/data/policy.schema.json``,
printed by ``residency policy schema``)::

    version: 1
    name: team-eu
    allow: EU                      # geography names, country codes, or a list
    unknown_locations: deny        # deny (default) | allow
    global_services: allow         # AWS IAM/STS/Organizations …: allow (default) | deny
    unknown_findings: fail         # a scan that could not read something exits 3: fail (default) | allow
    geographies:                   # your own named geographies
      DACH: [DE, AT, CH]
    locations:                     # per-provider overrides, "provider:location"
      allow: ["azure:global"]      #   e.g. a CDN profile, which Azure files under 'global'
      deny: ["aws:eu-south-1"]
    data_classes:                  # a tag/label on the resource selects a rule
      tag: data-class
      classes:
        public: {allow: any, description: Public web assets}
        health: {allow: [DE]}
    waivers:                       # named, justified, expiring exceptions
      - id: legacy-analytics
        justification: Migration to eu-central-1 tracked in DPO-42
        expires: 2027-03-31
        provider: aws
        resource: "arn:aws:s3:::legacy-*"     # glob on the resource id/ARN
        location: us-east-1

A geography may name countries, built-in geographies and the policy's other
geographies, in any order (``EUROPE: [DACH, FR]`` before ``DACH``); one that
includes itself is an error. Resolution is linear in the number of geographies.

Size limits: a policy file (or text) of at most 1 MiB (``MAX_POLICY_BYTES``),
at most 20,000 custom geographies (``MAX_GEOGRAPHIES``) and at most a million
values once YAML aliases are expanded (``MAX_POLICY_VALUES``); above any, a
:class:`PolicyError` names the file and the limit, and a larger file is not
read past the limit.

Decisions are evaluated in this order: the data-class rule picks the geography;
a ``locations.deny`` override denies; a ``locations.allow`` override allows; an
unknown location (no countries) is denied unless the geography is ``any`` or
``unknown_locations: allow``; otherwise every country must be inside. A denied
or unknown decision is then waived by the first active waiver that matches;
expired waivers never apply and are named in the explanation.

>>> p = load_policy("eu")
>>> d = p.check("aws", "eu-west-2")
>>> d.status, d.reason
('denied', "eu-west-2 (Europe (London)) stores data in GB, outside EU (policy 'eu')")
"""

from __future__ import annotations

import datetime as dt
import difflib
import fnmatch
import json
import pathlib
from collections.abc import Iterable, Mapping, Sequence
from importlib import resources
from typing import Any, Literal

import attrs
import yaml

from ._catalog import PROVIDERS, Location, catalog
from ._errors import PolicyError
from ._geography import BUILTIN_GEOGRAPHIES, Geography, _resolve_custom

__all__ = [
    "BUILTIN_POLICIES",
    "DataClassRule",
    "Decision",
    "Policy",
    "Status",
    "Waiver",
    "builtin_policy_names",
    "load_policy",
    "parse_policy",
    "policy_schema",
]

Status = Literal["allowed", "denied", "unknown", "waived"]

BUILTIN_POLICIES = ("eu", "eea", "eea-ch")

MAX_POLICY_BYTES = 1 << 20
"""The largest policy file (or text) read: 1 MiB, a thousand times a large real policy."""
MAX_GEOGRAPHIES = 20_000
"""The most custom ``geographies`` one policy may define."""
MAX_POLICY_VALUES = 1_000_000
"""The most values (keys, scalars, lists) a policy may hold once YAML aliases are expanded.

A 1 MiB file without aliases holds at most about 524,000, so this only stops
a few bytes of ``*alias`` repetition from expanding into minutes of work.
"""

_TOP_KEYS = {
    "version",
    "name",
    "description",
    "allow",
    "unknown_locations",
    "global_services",
    "unknown_findings",
    "geographies",
    "locations",
    "data_classes",
    "waivers",
}
_WAIVER_KEYS = {
    "id",
    "justification",
    "expires",
    "provider",
    "resource",
    "location",
    "tags",
    "approved_by",
}


@attrs.frozen
class Waiver:
    """A named, justified exception; it applies until (and including) ``expires``."""

    id: str
    justification: str
    expires: dt.date | None = None
    provider: str | None = None
    resource: str | None = None
    location: str | None = None
    tags: Mapping[str, str] = attrs.field(factory=dict, converter=dict)
    approved_by: str | None = None

    def matches(
        self,
        provider: str,
        location: Location,
        resource: str | None,
        tags: Mapping[str, str],
    ) -> bool:
        if self.provider and self.provider != provider:
            return False
        if self.location and not _waiver_covers(self.location, provider, location):
            return False
        if self.resource and not (resource and _resource_matches(resource, self.resource)):
            return False
        return all(tags.get(k) == v for k, v in self.tags.items())

    def active(self, today: dt.date) -> bool:
        return self.expires is None or today <= self.expires


def _resource_matches(resource: str, pattern: str) -> bool:
    """A glob on the resource id, or the id itself: Terraform addresses carry brackets (``y[0]``, ``b["k"]``).

    >>> _resource_matches("module.x.aws_s3_bucket.y[0]", "module.x.aws_s3_bucket.y[0]")
    True
    >>> _resource_matches("module.x.aws_s3_bucket.y[0]", "module.x.*"), _resource_matches("y0", "y[0]")
    (True, True)
    """
    return resource == pattern or fnmatch.fnmatchcase(resource, pattern)


def _waiver_covers(wanted: str, provider: str, location: Location) -> bool:
    """Whether a waiver naming location ``wanted`` covers ``location``.

    A waiver for a region also covers the names that stand for it (S3's legacy
    ``EU``, its zone ids), but only while the data stays in the waived region's
    countries: not a Local Zone abroad (Lima under us-east-1), nor the other
    half of a dual-region (London in EUR5).
    """
    waived = catalog().get(provider, wanted)
    code = waived.code.lower() if waived else wanted.lower()
    if code == location.code.lower():
        return True
    if waived is None or code not in (m.lower() for m in location.members):
        return False
    return bool(location.countries) and set(location.countries) <= set(waived.countries)


def _named_override(
    names: frozenset[tuple[str, str]], provider: str, location: Location, *, strict: bool
) -> str | None:
    """The ``locations.allow``/``deny`` entry that names ``location``, directly or as its region.

    A region named in ``deny`` also denies every name under it (its zone ids,
    Local Zones, S3's legacy alias): stricter is always safe. A region named in
    ``allow`` (``strict``) covers those names only where the data stays in the
    region's countries, as for waivers.
    """
    code = location.code.lower()
    if (provider, code) in names:
        return code
    for member in location.members:
        if (provider, member.lower()) not in names:
            continue
        if not strict or _waiver_covers(member, provider, location):
            return member.lower()
    return None


@attrs.frozen
class DataClassRule:
    """The geography for resources whose data-class tag has this value."""

    name: str
    geography: Geography
    description: str = ""


@attrs.frozen(repr=False)
class Decision:
    """The answer to "may this location hold this data?", with its reasons.

    ``status`` is ``allowed``, ``denied``, ``unknown`` (no country could be
    established: treated as denied) or ``waived`` (denied, but an active waiver
    applies). ``reason`` reads as one sentence; :meth:`explain` gives the chain
    location → countries → geography → rule.
    """

    provider: str
    location: Location
    policy: str
    geography: Geography
    status: Status
    reason: str
    rule: str = "geography"
    outside: tuple[str, ...] = ()
    waiver: Waiver | None = None
    expired_waivers: tuple[Waiver, ...] = ()

    def __repr__(self) -> str:
        return (
            f"Decision({self.status!r}, {self.provider}:{self.location.code}, "
            f"policy={self.policy!r}, rule={self.rule!r})"
        )

    @property
    def allowed(self) -> bool:
        """True for ``allowed`` and ``waived``; unknown locations are not allowed."""
        return self.status in ("allowed", "waived")

    def explain(self) -> str:
        """Location → countries → geography → the rule or waiver that decided."""
        loc = self.location
        lines = [
            f"location:  {self.provider}:{loc.label} [{loc.kind}]"
            + (f" members {', '.join(loc.members)}" if loc.members else ""),
            f"countries: {', '.join(loc.countries) if loc.countries else 'unknown'}"
            + (f" (source: {loc.source_url or loc.source})" if loc.source else ""),
            f"geography: {self.geography.name} (policy '{self.policy}')",
            f"rule:      {self.rule}",
        ]
        if self.waiver:
            lines.append(f"waiver:    {self.waiver.id}: {self.waiver.justification}")
        for w in self.expired_waivers:
            lines.append(f"expired:   waiver {w.id} (expired {w.expires})")
        lines.append(f"decision:  {self.status} — {self.reason}")
        return "\n".join(lines)


def _where(countries: Sequence[str]) -> str:
    """``DE, FR`` — or, for a whole built-in geography, ``the 27 EU countries``."""
    if len(countries) > 4:
        for name, geo in BUILTIN_GEOGRAPHIES.items():
            if geo.countries == frozenset(countries):
                return f"the {len(countries)} {name} countries"
    return ", ".join(countries)


@attrs.frozen(repr=False)
class Policy:
    """A loaded, validated policy. Build one with :func:`load_policy`."""

    name: str
    geography: Geography
    description: str = ""
    source: str = "<policy>"
    unknown_locations: Literal["deny", "allow"] = "deny"
    global_services: Literal["allow", "deny"] = "allow"
    #: ``fail``: a scan with unknown findings (and no violation) exits 3; ``allow``: it exits 0
    unknown_findings: Literal["fail", "allow"] = "fail"
    allow_locations: frozenset[tuple[str, str]] = frozenset()
    deny_locations: frozenset[tuple[str, str]] = frozenset()
    data_class_tag: str = "data-class"
    data_classes: Mapping[str, DataClassRule] = attrs.field(factory=dict)
    waivers: tuple[Waiver, ...] = ()
    geographies: Mapping[str, Geography] = attrs.field(factory=dict)

    def __repr__(self) -> str:
        return f"Policy({self.name!r}, allow={self.geography.name!r}, source={self.source!r})"

    @property
    def allows_global_services(self) -> bool:
        return self.global_services == "allow"

    def geography_for(self, tags: Mapping[str, str] | None) -> tuple[Geography, str]:
        """The geography for data with these tags, and the rule that chose it."""
        if tags:
            value = tags.get(self.data_class_tag)
            if value is not None and value in self.data_classes:
                rule = self.data_classes[value]
                return rule.geography, f"data-class '{value}' ({self.data_class_tag}={value})"
        return self.geography, "geography"

    def check(
        self,
        provider: str,
        location: str | Location | None,
        *,
        tags: Mapping[str, str] | None = None,
        resource: str | None = None,
        today: dt.date | None = None,
    ) -> Decision:
        """Decide whether ``location`` of ``provider`` may hold data under this policy.

        ``tags`` select a data-class rule and match waivers; ``resource`` (an ARN,
        resource id or URL) matches waivers; ``today`` decides waiver expiry.

        >>> load_policy("eea-ch").check("aws", "eu-central-2").status
        'allowed'
        >>> load_policy("eu").check("azure", "global").status
        'unknown'
        """
        provider = provider.lower()
        loc = location if isinstance(location, Location) else catalog().lookup(provider, location)
        tags = dict(tags or {})
        geo, rule = self.geography_for(tags)
        pol = f"(policy '{self.name}')"
        outside: tuple[str, ...] = ()
        status: Status
        denied_as = _named_override(self.deny_locations, provider, loc, strict=False)
        allowed_as = _named_override(self.allow_locations, provider, loc, strict=True)
        if denied_as is not None:
            status, rule = "denied", f"locations.deny '{provider}:{denied_as}'"
            via = "" if denied_as == loc.code.lower() else f" (as part of {denied_as})"
            reason = f"{loc.label} is denied by name{via} {pol}"
        elif allowed_as is not None:
            status, rule = "allowed", f"locations.allow '{provider}:{allowed_as}'"
            via = "" if allowed_as == loc.code.lower() else f" (as part of {allowed_as})"
            reason = f"{loc.label} is allowed by name{via} {pol}"
        elif geo.anywhere:
            status = "allowed"
            where = _where(loc.countries) if loc.countries else "an unknown country"
            reason = f"{loc.label} stores data in {where}; {rule} allows anywhere {pol}"
        elif not loc.is_known:
            why = {
                "global": "a global location",
                "logical": "a logical location",
                "unknown": "not in the location catalog",
            }.get(loc.kind, "no country established")
            if self.unknown_locations == "allow":
                status = "allowed"
                reason = f"{loc.label} has no known country ({why}); unknown locations are allowed {pol}"
                rule = "unknown_locations: allow"
            else:
                status = "unknown"
                reason = (
                    f"{loc.label} has no known country ({why}); unknown locations are denied, outside {geo.name} {pol}"
                )
                rule = "unknown_locations: deny"
        else:
            outside = geo.outside(loc.countries)
            where = _where(loc.countries)
            if not outside:
                status = "allowed"
                reason = f"{loc.label} stores data in {where}, inside {geo.name} {pol}"
            elif len(outside) == len(loc.countries):
                status = "denied"
                reason = f"{loc.label} stores data in {where}, outside {geo.name} {pol}"
            else:
                status = "denied"
                reason = (
                    f"{loc.label} stores data in {where}; {', '.join(outside)} "
                    f"{'is' if len(outside) == 1 else 'are'} outside {geo.name} {pol}"
                )
        if rule.startswith("data-class") and status != "allowed":
            reason += f" [{rule}]"
        waiver = None
        expired: list[Waiver] = []
        if status in ("denied", "unknown"):
            day = today or dt.datetime.now(dt.timezone.utc).date()
            for w in self.waivers:
                if not w.matches(provider, loc, resource, tags):
                    continue
                if w.active(day):
                    waiver = w
                    break
                expired.append(w)
            if waiver is not None:
                status = "waived"
                until = f" until {waiver.expires}" if waiver.expires else ""
                reason += f"; waived by '{waiver.id}'{until}: {waiver.justification}"
                rule = f"waiver '{waiver.id}'"
            for w in expired:
                reason += f"; waiver '{w.id}' expired on {w.expires} and no longer applies"
        return Decision(
            provider,
            loc,
            self.name,
            geo,
            status,
            reason,
            rule,
            outside,
            waiver,
            tuple(expired),
        )

    def expired_waivers(self, today: dt.date | None = None) -> list[Waiver]:
        """Waivers whose expiry date has passed (to report them)."""
        day = today or dt.datetime.now(dt.timezone.utc).date()
        return [w for w in self.waivers if not w.active(day)]


# --------------------------------------------------------------------------- loading


def builtin_policy_names() -> list[str]:
    """Names of the policies shipped in ``residency.policies``."""
    files = resources.files("residency.policies")
    return sorted(p.name.rsplit(".", 1)[0] for p in files.iterdir() if p.name.endswith((".yaml", ".yml")))


def load_policy(policy: str | pathlib.Path | Policy) -> Policy:
    """Load a policy by built-in name (``eu``, ``eea``, ``eea-ch``), path, or pass one through.

    Raises :class:`PolicyError` naming the file, the key and the fix.
    """
    if isinstance(policy, Policy):
        return policy
    if isinstance(policy, pathlib.Path) or (
        isinstance(policy, str) and (policy.endswith((".yaml", ".yml", ".json")) or "/" in policy or "\\" in policy)
    ):
        path = pathlib.Path(policy)
        try:
            with path.open("rb") as f:
                raw = f.read(MAX_POLICY_BYTES + 1)  # never more: a huge file is refused, not read
        except FileNotFoundError:
            raise PolicyError(str(path), None, "no such policy file") from None
        except OSError as exc:
            raise PolicyError(str(path), None, f"cannot read: {exc}") from None
        if len(raw) > MAX_POLICY_BYTES:
            raise _too_big(str(path))
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise PolicyError(str(path), None, f"cannot read: {exc}") from None
        return parse_policy(text, source=str(path), default_name=path.stem)
    if not isinstance(policy, str):
        raise PolicyError("<policy>", None, f"expected a policy name, path or Policy, got {policy!r}")
    name = policy.strip().lower()
    files = resources.files("residency.policies")
    entry = files.joinpath(f"{name}.yaml")
    if not entry.is_file():
        names = builtin_policy_names()
        hint = difflib.get_close_matches(name, names, n=1)
        fix = f"did you mean '{hint[0]}'?" if hint else f"built-in policies are {', '.join(names)}"
        raise PolicyError(policy, None, f"no built-in policy of that name and no such file ({fix})")
    return parse_policy(entry.read_text("utf-8"), source=f"builtin:{name}", default_name=name)


# libyaml's parser when PyYAML was built with it: ten times faster on large files, same safe constructors.
_SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_SafeLoader):  # type: ignore[valid-type, misc]
    """SafeLoader that keeps dates as text, so a bad date is reported with its key."""


def _timestamp_as_text(loader: yaml.SafeLoader, node: yaml.Node) -> str:
    return str(loader.construct_scalar(node))  # type: ignore[arg-type]


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp_as_text)


def _err(source: str, key: str | None, problem: str) -> PolicyError:
    return PolicyError(source, key, problem)


def _more_values_than(data: object, limit: int) -> bool:
    """Whether ``data`` holds more than ``limit`` values, counting a shared (aliased) one per use.

    Each distinct list or mapping is sized once (by identity), so a document
    whose aliases expand exponentially costs no more than its own size; one
    that contains itself is infinite, hence over any limit.
    """
    sizes: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[Any, bool]] = [(data, False)]
    while stack:
        item, done = stack.pop()
        key = id(item)
        if not done and key in sizes:
            continue
        if not done and key in on_path:
            return True
        values = item.values() if isinstance(item, Mapping) else item
        kids = [v for v in values if isinstance(v, Mapping | list | tuple)]
        if done:
            on_path.discard(key)
            sizes[key] = len(item) * (2 if isinstance(item, Mapping) else 1) + sum(sizes[id(k)] for k in kids)
            if sizes[key] > limit:
                return True
        else:
            on_path.add(key)
            stack.append((item, True))
            stack.extend((k, False) for k in kids if id(k) not in sizes)
    return False


def _too_big(source: str) -> PolicyError:
    return _err(
        source,
        None,
        f"larger than the limit of {MAX_POLICY_BYTES:,} bytes (1 MiB); "
        "split it, or name geographies and countries instead of listing every location",
    )


def _unknown_key(source: str, prefix: str, key: object, allowed: Iterable[str]) -> PolicyError:
    hint = difflib.get_close_matches(str(key), list(allowed), n=1)
    fix = f" (did you mean '{hint[0]}'?)" if hint else f"; allowed keys: {', '.join(sorted(allowed))}"
    path = f"{prefix}.{key}" if prefix else str(key)
    return _err(source, path, f"unknown key{fix}")


def _str(source: str, key: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _err(source, key, f"expected a non-empty string, got {value!r}")
    return value


def _choice(source: str, key: str, value: object, choices: Sequence[str]) -> Any:
    if value not in choices:
        raise _err(source, key, f"expected one of {', '.join(choices)}, got {value!r}")
    return value


def _geo_spec(source: str, key: str, value: object) -> str | list[str]:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    raise _err(source, key, f"expected a geography name, country code or list of them, got {value!r}")


def _date(source: str, key: str, value: object) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise _err(source, key, f"bad date {value!r}: write it as YYYY-MM-DD")


def _location_ref(source: str, key: str, value: object) -> tuple[str, str]:
    ref = _str(source, key, value)
    provider, sep, code = ref.partition(":")
    provider = provider.strip().lower()
    if not sep or provider not in PROVIDERS:
        raise _err(
            source,
            key,
            f"expected 'provider:location' with provider one of {', '.join(PROVIDERS)}, got {ref!r}",
        )
    loc = catalog().get(provider, code)
    if loc is None:
        hint = catalog().suggest(provider, code.strip())
        fix = f" (did you mean '{provider}:{hint}'?)" if hint else "; see 'residency regions'"
        raise _err(source, key, f"unknown location '{code.strip()}' for {provider}{fix}")
    return provider, loc.code.lower()


def parse_policy(text: str | Mapping[str, Any], *, source: str = "<policy>", default_name: str = "policy") -> Policy:
    """Parse and validate a policy from YAML/JSON text or an already-parsed mapping."""
    if isinstance(text, str):
        if len(text) > MAX_POLICY_BYTES // 4 and len(text.encode("utf-8")) > MAX_POLICY_BYTES:
            raise _too_big(source)
        try:
            data = yaml.load(text, Loader=_Loader)  # a SafeLoader subclass
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise _err(source, None, f"malformed YAML{where}: {problem}") from None
        except (ValueError, TypeError, RecursionError) as exc:
            raise _err(source, None, f"malformed YAML: {exc}") from None
    else:
        data = text
    if data is None:
        raise _err(source, None, "the policy is empty; it needs at least 'allow: EU'")
    if not isinstance(data, Mapping):
        raise _err(source, None, f"expected a mapping of keys at the top level, got {type(data).__name__}")
    if _more_values_than(data, MAX_POLICY_VALUES):
        raise _err(
            source,
            None,
            f"more than {MAX_POLICY_VALUES:,} values once YAML aliases are expanded (each '*alias' counts its "
            "whole target every time); write the repeated part once, as a geography other entries name",
        )
    for k in data:
        if k not in _TOP_KEYS:
            raise _unknown_key(source, "", k, _TOP_KEYS)
    if "version" in data and data["version"] != 1:
        raise _err(source, "version", f"unsupported version {data['version']!r}; this release reads version 1")
    name = _str(source, "name", data["name"]) if "name" in data else default_name
    description = _str(source, "description", data["description"]) if "description" in data else ""
    if "allow" not in data:
        raise _err(source, "allow", "missing: say which geography data may live in, e.g. 'allow: EU'")

    geos = data.get("geographies", {}) or {}
    if not isinstance(geos, Mapping):
        raise _err(source, "geographies", "expected a mapping of name: [countries or geographies]")
    if len(geos) > MAX_GEOGRAPHIES:
        raise _err(
            source,
            "geographies",
            f"{len(geos):,} geographies, more than the limit of {MAX_GEOGRAPHIES:,}; "
            "define fewer (a geography can list countries and other geographies)",
        )
    specs: dict[str, str | list[str]] = {}
    for gname, spec in geos.items():
        key = f"geographies.{gname}"
        if not isinstance(gname, str) or not gname.strip():
            raise _err(source, key, "a geography name must be a non-empty string")
        specs[gname] = _geo_spec(source, key, spec)
    names, custom = _resolve_custom(specs, source=source)

    geography = names.parse(_geo_spec(source, "allow", data["allow"]), source, "allow")
    unknown = _choice(source, "unknown_locations", data.get("unknown_locations", "deny"), ("deny", "allow"))
    global_services = _choice(source, "global_services", data.get("global_services", "allow"), ("allow", "deny"))
    unknown_findings = _choice(source, "unknown_findings", data.get("unknown_findings", "fail"), ("fail", "allow"))

    allow_locs: set[tuple[str, str]] = set()
    deny_locs: set[tuple[str, str]] = set()
    locs = data.get("locations", {}) or {}
    if not isinstance(locs, Mapping):
        raise _err(source, "locations", "expected a mapping with 'allow' and/or 'deny' lists")
    for k, v in locs.items():
        if k not in ("allow", "deny"):
            raise _unknown_key(source, "locations", k, ("allow", "deny"))
        if not isinstance(v, list):
            raise _err(source, f"locations.{k}", "expected a list of 'provider:location'")
        target = allow_locs if k == "allow" else deny_locs
        for i, ref in enumerate(v):
            target.add(_location_ref(source, f"locations.{k}[{i}]", ref))
    both = allow_locs & deny_locs
    if both:
        p, c = sorted(both)[0]
        raise _err(source, "locations", f"'{p}:{c}' is both allowed and denied; keep one")

    data_class_tag = "data-class"
    classes: dict[str, DataClassRule] = {}
    dc = data.get("data_classes", {}) or {}
    if not isinstance(dc, Mapping):
        raise _err(source, "data_classes", "expected a mapping with 'tag' and 'classes'")
    for k in dc:
        if k not in ("tag", "classes"):
            raise _unknown_key(source, "data_classes", k, ("tag", "classes"))
    if "tag" in dc:
        data_class_tag = _str(source, "data_classes.tag", dc["tag"])
    cls = dc.get("classes", {}) or {}
    if not isinstance(cls, Mapping):
        raise _err(source, "data_classes.classes", "expected a mapping of class name: {allow: ...}")
    for cname, spec in cls.items():
        key = f"data_classes.classes.{cname}"
        if not isinstance(cname, str):
            raise _err(source, key, "a data class name must be a string")
        if not isinstance(spec, Mapping):
            raise _err(source, key, "expected a mapping with 'allow' (and optional 'description')")
        for k in spec:
            if k not in ("allow", "description"):
                raise _unknown_key(source, key, k, ("allow", "description"))
        if "allow" not in spec:
            raise _err(source, f"{key}.allow", "missing: which geography this data class may live in")
        g = names.parse(_geo_spec(source, f"{key}.allow", spec["allow"]), source, f"{key}.allow")
        desc = _str(source, f"{key}.description", spec["description"]) if "description" in spec else ""
        classes[cname] = DataClassRule(cname, g, desc)

    waivers: list[Waiver] = []
    raw_w = data.get("waivers", []) or []
    if not isinstance(raw_w, list):
        raise _err(source, "waivers", "expected a list of waivers")
    seen: set[str] = set()
    for i, w in enumerate(raw_w):
        key = f"waivers[{i}]"
        if not isinstance(w, Mapping):
            raise _err(source, key, "expected a mapping with id, justification, expires and a selector")
        for k in w:
            if k not in _WAIVER_KEYS:
                raise _unknown_key(source, key, k, _WAIVER_KEYS)
        for req in ("id", "justification", "expires"):
            if req not in w:
                raise _err(
                    source,
                    f"{key}.{req}",
                    "missing: every waiver needs an id, a justification and an expiry date",
                )
        wid = _str(source, f"{key}.id", w["id"])
        if wid in seen:
            raise _err(source, f"{key}.id", f"duplicate waiver id {wid!r}")
        seen.add(wid)
        provider = None
        if "provider" in w:
            provider = _choice(source, f"{key}.provider", w["provider"], PROVIDERS)
        location = None
        if "location" in w:
            location = _str(source, f"{key}.location", w["location"])
            if provider is not None and catalog().get(provider, location) is None:
                hint = catalog().suggest(provider, location)
                fix = f" (did you mean '{hint}'?)" if hint else ""
                raise _err(source, f"{key}.location", f"unknown location {location!r} for {provider}{fix}")
        wtags = w.get("tags", {}) or {}
        if not isinstance(wtags, Mapping) or not all(
            isinstance(a, str) and isinstance(b, str) for a, b in wtags.items()
        ):
            raise _err(source, f"{key}.tags", "expected a mapping of tag: value strings")
        if not any(x in w for x in ("provider", "resource", "location", "tags")):
            raise _err(source, key, "a waiver needs a selector: provider, resource, location or tags")
        waivers.append(
            Waiver(
                wid,
                _str(source, f"{key}.justification", w["justification"]),
                _date(source, f"{key}.expires", w["expires"]),
                provider,
                _str(source, f"{key}.resource", w["resource"]) if "resource" in w else None,
                location,
                dict(wtags),
                _str(source, f"{key}.approved_by", w["approved_by"]) if "approved_by" in w else None,
            )
        )
    return Policy(
        name=name,
        geography=geography,
        description=description,
        source=source,
        unknown_locations=unknown,
        global_services=global_services,
        unknown_findings=unknown_findings,
        allow_locations=frozenset(allow_locs),
        deny_locations=frozenset(deny_locs),
        data_class_tag=data_class_tag,
        data_classes=classes,
        waivers=tuple(waivers),
        geographies=custom,
    )


def policy_schema() -> dict[str, Any]:
    """The published JSON Schema for policy files (for editors and CI linters)."""
    raw = resources.files("residency").joinpath("data/policy.schema.json").read_text("utf-8")
    result: dict[str, Any] = json.loads(raw)
    return result
