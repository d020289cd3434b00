"""Policies: built-ins, decisions that explain themselves, overrides, data classes, waivers."""

from __future__ import annotations

import datetime as dt
import json
import pathlib

import jsonschema
import pytest
import yaml

import residency
import residency._policy as policy_module
from residency import PolicyError, load_policy, parse_policy, policy_schema

ROOT = pathlib.Path(__file__).resolve().parent.parent
TEAM = ROOT / "examples" / "policies" / "team.yaml"


@pytest.mark.parametrize("name", residency.builtin_policy_names())
def test_builtin_policies_load_and_match_the_schema(name: str) -> None:
    policy = load_policy(name)
    assert policy.name == name
    text = (ROOT / "policies" / f"{name}.yaml").read_text()
    jsonschema.validate(yaml.safe_load(text), policy_schema())


def test_builtins_are_the_three_documented() -> None:
    assert residency.builtin_policy_names() == ["eea", "eea-ch", "eu"]


def test_example_policy_matches_the_schema() -> None:
    data = yaml.safe_load(TEAM.read_text())
    data["waivers"] = [dict(w, expires=str(w["expires"])) for w in data["waivers"]]
    jsonschema.validate(data, policy_schema())
    jsonschema.Draft202012Validator.check_schema(policy_schema())


@pytest.mark.parametrize(
    ("policy", "provider", "location", "status"),
    [
        ("eu", "aws", "eu-central-1", "allowed"),
        ("eu", "aws", "eu-west-2", "denied"),
        ("eu", "aws", "eu-central-2", "denied"),
        ("eea", "aws", "eu-central-2", "denied"),
        ("eea-ch", "aws", "eu-central-2", "allowed"),
        ("eea-ch", "aws", "eu-west-2", "denied"),
        ("eu", "aws", "aws-global", "unknown"),
        ("eu", "aws", "not-a-region-1", "unknown"),
        ("eu", "aws", "us-east-1", "denied"),
    ],
)
def test_builtin_decisions(policy: str, provider: str, location: str, status: str) -> None:
    assert load_policy(policy).check(provider, location).status == status


def test_the_reason_reads_as_in_the_spec() -> None:
    d = load_policy("eu").check("aws", "eu-west-2")
    assert d.reason == "eu-west-2 (Europe (London)) stores data in GB, outside EU (policy 'eu')"
    assert not d.allowed
    assert d.outside == ("GB",)


def test_explain_shows_the_chain() -> None:
    text = load_policy("eu").check("aws", "eu-west-2").explain()
    for part in ("location:  aws:eu-west-2", "countries: GB", "geography: EU", "rule:      geography"):
        assert part in text


def test_unknown_is_not_allowed_but_can_be_allowed_by_policy() -> None:
    assert not load_policy("eu").check("aws", "aws-global").allowed
    p = parse_policy("allow: EU\nunknown_locations: allow\n")
    assert p.check("aws", "aws-global").allowed


class TestTeamPolicy:
    policy = load_policy(TEAM)

    def test_override_allow_and_deny(self) -> None:
        assert self.policy.check("azure", "global").status == "allowed"
        d = self.policy.check("aws", "eu-south-1")
        assert d.status == "denied"
        assert d.rule == "locations.deny 'aws:eu-south-1'"

    def test_data_class_public_goes_anywhere(self) -> None:
        d = self.policy.check("aws", "us-east-1", tags={"data-class": "public"})
        assert d.allowed
        assert "data-class 'public'" in d.rule

    def test_data_class_health_is_stricter(self) -> None:
        assert not self.policy.check("aws", "eu-west-3", tags={"data-class": "health"}).allowed
        assert self.policy.check("aws", "eu-central-1", tags={"data-class": "health"}).allowed

    def test_custom_geography(self) -> None:
        assert self.policy.check("aws", "eu-central-2", tags={"data-class": "dach"}).allowed

    def test_active_waiver(self) -> None:
        d = self.policy.check("aws", "us-east-1", resource="arn:aws:s3:::legacy-logs")
        assert d.status == "waived"
        assert d.allowed
        assert "waived by 'legacy-analytics' until 2099-03-31" in d.reason
        assert not self.policy.check("aws", "us-east-1", resource="arn:aws:s3:::other").allowed

    def test_expired_waiver_does_not_apply_and_is_named(self) -> None:
        d = self.policy.check("aws", "eu-west-2")
        assert d.status == "denied"
        assert "waiver 'old-backup' expired on 2020-01-31" in d.reason
        assert [w.id for w in self.policy.expired_waivers()] == ["old-backup"]

    def test_waiver_expiry_is_inclusive(self) -> None:
        day = dt.date(2099, 3, 31)
        assert self.policy.check("aws", "us-east-1", resource="arn:aws:s3:::legacy-x", today=day).allowed
        later = day + dt.timedelta(days=1)
        assert not self.policy.check("aws", "us-east-1", resource="arn:aws:s3:::legacy-x", today=later).allowed


