"""Property tests: the policy loader turns any garbage into PolicyError, never anything else."""

from __future__ import annotations

from typing import Any

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
