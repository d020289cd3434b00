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

* :class:`ChainedAccountResolver` — asks several in order.

Any object with a ``resolve(account, credential=None)`` method returning an
:class:`AccountLocations` or ``None`` (not found) will do. A resolver that
cannot answer makes the guard block the write (fail closed).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol, runtime_checkable

import attrs

from residency._catalog import lookup_location

__all__ = [
    "GEO_REDUNDANT_SKUS",
    "AccountCache",
    "AccountLocations",
    "AccountResolver",
    "ArmAccountResolver",
    "ChainedAccountResolver",
    "StaticAccountResolver",
    "geo_secondary",
    "is_geo_redundant",
]

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
    ``client_kwargs`` go to every management client (``base_url``,
    ``connection_verify``, ``credential_scopes`` for a sovereign cloud or a fake).
    The index of accounts is kept for ``refresh_after`` seconds; a name that is
    not in it triggers at most one refresh per ``min_refresh`` seconds.
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
        # keyed by id() of the credential, which is kept alive with its index (no id reuse)
        self._index: dict[int, tuple[float, dict[str, AccountLocations], object]] = {}
        self.requests = 0

    def _default_credential(self) -> object:
        if self._credential is None:
            self._credential = new_default_credential()
        return self._credential

    def resolve(self, account: str, credential: object | None = None) -> AccountLocations | None:
        cred = credential if _is_sync_token_credential(credential) else self._default_credential()
        identity: object = getattr(cred, "residency_identity", cred)  # a bridged async credential: the original
        key = id(identity)
        name = account.lower()
        with self._lock:
            now = time.monotonic()
            stamp, index, _ = self._index.get(key, (0.0, {}, None))
            fresh = now - stamp < self.refresh_after
            if fresh and (name in index or now - stamp < self.min_refresh):
                return index.get(name)
            index = self._build_index(cred)
            self._index[key] = (time.monotonic(), index, identity)
            return index.get(name)

    def _build_index(self, credential: object) -> dict[str, AccountLocations]:
        from azure.mgmt.storage import StorageManagementClient

        from ._scan import list_subscription_ids

        subs = self._subscriptions
        if subs is None:
            subs = tuple(list_subscription_ids(credential, **self._client_kwargs))
        index: dict[str, AccountLocations] = {}
        for sub in subs:
            client = StorageManagementClient(credential, sub, **self._client_kwargs)  # type: ignore[arg-type]
            for acct in client.storage_accounts.list():
                primary = acct.primary_location or acct.location
                secondary, _ = geo_secondary(primary, acct.sku.name if acct.sku else None, acct.secondary_location)
                index[str(acct.name).lower()] = AccountLocations(
                    str(acct.name).lower(), primary, secondary, f"arm:{acct.id}"
                )
        return index


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