_REGION_WAIVERS = parse_policy(
    {
        "version": 1,
        "allow": "EU",
        "waivers": [
            {"id": "iad", "justification": "j", "expires": "2099-01-01", "provider": "aws", "location": "us-east-1"},
            {"id": "lhr", "justification": "j", "expires": "2099-01-01", "provider": "gcp", "location": "europe-west2"},
            {"id": "va", "justification": "j", "expires": "2099-01-01", "provider": "azure", "location": "East US"},
        ],
    }
)


@pytest.mark.parametrize(
    ("provider", "location", "status"),
    [
        ("aws", "us-east-1", "waived"),
        ("aws", "", "waived"),  # S3's empty LocationConstraint is us-east-1
        ("aws", "use1-az1", "waived"),  # a zone id of the waived region
        ("aws", "use1-lim1-az1", "denied"),  # Lima Local Zone: Peru, not the waived US region
        ("gcp", "europe-west2", "waived"),
        ("gcp", "EUR5", "denied"),  # Belgium + London: the waiver covers London only
        ("azure", "eastus", "waived"),  # the waiver names the display name
    ],
)
def test_a_region_waiver_covers_its_aliases_but_no_other_country(provider: str, location: str, status: str) -> None:
    assert _REGION_WAIVERS.check(provider, location).status == status


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        ("allow: EUR\n", "allow", "unknown geography 'EUR' (did you mean 'EU'?)"),
        ("alow: EU\n", "alow", "unknown key (did you mean 'allow'?)"),
        ("name: x\n", "allow", "missing"),
        (
            "allow: EU\nlocations:\n  allow: ['azure:westeurop']\n",
            "locations.allow[0]",
            "did you mean 'azure:westeurope'?",
        ),
        (
            "allow: EU\nlocations:\n  deny: ['aws:eu-wst-1']\n",
            "locations.deny[0]",
            "unknown location 'eu-wst-1' for aws",
        ),
        (
            "allow: EU\nlocations:\n  deny: ['ibm:eu-de']\n",
            "locations.deny[0]",
            "expected 'provider:location'",
        ),
        (
            "allow: EU\nwaivers:\n  - {id: a, justification: b, expires: 2027-13-01, provider: aws}\n",
            "waivers[0].expires",
            "bad date",
        ),
        (
            "allow: EU\nwaivers:\n  - {id: a, justification: b, provider: aws}\n",
            "waivers[0].expires",
            "missing",
        ),
        (
            "allow: EU\nwaivers:\n  - {id: a, justification: b, expires: 2027-01-01}\n",
            "waivers[0]",
            "needs a selector",
        ),
        ("allow: EU\nunknown_locations: maybe\n", "unknown_locations", "expected one of deny, allow"),
        ("allow: EU\nversion: 2\n", "version", "unsupported version"),
        (
            "allow: EU\ndata_classes:\n  classes:\n    pub: {allow: ANYWERE}\n",
            "data_classes.classes.pub.allow",
            "unknown geography",
        ),
    ],
)
def test_errors_name_file_key_and_fix(text: str, key: str, problem: str) -> None:
    with pytest.raises(PolicyError) as info:
        parse_policy(text, source="team.yaml")
    assert info.value.source == "team.yaml"
    assert info.value.key == key
    assert problem in info.value.problem
    assert str(info.value).startswith(f"team.yaml: key '{key}': ")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("allow: [EU\n", "malformed YAML at line"),
        ("- EU\n", "expected a mapping of keys at the top level"),
        ("", "the policy is empty"),
    ],
)
def test_malformed_files(text: str, problem: str) -> None:
    with pytest.raises(PolicyError, match=r"^team\.yaml: ") as info:
        parse_policy(text, source="team.yaml")
    assert problem in str(info.value)


