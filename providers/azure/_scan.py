"""``residency scan azure``: every resource group and resource, and where its data lands.

Called by the scan engine with a :class:`residency._scan.ScanContext`:

* ``context.accounts`` — subscription ids (default: every subscription the
  credential can see, in any state but ``Deleted``; a ``Disabled`` one still
  holds data and is scanned; both are named in the notes);
* ``context.session`` — an azure-identity credential (default:
  ``DefaultAzureCredential()``);
* ``context.endpoint_url`` — the management endpoint (default
  ``https://management.azure.com``; a sovereign cloud, or the loopback fake);
* ``context.concurrency`` — subscriptions and per-resource look-ups in flight;
* ``context.options``: ``source="resources"`` (default: ``resource_groups.list``
  and ``resources.list`` per subscription, azure-mgmt-resource) or
  ``source="resource-graph"`` (one Azure Resource Graph query across up to
  1,000 subscriptions at a time, 1,000 rows a page, ``$skipToken`` paging,
  properties included; a truncated answer without a token is an error, and a
  subscription with no row at all is read directly, because Resource Graph
  leaves out the subscriptions it may not read instead of failing);
  ``client_kwargs`` (extra keyword arguments for every management client,
  e.g. ``connection_verify``); ``data_boundary=False`` skips the tenant read;
  ``object_replication=False`` skips the per-account object-replication
  look-up (the largest share of requests in storage-heavy subscriptions).

Where data lands beyond a resource's own ``location``:

* storage accounts with a geo-redundant SKU (GRS, RA-GRS, GZRS, RA-GZRS and
  the ``StandardV2_*`` ones): the reported ``secondaryLocation``, else the
  region pair from the catalog (an unknown pair is an unknown location, so it
  fails closed); when the storage listing is denied, the generic listing's
  SKU and the catalog pair are used, with a note; no SKU at all is unknown;
* storage object-replication policies whose source is the account: the
  destination account's primary and geo-redundant secondary (a resource id,
  resolved through the scan or a management ``GET``);
* Cosmos DB accounts: every region in ``locations``;
* SQL servers' failover-group partners (their reported location, else the
  partner server read by id) and SQL databases' geo-replicas
  (``replicationLinks`` → ``partnerLocation``);
* container registries' geo-replications.

``global`` and logical locations (``europe``) are looked up like any other
and go through the policy's rules for them (unknown, hence a violation, by
default). A subscription or look-up that fails becomes an ``unknown`` finding
with the error; nothing is skipped silently.

The tenant's EU Data Boundary setting (``Microsoft.Resources/dataBoundaries``)
is read once and recorded as tenant-level evidence: a line in
``context.notes`` and a record in ``context.evidence``, which every report carries.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

import attrs

from residency._breaker import DEFAULT_THRESHOLD, CircuitBreaker
from residency._findings import Finding, evaluate, unreadable
from residency._policy import Policy

from . import _accounts
from ._accounts import geo_secondary

__all__ = [
    "API_VERSIONS",
    "GRAPH_QUERY",
    "Resource",
    "list_subscription_ids",
    "read_data_boundary",
    "scan",
]

_PROVIDER = "azure"
#: subscription states that hold no resources any more (a disabled subscription still keeps its data)
_GONE = frozenset({"deleted"})

#: api-version of each per-resource look-up (generic ARM GETs, no extra SDK needed)
API_VERSIONS = {
    "microsoft.storage": "2023-05-01",
    "microsoft.documentdb": "2024-05-15",
    "microsoft.sql": "2021-11-01",
    "microsoft.containerregistry": "2023-07-01",
}

GRAPH_QUERY = (
    "resources"
    " | project id, name, type, location, subscriptionId, resourceGroup, sku, kind, tags, properties"
    " | union (resourcecontainers"
    " | where type =~ 'microsoft.resources/subscriptions/resourcegroups'"
    " | project id, name, type, location, subscriptionId, resourceGroup, sku, kind, tags, properties)"
    " | order by id asc"
)

#: subscriptions per Resource Graph query (the API's limit)
_GRAPH_BATCH = 1000
_SUBSCRIPTION_API = "2022-12-01"

_SERVICE = {
    "microsoft.storage": "storage",
    "microsoft.documentdb": "cosmosdb",
    "microsoft.sql": "sql",
    "microsoft.containerregistry": "containerregistry",
    "microsoft.resources": "resources",
    "microsoft.compute": "compute",
    "microsoft.keyvault": "keyvault",
    "microsoft.network": "network",
    "microsoft.web": "web",
}


@attrs.frozen
class Resource:
    """One resource (or resource group) as listed, before its replicas are read."""

    id: str
    name: str
    type: str
    location: str | None
    subscription: str
    tags: Mapping[str, str] = attrs.field(factory=dict)
    sku: str | None = None
    properties: Mapping[str, Any] | None = None

    @property
    def type_key(self) -> str:
        return self.type.lower()

    @property
    def service(self) -> str:
        ns = self.type.split("/", 1)[0].lower()
        return _SERVICE.get(ns, ns.removeprefix("microsoft."))


def _tags(raw: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in (raw or {}).items()} if isinstance(raw, Mapping) else {}


def _sku_name(raw: Any) -> str | None:
    if raw is None:
        return None
    name = raw.get("name") if isinstance(raw, Mapping) else getattr(raw, "name", None)
    return _enum(name) or None


def _clients(credential: Any, client_kwargs: Mapping[str, Any]) -> Callable[[str], Any]:
    """A per-subscription ``ResourceManagementClient`` factory (one client per subscription)."""
    from azure.mgmt.resource.resources import ResourceManagementClient

    lock = threading.Lock()
    made: dict[str, Any] = {}

    def get(sub: str) -> Any:
        with lock:
            if sub not in made:
                made[sub] = ResourceManagementClient(credential, sub, **client_kwargs)
            return made[sub]

    return get


def list_subscription_ids(credential: Any, **client_kwargs: Any) -> list[str]:
    """Every subscription id the credential can see (all states but ``Deleted``)."""
    return [str(s["subscriptionId"]) for s in _list_subscriptions(credential, client_kwargs) if not s["gone"]]


def _list_subscriptions(credential: Any, client_kwargs: Mapping[str, Any]) -> list[dict[str, Any]]:
    from azure.mgmt.resource.subscriptions import SubscriptionClient

    client = SubscriptionClient(credential, **client_kwargs)
    out = []
    for s in client.subscriptions.list():
        state = _enum(getattr(s, "state", None))
        out.append(
            {
                "subscriptionId": s.subscription_id,
                "tenantId": getattr(s, "tenant_id", None),
                "state": state,
                "gone": state.lower() in _GONE,
            }
        )
    return out


def read_data_boundary(credential: Any, **client_kwargs: Any) -> dict[str, Any]:
    """The tenant's data boundary (``EU``, ``Global``, ``NotDefined``) as an evidence record."""
    from azure.mgmt.resource.databoundaries import DataBoundaryMgmtClient

    client = DataBoundaryMgmtClient(credential, **client_kwargs)
    got = client.data_boundaries.get_tenant("default")
    props = getattr(got, "properties", None)
    value = _enum(getattr(props, "data_boundary", None)) or "NotDefined"
    return {
        "provider": _PROVIDER,
        "scope": "tenant",
        "setting": "Microsoft.Resources/dataBoundaries/default",
        "data_boundary": value,
        "provisioning_state": _enum(getattr(props, "provisioning_state", None)),
        "in_eu_data_boundary": value.upper() == "EU",
    }


