"""Where a storage account keeps its data: resolvers and the guard's cache.

A data-plane request names an account (``euacct.blob.core.windows.net``,
or ``127.0.0.1:10000/euacct`` for Azurite), not a region. The guard asks an
*account resolver* for the account's primary and secondary locations:

* :class:`StaticAccountResolver` — a fixed ``account → location`` mapping
  (tests, Azurite, air-gapped setups)::

      StaticAccountResolver({"euacct": "westeurope", "usgrs": ("eastus", "westus")})

* :class:`ArmAccountResolver` — the default: lists the storage accounts of
  the subscriptions the credential can see through the management API
  (``Microsoft.Storage/storageAccounts``, one paged request per
  subscription) and reads ``primaryLocation``/``secondaryLocation``. It uses
  the caller's own credential when the storage client was built with a token
  credential (an async client's credential is called on its event loop),
  else the one it was given, else ``DefaultAzureCredential``.

  **Where it asks.** A write made through a management client (a storage
  account update, a destination named in a body) is looked up through *that
  client's* pipeline at its own endpoint — its ``base_url`` (a sovereign
  cloud, Azure Stack, a private ARM), credential, transport and TLS
  settings — never elsewhere. A data-plane write
  (``<account>.blob.core.windows.net``) or a SAS has no management client:
  the resolver's own client asks the ``base_url`` it was given, else the
  management endpoint of the storage host's cloud (:data:`MANAGEMENT_ENDPOINTS`:
  ``core.windows.net`` → ``https://management.azure.com``,
  ``core.usgovcloudapi.net`` → ``https://management.usgovcloudapi.net``,
  ``core.chinacloudapi.cn`` → ``https://management.chinacloudapi.cn``), else
  (a SAS) the public cloud::

      configure(resolver=ArmAccountResolver(base_url="https://arm.private.example",
                                            credential_scopes=["https://arm.private.example/.default"]))

  ``nextLink`` pages are followed only on the endpoint asked.

* :class:`ChainedAccountResolver` — asks several in order.

Any object with a ``resolve(account, credential=None)`` method returning an
:class:`AccountLocations` or ``None`` (not found) will do. A resolver that
cannot answer makes the guard block the write (fail closed).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit

import attrs

from residency._catalog import lookup_location

__all__ = [
    "GEO_REDUNDANT_SKUS",
    "MANAGEMENT_ENDPOINTS",
    "PUBLIC_MANAGEMENT_ENDPOINT",
    "AccountCache",
    "AccountLocations",
    "AccountResolver",
    "ArmAccountResolver",
    "ChainedAccountResolver",
    "StaticAccountResolver",
    "geo_secondary",
    "is_geo_redundant",
    "management_endpoint_for",
]

PUBLIC_MANAGEMENT_ENDPOINT = "https://management.azure.com"
#: storage DNS suffix -> the management endpoint of its cloud (where a data-plane account is looked up)
MANAGEMENT_ENDPOINTS: Mapping[str, str] = {
    "core.windows.net": PUBLIC_MANAGEMENT_ENDPOINT,
    "storage.azure.net": PUBLIC_MANAGEMENT_ENDPOINT,  # the DNS-zone endpoints (``z12.blob.storage.azure.net``)
    "core.usgovcloudapi.net": "https://management.usgovcloudapi.net",
    "core.chinacloudapi.cn": "https://management.chinacloudapi.cn",
}
_SUBSCRIPTIONS_API = "2022-12-01"
_STORAGE_API = "2023-05-01"
#: GET an absolute URL (its query included) and return the parsed JSON; raises when the answer is an error
Fetch = Callable[[str], Any]


def management_endpoint_for(storage_host: str) -> str | None:
    """The management endpoint of the cloud a storage host belongs to (``None``: not a known cloud).

    >>> management_endpoint_for("euacct.blob.core.chinacloudapi.cn")
    'https://management.chinacloudapi.cn'
    >>> management_endpoint_for("files.example.test") is None
    True
    """
    host = storage_host.lower().rstrip(".")
    for suffix, endpoint in MANAGEMENT_ENDPOINTS.items():
        if host.endswith("." + suffix):
            return endpoint
    return None


#: SKUs that keep a copy in the paired (secondary) region (the ``StandardV2_*`` SKUs too).
GEO_REDUNDANT_SKUS = frozenset(
    {"standard_grs", "standard_ragrs", "standard_gzrs", "standard_ragzrs", "standardv2_grs", "standardv2_gzrs"}
)


def is_geo_redundant(sku: str | None) -> bool:
    """Whether a storage SKU name keeps a copy in a secondary region.

    Any SKU whose redundancy part is GRS, RA-GRS, GZRS or RA-GZRS, including
    SKUs newer than this list (``StandardV2_GRS``), spelled in any case.

    >>> [is_geo_redundant(s) for s in ("Standard_RAGRS", "StandardV2_GZRS", "standard-ra-grs", "Premium_ZRS")]
    [True, True, True, False]
    """
    name = (sku or "").replace("-", "").replace("_", "").replace(" ", "").upper()
    return name.endswith(("GRS", "GZRS"))  # RA-GRS and RA-GZRS end the same way


def geo_secondary(location: str, sku: str | None, reported: str | None = None) -> tuple[str | None, bool]:
    """The secondary location of an account with ``sku`` in ``location``.

    Returns ``(secondary, geo_redundant)``: the reported secondary if Azure gave
    one, else the region pair from the catalog; ``(None, True)`` when the SKU is
    geo-redundant but no pair is known (the caller must treat it as unknown).

    >>> geo_secondary("westeurope", "Standard_RAGRS")
    ('northeurope', True)
    >>> geo_secondary("westeurope", "Standard_LRS")
    (None, False)
    """
    geo = is_geo_redundant(sku)
    if reported:
        return reported, True
    if not geo:
        return None, False
    return lookup_location("azure", location).pair, True


@attrs.frozen
class AccountLocations:
    """The locations of one storage account (``secondary`` only when geo-redundant)."""

    account: str
    primary: str
    secondary: str | None = None
    source: str = ""

    @property
    def locations(self) -> tuple[str, ...]:
        return (self.primary,) if not self.secondary else (self.primary, self.secondary)


@runtime_checkable
class AccountResolver(Protocol):
    """Maps a storage account name to its locations (``None``: not found)."""

    def resolve(self, account: str, credential: object | None = None) -> AccountLocations | None: ...


class StaticAccountResolver:
    """A fixed mapping; values are a location or ``(primary, secondary)``.

    >>> StaticAccountResolver({"a": ("eastus", "westus")}).resolve("A")
    AccountLocations(account='a', primary='eastus', secondary='westus', source='static')
    """

    def __init__(self, mapping: Mapping[str, str | tuple[str, str | None] | AccountLocations]) -> None:
        self._map: dict[str, AccountLocations] = {}
        for name, value in mapping.items():
            key = name.lower()
            if isinstance(value, AccountLocations):
                self._map[key] = value
            elif isinstance(value, str):
                self._map[key] = AccountLocations(key, value, None, "static")
            else:
                self._map[key] = AccountLocations(key, value[0], value[1], "static")

    def __repr__(self) -> str:
        return f"StaticAccountResolver({sorted(self._map)!r})"

    def resolve(self, account: str, credential: object | None = None) -> AccountLocations | None:
        return self._map.get(account.lower())


class ChainedAccountResolver:
    """Asks each resolver in turn; the first answer wins."""

    def __init__(self, *resolvers: AccountResolver) -> None:
        self.resolvers = resolvers

    def resolve(self, account: str, credential: object | None = None) -> AccountLocations | None:
        for r in self.resolvers:
            hit = r.resolve(account, credential)
            if hit is not None:
                return hit
        return None


def new_default_credential() -> object:
    """``DefaultAzureCredential()`` (environment, workload identity, managed identity, Azure CLI …)."""
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential()


def _is_sync_token_credential(obj: object) -> bool:
    import inspect

    get_token = getattr(obj, "get_token", None)
    return get_token is not None and not inspect.iscoroutinefunction(get_token)


class ArmAccountResolver:
    """Finds accounts through the management API (the default resolver).

    ``credential``: used when the calling client has no token credential of
    its own (shared key, SAS, async clients); defaults to
    ``DefaultAzureCredential()``, created on first use. ``subscriptions``:
    limit the search (default: every subscription the credential can see).
    ``client_kwargs`` go to the resolver's own management client
    (``base_url``, ``connection_verify``, ``credential_scopes`` for a
    sovereign cloud, a private endpoint or a fake); a ``base_url`` given here
    is where data-plane accounts are looked up, whatever cloud their host
    names. The index of accounts is kept per endpoint and identity for
    ``refresh_after`` seconds; a name that is not in it triggers at most one
    refresh per ``min_refresh`` seconds.

    The guard calls :meth:`resolve` with ``fetch`` (the calling management
    client's own pipeline) and its ``endpoint`` when there is such a client,
    or with the ``endpoint`` of the storage host's cloud::

        >>> ArmAccountResolver(base_url="https://arm.private.example").base_url
        'https://arm.private.example'
    """

    def __init__(
        self,
        credential: object | None = None,
        *,
        subscriptions: Iterable[str] | None = None,
        refresh_after: float = 300.0,
        min_refresh: float = 30.0,
        **client_kwargs: Any,
    ) -> None:
        self._credential = credential
        self._subscriptions = tuple(subscriptions) if subscriptions is not None else None
        self._client_kwargs = client_kwargs
        self.refresh_after = refresh_after
        self.min_refresh = min_refresh
        self._lock = threading.Lock()
        # keyed by endpoint and id() of the credential, which is kept alive with its index (no id reuse)
        self._index: dict[tuple[str, int], tuple[float, dict[str, AccountLocations], object]] = {}

    def __repr__(self) -> str:
        return f"ArmAccountResolver(base_url={self.base_url!r})"

    @property
    def base_url(self) -> str | None:
        """The management endpoint configured for this resolver's own client (``None``: follow the write)."""
        url = self._client_kwargs.get("base_url")
        return str(url).rstrip("/") if url else None

    def _default_credential(self) -> object:
        if self._credential is None:
            self._credential = new_default_credential()
        return self._credential

    def resolve(
        self,
        account: str,
        credential: object | None = None,
        *,
        endpoint: str | None = None,
        fetch: Fetch | None = None,
    ) -> AccountLocations | None:
        """The account's locations, from the index of the management endpoint asked.

        With ``fetch`` (the calling management client's pipeline) the listing
        goes through it to ``endpoint``; without, through this resolver's own
        client to its ``base_url``, else ``endpoint``, else the public cloud.
        """
        cred = credential if _is_sync_token_credential(credential) else None
        if fetch is None:
            endpoint = self.base_url or (endpoint or PUBLIC_MANAGEMENT_ENDPOINT).rstrip("/")
            cred = cred if cred is not None else self._default_credential()
        elif endpoint is None:
            raise ValueError("a caller's fetch needs the endpoint it fetches from")
        identity: object = getattr(cred, "residency_identity", cred)  # a bridged async credential: the original
        key = (endpoint, id(identity))
        name = account.lower()
        with self._lock:
            now = time.monotonic()
            stamp, index, _ = self._index.get(key, (0.0, {}, None))
            fresh = now - stamp < self.refresh_after
            if fresh and (name in index or now - stamp < self.min_refresh):
                return index.get(name)
            index = self._build_index(fetch or self._own_fetch(endpoint, cred), endpoint)
            self._index[key] = (time.monotonic(), index, identity)
            return index.get(name)

    def _own_fetch(self, endpoint: str, credential: object) -> Fetch:
        """GETs through this resolver's own management client at ``endpoint``."""
        from azure.core.rest import HttpRequest
        from azure.mgmt.resource.subscriptions import SubscriptionClient

        kwargs = {**self._client_kwargs, "base_url": endpoint}
        kwargs.setdefault("credential_scopes", [f"{endpoint}/.default"])
        client = SubscriptionClient(credential, **kwargs)  # type: ignore[arg-type]

        def fetch(url: str) -> Any:
            response = client.send_request(HttpRequest("GET", url))
            return read_answer(url, response.status_code, response.text())

        return fetch

    def _build_index(self, fetch: Fetch, endpoint: str) -> dict[str, AccountLocations]:
        subs = self._subscriptions
        if subs is None:
            url = f"{endpoint}/subscriptions?api-version={_SUBSCRIPTIONS_API}"
            subs = tuple(
                str(s["subscriptionId"])
                for s in _pages(fetch, url, endpoint)
                if s.get("subscriptionId") and str(s.get("state") or "").lower() != "deleted"
            )
        index: dict[str, AccountLocations] = {}
        for sub in subs:
            path = f"/subscriptions/{sub}/providers/Microsoft.Storage/storageAccounts"
            url = f"{endpoint}{path}?api-version={_STORAGE_API}"
            for acct in _pages(fetch, url, endpoint):
                props = acct.get("properties") or {}
                name = str(acct.get("name") or "").lower()
                primary = props.get("primaryLocation") or acct.get("location")
                if not name or not primary:
                    continue  # an account with no location is not an answer: a lookup of it fails closed
                sku = (acct.get("sku") or {}).get("name")
                secondary, _ = geo_secondary(str(primary), sku, props.get("secondaryLocation"))
                index[name] = AccountLocations(name, str(primary), secondary, f"arm:{acct.get('id')}")
        return index


def read_answer(url: str, status: int, text: str) -> Any:
    """An ARM answer's JSON; a :class:`LookupError` naming the status and ARM's error code for an error.

    >>> read_answer("https://arm/x", 403, '{"error": {"code": "AuthorizationFailed", "message": "no"}}')
    Traceback (most recent call last):
    ...
    LookupError: GET /x answered 403 (AuthorizationFailed: no)
    """
    if status < 400:
        return json.loads(text)
    try:
        error = json.loads(text).get("error") or {}
        detail = f" ({error.get('code')}: {error.get('message')})" if error.get("code") else ""
    except (ValueError, AttributeError):
        detail = ""
    raise LookupError(f"GET {urlsplit(url).path} answered {status}{detail}")


def _pages(fetch: Fetch, url: str, endpoint: str) -> Iterator[Mapping[str, Any]]:
    """The ``value`` items of a paged ARM list; ``nextLink`` is followed only on the endpoint asked."""
    home = urlsplit(endpoint)
    while url:
        page = fetch(url)
        if not isinstance(page, Mapping) or not isinstance(page.get("value"), list):
            raise LookupError(f"GET {urlsplit(url).path} answered no list")
        yield from (item for item in page["value"] if isinstance(item, Mapping))
        url = str(page.get("nextLink") or "")
        there = urlsplit(url)
        if url and (there.scheme, there.netloc.lower()) != (home.scheme, home.netloc.lower()):
            raise LookupError(f"a nextLink leaves {endpoint} for {there.scheme}://{there.netloc}")


class AccountCache:
    """Resolved accounts, trusted for a TTL; failures are never cached.

    Concurrent lookups of the same account wait for one resolution.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[float, AccountLocations]] = {}
        self._pending: dict[str, threading.Lock] = {}

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def peek(self, account: str, ttl: float) -> AccountLocations | None:
        with self._lock:
            hit = self._entries.get(account.lower())
        if hit is not None and self._clock() - hit[0] < ttl:
            return hit[1]
        return None

    def get(
        self,
        account: str,
        ttl: float,
        resolve: Callable[[], AccountLocations | None],
    ) -> AccountLocations | None:
        key = account.lower()
        hit = self.peek(key, ttl)
        if hit is not None:
            return hit
        with self._lock:
            pending = self._pending.setdefault(key, threading.Lock())
        with pending:
            hit = self.peek(key, ttl)
            if hit is not None:
                return hit
            found = resolve()
            if found is not None:
                with self._lock:
                    self._entries[key] = (self._clock(), found)
            return found
