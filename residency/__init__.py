"""eu-residency: keep data inside the EU, the EEA or Switzerland on AWS, Azure and GCP.

One policy and one location catalog, used three ways:

* :func:`guard` — stop out-of-geography writes inside the application;
* ``residency scan aws|azure|gcp`` — find what already lives outside;
* ``residency guardrails aws|azure|gcp`` — do the cloud's own policies keep new data in?
  (:func:`check_guardrails`; :func:`emit_guardrails` writes the policies that do);
* ``residency plan`` / :func:`check_plan` — find it in a Terraform/OpenTofu plan, before apply;
* the pytest plugin — make such writes fail the tests.

>>> import residency
>>> policy = residency.load_policy("eu")
>>> policy.check("aws", "eu-central-1").allowed
True
>>> policy.check("gcp", "EUR5").outside      # Belgium + London
('GB',)
"""

from __future__ import annotations

from ._catalog import PROVIDERS, Catalog, Location, LocationKind, catalog, lookup_location
from ._errors import (
    HistoryError,
    PlanError,
    PolicyError,
    ProviderError,
    ProviderNotInstalledError,
    ReportError,
    ResidencyError,
    ResidencyViolation,
    UnknownGeographyError,
)
from ._findings import Finding
from ._geography import ANYWHERE, BUILTIN_GEOGRAPHIES, EEA, EEA_CH, EU, Geography, parse_geography
from ._guard import Guard, Mode, active_guards, guard
from ._guardrails import check_guardrails, emit_guardrails
from ._plan import check_plan
from ._policy import (
    DataClassRule,
    Decision,
    Policy,
    Status,
    Waiver,
    builtin_policy_names,
    load_policy,
    parse_policy,
    policy_schema,
)
from ._registry import ProviderAdapter, available_providers, load_provider
from ._scan import ScanResult, run_scan

__version__ = "0.1.0"

__all__ = [
    "ANYWHERE",
    "BUILTIN_GEOGRAPHIES",
    "EEA",
    "EEA_CH",
    "EU",
    "PROVIDERS",
    "Catalog",
    "DataClassRule",
    "Decision",
    "Finding",
    "Geography",
    "Guard",
    "HistoryError",
    "Location",
    "LocationKind",
    "Mode",
    "PlanError",
    "Policy",
    "PolicyError",
    "ProviderAdapter",
    "ProviderError",
    "ProviderNotInstalledError",
    "ReportError",
    "ResidencyError",
    "ResidencyViolation",
    "ScanResult",
    "Status",
    "UnknownGeographyError",
    "Waiver",
    "__version__",
    "active_guards",
    "available_providers",
    "builtin_policy_names",
    "catalog",
    "check_guardrails",
    "check_plan",
    "emit_guardrails",
    "guard",
    "load_policy",
    "load_provider",
    "lookup_location",
    "parse_geography",
    "parse_policy",
    "policy_schema",
    "run_scan",
]
