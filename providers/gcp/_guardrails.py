"""``residency guardrails gcp``: the effective ``gcp.resourceLocations`` organization policy per project.

Called through :func:`residency._guardrails.stream_guardrails` with a
:class:`residency._scan.ScanContext`: ``context.accounts`` are project ids
(default: every ``ACTIVE`` project Cloud Resource Manager ``projects:search``
returns), ``context.session`` an ``AuthorizedSession`` (default: application
default credentials), ``context.endpoint_url`` one base URL for both APIs (a
loopback fake). REST over the same google-auth session as the scan: the
client libraries for these APIs (google-cloud-org-policy,
google-cloud-resource-manager) are gRPC-only.

For each project, the ancestry is read with Cloud Resource Manager v3
(``projects.get`` → ``parent``, or the ``projects:search`` answer when the
projects were listed; ``folders.get`` → ``parent`` … up to the organization) and each node's policy with Org Policy v2
(``GET v2/{node}/policies/gcp.resourceLocations``; 404: no policy there).
Folders and their policies are fetched once across all projects. The nodes are
then merged root first, per the documented list-constraint semantics
(https://cloud.google.com/resource-manager/docs/organization-policy/understanding-hierarchy,
https://cloud.google.com/resource-manager/docs/reference/orgpolicy/rest/v2/organizations.policies):

* no policy at a node: the parent's effective policy passes through; a policy
  with only a ``dryRunSpec`` enforces nothing (noted);
* ``spec.reset: true``: back to the constraint's default, allow all;
* ``inheritFromParent: true``: allowed values are the union of the parent's
  and the node's (an unrestricted parent contributes nothing), denied values
  the union too; ``false`` (the default): the node's rules replace the parent's;
* ``allowAll``: unrestricted; ``denyAll``: nothing allowed; a conditional
  rule (``condition``, on tags) may apply to some resources only, so its
  allowed values widen the set and its denied values are not counted (noted);
* denied values win over allowed ones.

Values are expanded to locations: ``in:<group>`` through
:data:`~._value_groups.VALUE_GROUPS` (``in:eu-locations`` has no London or
Zurich, ``in:europe-locations`` has both) or ``in:<region>-locations`` (the
region); a zone (``europe-west1-b``) is its region; a region or multi-region
named without ``in:`` is that location only — and denying a region without
``in:`` leaves its zones open (Google's own example: denying ``us-east1``
still allows ``us-east1-a``), so the region stays writable (noted). An
unknown value group is unknown, never compliant. ``writable`` is then the
allowed set minus the denied one, or anywhere when nothing is allowed-listed
and nothing denied. The constraint does not cover every service nor
``global`` resources: the details say so.

A node that cannot be read (403 on a folder or a policy) makes the project
``unknown`` with the reason.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import attrs

from residency._catalog import catalog
from residency._findings import Finding
from residency._guardrails import Reach, judge
from residency._policy import Policy
from residency._scan import ScanContext

from ._scan import _get, _HttpError, _is_loopback, _pages
from ._value_groups import RETRIEVED, SOURCE, VALUE_GROUPS

__all__ = ["CONSTRAINT", "Effective", "emit", "expand", "guardrails", "merge"]

CONSTRAINT = "gcp.resourceLocations"
_CRM = "https://cloudresourcemanager.googleapis.com"
_ORGPOLICY = "https://orgpolicy.googleapis.com"
_ZONE = re.compile(r"^([a-z]+-[a-z]+\d+)-[a-z]$")
_NOT_COVERED = (
    "gcp.resourceLocations applies to the services and resource types Google lists as supported, to new "
    "resources only, and not to 'global' resources"
)
_KINDS = ("region", "multi-region", "dual-region")


def _all_locations() -> tuple[str, ...]:
    return tuple(loc.code for loc in catalog().locations("gcp") if loc.kind in _KINDS)


def expand(value: str) -> tuple[tuple[str, ...], str | None]:
    """The concrete locations of one policy value, and an error for a value group this package does not know.

    >>> expand("in:eu-locations")[0][:2], "europe-west2" in expand("in:eu-locations")[0]
    (('europe-central2', 'europe-north1'), False)
    >>> expand("in:europe-west2-locations"), expand("europe-west1-b"), expand("eu")
    ((('europe-west2',), None), (('europe-west1',), None), (('EU',), None))
    >>> expand("in:mars-locations")
    ((), 'unknown value group in:mars-locations')
    """
    v = value.strip()
    if v.lower().startswith("in:"):
        group = v[3:].lower()
        if group in VALUE_GROUPS:
            return VALUE_GROUPS[group], None
        region = group.removesuffix("-locations")
        loc = catalog().get("gcp", region)
        if group.endswith("-locations") and loc is not None:
            return (loc.code,), None
        return (), f"unknown value group {v}"
    m = _ZONE.match(v.lower())
    if m:
        return (m.group(1),), None
    loc = catalog().get("gcp", v)
    return ((loc.code if loc is not None else v),), None


@attrs.frozen
class Effective:
    """The effective policy at one node: ``allowed`` values (``None`` = no allow-list) and ``denied`` values."""

    allowed: frozenset[str] | None = None
    denied: frozenset[str] = frozenset()
    explicit_all: bool = False


def merge(parent: Effective, policy: Mapping[str, Any] | None, notes: list[str], where: str) -> Effective:
    """The effective policy below a node with ``policy`` (the v2 ``Policy`` JSON, or ``None``).

    >>> eu = {"spec": {"rules": [{"values": {"allowedValues": ["in:eu-locations"]}}]}}
    >>> merge(Effective(), eu, [], "org").allowed
    frozenset({'in:eu-locations'})
    >>> merge(merge(Effective(), eu, [], "org"), {"spec": {"reset": True}}, [], "folder").allowed is None
    True
    """
    if not policy:
        return parent
    spec = policy.get("spec")
    if not spec:
        if policy.get("dryRunSpec"):
            notes.append(f"{where}: only a dry-run policy (not enforced)")
        return parent
    if spec.get("reset"):
        return Effective()
    allowed: set[str] = set()
    denied: set[str] = set()
    allow_all = deny_all = False
    for rule in spec.get("rules") or []:
        conditional = bool(rule.get("condition"))
        values = rule.get("values") or {}
        if rule.get("allowAll"):
            allow_all = True
            if conditional:
                notes.append(f"{where}: a conditional allowAll may apply to some resources: counted as unrestricted")
        if rule.get("denyAll") and not conditional:
            deny_all = True
        allowed.update(str(x) for x in values.get("allowedValues") or [])
        if conditional:
            if values.get("deniedValues") or rule.get("denyAll"):
                notes.append(f"{where}: a conditional rule's denials may not apply to every resource: not counted")
            continue
        denied.update(str(x) for x in values.get("deniedValues") or [])
    inherit = bool(spec.get("inheritFromParent"))
    new_allowed: frozenset[str] | None
    if allow_all:
        return Effective(None, frozenset(denied | (set(parent.denied) if inherit else set())), explicit_all=True)
    if deny_all:
        new_allowed = frozenset()
    elif inherit:
        if parent.allowed is None:
            new_allowed = frozenset(allowed) if allowed and not parent.explicit_all else None
            if parent.explicit_all and allowed:
                notes.append(f"{where}: merges with a parent that allows all: still unrestricted")
        else:
            new_allowed = frozenset(parent.allowed | allowed)
    else:
        new_allowed = frozenset(allowed) if allowed else None
    new_denied = frozenset(denied | (set(parent.denied) if inherit else set()))
    return Effective(new_allowed, new_denied, explicit_all=parent.explicit_all and inherit and new_allowed is None)


def writable_of(effective: Effective, notes: list[str]) -> tuple[tuple[str, ...] | None, list[str]]:
    """Where the effective policy still lets a resource be created, and the errors (unknown value groups)."""
    errors: list[str] = []
    removed: set[str] = set()
    for v in sorted(effective.denied):
        codes, err = expand(v)
        if err:
            notes.append(f"denied {err}: nothing removed for it")
            continue
        if not v.lower().startswith("in:"):
            loc = catalog().get("gcp", v)
            if _ZONE.match(v.lower()):
                notes.append(f"denied zone {v}: the region's other zones stay open, so {codes[0]} stays writable")
                continue
            if loc is not None and loc.kind == "region":
                notes.append(
                    f"denied {v} without 'in:': its zones stay open, so {v} stays writable for zonal resources"
                )
                continue
        removed.update(codes)
    if effective.allowed is None:
        if not effective.denied:
            return None, errors
        codes_all = [c for c in _all_locations() if c not in removed]
        notes.append("a deny list only: every location not denied (and any Google adds later) stays writable")
        return tuple(codes_all), errors
    out: list[str] = []
    for v in sorted(effective.allowed):
        codes, err = expand(v)
        if err:
            errors.append(f"allowed {err}")
        out.extend(c for c in codes if c not in removed)
    return tuple(dict.fromkeys(out)), errors


# --------------------------------------------------------------------------- reading


class _Once:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._futures: dict[str, Future[Any]] = {}

    def prime(self, key: str, value: Any) -> None:
        fut: Future[Any] = Future()
        fut.set_result(value)
        with self._lock:
            self._futures.setdefault(key, fut)

    def get(self, key: str, fetch: Any) -> Any:
        with self._lock:
            fut = self._futures.get(key)
            mine = fut is None
            if fut is None:
                fut = self._futures[key] = Future()
        if mine:
            try:
                fut.set_result(fetch())
            except BaseException as exc:
                fut.set_exception(exc)
        return fut.result()


class _Reader:
    def __init__(self, session: Any, crm: str, orgpolicy: str) -> None:
        self.session = session
        self.crm = crm
        self.orgpolicy = orgpolicy
        self.cache = _Once()

    def node(self, name: str) -> dict[str, Any]:
        """``projects/x``, ``folders/1``: the CRM v3 resource (for ``parent``)."""
        return self.cache.get(f"node:{name}", lambda: _get(self.session, f"{self.crm}/v3/{name}"))  # type: ignore[no-any-return]

    def policy(self, node: str) -> dict[str, Any] | None:
        def fetch() -> dict[str, Any] | None:
            try:
                return _get(self.session, f"{self.orgpolicy}/v2/{node}/policies/{CONSTRAINT}")
            except _HttpError as exc:
                if exc.status == 404:
                    return None
                raise

        return self.cache.get(f"policy:{node}", fetch)  # type: ignore[no-any-return]

    def ancestry(self, project: str) -> list[str]:
        """Node names from the organization (or top folder) down to the project."""
        got = self.node(f"projects/{project}")
        chain = [str(got.get("name") or f"projects/{project}")]
        parent = str(got.get("parent") or "")
        seen = set(chain)
        while parent and parent not in seen:
            seen.add(parent)
            chain.append(parent)
            if parent.startswith("organizations/"):
                break
            parent = str(self.node(parent).get("parent") or "")
        return chain[::-1]


def _short(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _describe(policy: Mapping[str, Any] | None) -> str:
    if not policy:
        return "no policy"
    spec = policy.get("spec") or {}
    if not spec:
        return "dry run only"
    if spec.get("reset"):
        return "reset to the default (allow all)"
    parts = []
    for rule in spec.get("rules") or []:
        values = rule.get("values") or {}
        cond = " (conditional)" if rule.get("condition") else ""
        if rule.get("allowAll"):
            parts.append("allow all" + cond)
        if rule.get("denyAll"):
            parts.append("deny all" + cond)
        if values.get("allowedValues"):
            parts.append("allow " + ", ".join(values["allowedValues"]) + cond)
        if values.get("deniedValues"):
            parts.append("deny " + ", ".join(values["deniedValues"]) + cond)
    text = "; ".join(parts) or "no rules"
    return text + (" (merged with parent)" if spec.get("inheritFromParent") else "")


def _evaluate(reader: _Reader, project: str) -> Reach:
    notes: list[str] = []
    try:
        nodes = reader.ancestry(project)
    except Exception as exc:
        return Reach(
            "gcp",
            project,
            (),
            error=f"the project's ancestry could not be read: {_short(exc)}",
            resource_type="project",
        )
    effective = Effective()
    chain: list[str] = []
    policies: list[dict[str, Any]] = []
    for node in nodes:
        try:
            pol = reader.policy(node)
        except Exception as exc:
            return Reach(
                "gcp",
                project,
                (),
                chain=chain,
                error=f"the {CONSTRAINT} policy of {node} could not be read: {_short(exc)}",
                resource_type="project",
                details={"nodes": nodes},
            )
        effective = merge(effective, pol, notes, node)
        if pol is not None:
            chain.append(f"{node}: {_describe(pol)}")
            policies.append({"node": node, "policy": _describe(pol)})
    writable, errors = writable_of(effective, notes)
    details = {
        "nodes": nodes,
        "policies": policies,
        "allowed_values": None if effective.allowed is None else sorted(effective.allowed),
        "denied_values": sorted(effective.denied),
        "notes": notes,
        "not_covered": _NOT_COVERED,
        "value_groups": f"{SOURCE} (retrieved {RETRIEVED})",
    }
    return Reach(
        "gcp",
        project,
        writable,
        name=str(reader.node(f"projects/{project}").get("displayName") or ""),
        chain=chain,
        error="; ".join(errors) or None,
        resource_type="project",
        details=details,
    )


def _endpoints(ctx: ScanContext) -> tuple[str, str]:
    if ctx.endpoint_url:
        base = ctx.endpoint_url.rstrip("/")
        return base, base
    return _CRM, _ORGPOLICY


def _session(ctx: ScanContext, crm: str) -> Any:
    if ctx.session is not None:
        return ctx.session
    import google.auth
    from google.auth.credentials import AnonymousCredentials
    from google.auth.transport.requests import AuthorizedSession

    from residency._errors import ProviderError

    if _is_loopback(crm):
        return AuthorizedSession(AnonymousCredentials())  # type: ignore[no-untyped-call]
    try:
        credentials, _ = google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform.read-only"])
    except google.auth.exceptions.DefaultCredentialsError as exc:
        raise ProviderError(
            f"no Google Cloud credentials: run 'gcloud auth application-default login' ({exc})"
        ) from exc
    return AuthorizedSession(credentials)  # type: ignore[no-untyped-call]


def guardrails(context: ScanContext) -> Iterator[Finding]:
    """Yield one ``guardrail`` finding per project (see the module docstring)."""
    crm, orgpolicy = _endpoints(context)
    reader = _Reader(_session(context, crm), crm, orgpolicy)
    projects = list(context.accounts or [])
    if not projects:
        from residency._errors import ProviderError

        try:
            listed = list(_pages(reader.session, f"{crm}/v3/projects:search", "projects", {}))
        except _HttpError as exc:
            raise ProviderError(f"gcp: cannot list projects: {exc}") from exc
        projects = [str(p["projectId"]) for p in listed if p.get("state", "ACTIVE") == "ACTIVE" and p.get("projectId")]
        for p in listed:  # the search already gives each project's parent: no projects.get needed
            if p.get("projectId") and p.get("parent"):
                reader.cache.prime(f"node:projects/{p['projectId']}", p)
    with ThreadPoolExecutor(max_workers=max(1, int(context.concurrency)), thread_name_prefix="residency-gcpgr") as pool:
        futures = [pool.submit(_evaluate, reader, p) for p in projects]
        for project, fut in zip(projects, futures, strict=True):
            context.accounts_scanned.append(project)
            yield judge(context.policy, fut.result(), today=context.today)


def emit(policy: Policy) -> dict[str, Any]:
    """An Org Policy v2 ``Policy`` for ``gcp.resourceLocations`` that allows only the policy's locations.

    A value group is used when every location in it is allowed and it has
    allowed locations (``in:eu-locations`` for ``eu``); the allowed locations
    no chosen group covers are added one by one (``in:<region>-locations``, so
    zones follow their region; multi- and dual-regions by name). BigQuery
    Omni locations (``aws-eu-central-1`` …) are left out: not allowing them is
    the stricter choice.

    >>> from residency import load_policy
    >>> emit(load_policy("eu"))["orgPolicy"]["spec"]["rules"][0]["values"]["allowedValues"]
    ['in:eu-locations']
    """
    allowed = [
        loc.code
        for loc in catalog().locations("gcp")
        if loc.kind in _KINDS
        and not loc.code.startswith(("aws-", "azure-"))
        and policy.check("gcp", loc).status == "allowed"
    ]
    keep = set(allowed)
    values: list[str] = []
    covered: set[str] = set()
    for group, members in VALUE_GROUPS.items():
        if members and set(members) <= keep and not set(members) <= covered:
            values.append(f"in:{group}")
            covered.update(members)
    for code in allowed:
        if code in covered:
            continue
        kind = catalog().lookup("gcp", code).kind
        values.append(f"in:{code}-locations" if kind == "region" else code)
    return {
        "provider": "gcp",
        "policy": policy.name,
        "howTo": (
            "save orgPolicy as a file and run 'gcloud org-policies set-policy FILE' "
            "(replace ORGANIZATION_ID, or use folders/ID or projects/ID)"
        ),
        "notCovered": _NOT_COVERED,
        "valueGroups": f"{SOURCE} (retrieved {RETRIEVED})",
        "orgPolicy": {
            "name": f"organizations/ORGANIZATION_ID/policies/{CONSTRAINT}",
            "spec": {"rules": [{"values": {"allowedValues": values}}], "inheritFromParent": False},
        },
    }