def _enum(value: Any) -> str:
    """An SDK enum member or string as its wire value (``DataBoundary.EU`` -> ``EU``)."""
    return str(getattr(value, "value", value) or "")


def _get_json(client: Any, path: str, api_version: str) -> Any:
    """A management ``GET`` through the client's own pipeline (credential, retries)."""
    from azure.core.exceptions import HttpResponseError
    from azure.core.rest import HttpRequest

    response = client.send_request(HttpRequest("GET", path, params={"api-version": api_version}))
    if response.status_code >= 400:
        raise HttpResponseError(response=response)
    return response.json()


def _get_list(client: Any, path: str, api_version: str) -> list[dict[str, Any]]:
    """A management collection ``GET``, following ``nextLink``."""
    from azure.core.exceptions import HttpResponseError
    from azure.core.rest import HttpRequest

    out: list[dict[str, Any]] = []
    request = HttpRequest("GET", path, params={"api-version": api_version})
    while True:
        response = client.send_request(request)
        if response.status_code >= 400:
            raise HttpResponseError(response=response)
        page = response.json()
        out.extend(page.get("value") or [])
        nxt = page.get("nextLink")
        if not nxt:
            return out
        request = HttpRequest("GET", nxt)


# --------------------------------------------------------------------------- listing


def _list_subscription(
    client: Any, sub: str, client_kwargs: Mapping[str, Any], credential: Any, notes: list[str]
) -> list[Resource]:
    from azure.mgmt.storage import StorageManagementClient

    out: list[Resource] = []
    for g in client.resource_groups.list():
        out.append(
            Resource(str(g.id), str(g.name), "Microsoft.Resources/resourceGroups", g.location, sub, _tags(g.tags))
        )
    storage: dict[str, Any] = {}
    has_storage = False
    listed = list(client.resources.list())
    for r in listed:
        if str(r.type).lower() == "microsoft.storage/storageaccounts":
            has_storage = True
    if has_storage:
        sclient = StorageManagementClient(credential, sub, **client_kwargs)
        try:
            for a in sclient.storage_accounts.list():
                storage[str(a.id).lower()] = a
        except Exception as exc:
            # The generic listing still has each account's SKU: its secondary is the catalog's pair.
            storage.clear()
            notes.append(
                f"azure: subscription {sub}: storage accounts could not be listed ({_short(exc)}); "
                "geo-redundant secondaries are the catalog's region pairs"
            )
    for r in listed:
        props: dict[str, Any] | None = None
        sku = _sku_name(r.sku)
        acct = storage.get(str(r.id).lower())
        if acct is not None:
            props = {"primaryLocation": acct.primary_location, "secondaryLocation": acct.secondary_location}
            sku = _sku_name(acct.sku) or sku
        out.append(Resource(str(r.id), str(r.name), str(r.type), r.location, sub, _tags(r.tags), sku, props))
    return out


