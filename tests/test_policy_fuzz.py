"""Property tests: the policy loader turns any garbage into PolicyError, never anything else."""

from __future__ import annotations

import graphlib
import random
import time
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from residency import Policy, PolicyError, parse_policy

KEYS = [
    "allow",
    "version",
    "name",
    "description",
    "unknown_locations",
    "global_services",
    "geographies",
    "locations",
    "data_classes",
    "waivers",
    "tag",
    "classes",
    "deny",
    "id",
    "justification",
    "expires",
    "provider",
    "resource",
    "location",
    "tags",
]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=12),
    st.sampled_from(["EU", "EEA", "EEA+CH", "DE", "any", "aws:eu-west-1", "azure:global", "2027-01-01", "deny"]),
    st.dates(),
)
values: st.SearchStrategy[Any] = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=6), st.integers()), inner, max_size=4),
    ),
    max_leaves=20,
)


def _check(obj: object) -> None:
    try:
        result = parse_policy(obj)  # type: ignore[arg-type]
    except PolicyError:
        return
    assert isinstance(result, Policy)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.dictionaries(st.sampled_from(KEYS), values, max_size=6))
def test_structured_garbage_only_raises_policy_error(data: dict[str, Any]) -> None:
    _check(data)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_text_garbage_only_raises_policy_error(text: str) -> None:
    _check(text)


@settings(max_examples=200, deadline=None)
@given(values)
def test_any_value_only_raises_policy_error(value: Any) -> None:
    _check(value)


# --------------------------------------------------------------------------- large generated files


def _generated(seed: int, n: int, *, cycles: bool) -> tuple[str, dict[str, list[str]], dict[str, set[str]]]:
    """A policy of ``n`` geographies naming each other in random order and case, as YAML text.

    Returns the text, each geography's references, and its own countries, for the oracle.
    """
    rnd = random.Random(seed)
    names = [f"G{i}" for i in range(n)]
    rank = {name: r for r, name in enumerate(rnd.sample(names, n))}
    refs: dict[str, list[str]] = {}
    own: dict[str, set[str]] = {}
    specs: dict[str, list[str]] = {}
    for name in names:
        below = [m for m in rnd.sample(names, min(n, 4)) if rank[m] < rank[name]]
        if cycles and rnd.random() < 0.02:
            below.append(rnd.choice(names))  # may close a cycle, or may not
        refs[name] = below
        own[name] = set(rnd.sample(COUNTRIES, rnd.randint(0 if below else 1, 2)))
        terms = [rnd.choice([m.lower(), m, m.swapcase()]) for m in below] + sorted(own[name])
        if len(terms) > 1 and rnd.random() < 0.3:
            terms = ["+".join(terms[:2]), *terms[2:]]
        specs[name] = terms
    order = rnd.sample(names, n)  # file order: forward references are common
    doc = {"allow": rnd.choice(names), "geographies": {k: specs[k] for k in order}}
    text = yaml.dump(doc, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper))
    return text, refs, own


def _oracle(refs: dict[str, list[str]], own: dict[str, set[str]]) -> dict[str, set[str]] | None:
    """The countries of every geography, or None if one includes itself (graphlib, not our resolver)."""
    try:
        order = list(graphlib.TopologicalSorter(refs).static_order())
    except graphlib.CycleError:
        return None
    out: dict[str, set[str]] = {}
    for name in order:
        out[name] = own[name].union(*(out[m] for m in refs[name]))
    return out


COUNTRIES = ["DE", "AT", "FR", "IT", "ES", "NL", "BE", "PL", "CH", "NO", "IS", "SE"]


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32), st.integers(1, 2_000), st.booleans())
def test_large_generated_files_resolve_like_the_oracle(seed: int, n: int, cycles: bool) -> None:
    text, refs, own = _generated(seed, n, cycles=cycles)
    expected = _oracle(refs, own)
    if expected is None:
        with pytest.raises(PolicyError, match=r"^gen\.yaml: key 'geographies\.G\d+': geography 'G\d+' includes itself"):
            parse_policy(text, source="gen.yaml")
        return
    policy = parse_policy(text, source="gen.yaml")
    assert {k: set(g.countries) for k, g in policy.geographies.items()} == expected


def test_twenty_thousand_geographies_resolve_in_linear_time() -> None:
    """Not a benchmark (that is benchmarks/bench_policy.py): a guard with a wide margin.

    The quadratic resolution took 339 s for this size; linear takes about one second.
    """
    text, refs, own = _generated(7, 20_000, cycles=False)
    assert len(text) < 1 << 20
    start = time.process_time()
    policy = parse_policy(text, source="gen.yaml")
    assert time.process_time() - start < 30
    expected = _oracle(refs, own)
    assert expected is not None
    assert {k: set(g.countries) for k, g in policy.geographies.items()} == expected