def test_missing_file(tmp_path: pathlib.Path) -> None:
    with pytest.raises(PolicyError, match="no such policy file"):
        load_policy(tmp_path / "nope.yaml")


def test_unknown_builtin_suggests() -> None:
    with pytest.raises(PolicyError, match="did you mean 'eea-ch'"):
        load_policy("eea_ch")


def test_json_policy_files_work(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"allow": ["EEA", "CH"], "name": "j"}))
    assert load_policy(path).check("aws", "eu-central-2").allowed


def test_policy_error_pickles() -> None:
    import pickle

    err = PolicyError("a.yaml", "allow", "bad")
    again = pickle.loads(pickle.dumps(err))
    assert (again.source, again.key, again.problem, str(again)) == (
        err.source,
        err.key,
        err.problem,
        str(err),
    )


_NAMED = parse_policy(
    {
        "version": 1,
        "allow": "EU",
        "locations": {"deny": ["aws:eu-central-1", "gcp:europe-west1"], "allow": ["aws:us-east-1"]},
    }
)


@pytest.mark.parametrize(
    ("provider", "location", "status", "rule"),
    [
        ("aws", "euc1-az1", "denied", "locations.deny 'aws:eu-central-1'"),  # a zone id of the denied region
        ("aws", "euc1-waw1-az1", "denied", "locations.deny 'aws:eu-central-1'"),  # Warsaw Local Zone under it
        ("gcp", "europe-west1+europe-west4", "denied", "locations.deny 'gcp:europe-west1'"),  # a member is denied
        ("aws", "", "allowed", "locations.allow 'aws:us-east-1'"),  # S3's empty LocationConstraint is us-east-1
        ("aws", "use1-az2", "allowed", "locations.allow 'aws:us-east-1'"),
        ("aws", "use1-lim1-az1", "denied", "geography"),  # Lima is not the allowed US region
    ],
)
def test_named_overrides_reach_the_names_under_a_region(provider: str, location: str, status: str, rule: str) -> None:
    d = _NAMED.check(provider, location)
    assert (d.status, d.rule) == (status, rule)


# --------------------------------------------------------------------------- custom geographies and size limits


def test_a_geography_may_name_one_defined_after_it() -> None:
    p = parse_policy({"allow": "EUROPE", "geographies": {"EUROPE": ["dach", "FR"], "DACH": "DE+AT+CH"}})
    assert p.geography.countries == {"DE", "AT", "CH", "FR"}
    assert p.geographies["EUROPE"].name == "EUROPE"
    assert list(p.geographies) == ["EUROPE", "DACH"]


@pytest.mark.parametrize(
    ("geographies", "key", "shown"),
    [
        ({"A": ["DE", "a"]}, "geographies.A", "(A → A)"),
        ({"A": ["B"], "B": ["FR", "C"], "C": "A+DE"}, "geographies.A", "(A → B → C → A)"),
        ({"X": "DE", "A": ["B"], "B": ["A"]}, "geographies.A", "(A → B → A)"),
    ],
)
def test_a_geography_that_includes_itself_is_named_with_its_cycle(
    geographies: dict[str, object], key: str, shown: str
) -> None:
    with pytest.raises(PolicyError) as info:
        parse_policy({"allow": "EU", "geographies": geographies}, source="team.yaml")
    assert info.value.key == key
    assert shown in info.value.problem
    assert "includes itself" in info.value.problem