def _graph_rows(credential: Any, subs: list[str], client_kwargs: Mapping[str, Any]) -> Iterator[Resource]:
    """One Resource Graph query over ``subs`` (at most ``_GRAPH_BATCH``), every page of it."""
    from azure.mgmt.resourcegraph import ResourceGraphClient
    from azure.mgmt.resourcegraph.models import QueryRequest, QueryRequestOptions

    client = ResourceGraphClient(credential, **client_kwargs)
    token: str | None = None
    while True:
        options = QueryRequestOptions(top=1000, skip_token=token, result_format="objectArray")
        page = client.resources(QueryRequest(subscriptions=subs, query=GRAPH_QUERY, options=options))
        rows: list[Any] = list(page.data or [])
        for row in rows:
            rtype = str(row.get("type", ""))
            if rtype.lower() == "microsoft.resources/subscriptions/resourcegroups":
                rtype = "Microsoft.Resources/resourceGroups"
            yield Resource(
                str(row["id"]),
                str(row.get("name", "")),
                rtype,
                row.get("location") or None,
                str(row.get("subscriptionId", "")),
                _tags(row.get("tags")),
                _sku_name(row.get("sku")),
                row.get("properties") if isinstance(row.get("properties"), Mapping) else None,
            )
        token = page.skip_token
        if not token:
            if _enum(page.result_truncated).lower() == "true":
                raise RuntimeError("Resource Graph truncated the result and gave no $skipToken")
            return


# --------------------------------------------------------------------------- placements


Placements = list[tuple[str | None, str]]


def _own_placements(res: Resource) -> Placements:
    """The places known from the listing alone: the resource's location (and a storage account's
    geo-redundant secondary, which follows from its SKU). What is known stays known when a look-up fails."""
    kind = res.type_key
    role = {
        "microsoft.resources/resourcegroups": "resource group metadata",
        "microsoft.storage/storageaccounts": "primary",
    }.get(kind, "location")
    out: Placements = [(res.location, role)] if res.location else []
    if kind == "microsoft.storage/storageaccounts":
        props = res.properties or {}
        primary = str(props.get("primaryLocation") or res.location or "")
        if res.sku is None and not props.get("secondaryLocation"):
            out.append((None, "secondary unknown (no SKU reported)"))
        secondary, geo = geo_secondary(primary, res.sku, props.get("secondaryLocation"))
        if geo:
            out.append((secondary, f"geo-redundant secondary ({res.sku})"))
    return out