def test_the_first_error_in_file_order_is_reported_though_resolution_is_topological() -> None:
    text = "allow: EU\ngeographies:\n  A: [B, NOPE]\n  B: [ALSO-NOPE]\n"
    with pytest.raises(PolicyError) as info:
        parse_policy(text, source="team.yaml")
    assert info.value.key == "geographies.A[1]"


def _chain(n: int, *, reverse: bool = False) -> str:
    """``n`` geographies, each naming the one before it; ``reverse`` writes them last first."""
    countries = ("DE", "AT", "FR", "IT", "ES", "NL", "BE")
    order = range(n - 1, -1, -1) if reverse else range(n)
    lines = [f"  G{i}: [{countries[i % 7]}{f', G{i - 1}' if i else ''}]" for i in order]
    return f"version: 1\nallow: G{n - 1}\ngeographies:\n" + "\n".join(lines) + "\n"


def test_a_long_chain_in_reverse_order_resolves_without_recursion() -> None:
    p = parse_policy(_chain(3_000, reverse=True))
    assert p.geography.countries == {"DE", "AT", "FR", "IT", "ES", "NL", "BE"}
    assert p.geographies["G0"].countries == {"DE"}


def test_the_geography_limit() -> None:
    at_limit = {f"G{i}": "DE" for i in range(policy_module.MAX_GEOGRAPHIES)}
    assert len(parse_policy({"allow": "G0", "geographies": at_limit}).geographies) == 20_000
    too_many = {**at_limit, "ONE-MORE": "FR"}
    with pytest.raises(PolicyError) as info:
        parse_policy({"allow": "EU", "geographies": too_many}, source="big.yaml")
    assert info.value.key == "geographies"
    assert info.value.problem.startswith("20,001 geographies, more than the limit of 20,000;")


def test_the_size_limit_refuses_a_large_file_without_reading_it(tmp_path: pathlib.Path) -> None:
    big = tmp_path / "big.yaml"
    with big.open("w") as f:
        f.write("allow: EU\ndescription: ")
        f.write("x" * (5 * 1024 * 1024))
        f.write("\n")
    with pytest.raises(PolicyError) as info:
        load_policy(big)
    assert str(info.value).startswith(f"{big}: larger than the limit of 1,048,576 bytes (1 MiB); split it")
    with pytest.raises(PolicyError, match="larger than the limit"):
        parse_policy(big.read_text(), source="big.yaml")
    just_under = "allow: EU\ndescription: " + "x" * (policy_module.MAX_POLICY_BYTES - 30) + "\n"
    assert len(just_under.encode()) <= policy_module.MAX_POLICY_BYTES
    assert parse_policy(just_under).description.startswith("xxx")


def _laughs(levels: int) -> str:
    """The 'billion laughs' document: each level lists the one before ten times, through aliases."""
    lines = ["allow: EU", "description: x", "geographies:", "  L0: &l0 [DE, DE, DE, DE, DE, DE, DE, DE, DE, DE]"]
    lines += [f"  L{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    "text",
    [
        _laughs(9),  # 10**9 values from 1 kB
        "allow: EU\ngeographies:\n  G0: &x ["
        + ", ".join(["DE"] * 1000)
        + "]\n"
        + "".join(f"  G{i}: *x\n" for i in range(1, 2000)),  # 2 million terms from 20 kB
        "allow: EU\ngeographies:\n  A: &a [DE, *a]\n",  # a list that contains itself
    ],
    ids=["billion-laughs", "one-alias-used-2000-times", "self-containing"],
)
def test_yaml_aliases_cannot_expand_past_the_value_limit(text: str) -> None:
    with pytest.raises(PolicyError) as info:
        parse_policy(text, source="bomb.yaml")
    assert info.value.key is None
    assert info.value.problem.startswith("more than 1,000,000 values once YAML aliases are expanded")


def test_a_few_aliases_are_fine() -> None:
    p = parse_policy("allow: EU\ngeographies:\n  A: &a [DE, AT]\n  B: *a\n  C: [B, FR]\n")
    assert p.geographies["C"].countries == {"DE", "AT", "FR"}
    assert not policy_module._more_values_than(yaml.safe_load(_laughs(5)), policy_module.MAX_POLICY_VALUES)