def _placements(
    res: Resource, client: Any, accounts: Mapping[str, Resource], object_replication: bool = True
) -> Placements:
    """Every ``(location, role)`` of one resource, reading its replicas where needed."""
    kind = res.type_key
    out = _own_placements(res)
    if kind == "microsoft.storage/storageaccounts":
        version = API_VERSIONS["microsoft.storage"]
        policies = _get_list(client, f"{res.id}/objectReplicationPolicies", version) if object_replication else []
        for pol in policies:
            p = pol.get("properties") or {}
            source = str(p.get("sourceAccount") or "")
            dest = str(p.get("destinationAccount") or "")
            if not dest or source.rstrip("/").rsplit("/", 1)[-1].lower() != res.name.lower():
                continue
            for where, role in _account_locations(dest, client, accounts):
                out.append((where, f"object replication destination {dest}{role}"))
    elif kind == "microsoft.documentdb/databaseaccounts":
        cosmos: Mapping[str, Any] | None = res.properties
        if cosmos is None or "locations" not in cosmos:
            cosmos = _get_json(client, res.id, API_VERSIONS["microsoft.documentdb"]).get("properties") or {}
        names = [loc.get("locationName") for loc in cosmos.get("locations") or []]
        for key in ("readLocations", "writeLocations"):
            names += [loc.get("locationName") for loc in cosmos.get(key) or []]
        for name in dict.fromkeys(n for n in names if n):
            out.append((name, "Cosmos DB region"))
    elif kind == "microsoft.sql/servers":
        for fg in _get_list(client, f"{res.id}/failoverGroups", API_VERSIONS["microsoft.sql"]):
            for partner in (fg.get("properties") or {}).get("partnerServers") or []:
                pid = str(partner.get("id", ""))
                where = partner.get("location")
                if not where and pid.startswith("/subscriptions/"):
                    where = _get_json(client, pid, API_VERSIONS["microsoft.sql"]).get("location")
                out.append((where, f"failover group {fg.get('name')} partner {pid.rsplit('/', 1)[-1]}"))
    elif kind == "microsoft.sql/servers/databases":
        for link in _get_list(client, f"{res.id}/replicationLinks", API_VERSIONS["microsoft.sql"]):
            p = link.get("properties") or {}
            out.append((p.get("partnerLocation"), f"geo-replica on {p.get('partnerServer')}"))
    elif kind == "microsoft.containerregistry/registries":
        for rep in _get_list(client, f"{res.id}/replications", API_VERSIONS["microsoft.containerregistry"]):
            out.append((rep.get("location"), f"replication {rep.get('name')}"))
    return out


def _account_locations(dest: str, client: Any, accounts: Mapping[str, Resource]) -> Placements:
    """Where an object-replication destination (resource id or account name) keeps the copy.

    ``(location, role suffix)``: its primary and, when geo-redundant, its
    secondary. An account outside the scan is read with a ``GET``; a bare name
    that is not in the scan is unknown.
    """
    key = dest.rstrip("/").lower()
    hit = accounts.get(key) or accounts.get(key.rsplit("/", 1)[-1])
    if hit is not None:
        props: Mapping[str, Any] = hit.properties or {}
        primary, sku = str(props.get("primaryLocation") or hit.location or ""), hit.sku
    elif key.startswith("/subscriptions/"):
        got = _get_json(client, dest, API_VERSIONS["microsoft.storage"])
        props = got.get("properties") or {}
        primary, sku = str(props.get("primaryLocation") or got.get("location") or ""), _sku_name(got.get("sku"))
    else:
        return [(None, " (not found)")]
    out: Placements = [(primary or None, "")]
    secondary, geo = geo_secondary(primary, sku, props.get("secondaryLocation"))
    if geo:
        out.append((secondary, " (its geo-redundant secondary)"))
    return out


def _finding(policy: Policy, res: Resource, placements: Placements, today: Any, unread: Sequence[str] = ()) -> Finding:
    return evaluate(
        policy,
        provider=_PROVIDER,
        account=res.subscription,
        service=res.service,
        resource_type=res.type,
        resource_id=res.id,
        placements=placements,
        tags=res.tags,
        region=res.location or "",
        name=res.name,
        today=today,
        unread=unread,
    )


def _needs_lookup(res: Resource, object_replication: bool) -> bool:
    kind = res.type_key
    if kind == "microsoft.documentdb/databaseaccounts":
        return res.properties is None or "locations" not in res.properties
    if kind == "microsoft.storage/storageaccounts":
        return object_replication
    return kind in (
        "microsoft.sql/servers",
        "microsoft.sql/servers/databases",
        "microsoft.containerregistry/registries",
    )


# --------------------------------------------------------------------------- the scan


class _NotAsked(Exception):
    """A look-up not sent: the management endpoint was given up on."""


class _Watched:
    """A management client whose ``send_request`` look-ups report to a :class:`CircuitBreaker`.

    After ``threshold`` consecutive look-ups that could not reach the endpoint
    (azure-core's ``ServiceRequestError``/``ServiceResponseError``, after its own
    retries), nothing more is sent; what was not asked is folded into one finding
    per subscription and service.
    """

    def __init__(self, client: Any, breaker: CircuitBreaker, endpoint: str) -> None:
        self.client = client
        self.breaker = breaker
        self.endpoint = endpoint

    def send_request(self, request: Any, **kw: Any) -> Any:
        from azure.core.exceptions import ServiceRequestError, ServiceResponseError

        if self.breaker.check(self.endpoint):
            raise _NotAsked(self.breaker.not_asked(self.endpoint))
        try:
            response = self.client.send_request(request, **kw)
        except (ServiceRequestError, ServiceResponseError) as exc:
            self.breaker.failure(self.endpoint, type(exc).__name__, _short(exc)[:120])
            raise
        self.breaker.success(self.endpoint)
        return response


def scan(context: Any) -> Iterator[Finding]:
    """Yield one finding per resource group and resource (see the module docstring)."""
    breaker = CircuitBreaker(threshold=int(context.options.get("breaker_threshold", DEFAULT_THRESHOLD)))
    yield from breaker.fold(_scan_all(context, breaker))
    for why in breaker.opened:
        context.notes.append(f"azure: stopped asking early: {why}; what was read is reported, the rest is unknown")


def _scan_all(context: Any, breaker: CircuitBreaker) -> Iterator[Finding]:
    policy: Policy = context.policy
    options: dict[str, Any] = context.options
    client_kwargs = dict(options.get("client_kwargs") or {})
    if context.endpoint_url:
        client_kwargs["base_url"] = context.endpoint_url
    credential = context.session
    if credential is None:
        credential = _accounts.new_default_credential()
    source = str(options.get("source") or "resources")
    if source not in ("resources", "resource-graph"):
        from residency._errors import ProviderError

        raise ProviderError(f"azure: unknown --source {source!r}; use 'resources' or 'resource-graph'")
    subs = list(context.accounts or [])
    if not subs:
        try:
            seen = _list_subscriptions(credential, client_kwargs)
        except Exception as exc:
            from residency._errors import ProviderError

            raise ProviderError(f"azure: cannot list subscriptions: {type(exc).__name__}: {exc}") from exc
        subs = [str(s["subscriptionId"]) for s in seen if not s["gone"]]
        for s in seen:
            if s["gone"]:
                context.notes.append(f"azure: subscription {s['subscriptionId']} is {s['state']}: not scanned")
            elif s["state"].lower() not in ("enabled", ""):
                context.notes.append(f"azure: subscription {s['subscriptionId']} is {s['state']}")
        if not subs:
            context.notes.append("azure: the credential sees no subscription")
    if options.get("data_boundary", True):
        _record_data_boundary(context, credential, client_kwargs)
    client_for = _clients(credential, client_kwargs)
    workers = max(1, int(context.concurrency))
    today = context.today
    progress = context.progress

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="residency-azure") as pool:
        batches: Iterable[tuple[str, list[Resource] | BaseException]]
        if source == "resource-graph":
            batches = _graph_batches(credential, subs, client_kwargs, client_for)
        else:
            batches = _list_all(pool, subs, client_for, client_kwargs, credential, context.notes)
        done = 0
        for sub, got in batches:
            done += 1
            context.accounts_scanned.append(sub)
            if isinstance(got, BaseException):
                yield unreadable(
                    provider=_PROVIDER,
                    account=sub,
                    service="resources",
                    resource_type="Microsoft.Resources/subscriptions",
                    resource_id=f"/subscriptions/{sub}",
                    error=f"listing resources failed: {type(got).__name__}: {_short(got)}",
                    policy=policy.name,
                    scope_gap=True,
                )
                continue
            watched = _Watched(client_for(sub), breaker, context.endpoint_url or "https://management.azure.com")
            yield from _evaluate_subscription(
                pool, policy, got, watched, today, bool(options.get("object_replication", True))
            )
            if progress is not None:
                progress(done, len(subs), sub)


def _short(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _record_data_boundary(context: Any, credential: Any, client_kwargs: Mapping[str, Any]) -> None:
    try:
        record = read_data_boundary(credential, **client_kwargs)
    except Exception as exc:
        context.notes.append(f"azure: the tenant's EU Data Boundary setting could not be read: {_short(exc)}")
        return
    context.evidence.append(record)
    verdict = (
        "the tenant is in the EU Data Boundary"
        if record["in_eu_data_boundary"]
        else "the tenant is NOT in the EU Data Boundary"
    )
    context.notes.append(f"azure: tenant data boundary is {record['data_boundary']!r}: {verdict}")


def _graph_batches(
    credential: Any, subs: list[str], client_kwargs: Mapping[str, Any], client_for: Callable[[str], Any]
) -> Iterator[tuple[str, list[Resource] | BaseException]]:
    """Each subscription's rows from Resource Graph; a failed query makes its subscriptions unknown.

    Resource Graph leaves out subscriptions the identity cannot read instead of
    failing, so a subscription with no row at all is read directly: if that
    fails, it is reported unknown rather than as empty.
    """
    for i in range(0, len(subs), _GRAPH_BATCH):
        batch = subs[i : i + _GRAPH_BATCH]
        listed: dict[str, list[Resource]] = {s.lower(): [] for s in batch}
        try:
            for res in _graph_rows(credential, batch, client_kwargs):
                listed.setdefault(res.subscription.lower(), []).append(res)
        except Exception as exc:
            for sub in batch:
                yield sub, exc
            continue
        for sub in batch:
            rows = listed.pop(sub.lower())
            if not rows:
                try:
                    _get_json(client_for(sub), f"/subscriptions/{sub}", _SUBSCRIPTION_API)
                except Exception as exc:
                    yield sub, exc
                    continue
            yield sub, rows
        for sub, rows in listed.items():  # rows of a subscription that was not asked for
            yield sub, rows


def _list_all(
    pool: ThreadPoolExecutor,
    subs: list[str],
    client_for: Callable[[str], Any],
    client_kwargs: Mapping[str, Any],
    credential: Any,
    notes: list[str],
) -> Iterator[tuple[str, list[Resource] | BaseException]]:
    """Each subscription's resources, listed ``concurrency`` at a time, as they finish."""
    futures: dict[Future[list[Resource]], str] = {}
    pending = iter(subs)
    limit = pool._max_workers

    def submit_next() -> None:
        for sub in pending:
            futures[pool.submit(_list_subscription, client_for(sub), sub, client_kwargs, credential, notes)] = sub
            return

    for _ in range(limit):
        submit_next()
    while futures:
        finished, _ = wait(futures, return_when=FIRST_COMPLETED)
        for fut in finished:
            sub = futures.pop(fut)
            exc = fut.exception()
            yield sub, (exc if exc is not None else fut.result())
            submit_next()


def _evaluate_subscription(
    pool: ThreadPoolExecutor,
    policy: Policy,
    resources: list[Resource],
    client: Any,
    today: Any,
    object_replication: bool,
) -> Iterator[Finding]:
    accounts: dict[str, Resource] = {}
    for r in resources:
        if r.type_key == "microsoft.storage/storageaccounts":
            accounts[r.id.lower()] = r
            accounts[r.name.lower()] = r
    lookups: dict[Future[Placements], Resource] = {}
    for res in resources:
        if _needs_lookup(res, object_replication):
            lookups[pool.submit(_placements, res, client, accounts, object_replication)] = res
        else:
            yield _finding(policy, res, _placements(res, client, accounts, object_replication), today)
    for fut in list(lookups):
        res = lookups[fut]
        exc = fut.exception()
        if exc is None:
            yield _finding(policy, res, fut.result(), today)
            continue
        # known stays known: its own location (and GRS secondary) still decide a violation
        why = f"reading where {res.type} replicates failed: {type(exc).__name__}: {_short(exc)}"
        yield _finding(policy, res, _own_placements(res), today, unread=[why])
